"""pyperf's verdict on the same A/A and A/B cases as `verify_power.py`, side by side.

    .venv/bin/python benchmarks/verify_pyperf.py --reps 10            # both sizes
    .venv/bin/python benchmarks/verify_pyperf.py --quick              # 1 repetition each
    .venv/bin/python benchmarks/verify_pyperf.py --summarize FILE     # tables of a results file

The projects are the ones `verify_power.py` builds (`work.py::spin`, the 5 recorded call
sizes, a byte-identical copy for A/A and `WORK = 1 - s` for a true speedup s). Each side is
measured by `python -m pyperf timeit` in its own project folder (pyperf's defaults: 20
worker processes x 3 values, calibrated loops; the two sides run one after the other, as a
user of pyperf runs them), then judged by `python -m pyperf compare_to base.json cand.json`:
pyperf calls a difference significant when its two-sample t-test says so, at any size by
default (`--min-speed 0`). We record the judgement at `--min-speed 0` and at 3 (the runner's
default `min_effect`), and count "faster" as: significant and the candidate's mean lower.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import verify_power as vp  # the sibling benchmark builds the projects

SPEEDUPS = (0.0, 0.05, 0.10)
MIN_SPEEDS = (0, 3)


@dataclass
class Record:
    """One pyperf comparison."""

    size: str
    speedup: float
    rep: int
    base_mean_s: float
    cand_mean_s: float
    verdicts: dict[str, str]  # "--min-speed" -> faster | slower | not significant
    seconds: float


@dataclass
class Results:
    """Everything one run measured, saved after every record."""

    meta: dict[str, Any]
    records: list[Record] = field(default_factory=list)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        document = {"meta": self.meta, "records": [asdict(r) for r in self.records]}
        path.write_text(json.dumps(document, indent=1), encoding="utf-8")


def timeit(project: Path, out: Path, fast: bool) -> float:
    """`pyperf timeit` of one pass over the recorded calls; the mean seconds per pass."""
    setup = "import pickle; from work import spin; C = pickle.load(open('inputs.pkl', 'rb'))"
    stmt = "for a, k in C: spin(*a, **k)"
    argv = [sys.executable, "-m", "pyperf", "timeit", "--quiet", "-o", str(out)]
    if fast:
        argv.append("--fast")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONHASHSEED": "0"}
    subprocess.run([*argv, "-s", setup, stmt], cwd=project, env=env, check=True)
    document = json.loads(out.read_text(encoding="utf-8"))
    values = [v for run in document["benchmarks"][0]["runs"] for v in run.get("values", [])]
    return sum(values) / len(values)


def judge(base: Path, cand: Path, min_speed: int) -> str:
    """pyperf compare_to's verdict: faster, slower or not significant."""
    argv = [sys.executable, "-m", "pyperf", "compare_to", "--min-speed", str(min_speed)]
    done = subprocess.run([*argv, str(base), str(cand)], capture_output=True, text=True, check=True)
    text = done.stdout
    if "Not significant" in text:
        return "not significant"
    if "faster" in text:
        return "faster"
    if "slower" in text:
        return "slower"
    return "not significant"


def summarize(document: dict[str, Any]) -> str:
    """A markdown table: per size and speedup, the rate of `faster` at each min-speed."""
    rows = [
        "| size | true speedup | reps | "
        + " | ".join(f"`faster` at --min-speed {m}" for m in MIN_SPEEDS)
        + " | median s |",
        "| --- | --- | --- |" + " --- |" * (len(MIN_SPEEDS) + 1),
    ]
    groups: dict[tuple[str, float], list[dict[str, Any]]] = {}
    for r in document["records"]:
        groups.setdefault((r["size"], r["speedup"]), []).append(r)
    for (size, speedup), recs in sorted(groups.items()):
        n = len(recs)
        cells = []
        for m in MIN_SPEEDS:
            k = sum(r["verdicts"][str(m)] == "faster" for r in recs)
            low, high = vp.clopper_pearson(k, n)
            cells.append(f"{k}/{n} = {k / n:.0%} [{low:.0%}–{high:.0%}]")
        seconds = sorted(r["seconds"] for r in recs)[n // 2]
        label = "A/A" if speedup == 0 else f"{speedup:.0%}"
        rows.append(f"| {size} | {label} | {n} | " + " | ".join(cells) + f" | {seconds:.1f} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="1 repetition, pyperf --fast")
    p.add_argument("--reps", type=int, default=10, help="comparisons per case")
    p.add_argument("--sizes", default="small,large")
    p.add_argument("--seed", type=int, default=20261203)
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--summarize", type=Path, default=None, help="print tables of a JSON; exit")
    args = p.parse_args(argv)
    if args.summarize is not None:
        print(summarize(json.loads(args.summarize.read_text(encoding="utf-8"))))
        return 0
    reps = 1 if args.quick else args.reps
    today = datetime.date.today().isoformat()
    out = args.out or vp.RESULTS / f"verify_pyperf-{today}{'-quick' if args.quick else ''}.json"
    results = Results(meta={"date": today, "command": " ".join(sys.argv), "machine": vp.machine()})
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="verify_pyperf-") as tmp:
        root = Path(tmp)
        sizes = [s for s in args.sizes.split(",") if s]
        built = {n: vp.build_size(root, n, [s for s in SPEEDUPS if s]) for n in sizes}
        schedule = [(n, s, r) for n in sizes for s in SPEEDUPS for r in range(reps)]
        rng.shuffle(schedule)  # the host's drift falls on every case alike
        for name, speedup, rep in schedule:
            size = built[name]
            started = time.monotonic()
            base_json, cand_json = root / "base.json", root / "cand.json"
            for stale in (base_json, cand_json):
                stale.unlink(missing_ok=True)
            base = timeit(size.baseline, base_json, args.quick)
            cand = timeit(size.candidates[speedup], cand_json, args.quick)
            verdicts = {str(m): judge(base_json, cand_json, m) for m in MIN_SPEEDS}
            record = Record(name, speedup, rep, base, cand, verdicts, time.monotonic() - started)
            results.records.append(record)
            results.save(out)
            print(
                f"{time.strftime('%H:%M:%S')} {name} s={speedup:.2f} rep={rep} "
                f"{cand / base:.3f} {verdicts}",
                file=sys.stderr,
                flush=True,
            )
    return vp.finish(results, out, summarize)


if __name__ == "__main__":
    raise SystemExit(main())
