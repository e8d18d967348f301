"""runner.verify.stats: the interval, its correction, the verdict rule and adaptive stopping."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest

from runner.verify import stats
from runner.verify.stats import Instrument, Interval, Verdict


def noisy_pairs(
    rng: random.Random, n: int, ratio: float, cv: float = 0.15
) -> tuple[list[float], list[float]]:
    """n interleaved pairs with a shared slowly varying load plus independent noise per round."""
    load, base, cand = 0.0, [], []
    for _ in range(n):
        load = 0.9 * load + rng.gauss(0, cv / 2)
        base.append(math.exp(load + rng.gauss(0, cv)))
        cand.append(ratio * math.exp(load + rng.gauss(0, cv)))
    return base, cand


# -- median and the interval ---------------------------------------------------------------


def test_median_of_odd_and_even_counts() -> None:
    assert stats.median([3.0, 1.0, 2.0]) == 2.0
    assert stats.median([4.0, 1.0, 3.0, 2.0]) == 2.5
    with pytest.raises(ValueError, match="no values"):
        stats.median([])


def test_bootstrap_is_deterministic_for_a_seed() -> None:
    base, cand = noisy_pairs(random.Random(1), 20, 0.9)
    first = stats.bootstrap_ratio_ci(base, cand, rng=random.Random(7))
    again = stats.bootstrap_ratio_ci(base, cand, rng=random.Random(7))
    assert first == again
    assert first.rounds == 20
    assert first.confidence == 0.95


@pytest.mark.parametrize("ratio", [0.5, 0.8, 1.0, 1.25])
def test_interval_contains_the_true_ratio_in_clear_cases(ratio: float) -> None:
    base, cand = noisy_pairs(random.Random(2), 40, ratio, cv=0.05)
    interval = stats.bootstrap_ratio_ci(base, cand, rng=random.Random(3))
    assert interval.low <= interval.point <= interval.high
    assert interval.contains(ratio)
    assert interval.high / interval.low < 1.15  # and is not uselessly wide


def test_interval_uses_complete_pairs_only() -> None:
    base, cand = noisy_pairs(random.Random(4), 10, 1.0)
    trimmed = stats.bootstrap_ratio_ci(base, cand, rng=random.Random(5))
    extra = stats.bootstrap_ratio_ci([*base, 100.0], cand, rng=random.Random(5))
    assert extra == trimmed


def test_interval_rejects_too_few_or_nonpositive_rounds() -> None:
    with pytest.raises(ValueError, match="at least 5"):
        stats.bootstrap_ratio_ci([1.0] * 4, [1.0] * 4, rng=random.Random(0))
    with pytest.raises(ValueError, match="positive"):
        stats.bootstrap_ratio_ci([1.0] * 5, [1.0, 1.0, 0.0, 1.0, 1.0], rng=random.Random(0))


def test_identical_rounds_give_a_point_interval() -> None:
    interval = stats.bootstrap_ratio_ci([2.0] * 8, [1.0] * 8, rng=random.Random(0))
    assert (interval.low, interval.point, interval.high) == (0.5, 0.5, 0.5)


@pytest.mark.parametrize(("df", "table"), [(4, 2.776), (9, 2.262), (19, 2.093), (149, 1.976)])
def test_t_quantile_matches_the_table(df: int, table: float) -> None:
    assert stats._t_quantile(0.975, df) == pytest.approx(table, abs=0.002)


def test_expanded_level_is_wider_for_few_rounds_and_nominal_for_many() -> None:
    assert stats.expanded_z(0.95, 10) == pytest.approx(2.385, abs=0.002)
    assert stats.expanded_z(0.95, 20) == pytest.approx(2.147, abs=0.002)
    assert stats.expanded_z(0.95, 10_000) == pytest.approx(1.960, abs=0.001)


def test_noise_floor_widens_a_too_calm_interval() -> None:
    base, cand = noisy_pairs(random.Random(6), 20, 1.0, cv=0.01)
    plain = stats.bootstrap_ratio_ci(base, cand, rng=random.Random(1))
    floored = stats.bootstrap_ratio_ci(base, cand, rng=random.Random(1), noise=0.2)
    half = stats.expanded_z(0.95, 20) * 0.2 / math.sqrt(20)
    assert floored.point == plain.point
    assert math.log(floored.high / floored.point) == pytest.approx(half)
    assert math.log(floored.point / floored.low) == pytest.approx(half)


# -- host noise and the smallest detectable effect ----------------------------------------


def test_calibration_estimates_the_noise_per_pair() -> None:
    quiet = stats.calibrate_from_aa(
        *noisy_pairs(random.Random(8), 40, 1.0, cv=0.02), rng=random.Random(1)
    )
    loud = stats.calibrate_from_aa(
        *noisy_pairs(random.Random(8), 40, 1.0, cv=0.2), rng=random.Random(1)
    )
    assert 0 < quiet < loud


def test_calibration_sees_a_systematic_offset_the_bootstrap_cannot() -> None:
    # A constant 4% A-before-B effect: the bootstrap spread is ~0, the block check is not.
    base = [1.0 + 0.001 * (i % 3) for i in range(40)]
    cand = [0.96 * x for x in base]
    sigma = stats.calibrate_from_aa(base, cand, rng=random.Random(1))
    assert sigma == pytest.approx(math.sqrt(5) * -math.log(0.96))


def test_min_detectable_effect_shrinks_with_rounds() -> None:
    sigma = 0.2
    at_20 = stats.min_detectable_effect(sigma, 20)
    at_80 = stats.min_detectable_effect(sigma, 80)
    assert 0 < at_80 < at_20 < 1
    assert at_20 / at_80 == pytest.approx(2, rel=0.15)  # ~1 / sqrt(n)


def test_min_detectable_effect_from_an_aa_interval() -> None:
    half = stats.expanded_z(0.95, 20) * 0.2 / math.sqrt(20)
    aa = Interval(math.exp(-half), 1.0, math.exp(half), rounds=20)
    assert stats.noise_of(aa) == pytest.approx(0.2)
    assert stats.min_detectable_effect(aa, 40) == pytest.approx(
        stats.min_detectable_effect(0.2, 40)
    )
    with pytest.raises(ValueError, match="how many rounds"):
        stats.min_detectable_effect(Interval(0.9, 1.0, 1.1), 40)


# -- the verdict ----------------------------------------------------------------------------

EDGE = 1 - 0.03  # exactly 1 - min_effect


@pytest.mark.parametrize(
    ("wall", "verdict", "instrument"),
    [
        (Interval(0.80, 0.90, 0.95), Verdict.FASTER, Instrument.WALL),
        (Interval(0.90, EDGE, 0.99), Verdict.FASTER, Instrument.WALL),  # point exactly at edge
        (Interval(0.90, 0.9701, 0.99), Verdict.INCONCLUSIVE, Instrument.WALL),  # under min_effect
        (Interval(0.80, 0.90, 1.0), Verdict.INCONCLUSIVE, Instrument.WALL),  # high exactly 1
        (Interval(1.0, 1.05, 1.10), Verdict.INCONCLUSIVE, Instrument.WALL),  # low exactly 1
        (Interval(1.0001, 1.05, 1.10), Verdict.SLOWER, Instrument.WALL),
        (Interval(1.01, 1 + 0.03, 1.05), Verdict.SLOWER, Instrument.WALL),  # point at the edge
        # the same rule both ways: above 1, but the estimate under min_effect, is not slower
        (Interval(1.01, 1.0299, 1.05), Verdict.INCONCLUSIVE, Instrument.WALL),
        (Interval(0.98, 1.0, 1.02), Verdict.INCONCLUSIVE, Instrument.WALL),  # equivalent
        (None, Verdict.INCONCLUSIVE, Instrument.NONE),
    ],
)
def test_wall_time_alone(wall: Interval | None, verdict: Verdict, instrument: Instrument) -> None:
    decision = stats.decide(wall, None, min_effect=0.03)
    assert (decision.verdict, decision.instrument) == (verdict, instrument)
    assert decision.reason
    assert "\n" not in decision.reason


NOISY = Interval(0.85, 0.95, 1.05)  # wall time inconclusive, not slower


@pytest.mark.parametrize(
    ("wall", "instructions", "verdict", "instrument"),
    [
        (NOISY, [0.95, 0.96, EDGE], Verdict.FASTER_INSTRUCTIONS, Instrument.INSTRUCTIONS),
        (NOISY, [0.95, 0.9701], Verdict.INCONCLUSIVE, Instrument.WALL),  # one repeat too close
        (None, [0.90, 0.91], Verdict.FASTER_INSTRUCTIONS, Instrument.INSTRUCTIONS),
        (NOISY, [1.04, 1.05], Verdict.SLOWER, Instrument.INSTRUCTIONS),
        (NOISY, [1 + 0.03, 1.05], Verdict.SLOWER, Instrument.INSTRUCTIONS),  # edge, as faster
        (NOISY, [1.0299, 1.05], Verdict.INCONCLUSIVE, Instrument.WALL),  # one repeat too close
        (NOISY, [], Verdict.INCONCLUSIVE, Instrument.WALL),
        # wall time decides when it is conclusive, whatever the instructions say
        (Interval(0.80, 0.90, 0.95), [1.10], Verdict.FASTER, Instrument.WALL),
        (Interval(1.01, 1.05, 1.10), [0.90], Verdict.SLOWER, Instrument.WALL),
        # nor do instructions contradict the direction of an interval that excludes 1
        (Interval(1.005, 1.01, 1.02), [0.90], Verdict.INCONCLUSIVE, Instrument.WALL),
        (Interval(0.98, 0.99, 0.995), [1.10], Verdict.INCONCLUSIVE, Instrument.WALL),
        (Interval(0.98, 0.99, 1.0), [1.10], Verdict.SLOWER, Instrument.INSTRUCTIONS),
    ],
)
def test_instructions_decide_only_when_wall_time_is_inconclusive(
    wall: Interval | None, instructions: list[float], verdict: Verdict, instrument: Instrument
) -> None:
    decision = stats.decide(wall, instructions, min_effect=0.03)
    assert (decision.verdict, decision.instrument) == (verdict, instrument)


def test_verdict_values_are_report_strings() -> None:
    assert [v.value for v in Verdict] == [
        "faster",
        "faster (instructions)",
        "slower",
        "inconclusive",
    ]


def test_inconclusive_reasons_say_why() -> None:
    def reason(wall: Interval) -> str:
        return stats.decide(wall, None).reason

    assert "no meaningful difference" in reason(Interval(0.98, 1.0, 1.02))
    assert "faster, but the estimate is under 3%" in reason(Interval(0.97, 0.985, 0.99))
    assert "slower, but the estimate is under 3%" in reason(Interval(1.01, 1.02, 1.04))
    assert "too noisy" in reason(Interval(0.8, 0.95, 1.1))


def test_reasons_give_speedups_above_1_meaning_faster() -> None:
    """The ratio candidate / baseline stays inside: reasons read like the report's columns."""
    faster = stats.decide(Interval(0.4, 0.5, 0.625), None).reason
    assert "speedup 2.000× [1.600×, 2.500×]" in faster
    assert "faster" in faster
    slower = stats.decide(Interval(1.6, 2.0, 2.5), None).reason
    assert "speedup 0.500× [0.400×, 0.625×]" in slower
    assert "slower" in slower
    counted = stats.decide(None, [0.8, 0.5]).reason
    assert "instruction speedups 1.250-2.000×" in counted
    assert "ratio" not in faster + slower + counted


