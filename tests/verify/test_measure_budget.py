"""`measure.budget_s` holds for everything measured for a candidate: the warm-up, the wall
rounds, the callgrind fallback and the size classes, on fake rounds and a fake callgrind
that only move an injected clock (no real waits)."""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

import pytest

from runner.config import MeasureSettings
from runner.verify import budget, measure, stats
from runner.verify.replay import CallgrindOverBudget

BASELINE, CANDIDATE = Path("/b"), Path("/c")


class Clock:
    """Time moves only when a fake round or callgrind run says it took some."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _arm(
    clock: Clock, round_s: float, speed: float, noise: float, jitter: float, seed: int
) -> measure.RoundFactory:
    """Rounds whose value is `speed` x log-normal noise and whose wall time is `round_s`,
    up to `jitter` longer (what a real round spends starting, preparing, timing)."""
    gen = random.Random(seed)

    def factory(project: Path) -> Any:
        factor = 1.0 if project == BASELINE else speed

        def one_round() -> float:
            clock.now += round_s * (1 + jitter * gen.random())
            return factor * math.exp(gen.gauss(0, noise))

        return one_round

    return factory


class Counter:
    """A callgrind that takes `run_s` per run of one arm and counts `instructions[project]`."""

    def __init__(self, clock: Clock, run_s: float, ratio: float = 1.0) -> None:
        self.clock = clock
        self.run_s = run_s
        self.instructions = {BASELINE: 1000.0, CANDIDATE: 1000.0 * ratio}
        self.runs: list[Path] = []

    def instructions_per_call(
        self, project: Path, _calls: int, repeats: int, *, deadline_s: float | None = None
    ) -> list[float]:
        if deadline_s is not None and self.run_s * repeats > deadline_s:
            self.clock.now += deadline_s  # killed at its deadline, as the real one is
            raise CallgrindOverBudget("killed")
        self.clock.now += self.run_s * repeats
        self.runs += [project] * repeats
        return [self.instructions[project]] * repeats


def _plan(
    clock: Clock,
    *,
    round_s: float = 0.25,
    speed: float = 1.0,
    noise: float = 0.15,
    jitter: float = 0.0,
    counter: Counter | None = None,
    seed: int = 0,
) -> measure.Plan:
    arm = _arm(clock, round_s, speed, noise, jitter, seed)
    plan = measure.Plan("replay of 3 recorded calls", arm, counter=counter)  # type: ignore[arg-type]
    plan.counter_calls = 30
    return plan


def _measure(
    plan: measure.Plan, clock: Clock, cfg: MeasureSettings, **kwargs: Any
) -> tuple[Any, float]:
    started = clock.now
    m = measure.measure(plan, BASELINE, CANDIDATE, cfg, random.Random(1), clock=clock, **kwargs)
    assert m.seconds == pytest.approx(clock.now - started)
    return m, clock.now - started


AUTO = MeasureSettings(budget_s=60, instruction_repeats=2)


def test_a_hopeless_candidate_with_callgrind_stays_within_the_budget() -> None:
    """Issue 23's case: identical code, noisy rounds, callgrind outside the budget took
    238 s of a 60 s budget. Now the wall rounds leave room for one callgrind pair."""
    clock = Clock()
    counter = Counter(clock, run_s=8.0)
    m, spent = _measure(_plan(clock, counter=counter), clock, AUTO)
    assert spent <= 60 + 0.25
    assert counter.runs == [BASELINE, CANDIDATE]  # one pair fitted; the second repeat did not
    assert m.instruction_ratios == [1.0]
    assert m.verdict == stats.Verdict.INCONCLUSIVE.value
    assert any("after 1 of 2 repeats" in note for note in m.notes)


def test_callgrind_is_skipped_when_the_budget_cannot_hold_one_pair() -> None:
    clock = Clock()
    counter = Counter(clock, run_s=40.0)
    plan = _plan(clock, counter=counter)
    plan.callgrind_s = 40.0  # measured on an earlier candidate of the target
    m, spent = _measure(plan, clock, AUTO)
    assert spent <= 60 + 0.25
    assert counter.runs == []
    assert m.instruction_ratios == []
    (note,) = m.notes
    assert note.startswith("instruction counts skipped: ")
    assert "left of the 60 s budget, one callgrind pair needs ~80 s" in note


def test_the_baseline_counts_are_kept_for_the_next_candidate() -> None:
    clock = Clock()
    counter = Counter(clock, run_s=5.0, ratio=0.9)
    plan = _plan(clock, counter=counter)
    cfg = MeasureSettings(budget_s=60, instruction_repeats=1, instructions="always")
    first, _ = _measure(plan, clock, cfg)
    second, spent = _measure(plan, clock, cfg)
    assert counter.runs == [BASELINE, CANDIDATE, CANDIDATE]
    assert first.instruction_ratios == second.instruction_ratios == [pytest.approx(0.9)]
    assert spent <= 60 + 0.25


def test_a_first_callgrind_run_slower_than_expected_does_not_start_the_candidates() -> None:
    """Before a target's first callgrind run its cost is a guess from the wall rounds; once
    the baseline's run shows it, the candidate's starts only if it fits."""
    clock = Clock()
    counter = Counter(clock, run_s=20.0)  # the guess is 45 rounds of 0.25 s: 11 s
    m, _ = _measure(_plan(clock, counter=counter), clock, AUTO)
    assert counter.runs == [BASELINE]
    assert m.instruction_ratios == []
    assert any("one candidate callgrind run needs ~20 s" in note for note in m.notes)


@pytest.mark.parametrize("run_s", [30.0, 44.0, 100.0, 500.0])
def test_a_first_callgrind_run_past_the_budget_is_killed_at_its_end(run_s: float) -> None:
    """Issue 23's case: callgrind runs of 44 s on a very busy host, and a first run whose
    cost is only a guess from the wall rounds (11 s). The run is killed when the budget
    ends, the report says so, and the next candidate knows the cost is at least that."""
    clock = Clock()
    counter = Counter(clock, run_s=run_s)
    plan = _plan(clock, counter=counter)
    cfg = MeasureSettings(budget_s=60, instructions="always")
    m, spent = _measure(plan, clock, cfg)
    assert spent <= 60 + 0.25 * 1.3
    if run_s > 60 - 0.25 * 20:  # more than what the rounds left: killed
        assert any(note.startswith("instruction counts stopped: ") for note in m.notes)
        assert plan.callgrind_s is not None
        later, spent = _measure(plan, clock, cfg)
        assert spent <= 60 + 0.25 * 1.3
        assert not any(note.startswith("instruction counts stopped") for note in later.notes)


@pytest.mark.parametrize("round_s", [0.05, 0.3, 2.0, 7.0, 25.0, 70.0])
@pytest.mark.parametrize("callgrind_s", [None, 3.0, 20.0, 100.0])
@pytest.mark.parametrize("instructions", ["auto", "always"])
def test_wall_time_per_candidate_never_exceeds_the_budget_plus_one_round(
    round_s: float, callgrind_s: float | None, instructions: str
) -> None:
    """Every round length (a 70 s round is longer than the budget), every callgrind cost
    known from an earlier candidate, size classes too: budget + one round at the most."""
    clock = Clock()
    counter = None if callgrind_s is None else Counter(clock, callgrind_s)
    plan = _plan(clock, round_s=round_s, jitter=0.3, counter=counter, seed=int(round_s * 10))
    plan.callgrind_s = callgrind_s
    plan.classes = [
        measure.SizeClass(label, 3, (1, 1), _arm(clock, round_s, 1.0, 0.1, 0.3, 7))
        for label in ("recorded", "x10", "x100")
    ]
    cfg = MeasureSettings(budget_s=60, instructions=instructions)  # type: ignore[arg-type]
    longest = round_s * 1.3
    for _ in range(3):  # the first candidate learns the round; the next ones know it
        m, spent = _measure(plan, clock, cfg, class_pairs=5)
        assert spent <= 60 + longest, m.reason
        if m.low is None:
            assert m.verdict == stats.Verdict.INCONCLUSIVE.value


def test_rounds_longer_than_the_budget_allows_are_not_started() -> None:
    """With the round known (the A/A run timed it), a budget that cannot hold the warm-up
    and 5 pairs starts nothing and says why."""
    clock = Clock()
    plan = _plan(clock, round_s=7.0)
    plan.round_s = 7.0
    plan.classes = [measure.SizeClass("x10", 3, (1, 1), _arm(clock, 0.1, 1.0, 0.1, 0.0, 3))]
    m, spent = _measure(plan, clock, AUTO, class_pairs=5)
    assert spent == 0.0
    # nothing to set them beside: listed, not timed
    assert m.size_classes == [
        {"class": "x10", "calls": 3, "sizes": [1, 1], "pairs": 0, "speedup": None}
    ]
    assert "measure.budget_s of 84 s or more would time it" in m.reason
    assert m.ratio is None
    assert m.low is None
    assert m.high is None
    assert m.verdict == stats.Verdict.INCONCLUSIVE.value
    assert "cannot fit the 5 pairs an interval needs" in m.reason


def test_fewer_than_5_pairs_give_an_estimate_without_an_interval() -> None:
    """Rounds that get six times longer after the second pair: the budget ends the run
    before the 5 pairs an interval needs, and the estimate is reported without one."""
    clock = Clock()
    walls = iter([2.0] * 6 + [12.0] * 100)  # warm-up, two pairs, then the host slows down

    def factory(project: Path) -> Any:
        def one_round() -> float:
            clock.now += next(walls)
            return 1.0 if project == BASELINE else 0.5

        return one_round

    m, spent = _measure(measure.Plan("bench command", factory), clock, AUTO)
    # the warm-up, two 4 s pairs, then two 24 s pairs: 60 s; a fifth would not fit
    assert spent == 2 * 2 + 2 * 4 + 2 * 24
    assert len(m.baseline_rounds) == 4
    assert m.ratio == pytest.approx(0.5)
    assert m.low is None
    assert m.high is None
    assert m.verdict == stats.Verdict.INCONCLUSIVE.value
    assert "4 rounds: the budget cannot fit the 5 pairs an interval needs" in m.reason


def test_the_a_a_run_fits_in_the_budget_too() -> None:
    clock = Clock()
    plan = _plan(clock, round_s=4.0)
    noise = measure.calibrate_noise(plan, BASELINE, random.Random(2), 10, budget_s=60, clock=clock)
    assert clock.now <= 60 + 4.0
    assert noise is not None  # 6 pairs fitted: enough for the noise estimate
    assert plan.round_s == pytest.approx(4.0)
    assert plan.noise == noise
    # a 12 s budget holds the warm-up and one pair: no noise estimate, and none kept
    small = measure.calibrate_noise(plan, BASELINE, random.Random(2), 10, budget_s=12, clock=clock)
    assert small is None
    assert plan.noise is None


def test_size_classes_that_do_not_fit_are_listed_not_timed() -> None:
    clock = Clock()
    plan = _plan(clock, speed=0.5, noise=0.01)
    plan.round_s = 0.25
    plan.classes = [
        measure.SizeClass(label, 3, (1, 1), _arm(clock, 3.0, 1.0, 0.01, 0.0, 1))
        for label in ("recorded", "x10", "x100")
    ]
    m, spent = _measure(plan, clock, MeasureSettings(budget_s=60), class_pairs=5)
    assert spent <= 60 + 3.0
    assert m.verdict == stats.Verdict.FASTER.value
    timed = [row["class"] for row in m.size_classes if row["pairs"]]
    skipped = [row for row in m.size_classes if not row["pairs"]]
    assert timed  # the clear verdict left time for some
    assert skipped
    assert all(row["speedup"] is None for row in skipped)
    assert any(note.startswith("size classes ") and "skipped" in note for note in m.notes)


def test_a_candidate_that_cannot_beat_a_verified_one_stops_early() -> None:
    """Another candidate of the target is verified 2x faster: an identical rewrite is not
    measured to the end of the budget, nor counted, nor timed per size."""
    clock = Clock()
    counter = Counter(clock, run_s=5.0)
    plan = _plan(clock, noise=0.005, counter=counter)
    plan.classes = [measure.SizeClass("x10", 3, (1, 1), _arm(clock, 0.25, 1.0, 0.1, 0.0, 3))]
    m, spent = _measure(plan, clock, AUTO, class_pairs=5, to_beat=0.55)
    assert len(m.baseline_rounds) == AUTO.min_rounds  # the first look
    assert spent < 10
    assert "stopped: 10 rounds: no meaningful difference: whole interval within ±3%" in m.reason
    assert "another candidate is already verified at least 1.82× faster" in m.reason
    assert counter.runs == []
    assert m.size_classes == []
    # noisier, the interval is wider than ±3% but still wholly slower than the other one
    noisy, _ = _measure(_plan(clock, noise=0.02, counter=counter), clock, AUTO, to_beat=0.55)
    assert len(noisy.baseline_rounds) == AUTO.min_rounds
    assert "cannot be chosen: another candidate is already verified" in noisy.reason
    assert counter.runs == []
    # without the other candidate the same rewrite is measured as before (and counted)
    alone, _ = _measure(_plan(clock, noise=0.02, counter=counter), clock, AUTO)
    assert len(alone.baseline_rounds) > AUTO.min_rounds
    assert counter.runs


def test_a_faster_candidate_is_not_stopped_by_a_faster_one() -> None:
    clock = Clock()
    m, _ = _measure(_plan(clock, speed=0.7, noise=0.02), clock, AUTO, to_beat=0.55)
    assert m.verdict == stats.Verdict.FASTER.value
    assert "clearly faster" in m.reason


def test_wall_share_keeps_the_reserve_only_when_the_rounds_keep_their_minimum() -> None:
    assert budget.wall_share(60, 20, 3) == 40
    assert budget.wall_share(60, 58, 3) == 60  # callgrind would starve wall time
    assert budget.wall_share(60, 0, 3) == 60
    assert budget.callgrind_run_s(12.0, 0.3) == 12.0
    assert budget.callgrind_run_s(None, 0.2) == pytest.approx(budget.CALLGRIND_ROUNDS * 0.2)
    assert budget.callgrind_run_s(None, None) is None


def test_the_budget_runs_on_its_clock() -> None:
    clock = Clock()
    clock.now = 100.0
    spent = budget.Budget(60, clock)
    clock.now = 146.0
    assert spent.elapsed() == 46.0
    assert spent.left() == 14.0
    assert spent.fits(14.0)
    assert not spent.fits(14.5)
    assert spent.skipped("instruction counts", "one callgrind pair needs ~40 s") == (
        "instruction counts skipped: 14 s left of the 60 s budget, one callgrind pair needs ~40 s"
    )
    clock.now = 200.0
    assert spent.left() == 0.0
