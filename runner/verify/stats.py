"""Statistics of an interleaved A/B measurement and the verdict rule (pure: no I/O, no clock).

The estimate is the ratio of medians candidate / baseline (< 1 means faster; what people read,
in reasons and reports, is its inverse, the speedup: > 1 means faster). Its interval is a
paired percentile bootstrap: rounds run A B A B …, so the i-th baseline and candidate rounds
share the host's load at that moment, and resampling them as pairs keeps that shared part out of
the ratio. A plain percentile bootstrap over 10-20 rounds is too narrow (on the VM its A/A
interval excluded 1.0 in 7-10% of runs), so the interval uses Hesterberg's *expanded
percentile* level, optionally floored by the noise an A/A run measured on the same host.

`docs/verification.md` explains the rule; `benchmarks/stats_sim.py` measures its coverage,
false-positive rate and power on simulated bursty noise.
"""

from __future__ import annotations

import math
import random
import sys
from array import array
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from itertools import accumulate
from operator import itemgetter
from statistics import NormalDist

_NORMAL = NormalDist()
_MIN_PAIRS = 5  # below this the t quantile and the bootstrap of a median mean little


@dataclass(frozen=True)
class Interval:
    """A confidence interval of the ratio candidate / baseline; < 1 means faster."""

    low: float
    point: float
    high: float
    rounds: int = 0  # pairs it was computed from (0: unknown)
    confidence: float = 0.95

    def contains(self, value: float) -> bool:
        """Whether `value` lies inside the closed interval."""
        return self.low <= value <= self.high


def median(values: Sequence[float]) -> float:
    """The median; the mean of the two middle values for an even count."""
    if not values:
        raise ValueError("median of no values")
    ordered = sorted(values)
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[mid]
    return (ordered[mid - 1] + ordered[mid]) / 2


# -- the bootstrap ---------------------------------------------------------------------------


def _pairs(
    baseline: Sequence[float], candidate: Sequence[float]
) -> tuple[list[float], list[float]]:
    """The complete pairs (an interrupted run may have one extra baseline round)."""
    n = min(len(baseline), len(candidate))
    if n < _MIN_PAIRS:
        raise ValueError(f"need at least {_MIN_PAIRS} rounds per side, got {n}")
    b, c = list(baseline[:n]), list(candidate[:n])
    if min(b) <= 0 or min(c) <= 0:
        raise ValueError("round times must be positive")
    return b, c


def _poisson_table() -> list[int]:
    """Poisson(1) variates indexed by a uniform 16-bit draw (probabilities to 1/65536)."""
    table: list[int] = []
    cdf, k = 0.0, 0
    while len(table) < 65536:
        cdf += math.exp(-1) / math.factorial(k)
        edge = 65536 if k >= 8 else round(cdf * 65536)
        table.extend([k] * (edge - len(table)))
        k += 1
    return table


_POISSON = _poisson_table()


def _weight_draws(rng: random.Random, count: int) -> array[int]:
    """`count` uniform 16-bit draws, the same for the same seed on every machine."""
    raw = array("H", rng.randbytes(2 * count))
    if sys.byteorder == "big":
        raw.byteswap()
    return raw


