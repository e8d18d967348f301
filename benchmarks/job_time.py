"""Where a job's time goes: the demo, and a real library whose suite runs about a minute.

    .venv/bin/python benchmarks/job_time.py [--case demo|pyparsing ...] [--out FILE]

* ``demo``: `make demo`'s job (examples/inventory, six targets, the offline rules provider,
  the demo's measuring settings from the Makefile);
* ``pyparsing``: pyparsing 3.2.0 (the sdist of the real-library evaluation, in its own
  venv) with its four main test files (1 807 tests, 30-50 s plain; the 8 that fail
  without optional dependencies are deselected), the target `ParseResults.haskeys` and
  its own definition unchanged as the only candidate (served by the fake OpenAI server),
  measure budget 60 s (the default);
* ``sympy``: sympy 1.13.3's `sympy/core/tests` (1 946 tests, about 2 minutes plain; its
  test dependencies mpmath and hypothesis are installed into the eval venv), the target
  `sympy/core/intfunc.py::igcd` and its own definition unchanged, measure budget 60 s.

Per job: wall time, and the time of each stage as its spans say (events.jsonl): workspace,
the baseline's suite run, the A/A run, generation, each candidate's tests, behaviour
comparison, generated inputs, measuring, report. Results: a table and
benchmarks/results/job-time-<date>.json; docs/benchmarks.md has the recorded figures.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

import realworld  # noqa: E402 - the evaluation's projects, venv and fake-model runner

#: the demo's targets and settings, as the Makefile has them
DEMO_TARGETS = [
    "inventory/stock.py::missing_skus",
    "inventory/stock.py::cheapest_offer",
    "inventory/reports.py::render_csv",
    "inventory/reports.py::low_stock",
    "inventory/routing.py::reachable_locations",
    "inventory/parsing.py::parse_bin_codes",
]
DEMO_ENV = {
    "OPTIRUNNER_MEASURE__BUDGET_S": "8",
    "OPTIRUNNER_MEASURE__INSTRUCTION_REPEATS": "1",
    "OPTIRUNNER_MEASURE__NOISE_PAIRS": "6",
    "OPTIRUNNER_INPUTS__CLASS_PAIRS": "3",
}
#: fail without pyparsing's optional extras, before any change: deselected
PYPARSING_FAILING = [
    *(
        f"tests/test_unit.py::{klass}::testEmptyExpressionsAreHandledProperly"
        for klass in (
            "Test02_WithoutPackrat",
            "Test04_WithPackrat",
            "Test06_WithBoundedPackrat",
            "Test08_WithUnboundedPackrat",
            "Test09_WithLeftRecursionParsing",
            "Test10_WithLeftRecursionParsingBoundedMemo",
        )
    ),
    "tests/test_examples.py::TestExamples::test_range_check",
    "tests/test_examples.py::TestExamples::test_rosettacode",
]
PYPARSING_TESTS = "tests/test_unit.py tests/test_simple_unit.py tests/test_util.py"
PYPARSING_TESTS += " tests/test_examples.py"
SYMPY = realworld.cases.Project(
    "sympy",
    "1.13.3",
    "b27fd2c6530e0ab39e275fc9b683895367e51d5da91baa8d3d64db2565fec4d9",
    realworld.cases.FLAT + " sympy/core/tests",
)
SYMPY_REQUIREMENTS = ["mpmath==1.3.0", "hypothesis==6.112.0"]  # its conftest needs both
STAGES = (  # top-level spans of a job, in the order a job runs them
    "workspace",
    "baseline",
    "baseline.aa",
    "baseline.workload",
    "bundle",
    "generate",
    "agent",  # generation, verification and measuring, with a model provider
    "verify",
    "measure",
    "report",
)


def stage_seconds(state: Path) -> dict[str, float]:
    """Seconds per stage: the job span's direct children, summed by name."""
    events = sorted(state.rglob("events.jsonl"))
    if not events:
        return {}
    spans = [json.loads(line) for line in events[-1].read_text().splitlines() if line.strip()]
    root = next((s["span_id"] for s in spans if s.get("name") == "job"), None)
    seconds: dict[str, float] = defaultdict(float)
    for span in spans:
        if span.get("parent_id") == root and "end" in span and "start" in span:
            seconds[span["name"]] += span["end"] - span["start"]
    for span in spans:  # and every nested kind of span, summed by name ("verify/...")
        if span.get("parent_id") != root and "end" in span and "start" in span:
            seconds[f"  {span['name']}"] += span["end"] - span["start"]
    jobs = [s for s in spans if s.get("name") == "job"]
    if jobs:
        seconds["job"] = jobs[0]["end"] - jobs[0]["start"]
    return {name: round(value, 1) for name, value in seconds.items()}


