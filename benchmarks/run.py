"""`make bench`: every benchmark, one after the other, with their default settings.

    .venv/bin/python benchmarks/run.py [--quick] [NAME ...]

Each prints its own numbers; docs/benchmarks.md records a run with machine and date.
`--quick` passes the smoke-run options where a benchmark has them (minutes, not an hour).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: name -> (script, arguments, arguments for --quick)
BENCHMARKS: dict[str, tuple[str, list[str], list[str]]] = {
    "bundle": ("bundle_extract.py", [], []),
    "method_context": ("method_context.py", [], []),
    "redaction": ("redaction_score.py", [], []),
    "telemetry": ("telemetry_stream.py", [], ["--events", "5000"]),
    "webhooks": ("webhook_load.py", [], ["--seconds", "5"]),
    "stats": ("stats_sim.py", [], ["--quick"]),
    "verify": ("verify_power.py", ["--busy"], ["--quick"]),
    "budget": ("verify_budget.py", [], ["--quick"]),
    "realworld": ("realworld.py", [], ["--quick"]),
}


def main() -> int:
    """Run the chosen benchmarks; exit 1 if any failed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke-run sizes")
    parser.add_argument("names", nargs="*", help=f"some of: {', '.join(BENCHMARKS)}")
    options = parser.parse_args()
    unknown = sorted(set(options.names) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    failed = []
    for name in options.names or list(BENCHMARKS):
        script, full, quick = BENCHMARKS[name]
        argv = [sys.executable, str(HERE / script), *(quick if options.quick else full)]
        print(f"== {name}: {' '.join(argv[1:])}", flush=True)
        started = time.monotonic()
        code = subprocess.run(argv, check=False).returncode
        print(f"== {name}: exit {code} in {time.monotonic() - started:.0f} s", flush=True)
        if code != 0:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
