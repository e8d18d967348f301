"""The measuring budget of one candidate, and what each step is expected to cost in it.

`measure.budget_s` covers everything measured for a candidate: the warm-up pair, the
wall-time rounds, the instruction counts under callgrind and the per-size timings. Each step
starts only when what is left covers what it is expected to cost, so the total stays within
the budget plus the error of one estimate: at most one round when rounds keep their length.
Pure arithmetic over an injected clock; `measure.py` does the measuring.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

#: One callgrind run of one arm (its K-calls and 0-calls processes) costs about this many
#: wall-time rounds of the same replay. Measured on the 2-core VMs: a 0.29 s round and a
#: 10.0 s run (34x; starting the interpreter under valgrind is most of it), and ~0.26 s
#: rounds with 45-51 s for 4 runs (docs/benchmarks.md, 43-49x). Taken at the high end: a
#: guess below the real cost spends the baseline's run in vain, or overruns the budget.
#: Used only until the target's first callgrind run has been timed.
CALLGRIND_ROUNDS = 45.0


@dataclass
class Budget:
    """Seconds one candidate may spend being measured, on an injected clock."""

    total_s: float
    clock: Callable[[], float] = time.monotonic
    started: float = field(init=False)

    def __post_init__(self) -> None:
        self.started = self.clock()

    def elapsed(self) -> float:
        """Seconds spent so far."""
        return self.clock() - self.started

    def left(self) -> float:
        """Seconds still to spend (never negative)."""
        return max(0.0, self.total_s - self.elapsed())

    def fits(self, cost_s: float) -> bool:
        """Whether a step expected to take `cost_s` ends within the budget."""
        return cost_s <= self.left()

    def skipped(self, what: str, need: str) -> str:
        """`instruction counts skipped: 14 s left of the 60 s budget, one callgrind pair needs
        ~40 s`: the note a report gives for a step the budget did not allow."""
        return f"{what} skipped: {self.left():.0f} s left of the {self.total_s:g} s budget, {need}"


def callgrind_run_s(measured_s: float | None, round_s: float | None) -> float | None:
    """Expected seconds of one callgrind run of one arm: as the last one took, else from the
    wall time of one round (None when neither is known yet)."""
    if measured_s is not None:
        return measured_s
    return None if round_s is None else CALLGRIND_ROUNDS * round_s


def wall_share(total_s: float, reserve_s: float, minimum_s: float) -> float:
    """The seconds the wall-time rounds may use when `reserve_s` is kept for callgrind.

    The reserve is kept only when the rounds still get their `minimum_s` (the warm-up and the
    fewest pairs an interval needs); otherwise callgrind could not run without starving wall
    time of any verdict, and the rounds get the whole budget.
    """
    if reserve_s <= 0 or total_s - reserve_s < minimum_s:
        return total_s
    return total_s - reserve_s