def _weighted_median(ordered: list[float], cumulative: list[int]) -> float:
    """Median of `ordered` values repeated by weights whose running sums are `cumulative`."""
    total = cumulative[-1]
    # The two middle elements of the expanded sample, by 1-based rank (equal if total is odd).
    low = ordered[bisect_left(cumulative, (total + 1) // 2)]
    high = ordered[bisect_left(cumulative, total // 2 + 1)]
    return (low + high) / 2


def _resampled_log_ratios(
    b: list[float], c: list[float], resamples: int, rng: random.Random
) -> list[float]:
    """Sorted log(median(c*) / median(b*)) over `resamples` paired Poisson-bootstrap resamples.

    Each pair gets a Poisson(1) weight instead of a multinomial count (the Poisson bootstrap,
    Hanley & MacGibbon 2006): the same to first order, and the weighted medians come from
    running sums over values sorted once, with no sort per resample: 2.5x faster than
    resampling and sorting in pure Python.
    """
    n = len(b)
    by_b = sorted(range(n), key=b.__getitem__)
    by_c = sorted(range(n), key=c.__getitem__)
    sorted_b, sorted_c = [b[i] for i in by_b], [c[i] for i in by_c]
    # Weight j belongs to the j-th smallest baseline; `to_c` reorders it by candidate.
    rank_b = {pair: j for j, pair in enumerate(by_b)}
    to_c = itemgetter(*[rank_b[pair] for pair in by_c])
    weight = _POISSON.__getitem__
    draws = _weight_draws(rng, n * resamples)
    out = []
    for start in range(0, n * resamples, n):
        w = list(map(weight, draws[start : start + n]))
        cum_b = list(accumulate(w))
        if cum_b[-1] == 0:  # every weight zero (p = e^-n): no resample to take a median of
            continue
        mb = _weighted_median(sorted_b, cum_b)
        mc = _weighted_median(sorted_c, list(accumulate(to_c(w))))
        out.append(math.log(mc / mb))
    out.sort()
    return out


def _t_quantile(p: float, df: int) -> float:
    """Student t quantile by the Cornish-Fisher expansion (A&S 26.7.5; < 0.1% off for df >= 4)."""
    z = _NORMAL.inv_cdf(p)
    z2 = z * z
    g1 = z * (z2 + 1) / 4
    g2 = z * ((5 * z2 + 16) * z2 + 3) / 96
    g3 = z * (((3 * z2 + 19) * z2 + 17) * z2 - 15) / 384
    g4 = z * ((((79 * z2 + 776) * z2 + 1482) * z2 - 1920) * z2 - 945) / 92160
    return z + g1 / df + g2 / df**2 + g3 / df**3 + g4 / df**4


def expanded_z(confidence: float, n: int) -> float:
    """The normal score the corrected interval uses at `n` pairs.

    Hesterberg's expanded percentile interval: take the bootstrap percentiles at the level whose
    normal score is sqrt(n / (n - 1)) * t(n - 1). This undoes the two reasons a small-sample
    percentile interval is too narrow: the bootstrap's variance is the plug-in (divides by n)
    and it ignores the uncertainty of the spread itself (normal instead of t). At 95%:
    n = 10 → 98.3%, n = 20 → 96.8%, n = 150 → 95.3%.
    """
    t = _t_quantile((1 + confidence) / 2, n - 1)
    return math.sqrt(n / (n - 1)) * t


def _percentile(ordered: list[float], q: float) -> float:
    """Linear-interpolated `q` quantile of an already sorted list."""
    pos = q * (len(ordered) - 1)
    i = min(int(pos), len(ordered) - 2)
    return ordered[i] + (pos - i) * (ordered[i + 1] - ordered[i])


def bootstrap_ratio_ci(
    baseline: Sequence[float],
    candidate: Sequence[float],
    *,
    confidence: float = 0.95,
    resamples: int = 2000,
    rng: random.Random,
    noise: float | None = None,
) -> Interval:
    """Paired, expanded-percentile bootstrap interval of median(candidate) / median(baseline).

    `noise` (from `calibrate_from_aa`) sets a floor under each half-width: the interval is never
    narrower than an A/A run on this host says `n` pairs can support, which guards against a
    candidate run that happened to fall into a calm spell.
    """
    b, c = _pairs(baseline, candidate)
    n = len(b)
    point = math.log(median(c) / median(b))
    z = expanded_z(confidence, n)
    tail = _NORMAL.cdf(-z)
    ratios = _resampled_log_ratios(b, c, resamples, rng)
    # The bootstrap of a median is discrete: clamp so the interval always holds the estimate.
    low = min(_percentile(ratios, tail), point)
    high = max(_percentile(ratios, 1 - tail), point)
    if noise is not None:
        floor = z * noise / math.sqrt(n)
        low, high = min(low, point - floor), max(high, point + floor)
    return Interval(math.exp(low), math.exp(point), math.exp(high), n, confidence)


# -- noise of this host ----------------------------------------------------------------------


def calibrate_from_aa(
    aa_baseline: Sequence[float],
    aa_candidate: Sequence[float],
    *,
    rng: random.Random,
    resamples: int = 2000,
    block: int = _MIN_PAIRS,
) -> float:
    """The host's noise now, from an A/A run (the baseline timed against itself, interleaved).

    Returns sigma, the spread one pair contributes to log(ratio of medians): a run of m pairs
    has standard error sigma / sqrt(m). Pass it as `noise=` to `bootstrap_ratio_ci` and
    `should_stop`. It is the larger of two estimates: the bootstrap's, and a direct one that
    trusts no model: the ratio of medians of consecutive blocks of `block` pairs, whose true
    value is 1, so their root-mean-square log distance from 0 shows whatever the bootstrap
    misses (noise correlated across rounds, an A-before-B order effect).
    """
    b, c = _pairs(aa_baseline, aa_candidate)
    n = len(b)
    ratios = _resampled_log_ratios(b, c, resamples, rng)
    mean = math.fsum(ratios) / len(ratios)
    bootstrap_sd = math.sqrt(math.fsum((r - mean) ** 2 for r in ratios) / (len(ratios) - 1))
    return max(math.sqrt(n) * bootstrap_sd, _block_noise(b, c, block))


def _block_noise(b: list[float], c: list[float], block: int) -> float:
    """sqrt(block) x RMS of log(ratio of medians) over consecutive blocks; 0 if under 2 blocks."""
    starts = range(0, len(b) - block + 1, block)
    if len(starts) < 2:
        return 0.0
    logs = [math.log(median(c[s : s + block]) / median(b[s : s + block])) for s in starts]
    return math.sqrt(block * math.fsum(x * x for x in logs) / len(logs))


def noise_of(interval: Interval) -> float:
    """The per-pair noise sigma implied by an interval's width (see `calibrate_from_aa`)."""
    if interval.rounds < _MIN_PAIRS:
        raise ValueError("the interval does not say how many rounds it came from")
    half = (math.log(interval.high) - math.log(interval.low)) / 2
    return math.sqrt(interval.rounds) * half / expanded_z(interval.confidence, interval.rounds)


def min_detectable_effect(
    aa: Interval | float,
    n_rounds: int,
    *,
    confidence: float = 0.95,
    power: float = 0.8,
) -> float:
    """The smallest true speedup that `n_rounds` pairs detect with probability `power`.

    `aa` is an A/A interval or a noise sigma from `calibrate_from_aa`. "Detect" means the upper
    bound falls below 1: the true log ratio must sit (z_interval + z_power) standard errors
    below 0. The verdict also needs the estimate past `min_effect`, so the effective threshold
    is the larger of the two.
    """
    if n_rounds < _MIN_PAIRS:
        raise ValueError(f"need at least {_MIN_PAIRS} rounds per side")
    sigma = noise_of(aa) if isinstance(aa, Interval) else aa
    shift = (expanded_z(confidence, n_rounds) + _NORMAL.inv_cdf(power)) * sigma
    return 1 - math.exp(-shift / math.sqrt(n_rounds))


# -- the verdict -----------------------------------------------------------------------------


class Verdict(StrEnum):
    """What a measurement says about a candidate."""

    FASTER = "faster"
    FASTER_INSTRUCTIONS = "faster (instructions)"
    SLOWER = "slower"
    INCONCLUSIVE = "inconclusive"


class Instrument(StrEnum):
    """Which measurement decided the verdict."""

    WALL = "wall time"
    INSTRUCTIONS = "instructions"
    NONE = "none"


@dataclass(frozen=True)
class Decision:
    """A verdict, the instrument that decided it, and why, in one line."""

    verdict: Verdict
    instrument: Instrument
    reason: str


def speedup(ratio: float) -> float:
    """The speedup a ratio candidate / baseline means: above 1 is faster."""
    return 1 / ratio if ratio > 0 else math.inf


def _fmt(i: Interval) -> str:
    """`speedup 1.053× [1.002×, 1.108×]`: reasons read like the report, above 1 = faster."""
    return f"speedup {speedup(i.point):.3f}× [{speedup(i.high):.3f}×, {speedup(i.low):.3f}×]"


def _wall_decision(wall: Interval, min_effect: float) -> Decision | None:
    """The wall-time verdict when it is conclusive, else None (the same rule both ways)."""
    if wall.high < 1 and wall.point <= 1 - min_effect:
        why = f"excludes 1, estimate at least {min_effect:.0%} faster"
        return Decision(Verdict.FASTER, Instrument.WALL, f"wall time {_fmt(wall)}: {why}")
    if wall.low > 1 and wall.point >= 1 + min_effect:
        why = f"excludes 1, estimate at least {min_effect:.0%} slower"
        return Decision(Verdict.SLOWER, Instrument.WALL, f"wall time {_fmt(wall)}: {why}")
    return None


def _instruction_decision(
    ratios: Sequence[float], min_effect: float, wall: Interval | None
) -> Decision | None:
    """The instruction-count verdict when every repeat agrees, else None.

    Never against the direction wall time showed: an interval wholly above 1 (slower, if by
    less than `min_effect`) rules out FASTER_INSTRUCTIONS, one wholly below 1 rules out SLOWER.
    """
    worst, best = max(ratios), min(ratios)
    span = (
        f"instruction speedups {speedup(worst):.3f}-{speedup(best):.3f}× over {len(ratios)} repeats"
    )
    if worst <= 1 - min_effect and (wall is None or wall.low <= 1):
        why = f"{span}, all at least {min_effect:.0%} fewer instructions"
        return Decision(Verdict.FASTER_INSTRUCTIONS, Instrument.INSTRUCTIONS, why)
    if best >= 1 + min_effect and (wall is None or wall.high >= 1):
        why = f"{span}, all at least {min_effect:.0%} more instructions"
        return Decision(Verdict.SLOWER, Instrument.INSTRUCTIONS, why)
    return None


def _inconclusive(wall: Interval | None, min_effect: float) -> Decision:
    """Say why nothing was decided: too noisy, too small, or clearly no meaningful change."""
    if wall is None:
        return Decision(Verdict.INCONCLUSIVE, Instrument.NONE, "nothing conclusive was measured")
    if wall.low > 1 - min_effect and wall.high < 1 + min_effect:
        why = f"within ±{min_effect:.0%}: no meaningful difference"
    elif wall.high < 1:
        why = f"faster, but the estimate is under {min_effect:.0%}"
    elif wall.low > 1:
        why = f"slower, but the estimate is under {min_effect:.0%}"
    else:
        why = "includes 1: too noisy to tell"
    return Decision(Verdict.INCONCLUSIVE, Instrument.WALL, f"wall time {_fmt(wall)} {why}")


def decide(
    wall: Interval | None,
    instructions: Sequence[float] | None,
    *,
    min_effect: float = 0.03,
) -> Decision:
    """The verdict from a wall-time interval and per-repeat instruction ratios (cand / base).

    One rule both ways. Wall time decides when it is conclusive: FASTER needs the interval
    below 1 and the estimate at least `min_effect` below it; SLOWER needs the interval above 1
    and the estimate at least `min_effect` above it. Otherwise instruction counts may decide,
    but only when every repeat agrees by at least `min_effect` and wall time did not show the
    opposite direction: all lower → FASTER_INSTRUCTIONS, all higher → SLOWER. Anything else
    is INCONCLUSIVE, with a reason that says which case it is ("no meaningful difference",
    "under 3%", "too noisy").
    """
    if wall is not None and (decision := _wall_decision(wall, min_effect)) is not None:
        return decision
    if instructions:
        counted = _instruction_decision(instructions, min_effect, wall)
        if counted is not None:
            return counted
    return _inconclusive(wall, min_effect)


# -- adaptive stopping -----------------------------------------------------------------------


@dataclass(frozen=True)
class StopDecision:
    """Whether to stop measuring; `interval` is the one to decide on when stopping.

    `outclassed`: stopped because another candidate of the target is already verified
    faster than this one can be, so nothing more (instruction counts included) is worth
    measuring for it.
    """

    stop: bool
    reason: str
    interval: Interval | None = None
    outclassed: bool = False


def look_schedule(min_rounds: int, max_rounds: int) -> list[int]:
    """The round counts at which the interval is examined: doubling from `min_rounds`.

    Geometric spacing keeps the number of looks logarithmic in the run length; each look
    spends part of the false-positive budget, and evenly spaced looks would spend it all.
    """
    looks, n = [], max(min_rounds, _MIN_PAIRS)
    while n < max_rounds:
        looks.append(n)
        n *= 2
    return [*looks, max_rounds]


def look_confidence(confidence: float, interim_looks: int) -> float:
    """Confidence of each interim look: the error rate split evenly among them (Bonferroni).

    Interim looks together spend 1 - confidence and the final look spends 1 - confidence, one
    half of each on "faster": P(any "faster" on identical code) <= 1 - confidence overall.
    """
    return 1 - (1 - confidence) / max(interim_looks, 1)


def _stop_reason(interval: Interval, min_effect: float) -> str | None:
    """Why this interval ends the run early, or None to keep measuring."""
    if interval.high < 1 - min_effect:
        return f"clearly faster: whole interval below {1 - min_effect:.2f}"
    if interval.low > 1:
        return "clearly slower: whole interval above 1"
    if interval.low > 1 - min_effect and interval.high < 1 + min_effect:
        return f"no meaningful difference: whole interval within ±{min_effect:.0%}"
    return None


def _outclassed(interval: Interval, to_beat: float | None, min_effect: float) -> str | None:
    """Why a candidate cannot be the one chosen, when another of the same target is verified
    faster already (its interval's upper bound `to_beat`); None to measure it as usual."""
    if to_beat is None or interval.low <= to_beat or interval.high < 1 - min_effect:
        return None  # it may still beat the other, or it is clearly faster in its own right
    rival = f"another candidate is already verified at least {speedup(to_beat):.2f}× faster"
    if interval.low > 1 - min_effect and interval.high < 1 + min_effect:
        return f"no meaningful difference: whole interval within ±{min_effect:.0%}, and {rival}"
    if interval.low > 1:
        return f"clearly slower: whole interval above 1, and {rival}"
    if interval.low > 1 - min_effect:
        return f"not meaningfully faster: whole interval above {1 - min_effect:.2f}, and {rival}"
    return f"cannot be chosen: {rival}, above this one's whole interval"


def should_stop(
    baseline_rounds: Sequence[float],
    candidate_rounds: Sequence[float],
    *,
    min_rounds: int,
    max_rounds: int,
    elapsed_s: float,
    budget_s: float,
    min_effect: float,
    rng: random.Random,
    confidence: float = 0.95,
    noise: float | None = None,
    next_pair_s: float | None = None,
    to_beat: float | None = None,
) -> StopDecision:
    """Call after every pair; examines the interval only at the scheduled looks.

    The final look (max rounds reached, or the next pair would overrun the budget) uses
    `confidence`; interim looks use the stricter `look_confidence` so that looking several
    times does not inflate false positives. Decide the verdict on the returned interval.

    `next_pair_s`: what the next pair will cost, when the caller knows better than the
    average so far. `to_beat`: the upper bound of another candidate of the same target that
    is already verified faster; a look whose interval lies wholly above it stops the run
    (`outclassed`): this candidate cannot be the one chosen, and more rounds would only
    confirm it. That stop is never "faster" (the interval is above a faster one's), so it
    does not spend any of the false-positive budget.
    """
    n = min(len(baseline_rounds), len(candidate_rounds))
    per_pair = next_pair_s if next_pair_s is not None else (elapsed_s / n if n else 0.0)
    final = n >= max_rounds or elapsed_s + per_pair > budget_s
    schedule = look_schedule(min_rounds, max_rounds)
    if not final and n not in schedule:
        return StopDecision(False, f"{n} rounds: next look at {_next_look(schedule, n)}")
    if n < _MIN_PAIRS:
        return StopDecision(True, f"budget exhausted after {n} rounds: too few to estimate")
    level = confidence if final else look_confidence(confidence, len(schedule) - 1)
    interval = bootstrap_ratio_ci(
        baseline_rounds, candidate_rounds, confidence=level, rng=rng, noise=noise
    )
    outclassed = _outclassed(interval, to_beat, min_effect)
    if outclassed is not None:
        return StopDecision(True, f"{n} rounds: {outclassed}", interval, outclassed=True)
    early = _stop_reason(interval, min_effect)
    if early is not None:
        return StopDecision(True, f"{n} rounds: {early}", interval)
    if final:
        cause = "max rounds" if n >= max_rounds else "time budget"
        return StopDecision(True, f"{n} rounds: {cause} reached", interval)
    return StopDecision(False, f"{n} rounds: {_fmt(interval)} undecided", interval)


def _next_look(schedule: list[int], n: int) -> int:
    return next(look for look in schedule if look > n)
