"""REAL measurements of the verify engine: false positives on A/A, power on known speedups.

    .venv/bin/python benchmarks/verify_power.py --quick            # ~2-minute smoke run
    .venv/bin/python benchmarks/verify_power.py --busy             # the reduced protocol
    .venv/bin/python benchmarks/verify_power.py --summarize FILE...  # tables of results files

Unlike `stats_sim.py` (a simulation), every figure here comes from the engine the runner
uses, on throwaway projects built in a temporary folder: `measure.plan_replay` calibrates
the replay harness on the baseline, `measure.calibrate_noise` runs the short A/A noise
check, and `measure.measure` times baseline against candidate in fresh processes (adaptive
ABBA, paired bootstrap, `stats.decide`). Commands run as plain subprocesses (cwd = the
project, env PATH + PYTHONHASHSEED=0 + PYTHONDONTWRITEBYTECODE=1), without a sandbox.

The target `work.py::spin` runs a pure-Python arithmetic loop; its per-call cost is about
20 µs ("small") or 2 ms ("large"). The inputs are 5 recorded calls. A/A: the candidate is a
byte-identical copy of the baseline. A/B with a true speedup s: the candidate's module sets
`WORK = 1 - s`, so every call runs round(n x (1 - s)) iterations instead of n.

Wall-time runs use `instructions="never"` so that the wall-time verdict is measured alone;
instruction counts are judged separately with `CallgrindCounter.instructions_per_call` and
`stats.decide(None, ratios, min_effect=...)`. As in the runner, the noise check runs once
per "job" (a plan) and serves up to `JOB_SIZE` measurements (the runner's max_candidates);
measurements of different cases are shuffled so that the host's drift spreads over all.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import pickle
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from runner.config import MeasureSettings
from runner.verify import measure, stats
from runner.verify.replay import CallgrindCounter, CommandRunner, ReplayTimer

TARGET = "work.py::spin"
INPUTS = "inputs.pkl"
CALL_SPREAD = (0.8, 0.9, 1.0, 1.1, 1.2)  # the 5 recorded calls: n scaled by these
PER_CALL_S = {"small": 20e-6, "large": 2e-3}
SPEEDUPS = (0.03, 0.05, 0.10, 0.20)
INSTR_SPEEDUPS = (0.02, 0.05, 0.10)
JOB_SIZE = 8  # measurements per noise check, like one job's max_candidates
RESULTS = Path(__file__).resolve().parent / "results"

MODULE = '''"""Throwaway target of benchmarks/verify_power.py."""

WORK = {work!r}


def spin(n):
    """Pure-Python arithmetic: round(n * WORK) iterations."""
    acc = 0
    for i in range(round(n * WORK)):
        acc = (acc * 31 + i) % 1000003
    return acc
'''


# -- projects ----------------------------------------------------------------------------


def write_project(folder: Path, work: float, n: int) -> Path:
    """A project with `work.py` (WORK = `work`) and the 5 recorded calls in inputs.pkl."""
    folder.mkdir(parents=True)
    (folder / "work.py").write_text(MODULE.format(work=work), encoding="utf-8")
    calls = [((round(n * k),), {}) for k in CALL_SPREAD]
    (folder / INPUTS).write_bytes(pickle_dumps(calls))
    return folder


def pickle_dumps(value: object) -> bytes:
    """Pickle (protocol 4: readable by any Python the harness supports)."""
    return pickle.dumps(value, protocol=4)


def iterations_for(per_call_s: float) -> int:
    """Loop iterations that make one call of `spin` last about `per_call_s` here."""
    namespace: dict[str, Any] = {}
    exec(MODULE.format(work=1.0), namespace)  # noqa: S102 - our own constant source
    spin = namespace["spin"]
    probe = 20_000
    best = math.inf
    for _ in range(5):
        started = time.perf_counter()
        spin(probe)
        best = min(best, time.perf_counter() - started)
    return max(10, round(probe * per_call_s / best))


def harness_iterations(folder: Path, per_call_s: float) -> int:
    """Like `iterations_for`, corrected by what the replay harness itself measures."""
    n = iterations_for(per_call_s)
    write_project(folder, 1.0, n)
    timer = ReplayTimer(sys.executable, TARGET, Path(INPUTS), runner_for(), share=True)
    timer.calibrate(folder)
    per_call = (timer.per_pass_s or 0.0) / len(CALL_SPREAD)
    return max(10, round(n * per_call_s / per_call)) if per_call > 0 else n


def runner_for(timeout: float = 600.0) -> CommandRunner:
    """A plain subprocess CommandRunner with the runner's fixed environment."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONHASHSEED": "0"}
    env["PYTHONDONTWRITEBYTECODE"] = "1"

    def run(argv: list[str], cwd: Path) -> tuple[int, str, str]:
        done = subprocess.run(
            argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
        return done.returncode, done.stdout, done.stderr

    return run


@dataclass
class Size:
    """The projects of one function size: the baseline, its copy and the faster ones."""

    name: str
    n: int
    baseline: Path
    candidates: dict[float, Path]  # true speedup (0.0 = the A/A copy) -> project


def build_size(root: Path, name: str, speedups: list[float]) -> Size:
    """Write the baseline and one candidate project per speedup (0.0: byte-identical)."""
    n = harness_iterations(root / name / "probe", PER_CALL_S[name])
    baseline = write_project(root / name / "baseline", 1.0, n)
    candidates = {}
    for s in sorted({0.0, *speedups}):
        folder = root / name / f"candidate-{round(s * 100):02d}"
        if s == 0.0:
            shutil.copytree(baseline, folder)
        else:
            write_project(folder, round(1 - s, 6), n)
        candidates[s] = folder
    return Size(name, n, baseline, candidates)


# -- records -----------------------------------------------------------------------------


@dataclass
class WallRecord:
    """One `measure.measure` call."""

    size: str
    busy: bool
    speedup: float
    rep: int
    verdict: str
    ratio: float
    low: float
    high: float
    rounds: int
    seconds: float
    noise: float | None
    min_detectable: float | None
    instrument: str
    reason: str
    per_call_us: float  # median baseline round (seconds per pass) / recorded calls


@dataclass
class InstrRecord:
    """One instruction-count comparison, judged by `stats.decide(None, ratios, ...)`."""

    size: str
    speedup: float
    rep: int
    calls: int
    ratios: list[float]
    verdicts: dict[str, str]  # min_effect -> verdict
    seconds: float


@dataclass
class Results:
    """Everything the run measured, written to JSON after every measurement."""

    meta: dict[str, Any]
    wall: list[WallRecord] = field(default_factory=list)
    instructions: list[InstrRecord] = field(default_factory=list)

    def save(self, path: Path) -> None:
        """Write the whole document (atomically: a killed run leaves the last good copy)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        document = {
            "meta": self.meta,
            "wall": [asdict(r) for r in self.wall],
            "instructions": [asdict(r) for r in self.instructions],
        }
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(document, indent=1), encoding="utf-8")
        temporary.replace(path)


class Saved(Protocol):
    """What `finish` needs of a run's results (this module's and verify_pyperf's)."""

    meta: dict[str, Any]

    def save(self, path: Path) -> None: ...


def finish(results: Saved, out: Path, summarize: Callable[[dict[str, Any]], str]) -> int:
    """The end of a run: the load average recorded, the results saved, their tables printed."""
    results.meta["loadavg_end"] = list(os.getloadavg())
    results.save(out)
    print(summarize(json.loads(out.read_text(encoding="utf-8"))))
    print(f"\nresults: {out}")
    return 0


# -- the wall-time protocol --------------------------------------------------------------


def wall_block(
    size: Size,
    plan_reps: dict[float, int],
    cfg: MeasureSettings,
    rng: random.Random,
    *,
    busy: bool,
    record: Callable[[WallRecord], None],
) -> None:
    """Measure every (speedup, repetition) of `plan_reps` in shuffled order, one job per 8."""
    schedule = [(s, rep) for s, reps in plan_reps.items() for rep in range(reps)]
    rng.shuffle(schedule)
    python, run = sys.executable, runner_for()
    for start in range(0, len(schedule), JOB_SIZE):
        plan = measure.plan_replay(
            TARGET, size.baseline / INPUTS, size.baseline, python, run, valgrind=None, share=True
        )
        noise = measure.calibrate_noise(plan, size.baseline, rng)
        for s, rep in schedule[start : start + JOB_SIZE]:
            candidate = size.candidates[s]
            measure.copy_inputs(plan, size.baseline, candidate)
            m = measure.measure(plan, size.baseline, candidate, cfg, rng)
            record(
                WallRecord(
                    size.name,
                    busy,
                    s,
                    rep,
                    m.verdict,
                    m.ratio,
                    m.low,
                    m.high,
                    len(m.baseline_rounds),
                    m.seconds,
                    noise,
                    m.min_detectable,
                    m.instrument,
                    m.reason,
                    statistics.median(m.baseline_rounds) / len(CALL_SPREAD) * 1e6,
                )
            )


def instruction_block(
    size: Size,
    reps: int,
    repeats: int,
    effects: list[float],
    record: Callable[[InstrRecord], None],
    speedups: list[float],
) -> None:
    """Count instructions per call of baseline and candidate, `reps` times per speedup."""
    valgrind = measure.valgrind_path()
    if valgrind is None:
        print("valgrind not found: instruction counts skipped", file=sys.stderr)
        return
    python, run = sys.executable, runner_for()
    plan = measure.plan_replay(
        TARGET, size.baseline / INPUTS, size.baseline, python, run, valgrind=valgrind, share=True
    )
    counter = plan.counter
    assert isinstance(counter, CallgrindCounter)
    for rep in range(reps):
        for s in speedups:
            candidate = size.candidates[s]
            measure.copy_inputs(plan, size.baseline, candidate)
            started = time.monotonic()
            base = counter.instructions_per_call(size.baseline, plan.counter_calls, repeats)
            cand = counter.instructions_per_call(candidate, plan.counter_calls, repeats)
            ratios = [c / b for b, c in zip(base, cand, strict=True)]
            verdicts = {
                f"{e:g}": stats.decide(None, ratios, min_effect=e).verdict.value for e in effects
            }
            record(
                InstrRecord(
                    size.name,
                    s,
                    rep,
                    plan.counter_calls,
                    ratios,
                    verdicts,
                    time.monotonic() - started,
                )
            )


@contextmanager
def busy_core(external: str | None = None) -> Iterator[int | None]:
    """Keep one core busy with a spinning Python process; kill it (by its pid) on exit.

    With `external` (a description of the process that keeps it busy instead, e.g. another
    run of this script started alongside), start nothing.
    """
    if external is not None:
        yield None
        return
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        yield spinner.pid
    finally:
        spinner.kill()
        spinner.wait()


# -- statistics of the results -----------------------------------------------------------


def _binom_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p)."""
    return math.fsum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k + 1))


def _bisect(f: Callable[[float], float], target: float) -> float:
    """The p in [0, 1] with f(p) = target, for f decreasing in p."""
    lo, hi = 0.0, 1.0
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if f(mid) > target else (lo, mid)
    return (lo + hi) / 2


def clopper_pearson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """The exact (Clopper-Pearson) interval of a binomial proportion k / n."""
    alpha = 1 - confidence
    # P(X >= k) = alpha / 2 at the lower bound, i.e. P(X <= k - 1) = 1 - alpha / 2.
    low = 0.0 if k == 0 else _bisect(lambda p: _binom_cdf(k - 1, n, p), 1 - alpha / 2)
    high = 1.0 if k == n else _bisect(lambda p: _binom_cdf(k, n, p), alpha / 2)
    return low, high


def _rate(k: int, n: int) -> str:
    """'k/n = r% [lo-hi%]' with the Clopper-Pearson 95% interval."""
    if n == 0:
        return "not measured"
    low, high = clopper_pearson(k, n)
    return f"{k}/{n} = {k / n:.0%} [{low:.0%}–{high:.0%}]"


def wall_table(records: list[dict[str, Any]]) -> list[str]:
    """Markdown rows: per size, load and true speedup, the verdict counts and timings."""
    rows = [
        "| size | other core | true speedup | reps | `faster` (95% CP) | `slower` | "
        "median ratio | median rounds | median s to verdict | median noise σ | µs/call |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    keys = sorted({(r["size"], r["busy"], r["speedup"]) for r in records})
    for size, busy, s in keys:
        group = [r for r in records if (r["size"], r["busy"], r["speedup"]) == (size, busy, s)]
        faster = sum(r["verdict"] == "faster" for r in group)
        slower = sum(r["verdict"] == "slower" for r in group)
        noises = [r["noise"] for r in group if r["noise"] is not None]
        rows.append(
            f"| {size} | {'busy' if busy else 'idle'} | {'A/A' if s == 0 else f'{s:.0%}'} "
            f"| {len(group)} | {_rate(faster, len(group))} | {slower} "
            f"| {statistics.median(r['ratio'] for r in group):.3f} "
            f"| {statistics.median(r['rounds'] for r in group):g} "
            f"| {statistics.median(r['seconds'] for r in group):.1f} "
            f"| {statistics.median(noises) if noises else float('nan'):.3f} "
            f"| {statistics.median(r.get('per_call_us', math.nan) for r in group):.0f} |"
        )
    return rows


def instruction_table(records: list[dict[str, Any]]) -> list[str]:
    """Markdown rows: per true speedup, the ratio range and `faster (instructions)` rates."""
    effects = sorted({e for r in records for e in r["verdicts"]}, key=float)
    head = " | ".join(f"`faster (instructions)` at min_effect {e}" for e in effects)
    rows = [
        f"| size | true speedup | reps | instruction ratios (min–max) | {head} | median s |",
        "| --- | --- | --- | --- | " + "--- | " * len(effects) + "--- |",
    ]
    for size, s in sorted({(r["size"], r["speedup"]) for r in records}):
        group = [r for r in records if (r["size"], r["speedup"]) == (size, s)]
        ratios = [x for r in group for x in r["ratios"]]
        cells = " | ".join(
            _rate(sum(r["verdicts"][e] == "faster (instructions)" for r in group), len(group))
            for e in effects
        )
        rows.append(
            f"| {size} | {'A/A' if s == 0 else f'{s:.0%}'} | {len(group)} "
            f"| {min(ratios):.4f}–{max(ratios):.4f} | {cells} "
            f"| {statistics.median(r['seconds'] for r in group):.1f} |"
        )
    return rows


def summarize(document: dict[str, Any]) -> str:
    """The markdown tables of a results document."""
    lines = ["Wall time (instructions never):", "", *wall_table(document["wall"])]
    if document["instructions"]:
        lines += ["", "Instruction counts:", "", *instruction_table(document["instructions"])]
    return "\n".join(lines)


# -- the run -----------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    """nproc, CPU model, load average and interpreter of this run."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "loadavg_start": list(os.getloadavg()),
        "python": sys.version.split()[0],
        "python_executable": sys.executable,
        "platform": platform.platform(),
        "valgrind": measure.valgrind_path(),
    }