# -- adaptive stopping ------------------------------------------------------------------------


def test_look_schedule_doubles_up_to_max() -> None:
    assert stats.look_schedule(10, 150) == [10, 20, 40, 80, 150]
    assert stats.look_schedule(10, 10) == [10]
    assert stats.look_schedule(2, 12) == [5, 10, 12]


def test_interim_looks_share_the_error_rate() -> None:
    assert stats.look_confidence(0.95, 4) == pytest.approx(0.9875)
    assert stats.look_confidence(0.95, 0) == pytest.approx(0.95)


def stop_at(
    n: int, ratio: float, *, cv: float = 0.15, elapsed_s: float = 1.0, budget_s: float = 60.0
) -> stats.StopDecision:
    base, cand = noisy_pairs(random.Random(n), n, ratio, cv=cv)
    return stats.should_stop(
        base,
        cand,
        min_rounds=10,
        max_rounds=150,
        elapsed_s=elapsed_s,
        budget_s=budget_s,
        min_effect=0.03,
        rng=random.Random(0),
    )


def test_no_look_between_scheduled_counts() -> None:
    decision = stop_at(15, 0.5)
    assert not decision.stop
    assert decision.interval is None
    assert "next look at 20" in decision.reason


def test_stops_when_clearly_faster() -> None:
    decision = stop_at(20, 0.7, cv=0.05)
    assert decision.stop
    assert "clearly faster" in decision.reason
    assert decision.interval is not None
    assert decision.interval.confidence == pytest.approx(0.9875)  # an interim look
    assert stats.decide(decision.interval, None).verdict is Verdict.FASTER


