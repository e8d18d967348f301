"""Interleaved A/B timing: baseline and candidate rounds alternate, each in a fresh process.

The instrument (what one round runs) is a callable returning the seconds the round
measured; this module owns only the schedule, so the same loop serves whole-command
timing and the replay harness.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

Round = Callable[[], float]


@dataclass
class Rounds:
    """Per-round seconds of both arms, in the order they ran (index i of each is adjacent)."""

    baseline: list[float] = field(default_factory=list)
    candidate: list[float] = field(default_factory=list)

    @property
    def count(self) -> int:
        return min(len(self.baseline), len(self.candidate))


def interleave(
    baseline: Round,
    candidate: Round,
    rounds: int,
    *,
    warmup: int = 1,
    into: Rounds | None = None,
    on_round: Callable[[Rounds], None] | None = None,
) -> Rounds:
    """Run `warmup` discarded pairs, then `rounds` pairs A B A B …; append to `into`."""
    result = into if into is not None else Rounds()
    for _ in range(warmup):
        baseline()
        candidate()
    for _ in range(rounds):
        result.baseline.append(baseline())
        result.candidate.append(candidate())
        if on_round is not None:
            on_round(result)
    return result