def _floats(text: str) -> list[float]:
    """A comma-separated list of numbers, for argparse (a bad one is a usage error)."""
    return [float(x) for x in text.split(",") if x]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line; see the module docstring."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="a ~2-minute smoke run")
    p.add_argument("--reps", type=int, default=40, help="A/A repetitions, small function")
    p.add_argument("--ab-reps", type=int, default=10, help="repetitions per true speedup, small")
    p.add_argument("--large-reps", type=int, default=10, help="A/A repetitions, large function")
    p.add_argument("--large-ab-reps", type=int, default=4, help="reps per speedup, large")
    p.add_argument("--busy", action="store_true", help="also A/A with the other core busy")
    p.add_argument("--busy-reps", type=int, default=20, help="A/A repetitions, busy")
    p.add_argument("--busy-sizes", default="small", help="sizes measured busy")
    p.add_argument(
        "--busy-external",
        default=None,
        metavar="WHAT",
        help="the other core is kept busy by WHAT, started outside this script: no spinner",
    )
    p.add_argument("--instr-reps", type=int, default=5, help="instruction comparisons per case")
    p.add_argument("--instr-sizes", default="small", help="sizes whose instructions are counted")
    p.add_argument(
        "--instr-speedups",
        type=_floats,
        default=[0.0, *INSTR_SPEEDUPS],
        help="comma-separated true speedups whose instructions are counted (0 = A/A)",
    )
    p.add_argument("--sizes", default="small,large", help="comma-separated: small,large")
    p.add_argument(
        "--speedups",
        type=_floats,
        default=list(SPEEDUPS),
        help="comma-separated true speedups measured by wall time (A/A is always measured)",
    )
    p.add_argument(
        "--budget-s",
        type=float,
        default=MeasureSettings().budget_s,
        help="MeasureSettings.budget_s (default: the runner's default)",
    )
    p.add_argument("--seed", type=int, default=20261203)
    p.add_argument("--out", type=Path, default=None, help="results JSON")
    p.add_argument(
        "--summarize",
        type=Path,
        nargs="+",
        default=None,
        metavar="FILE",
        help="print the tables of results files (their repetitions pooled); exit",
    )
    args = p.parse_args(argv)
    if args.quick:
        args.reps, args.ab_reps, args.large_reps, args.large_ab_reps = 2, 1, 1, 1
        args.busy_reps, args.instr_reps, args.budget_s = 1, 1, 4.0
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the protocol the arguments ask for; print the tables; write the JSON."""
    args = parse_args(argv)
    if args.summarize is not None:
        documents = [json.loads(f.read_text(encoding="utf-8")) for f in args.summarize]
        pooled = {
            key: [row for d in documents for row in d.get(key, [])]
            for key in ("wall", "instructions")
        }
        print(summarize(pooled))
        return 0
    today = datetime.date.today().isoformat()
    out = args.out or RESULTS / f"verify_power-{today}{'-quick' if args.quick else ''}.json"
    cfg = MeasureSettings(budget_s=args.budget_s, instructions="never")
    effects = [0.03, 0.01]
    results = Results(
        meta={
            "date": today,
            "command": " ".join([Path(sys.executable).name, *sys.argv]),
            "machine": machine(),
            "settings": cfg.model_dump(),
            "instruction_settings": {"repeats": 2, "min_effects": effects},
            "args": {k: str(v) for k, v in vars(args).items()},
        }
    )
    rng = random.Random(args.seed)
    sizes = [s for s in args.sizes.split(",") if s]

    def wall(r: WallRecord) -> None:
        results.wall.append(r)
        results.save(out)
        print(
            f"{time.strftime('%H:%M:%S')} {r.size} {'busy' if r.busy else 'idle'} "
            f"s={r.speedup:.2f} rep={r.rep} {r.verdict} {r.ratio:.3f} [{r.low:.3f}, "
            f"{r.high:.3f}] n={r.rounds} {r.seconds:.1f}s",
            file=sys.stderr,
            flush=True,
        )

    def instr(r: InstrRecord) -> None:
        results.instructions.append(r)
        results.save(out)
        print(f"instr {r.size} s={r.speedup:.2f} {r.ratios} {r.verdicts}", file=sys.stderr)

    with tempfile.TemporaryDirectory(prefix="verify_power-") as tmp:
        built = {n: build_size(Path(tmp), n, [*SPEEDUPS, *INSTR_SPEEDUPS]) for n in sizes}
        results.meta["iterations"] = {n: b.n for n, b in built.items()}
        for name, size in built.items():
            aa, ab = (
                (args.reps, args.ab_reps)
                if name == "small"
                else (args.large_reps, args.large_ab_reps)
            )
            reps = {0.0: aa, **dict.fromkeys(args.speedups, ab)}
            wall_block(size, reps, cfg, rng, busy=False, record=wall)
        if args.busy:
            with busy_core(args.busy_external) as pid:
                results.meta["busy_pid"] = pid
                results.meta["busy_by"] = args.busy_external or "spinner"
                for name in [n for n in args.busy_sizes.split(",") if n in built]:
                    wall_block(built[name], {0.0: args.busy_reps}, cfg, rng, busy=True, record=wall)
        for name in [n for n in args.instr_sizes.split(",") if n in built]:
            instruction_block(built[name], args.instr_reps, 2, effects, instr, args.instr_speedups)
    return finish(results, out, summarize)


if __name__ == "__main__":
    raise SystemExit(main())