def test_stops_when_clearly_slower() -> None:
    decision = stop_at(20, 1.4, cv=0.05)
    assert decision.stop
    assert "clearly slower" in decision.reason


def test_stops_when_clearly_equivalent() -> None:
    decision = stop_at(40, 1.0, cv=0.01)
    assert decision.stop
    assert "no meaningful difference" in decision.reason


def test_continues_when_undecided() -> None:
    decision = stop_at(20, 0.97, cv=0.2)
    assert not decision.stop
    assert decision.interval is not None
    assert "undecided" in decision.reason


def test_stops_at_max_rounds_with_the_nominal_level() -> None:
    decision = stop_at(150, 0.99, cv=0.3)
    assert decision.stop
    assert decision.interval is not None
    assert decision.interval.confidence == 0.95


def test_stops_when_the_next_pair_would_overrun_the_budget() -> None:
    decision = stop_at(33, 0.99, cv=0.3, elapsed_s=59.0)  # 33 pairs in 59 s: one more is 60.8 s
    assert decision.stop
    assert "time budget" in decision.reason
    assert decision.interval is not None
    assert decision.interval.confidence == 0.95


def test_the_callers_estimate_of_the_next_pair_decides_the_final_look() -> None:
    base, cand = noisy_pairs(random.Random(33), 33, 0.99, cv=0.3)
    kwargs: dict[str, Any] = {
        "min_rounds": 10,
        "max_rounds": 150,
        "elapsed_s": 50.0,  # 33 pairs in 50 s: 1.5 s a pair on average
        "budget_s": 60.0,
        "min_effect": 0.03,
        "rng": random.Random(0),
    }
    assert not stats.should_stop(base, cand, **kwargs).stop
    longest = stats.should_stop(base, cand, next_pair_s=11.0, **kwargs)  # one slow pair seen
    assert longest.stop
    assert "time budget" in longest.reason


