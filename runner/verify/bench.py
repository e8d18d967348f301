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
    """Per-round seconds of both arms, in the order they ran (index i of each is adjacent),
    and the wall seconds they took on the caller's clock (what a budget is spent on)."""

    baseline: list[float] = field(default_factory=list)
    candidate: list[float] = field(default_factory=list)
    pair_s: list[float] = field(default_factory=list)  # wall seconds of each measured pair
    warmup_s: list[float] = field(default_factory=list)  # wall seconds of each warm-up round

    @property
    def count(self) -> int:
        return min(len(self.baseline), len(self.candidate))


def next_pair_s(rounds: Rounds, default: float = 0.0) -> float:
    """What the next pair is expected to cost: the longest measured pair so far, else the
    last warm-up pair (twice its round when only one has run), else `default` (nothing has
    run yet)."""
    if rounds.pair_s:
        return max(rounds.pair_s)
    if len(rounds.warmup_s) >= 2:
        return sum(rounds.warmup_s[-2:])
    return 2 * rounds.warmup_s[0] if rounds.warmup_s else default


def interleave(
    baseline: Round,
    candidate: Round,
    rounds: int,
    *,
    warmup: int = 1,
    clock: Callable[[], float] = time.monotonic,
    fits: Callable[[float], bool] | None = None,
    first_pair_s: float = 0.0,
) -> Rounds:
    """Run `warmup` discarded pairs, then `rounds` pairs A B A B …

    `fits(seconds)`, when given, is asked before every warm-up round and every pair with what
    it is expected to cost (from `next_pair_s`, `first_pair_s` before anything ran): a False
    ends the run there, so it may return fewer pairs, or none.
    """
    result = Rounds()
    for arm in [baseline, candidate] * warmup:
        if fits is not None and not fits(next_pair_s(result, first_pair_s) / 2):
            return result
        begun = clock()
        arm()
        result.warmup_s.append(clock() - begun)
    for _ in range(rounds):
        if fits is not None and not fits(next_pair_s(result, first_pair_s)):
            break
        begun = clock()
        result.baseline.append(baseline())
        result.candidate.append(candidate())
        result.pair_s.append(clock() - begun)
    return result


def adaptive(
    baseline: Round,
    candidate: Round,
    stop: Callable[[Rounds, float], StopT],
    *,
    warmup: int = 1,
    clock: Callable[[], float] = time.monotonic,
) -> tuple[Rounds, StopT]:
    """Run `warmup` discarded pairs, then pairs in ABBA order until `stop(rounds, elapsed_s)`
    returns a decision to stop.

    ABBA (A B, then B A, ...) cancels a linear drift of the machine within each pair of
    pairs, which plain ABAB would attribute to one arm. `stop` is asked before every warm-up
    round (`len(rounds.warmup_s)` of the `2 * warmup` have run) and every pair, with the
    rounds so far and the seconds spent, warm-up included: it is measuring time too, and a
    budget must be able to end the run before a round that would not fit.
    """
    warm = [baseline, candidate] * warmup
    result = Rounds()
    started = clock()
    while True:
        decision = stop(result, clock() - started)
        if decision.stop:
            return result, decision
        begun = clock()
        if len(result.warmup_s) < len(warm):
            warm[len(result.warmup_s)]()
            result.warmup_s.append(clock() - begun)
            continue
        if result.count % 2 == 0:
            a = baseline()
            b = candidate()
        else:
            b = candidate()
            a = baseline()
        result.baseline.append(a)
        result.candidate.append(b)
        result.pair_s.append(clock() - begun)
