"""Reading a benchmark command's own results: pytest-benchmark and pyperf JSON files.

A bench command that writes `.optirunner/bench.json` (relative to the project) gives each
round the time its benchmarks measured, instead of the whole command's wall time (which
includes interpreter start-up and collection). Pure functions over the parsed document.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: Where a bench command writes its JSON, relative to the project (e.g.
#: `--benchmark-json .optirunner/bench.json`, or pyperf's `-o .optirunner/bench.json`).
BENCH_JSON = Path(".optirunner") / "bench.json"


def round_seconds(document: Mapping[str, Any]) -> float | None:
    """Seconds the benchmarks of one run took, summed over benchmarks; None if unknown."""
    benchmarks = document.get("benchmarks")
    if not isinstance(benchmarks, list) or not benchmarks:
        return None
    total = 0.0
    for bench in benchmarks:
        seconds = _pytest_benchmark(bench) if "stats" in bench else _pyperf(bench)
        if seconds is None:
            return None
        total += seconds
    return total


def _pytest_benchmark(bench: Mapping[str, Any]) -> float | None:
    """pytest-benchmark: `stats.median` is seconds per call of that benchmark."""
    median = bench.get("stats", {}).get("median")
    return float(median) if isinstance(median, int | float) else None


def _pyperf(bench: Mapping[str, Any]) -> float | None:
    """pyperf: every run's `values` (warm-ups excluded) are seconds; take their median."""
    values = [
        float(v)
        for run in bench.get("runs", [])
        for v in run.get("values", [])
        if isinstance(v, int | float)
    ]
    return statistics.median(values) if values else None