def test_a_candidate_that_cannot_beat_a_verified_one_is_outclassed() -> None:
    base, cand = noisy_pairs(random.Random(20), 20, 1.0, cv=0.02)
    kwargs: dict[str, Any] = {
        "min_rounds": 10,
        "max_rounds": 150,
        "elapsed_s": 5.0,
        "budget_s": 60.0,
        "min_effect": 0.03,
        "rng": random.Random(0),
    }
    alone = stats.should_stop(base, cand, **kwargs)
    assert not alone.outclassed
    beaten = stats.should_stop(base, cand, to_beat=0.6, **kwargs)
    assert beaten.stop
    assert beaten.outclassed
    assert "already verified at least 1.67× faster" in beaten.reason
    assert beaten.interval is not None
    assert stats.decide(beaten.interval, None).verdict is Verdict.INCONCLUSIVE
    # an interval that reaches below the other's bound may still beat it: keep measuring
    assert not stats.should_stop(base, cand, to_beat=0.99, **kwargs).outclassed
    # and a candidate clearly faster in its own right is measured as usual
    fast = noisy_pairs(random.Random(20), 20, 0.8, cv=0.02)
    own = stats.should_stop(*fast, to_beat=0.6, **kwargs)
    assert own.stop
    assert not own.outclassed
    assert "clearly faster" in own.reason


def test_budget_exhausted_before_enough_rounds() -> None:
    decision = stop_at(3, 0.5, elapsed_s=59.0)
    assert decision.stop
    assert decision.interval is None
    assert stats.decide(decision.interval, None).verdict is Verdict.INCONCLUSIVE


def test_false_positives_on_identical_code_stay_near_nominal() -> None:
    """A small A/A Monte Carlo: "faster" on identical code at most 5% (plus sampling slack)."""
    gen, rng = random.Random(11), random.Random(12)
    runs, faster, covered = 200, 0, 0
    for _ in range(runs):
        interval = stats.bootstrap_ratio_ci(*noisy_pairs(gen, 10, 1.0), resamples=400, rng=rng)
        faster += stats.decide(interval, None).verdict is Verdict.FASTER
        covered += interval.contains(1.0)
    assert faster / runs <= 0.05 + 0.03
    assert covered / runs >= 0.95 - 0.03
