"""Wall time against CPU time of the same A/A rounds: how much of the noise is CPU waiting.

    .venv/bin/python benchmarks/cpu_vs_wall.py [PAIRS]

Each round is a fresh `python -I` process running the `spin` loop of `verify_power.py`; it
times itself with `time.perf_counter()` (wall) and `time.process_time()` (user + system CPU
of the process). Both arms run identical code, so every difference is noise. Prints the
standard deviation of log(A/B) per pair for both clocks, for a ≈10 ms and a ≈200 ms round.
"""

from __future__ import annotations

import math
import statistics
import subprocess
import sys

CHILD = r"""
import gc, sys, time
def spin(n):
    acc = 0
    for i in range(n):
        acc = (acc * 31 + i) % 1000003
    return acc
n, loops = int(sys.argv[1]), int(sys.argv[2])
spin(n)
gc.disable()
wall, cpu = time.perf_counter(), time.process_time()
for _ in range(loops):
    spin(n)
print(time.perf_counter() - wall, time.process_time() - cpu)
"""

SIZES = {"≈10 ms round": (2625, 80), "≈200 ms round": (40000, 100)}


def one_round(n: int, loops: int) -> tuple[float, float]:
    """(wall s, CPU s) of one fresh process."""
    argv = [sys.executable, "-I", "-c", CHILD, str(n), str(loops)]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout.split()
    return float(out[0]), float(out[1])


def main() -> int:
    pairs = int(sys.argv[1]) if len(sys.argv) > 1 else 25
    print("| round | pairs | wall time σ | CPU time σ |")
    print("| --- | --- | --- | --- |")
    for label, (n, loops) in SIZES.items():
        rounds = [(one_round(n, loops), one_round(n, loops)) for _ in range(pairs)]
        wall = [math.log(a[0] / b[0]) for a, b in rounds]
        cpu = [math.log(a[1] / b[1]) for a, b in rounds]
        print(f"| {label} | {pairs} | {statistics.stdev(wall):.3f} | {statistics.stdev(cpu):.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
