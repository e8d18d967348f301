"""Benchmark the inventory functions on fixed, seeded workloads.

`OPTIRUNNER_TARGET=inventory/stock.py::missing_skus python bench.py` times one function;
without it every function is timed. Prints one line per function and exits 0.
"""

from __future__ import annotations

import os
import random
import sys
import time
from collections.abc import Callable

from inventory.parsing import parse_bin_codes
from inventory.reports import low_stock, render_csv
from inventory.routing import reachable_locations
from inventory.stock import OrderLine, cheapest_offer, missing_skus


def _missing_skus() -> None:
    rng = random.Random(1)
    catalogue = [f"SKU-{i:06d}" for i in range(7000)]
    orders = [OrderLine(f"SKU-{rng.randrange(7700):06d}", 1) for _ in range(7000)]
    missing_skus(orders, catalogue)


def _cheapest_offer() -> None:
    rng = random.Random(2)
    offers = [(f"supplier-{i}", rng.uniform(1, 100)) for i in range(150_000)]
    for _ in range(3):
        cheapest_offer(offers)


def _render_csv() -> None:
    rng = random.Random(3)
    columns = ["sku", "name", "quantity", "location"]
    rows: list[dict[str, object]] = [
        {"sku": f"SKU-{i}", "name": f"item {i}", "quantity": rng.randrange(500), "location": "A1"}
        for i in range(150_000)
    ]
    render_csv(rows, columns)


def _low_stock() -> None:
    rng = random.Random(4)
    levels = {f"SKU-{i}": rng.randrange(100) for i in range(300_000)}
    for _ in range(5):
        low_stock(levels, 20)


def _reachable_locations() -> None:
    size = 80_000
    # The dock opens onto every location, so the breadth-first queue gets very long.
    aisles = {f"L{i}": [f"L{(i * 7 + 3) % size}"] for i in range(size)}
    aisles["dock"] = list(aisles)
    reachable_locations(aisles, "dock")


def _parse_bin_codes() -> None:
    rng = random.Random(6)
    labels = [
        f"{rng.choice('ABC')}{rng.randrange(40)}-S{rng.randrange(20):02d}-B{rng.randrange(9)}"
        for _ in range(150_000)
    ]
    parse_bin_codes(labels)


BENCHMARKS: dict[str, Callable[[], None]] = {
    "inventory/stock.py::missing_skus": _missing_skus,
    "inventory/stock.py::cheapest_offer": _cheapest_offer,
    "inventory/reports.py::render_csv": _render_csv,
    "inventory/reports.py::low_stock": _low_stock,
    "inventory/routing.py::reachable_locations": _reachable_locations,
    "inventory/parsing.py::parse_bin_codes": _parse_bin_codes,
}


def main() -> int:
    """Run the selected benchmarks and print their wall-clock times."""
    wanted = os.environ.get("OPTIRUNNER_TARGET")
    if wanted and wanted not in BENCHMARKS:
        print(f"bench.py: no benchmark for {wanted!r}; timing everything", file=sys.stderr)
        wanted = None
    for name, run in BENCHMARKS.items():
        if wanted and name != wanted:
            continue
        start = time.perf_counter()
        run()
        print(f"{name}: {time.perf_counter() - start:.3f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
