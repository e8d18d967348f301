"""What a candidate's measuring costs against `measure.budget_s`, callgrind included.

    .venv/bin/python benchmarks/verify_budget.py             # every scenario, 20 reps each
    .venv/bin/python benchmarks/verify_budget.py --quick     # 4 reps each (~1 minute)

Runs the runner's own `measure.measure` (adaptive rounds, budget, callgrind reserve, size
classes, the early stop against a faster candidate) on simulated rounds and a simulated
callgrind that only move an injected clock: no real waits, and every figure is seconds of
that clock. A round's value is the true time x log-normal noise (sigma per round, as
BENCHMARK-NOISE.md measured: ~0.05 quiet, ~0.15 busy, ~0.3 very busy); its wall time is a
fixed start-up share plus the timed part. Callgrind costs are per run of one arm: 10 s (the
2-core VM, idle-ish) and 44 s (issue 23's case: 8 runs, ~176 s).

`before` is what the same candidate cost when callgrind ran outside the budget: the wall
rounds up to the budget, then every callgrind repeat of both arms.
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from runner.config import MeasureSettings
from runner.verify import measure
from runner.verify.replay import CallgrindOverBudget

BASELINE, CANDIDATE = Path("/baseline"), Path("/candidate")
ROUND_S = 0.26  # a replay round: ~60 ms start-up + ~200 ms timed (docs/verification.md)
FIXED = 0.25  # start-up share of a round's wall time


@dataclass(frozen=True)
class Scenario:
    name: str
    sigma: float  # noise of one round's value (log)
    speedup: float  # true: the candidate takes 1 - speedup of the baseline's time
    callgrind_s: float | None  # one run of one arm; None: no callgrind (bench command)
    instr_speedup: float = 0.0  # true instruction speedup (0: same counts)
    rival: bool = False  # another candidate of the target verified 2x faster
    round_s: float = ROUND_S
    known: bool = False  # an earlier candidate counted the baseline and timed callgrind


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _plan(sc: Scenario, clock: Clock, gen: random.Random) -> measure.Plan:
    def factory(project: Path) -> Any:
        true = 1.0 if project == BASELINE else 1.0 - sc.speedup

        def one_round() -> float:
            value = true * math.exp(gen.gauss(0, sc.sigma))
            clock.now += sc.round_s * (FIXED + (1 - FIXED) * value)
            return value

        return one_round

    counter = None
    if sc.callgrind_s is not None:
        counter = _Counter(clock, sc.callgrind_s, 1.0 - sc.instr_speedup)
    plan = measure.Plan("simulated replay", factory, counter=counter)  # type: ignore[arg-type]
    plan.counter_calls = 100
    plan.classes = [
        measure.SizeClass(label, 3, (1, 1), factory) for label in ("recorded", "x10", "x100")
    ]
    return plan


class _Counter:
    def __init__(self, clock: Clock, run_s: float, ratio: float) -> None:
        self.clock, self.run_s, self.ratio = clock, run_s, ratio

    def instructions_per_call(
        self, project: Path, _calls: int, repeats: int, *, deadline_s: float | None = None
    ) -> list[float]:
        if deadline_s is not None and self.run_s * repeats > deadline_s:
            self.clock.now += deadline_s  # killed at its deadline, as the real one is
            raise CallgrindOverBudget("killed")
        self.clock.now += self.run_s * repeats
        return [1e6 * (1.0 if project == BASELINE else self.ratio)] * repeats


@dataclass
class Outcome:
    seconds: list[float]
    over_rounds: list[float]  # (seconds - budget) / round, where positive
    counted: int
    skipped: int
    verdicts: dict[str, int]
    before: list[float]


def run(sc: Scenario, reps: int, cfg: MeasureSettings, seed: int) -> Outcome:
    out = Outcome([], [], 0, 0, {}, [])
    for rep in range(reps):
        clock, gen = Clock(), random.Random(seed * 1000 + rep)
        plan = _plan(sc, clock, gen)
        # The target's A/A run, as a job does it: the noise, and what a round costs.
        aa = random.Random(rep)
        measure.calibrate_noise(plan, BASELINE, aa, 10, budget_s=cfg.budget_s, clock=clock)
        if sc.known and plan.counter is not None:
            plan.callgrind_s, plan.baseline_counts = sc.callgrind_s, [1e6]
        started = clock.now
        m = measure.measure(
            plan,
            BASELINE,
            CANDIDATE,
            cfg,
            random.Random(rep),
            clock=clock,
            class_pairs=5,
            to_beat=0.55 if sc.rival else None,
        )
        spent = clock.now - started
        out.seconds.append(spent)
        out.over_rounds.append(max(0.0, spent - cfg.budget_s) / sc.round_s)
        out.counted += bool(m.instruction_ratios)
        out.skipped += any(n.startswith("instruction counts") for n in m.notes)
        out.verdicts[m.verdict] = out.verdicts.get(m.verdict, 0) + 1
        out.before.append(_before(sc, cfg, m.verdict, spent))
    return out


def _before(sc: Scenario, cfg: MeasureSettings, verdict: str, spent: float) -> float:
    """The old cost model, for the same case: the warm-up pair and at least 5 pairs whatever
    the budget; wall rounds to the budget when inconclusive, then callgrind outside it
    (every repeat, both arms)."""
    floor = (1 + measure.MIN_PAIRS) * 2 * sc.round_s
    if sc.callgrind_s is None or verdict not in {"inconclusive", "faster (instructions)"}:
        return max(spent, floor)
    return cfg.budget_s + 2 * cfg.instruction_repeats * sc.callgrind_s


def _guessed(sc: Scenario) -> bool:
    """Whether this candidate's first callgrind run is a guess (see docs/verification.md)."""
    return sc.callgrind_s is not None and not sc.known and sc.round_s == ROUND_S


