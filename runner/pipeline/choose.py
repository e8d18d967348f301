"""Stage 6, choose: per target, the candidate verified faster with the lowest time ratio;
the winners' diffs are the job's patch."""

from __future__ import annotations

import math
from dataclasses import dataclass

from runner.result import CandidateResult


@dataclass(frozen=True)
class Choice:
    best: list[CandidateResult]  # one per target at most
    patch: str  # the winners' diffs: targets in different definitions do not overlap
    summary: str  # the job's message


def run(results: list[CandidateResult]) -> Choice:
    best: dict[str, CandidateResult] = {}
    for r in results:
        m = r.measurement
        if m is None or not m.verdict.startswith("faster"):
            continue
        current = best.get(r.target)
        if current is None or _ratio(r) < _ratio(current):
            best[r.target] = r
    winners = list(best.values())
    return Choice(winners, "".join(r.diff for r in winners), _summary(len(winners), len(results)))


def _summary(winners: int, tried: int) -> str:
    if winners == 0:
        return f"no verified speedup among {tried} candidates"
    return f"{winners} target(s) verified faster ({tried} candidates tried)"


def _ratio(result: CandidateResult) -> float:
    """A candidate's time ratio to the baseline (infinite when it was not timed)."""
    m = result.measurement
    return math.inf if m is None or m.ratio is None else m.ratio