def run_demo(work: Path) -> dict[str, Any]:
    state = work / "state"
    env = {**os.environ, **DEMO_ENV, "OPTIRUNNER_STATE_DIR": str(state)}
    argv = [sys.executable, "-m", "runner", "optimize", str(REPO / "examples" / "inventory")]
    for target in DEMO_TARGETS:
        argv += ["--target", target]
    argv.append("--json")
    started = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, check=False, cwd=REPO)
    seconds = round(time.monotonic() - started, 1)
    if proc.returncode != 0:
        return {"error": f"exit {proc.returncode}: {proc.stderr.strip()[-500:]}"}
    report = json.loads(proc.stdout)
    statuses = [c.get("status") for c in report.get("candidates", [])]
    return {
        "seconds": seconds,
        "stages": stage_seconds(state),
        "candidates": len(statuses),
        "verified": statuses.count("verified"),
        "suite_s": None,
    }


def run_pyparsing(work: Path) -> dict[str, Any]:
    project = dataclasses.replace(
        realworld.PROJECTS["pyparsing"],
        test_cmd=" ".join(
            [realworld.cases.FLAT, PYPARSING_TESTS, *(f"--deselect {t}" for t in PYPARSING_FAILING)]
        ),
    )
    target = "pyparsing/results.py::ParseResults.haskeys"
    candidate = realworld.cases._identical("pyparsing", target)
    python = realworld.eval_python()
    plain = _plain_suite(project, python, work)
    row = realworld.run_runner(project, candidate, python, work, budget=60.0)
    return {
        "seconds": row.get("seconds"),
        "stages": stage_seconds(work / "state"),
        "status": row.get("status"),
        "verdict": row.get("verdict"),
        "behaviour": row.get("behaviour"),
        "suite_s": plain,
        "error": row.get("error"),
    }


def run_sympy(work: Path) -> dict[str, Any]:
    python = realworld.eval_python()
    proc = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", *SYMPY_REQUIREMENTS],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        return {"error": f"could not install {SYMPY_REQUIREMENTS}: {proc.stderr[-300:]}"}
    realworld.PROJECTS.setdefault(SYMPY.name, SYMPY)  # source_tree and fixtures look it up
    realworld.RUNNER_TIMEOUT_S = 3600  # three suite runs of ~2 minutes, plus measuring
    target = "sympy/core/intfunc.py::igcd"
    candidate = realworld.cases._identical("sympy", target)
    plain = _plain_suite(SYMPY, python, work)
    row = realworld.run_runner(SYMPY, candidate, python, work, budget=60.0)
    return {
        "seconds": row.get("seconds"),
        "stages": stage_seconds(work / "state"),
        "status": row.get("status"),
        "verdict": row.get("verdict"),
        "behaviour": row.get("behaviour"),
        "suite_s": plain,
        "error": row.get("error"),
    }


def _plain_suite(project: Any, python: Path, work: Path) -> float:
    """The suite's own time, without the runner (on a copy of the project)."""
    checkout = realworld.copy_project(project, work / "plain")
    argv = [str(python), *project.test_cmd.split()[1:]]
    started = time.monotonic()
    subprocess.run(argv, cwd=checkout, capture_output=True, check=False)
    return round(time.monotonic() - started, 1)


CASES = {"demo": run_demo, "pyparsing": run_pyparsing, "sympy": run_sympy}


def table(rows: dict[str, dict[str, Any]]) -> str:
    names = [s for s in STAGES if any(s in r.get("stages", {}) for r in rows.values())]
    lines = ["| job | suite alone (s) | job (s) | " + " | ".join(names) + " |"]
    lines.append("| --- " * (3 + len(names)) + "|")
    for case, row in rows.items():
        stages = row.get("stages", {})
        cells = [str(stages.get(name, "-")) for name in names]
        suite = "-" if row.get("suite_s") is None else str(row["suite_s"])
        lines.append(
            f"| {case} | {suite} | {row.get('seconds', '-')} | " + " | ".join(cells) + " |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", action="append", choices=sorted(CASES), default=[])
    parser.add_argument("--out", type=Path, help="JSON results [benchmarks/results/...]")
    options = parser.parse_args()
    rows: dict[str, dict[str, Any]] = {}
    for case in options.case or list(CASES):
        print(f"== {case}", flush=True)
        with tempfile.TemporaryDirectory(prefix=f"job-time-{case}-") as tmp:
            rows[case] = CASES[case](Path(tmp))
        print(f"   {json.dumps(rows[case])}", flush=True)
    print()
    print(table(rows))
    out = options.out or HERE / "results" / f"job-time-{datetime.now(UTC):%Y-%m-%d}.json"
    document = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "load_at_end": [round(x, 2) for x in os.getloadavg()],
        },
        "rows": rows,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(document, indent=2) + "\n")
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