SCENARIOS = [
    Scenario("identical, quiet, no callgrind", 0.05, 0.0, None),
    Scenario("identical, busy, no callgrind", 0.15, 0.0, None),
    Scenario("identical, busy, callgrind 10 s", 0.15, 0.0, 10.0),
    Scenario("identical, very busy, callgrind 44 s (issue 23)", 0.30, 0.0, 44.0),
    Scenario("the same, a later candidate (cost known)", 0.30, 0.0, 44.0, known=True),
    Scenario("5% faster, very busy, callgrind 10 s", 0.30, 0.05, 10.0, instr_speedup=0.05),
    Scenario("20% faster, busy, callgrind 10 s", 0.15, 0.20, 10.0, instr_speedup=0.2),
    Scenario("identical, busy, another verified 2x", 0.15, 0.0, 10.0, rival=True),
    Scenario("identical, quiet, another verified 2x", 0.05, 0.0, 10.0, rival=True),
    Scenario("bench command, 7 s rounds", 0.10, 0.0, None, round_s=7.0),
    Scenario("bench command, 25 s rounds", 0.10, 0.0, None, round_s=25.0),
]


def _row(sc: Scenario, out: Outcome) -> str:
    verdicts = ", ".join(f"{v} {n}" for v, n in sorted(out.verdicts.items()))
    return (
        f"| {sc.name} | {statistics.median(out.seconds):.1f} | {max(out.seconds):.1f} | "
        f"{max(out.over_rounds):.2f} | {statistics.median(out.before):.0f} | "
        f"{out.counted}/{len(out.seconds)} | {out.skipped}/{len(out.seconds)} | {verdicts} |"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 repetitions per scenario")
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--budget-s", type=float, default=MeasureSettings().budget_s)
    options = parser.parse_args()
    reps = 4 if options.quick else options.reps
    cfg = MeasureSettings(budget_s=options.budget_s)
    print(
        f"measure.budget_s {cfg.budget_s:g} s, instruction_repeats {cfg.instruction_repeats}, "
        f"5 pairs per size class x 3 classes, {reps} repetitions per row\n"
    )
    print(
        "| scenario | median s | max s | max over budget (rounds) | before: median s "
        "| callgrind counted | a callgrind repeat skipped | verdicts |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    worst = {False: 0.0, True: 0.0}
    for seed, sc in enumerate(SCENARIOS):
        out = run(sc, reps, cfg, seed)
        worst[_guessed(sc)] = max(worst[_guessed(sc)], *out.over_rounds)
        print(_row(sc, out), flush=True)
    print(f"\nlargest overrun of the budget: {worst[False]:.2f} rounds")
    print(f"with a target's first callgrind run, its cost a guess: {worst[True]:.2f} rounds")
    return 0 if worst[False] <= 1.0 else 1


if __name__ == "__main__":
    sys.exit(main())
