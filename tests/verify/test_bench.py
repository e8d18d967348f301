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
    seen: list[tuple[int, list[float], float]] = []
    clock = iter(float(t) for t in range(100))

    def stop(rounds: bench.Rounds, elapsed: float) -> _Stop:
        seen.append((rounds.count, list(rounds.warmup_s), elapsed))
        return _Stop(rounds.count >= 4, "enough")

    rounds, decision = bench.adaptive(a, b, stop, clock=lambda: next(clock))
    assert log == ["A", "B", "A", "B", "B", "A", "A", "B", "B", "A"]
    # each pair keeps baseline and candidate apart whatever the order they ran in
    assert rounds.baseline == [3.0, 6.0, 7.0, 10.0]
    assert rounds.candidate == [4.0, 5.0, 8.0, 9.0]
    assert decision.reason == "enough"
    # asked before each warm-up round (nothing has run yet, then one), then before each pair
    warm = [(0, 0), (0, 1), (0, 2)]
    assert [(n, len(w)) for n, w, _ in seen] == [*warm, (1, 2), (2, 2), (3, 2), (4, 2)]
    # the clock ticks once per call: the start, then at each stop and around each step
    assert [e for _, _, e in seen] == [1.0, 4.0, 7.0, 10.0, 13.0, 16.0, 19.0]  # warm-up counted
    assert rounds.warmup_s == [1.0, 1.0]
    assert rounds.pair_s == [1.0] * 4


def test_adaptive_can_stop_before_the_warmup() -> None:
    log: list[str] = []
    a, b = _arms(log)
    rounds, _ = bench.adaptive(a, b, lambda _r, _e: _Stop(True), clock=lambda: 0.0)
    assert log == []
    assert rounds.count == 0


def test_interleave_stops_before_a_pair_that_does_not_fit() -> None:
    log: list[str] = []
    a, b = _arms(log)
    ticks = iter(float(t) for t in range(100))
    asked: list[float] = []

    def fits(seconds: float) -> bool:
        asked.append(seconds)
        return len(asked) <= 4  # the two warm-up rounds and two pairs

    rounds = bench.interleave(a, b, 5, clock=lambda: next(ticks), fits=fits, first_pair_s=7.0)
    assert log == ["A", "B"] * 3
    assert rounds.count == 2
    # warm-up rounds: half the caller's guess of a pair, then the first warm-up round;
    # pairs: the warm-up pair, then the longest pair
    assert asked == [3.5, 1.0, 2.0, 1.0, 1.0]
    assert rounds.warmup_s == [1.0, 1.0]


def test_interleave_can_stop_before_anything_runs() -> None:
    log: list[str] = []
    a, b = _arms(log)
    rounds = bench.interleave(a, b, 5, fits=lambda _s: False)
    assert log == []
    assert rounds == bench.Rounds()


def test_next_pair_is_the_longest_so_far() -> None:
    assert bench.next_pair_s(bench.Rounds(), 3.0) == 3.0
    assert bench.next_pair_s(bench.Rounds(warmup_s=[2.0]), 3.0) == 4.0
    assert bench.next_pair_s(bench.Rounds(warmup_s=[2.0, 1.0]), 3.0) == 3.0  # one of each
    assert bench.next_pair_s(bench.Rounds(pair_s=[1.0, 4.0, 2.0], warmup_s=[9.0])) == 4.0
