"""Crash safety, measured: each injected fault, how often, what was lost, duplicated or
posted twice, and how long until the next attempt ran (docs/operations.md).

    PYTHONPATH=. python benchmarks/fault_injection.py [--runs 3]
    PYTHONPATH=. python benchmarks/fault_injection.py --summarize LOG...

The measurement is the crash-safety suite itself (tests/service/test_crash_safety.py: real
`optirunner serve`, real SIGKILL, a fake GitLab): each run of it appends one line per kill
(the time from the kill until the job's next worker started) and one per job (its end
state, how many attempts ran the job to its end, notes and merge requests created) to
FAULT_INJECTION_LOG. `--summarize` reads such logs (e.g. of a CI run with the variable
set) instead of running the suite.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

SUITE = "tests/service/test_crash_safety.py"
SELECT = "every_point or database_write or spool_append"


def run_suite(runs: int, log: Path) -> int:
    """Run the measured tests `runs` times; returns how many runs failed."""
    failed = 0
    for number in range(1, runs + 1):
        print(f"run {number}/{runs} ...", file=sys.stderr, flush=True)
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", SUITE, "-k", SELECT],
            env={**os.environ, "FAULT_INJECTION_LOG": str(log)},
            check=False,
        )
        failed += proc.returncode != 0
    return failed


def load(paths: list[Path]) -> list[dict[str, Any]]:
    rows = []
    for path in paths:
        rows += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    """One markdown row per (victim, point), and one per job chain."""
    kills: dict[tuple[str, str], list[float]] = defaultdict(list)
    for row in rows:
        if row["kind"] == "kill":
            kills[(row["victim"], row["point"])].append(float(row["recovery_s"]))
    jobs = [row for row in rows if row["kind"] == "job"]
    out = [
        "| process killed | where | runs | time to the next attempt, median (max) |",
        "| --- | --- | --- | --- |",
    ]
    for (victim, point), times in kills.items():
        out.append(
            f"| {victim} | `{point}` | {len(times)} | "
            f"{statistics.median(times):.1f} s ({max(times):.1f} s) |"
        )
    out += [
        "",
        "| jobs | kills per job | lost (not succeeded) | attempts that ran the job to its end "
        "| notes created | merge requests created |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    by_kills: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for job in jobs:
        by_kills[(job["victim"], int(job["kills"]))].append(job)
    for (victim, count), group in by_kills.items():
        lost = sum(job["state"] != "succeeded" for job in group)
        twice = ", ".join(sorted({str(job["runs_to_the_end"]) for job in group}))
        notes = sorted({job.get("notes_created", "-") for job in group}, key=str)
        mrs = sorted({job.get("merge_requests_created", "-") for job in group}, key=str)
        out.append(
            f"| {len(group)} ({victim} killed) | {count} | {lost} | {twice} | "
            f"{', '.join(map(str, notes))} | {', '.join(map(str, mrs))} |"
        )
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of the suite (default 3)")
    parser.add_argument("--summarize", nargs="+", type=Path, help="read these logs instead")
    args = parser.parse_args()
    if args.summarize:
        missing = [p for p in args.summarize if not p.is_file()]
        if missing:
            parser.error(f"no such log: {missing[0]}")
        print(table(load(args.summarize)))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "faults.jsonl"
        failed = run_suite(args.runs, log)
        print(table(load([log])) if log.is_file() else "nothing measured")
    if failed:
        print(f"{failed} of {args.runs} runs of the suite failed", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
