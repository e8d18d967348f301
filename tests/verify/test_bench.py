"""The interleaving schedules: plain ABAB and adaptive ABBA."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import count

from runner.verify import bench


@dataclass
class _Stop:
    stop: bool
    reason: str = ""


def _arms(log: list[str]) -> tuple[bench.Round, bench.Round]:
    ticks = count(1)

    def arm(name: str) -> bench.Round:
        def run() -> float:
            log.append(name)
            return float(next(ticks))

        return run

    return arm("A"), arm("B")


def test_interleave_alternates_after_a_discarded_warmup() -> None:
    log: list[str] = []
    a, b = _arms(log)
    rounds = bench.interleave(a, b, 3, warmup=1)
    assert log == ["A", "B"] * 4
    assert rounds.baseline == [3.0, 5.0, 7.0]
    assert rounds.candidate == [4.0, 6.0, 8.0]


def test_adaptive_runs_abba_until_told_to_stop() -> None:
    log: list[str] = []
    a, b = _arms(log)
    seen: list[tuple[int, float]] = []
    clock = iter(float(t) for t in range(100))

    def stop(rounds: bench.Rounds, elapsed: float) -> _Stop:
        seen.append((rounds.count, elapsed))
        return _Stop(rounds.count >= 4, "enough")

    rounds, decision = bench.adaptive(a, b, stop, clock=lambda: next(clock))
    assert log == ["A", "B", "A", "B", "B", "A", "A", "B", "B", "A"]
    # each pair keeps baseline and candidate apart whatever the order they ran in
    assert rounds.baseline == [3.0, 6.0, 7.0, 10.0]
    assert rounds.candidate == [4.0, 5.0, 8.0, 9.0]
    assert decision.reason == "enough"
    assert [n for n, _ in seen] == [1, 2, 3, 4]
    assert [e for _, e in seen] == [1.0, 2.0, 3.0, 4.0]  # elapsed excludes the warm-up
