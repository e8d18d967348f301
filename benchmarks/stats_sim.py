"""Monte-Carlo check of runner/verify/stats.py on simulated noisy, bursty timing rounds.

    .venv/bin/python benchmarks/stats_sim.py            # full tables (~20 minutes)
    .venv/bin/python benchmarks/stats_sim.py --quick    # smaller, noisier tables (~5 minutes)

Needs numpy (offline only: `.venv/bin/pip install numpy`). The fixed-n tables use a vectorised
numpy copy of the interval (same Poisson paired bootstrap, same percentiles, same correction);
the `stdlib` rows and the adaptive-stopping table run the real `runner.verify.stats` code.

Noise model (log time of one round, see /work/shared/design/BENCHMARK-NOISE.md): a slowly
varying host load (AR(1) over consecutive rounds), bursts of extra load (a two-state Markov
chain), independent per-round noise, and rare slow outliers; multiplicative throughout.
Rounds alternate A B A B …; a true x% speedup multiplies every candidate round by 1 - x.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from runner.verify import stats

Array = NDArray[np.float64]
MIN_EFFECT = 0.03
RESAMPLES = 2000


@dataclass(frozen=True)
class Noise:
    """Parameters of the simulated host, all in log-time units per round."""

    name: str
    load_sd: float  # stationary sd of the slowly varying load
    load_phi: float  # its autocorrelation from one round to the next
    round_sd: float  # independent noise of each round
    burst_in: float  # probability per round that a burst starts
    burst_out: float  # probability per round that it ends
    burst_size: float  # extra log-time during a burst
    outlier_p: float  # probability of a slow outlier round (x1.3 to x2)


SCENARIOS = [
    Noise("iid 13%", 0.0, 0.0, 0.13, 0.0, 1.0, 0.0, 0.0),
    Noise("bursty ~15%", 0.09, 0.9, 0.07, 0.03, 0.2, 0.25, 0.02),
    Noise("bursty ~20%", 0.13, 0.97, 0.09, 0.04, 0.1, 0.3, 0.03),
]


def simulate(
    gen: np.random.Generator, noise: Noise, trials: int, n: int, ratio: float
) -> tuple[Array, Array]:
    """`trials` runs of `n` interleaved pairs: (baseline, candidate) round times, (trials, n)."""
    slots = 2 * n
    innov = noise.load_sd * math.sqrt(1 - noise.load_phi**2)
    load = gen.normal(0, noise.load_sd, trials)
    busy = gen.random(trials) < noise.burst_in / (noise.burst_in + noise.burst_out)
    out = np.empty((trials, slots))
    for t in range(slots):
        load = noise.load_phi * load + gen.normal(0, innov, trials)
        flip = gen.random(trials)
        busy = np.where(busy, flip >= noise.burst_out, flip < noise.burst_in)
        out[:, t] = load + noise.burst_size * busy
    out += gen.normal(0, noise.round_sd, out.shape)
    outliers = gen.random(out.shape) < noise.outlier_p
    out += outliers * np.log(gen.uniform(1.3, 2.0, out.shape))
    times = np.exp(out)
    return times[:, 0::2], times[:, 1::2] * ratio


def _weighted_medians(values: Array, weights: NDArray[np.int64]) -> Array:
    """Weighted medians of each trial's values for each row of Poisson weights (stats.py rule)."""
    order = np.argsort(values, axis=-1)
    ordered = np.take_along_axis(values, order, -1)  # (T, n)
    w = np.take_along_axis(weights, order[:, None, :], -1)  # (T, R, n)
    cum = np.cumsum(w, -1)
    total = cum[..., -1:]
    lo = (cum < (total + 1) // 2).sum(-1)
    hi = (cum < total // 2 + 1).sum(-1)
    n = values.shape[-1]
    lo, hi = np.minimum(lo, n - 1), np.minimum(hi, n - 1)
    pick = np.take_along_axis
    med = (pick(ordered, lo, -1) + pick(ordered, hi, -1)) / 2
    return np.where(total[..., 0] > 0, med, np.nan)


def intervals(
    gen: np.random.Generator, b: Array, c: Array, *, paired: bool, expanded: bool
) -> tuple[Array, Array, Array]:
    """(low, point, high) of log ratio per trial: the stats.py interval, vectorised."""
    trials, n = b.shape
    point = np.log(np.median(c, -1) / np.median(b, -1))
    z = stats.expanded_z(0.95, n) if expanded else 1.959964
    tail = 0.5 * math.erfc(z / math.sqrt(2))
    lows, highs = np.empty(trials), np.empty(trials)
    chunk = max(1, 600_000 // (RESAMPLES * n))
    for s in range(0, trials, chunk):
        bb, cc = b[s : s + chunk], c[s : s + chunk]
        wb = gen.poisson(1.0, (len(bb), RESAMPLES, n))
        wc = wb if paired else gen.poisson(1.0, wb.shape)
        ratios = np.log(_weighted_medians(cc, wc) / _weighted_medians(bb, wb))
        q = np.nanquantile(ratios, [tail, 1 - tail], axis=-1)
        lows[s : s + chunk], highs[s : s + chunk] = q[0], q[1]
    return np.minimum(lows, point), point, np.maximum(highs, point)


METHODS = {
    "unpaired percentile": {"paired": False, "expanded": False},
    "paired percentile": {"paired": True, "expanded": False},
    "unpaired expanded": {"paired": False, "expanded": True},
    "paired expanded *": {"paired": True, "expanded": True},
}


def faster_rate(low: Array, point: Array, high: Array) -> float:
    """Share of runs that `stats.decide` calls FASTER on wall time."""
    del low
    return float(np.mean((high < 0) & (point <= math.log(1 - MIN_EFFECT))))


def fixed_n_table(trials: int, sizes: list[int], seed: int) -> None:
    """Coverage, false positives and power of each method at fixed round counts."""
    print(f"\n## Fixed number of rounds ({trials} runs per cell; power: {trials // 2} runs)\n")
    head = "| noise | n | method | A/A covers 1 | A/A 'faster' | 'slower' | 3% | 5% | 10% | 20% |"
    print(head + "\n|" + "---|" * 10)
    for noise in SCENARIOS:
        for n in sizes:
            for method, opts in METHODS.items():
                gen = np.random.default_rng(seed)
                lo, pt, hi = intervals(gen, *simulate(gen, noise, trials, n, 1.0), **opts)
                cover = np.mean((lo <= 0) & (hi >= 0))
                cells = [f"{cover:.1%}", f"{faster_rate(lo, pt, hi):.1%}", f"{np.mean(lo > 0):.1%}"]
                for effect in (0.03, 0.05, 0.10, 0.20):
                    rounds = simulate(gen, noise, trials // 2, n, 1 - effect)
                    cells.append(f"{faster_rate(*intervals(gen, *rounds, **opts)):.0%}")
                print(f"| {noise.name} | {n} | {method} | " + " | ".join(cells) + " |", flush=True)


def describe_noise(seed: int) -> None:
    """The simulated noise in the figures BENCHMARK-NOISE.md reports."""
    print("\n## Simulated noise (compare BENCHMARK-NOISE.md: CV 10-19%, round/median 0.68-1.45)\n")
    print(
        "| noise | CV of one arm (median over runs of 20) | round / median p5-p95 |\n|---|---|---|"
    )
    gen = np.random.default_rng(seed)
    for noise in SCENARIOS:
        b, _ = simulate(gen, noise, 2000, 20, 1.0)
        cv = np.median(b.std(-1, ddof=1) / b.mean(-1))
        rel = b / np.median(b, -1, keepdims=True)
        p5, p95 = np.quantile(rel, [0.05, 0.95])
        print(f"| {noise.name} | {cv:.1%} | {p5:.2f}-{p95:.2f} |")


def stdlib_check(trials: int, seed: int) -> None:
    """The real stats.bootstrap_ratio_ci on A/A runs, against the numpy copy above."""
    print(f"\n## The stdlib implementation itself ({trials} A/A runs, n = 20, 'bursty ~20%')\n")
    gen = np.random.default_rng(seed)
    b, c = simulate(gen, SCENARIOS[2], trials, 20, 1.0)
    rng = random.Random(seed)
    start = time.perf_counter()
    ivs = [stats.bootstrap_ratio_ci(list(x), list(y), rng=rng) for x, y in zip(b, c, strict=True)]
    per = (time.perf_counter() - start) / trials
    cover = np.mean([iv.contains(1.0) for iv in ivs])
    fp = np.mean([stats.decide(iv, None).verdict is stats.Verdict.FASTER for iv in ivs])
    lo, _, hi = intervals(gen, b, c, paired=True, expanded=True)
    print(
        f"stats.py: covers 1 in {cover:.1%}, 'faster' {fp:.1%} ({per * 1000:.0f} ms per interval)"
    )
    print(f"numpy copy, same runs: covers 1 in {np.mean((lo <= 0) & (hi >= 0)):.1%}")
    for n in (150, 300):
        xs = [random.lognormvariate(0, 0.15) for _ in range(n)]
        ys = [random.lognormvariate(0, 0.15) for _ in range(n)]
        start = time.perf_counter()
        stats.bootstrap_ratio_ci(xs, ys, rng=rng)
        print(f"cost at n = {n}: {(time.perf_counter() - start) * 1000:.0f} ms (2,000 resamples)")


# -- adaptive stopping, with the real should_stop -----------------------------------------------

ROUND_S = 0.2
BUDGET_S = 60.0
MIN_ROUNDS, MAX_ROUNDS = 10, 150


def adaptive_run(args: tuple[int, float, int]) -> tuple[str, int, float]:
    """One candidate measured with should_stop: (verdict, rounds used, seconds used)."""
    seed, ratio, scenario = args
    gen = np.random.default_rng(seed)
    b, c = simulate(gen, SCENARIOS[scenario], 1, MAX_ROUNDS, ratio)
    rng = random.Random(seed)
    elapsed = 0.0
    for n in range(1, MAX_ROUNDS + 1):
        # a round lasts ROUND_S of timed work scaled by its noise, plus ~10% process start-up
        elapsed += 1.1 * ROUND_S * (b[0, n - 1] + c[0, n - 1])
        stop = stats.should_stop(
            list(b[0, :n]),
            list(c[0, :n]),
            min_rounds=MIN_ROUNDS,
            max_rounds=MAX_ROUNDS,
            elapsed_s=elapsed,
            budget_s=BUDGET_S,
            min_effect=MIN_EFFECT,
            rng=rng,
        )
        if stop.stop:
            verdict = stats.decide(stop.interval, None, min_effect=MIN_EFFECT).verdict
            return verdict.value, n, elapsed
    raise AssertionError("should_stop never stopped")


def adaptive_table(trials: int, seed: int) -> None:
    """False positives and power of the whole adaptive procedure."""
    print(
        f"\n## Adaptive stopping: looks at {stats.look_schedule(MIN_ROUNDS, MAX_ROUNDS)} rounds, "
        f"~{ROUND_S * 1000:.0f} ms rounds, {BUDGET_S:.0f} s budget ({trials} runs per row)\n"
    )
    print("| noise | true speedup | 'faster' | 'slower' | inconclusive | mean rounds | mean s |")
    print("|---|---|---|---|---|---|---|")
    with ProcessPoolExecutor(max_workers=2) as pool:
        for scenario in (1, 2):
            for effect in (0.0, 0.05, 0.10, 0.20):
                jobs = [(seed + i, 1 - effect, scenario) for i in range(trials)]
                runs = list(pool.map(adaptive_run, jobs, chunksize=8))
                verdicts = Counter(v for v, _, _ in runs)
                mean_n = sum(n for _, n, _ in runs) / trials
                mean_s = sum(s for _, _, s in runs) / trials
                share = [verdicts[v] / trials for v in ("faster", "slower", "inconclusive")]
                cells = " | ".join(f"{x:.1%}" for x in share)
                name = SCENARIOS[scenario].name
                print(
                    f"| {name} | {effect:.0%} | {cells} | {mean_n:.0f} | {mean_s:.0f} |", flush=True
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs (noisier numbers)")
    parser.add_argument("--seed", type=int, default=20240501)
    parser.add_argument("--skip-adaptive", action="store_true")
    opts = parser.parse_args()
    fixed, adaptive = (300, 200) if opts.quick else (1000, 600)
    describe_noise(opts.seed)
    fixed_n_table(fixed, [10, 20, 40], opts.seed)
    stdlib_check(200 if opts.quick else 500, opts.seed)
    if not opts.skip_adaptive:
        adaptive_table(adaptive, opts.seed)


if __name__ == "__main__":
    main()
