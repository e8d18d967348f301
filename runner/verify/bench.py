"""Interleaved A/B timing: baseline and candidate rounds alternate, each in a fresh process.

The instrument (what one round runs) is a callable returning the seconds the round
measured; this module owns only the schedule, so the same loop serves whole-command
timing and the replay harness.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

Round = Callable[[], float]


class _Stop(Protocol):
    @property
    def stop(self) -> bool: ...


StopT = TypeVar("StopT", bound=_Stop)


@dataclass
class Rounds:
    """Per-round seconds of both arms, in the order they ran (index i of each is adjacent)."""

    baseline: list[float] = field(default_factory=list)
    candidate: list[float] = field(default_factory=list)

    @property
    def count(self) -> int:
        return min(len(self.baseline), len(self.candidate))


def interleave(baseline: Round, candidate: Round, rounds: int, *, warmup: int = 1) -> Rounds:
    """Run `warmup` discarded pairs, then `rounds` pairs A B A B …"""
    result = Rounds()
    for _ in range(warmup):
        baseline()
        candidate()
    for _ in range(rounds):
        result.baseline.append(baseline())
        result.candidate.append(candidate())
    return result


def adaptive(
    baseline: Round,
    candidate: Round,
    stop: Callable[[Rounds, float], StopT],
    *,
    warmup: int = 1,
    clock: Callable[[], float] = time.monotonic,
) -> tuple[Rounds, StopT]:
    """Run pairs in ABBA order until `stop(rounds, elapsed_s)` returns a decision to stop.

    ABBA (A B, then B A, ...) cancels a linear drift of the machine within each pair of
    pairs, which plain ABAB would attribute to one arm. `stop` sees the rounds so far and
    the seconds spent measuring (warm-up excluded).
    """
    for _ in range(warmup):
        baseline()
        candidate()
    result = Rounds()
    started = clock()
    while True:
        if result.count % 2 == 0:
            a = baseline()
            b = candidate()
        else:
            b = candidate()
            a = baseline()
        result.baseline.append(a)
        result.candidate.append(b)
        decision = stop(result, clock() - started)
        if decision.stop:
            return result, decision
