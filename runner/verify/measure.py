"""Measuring one candidate against the baseline: instrument choice, A/A noise, verdict.

The instruments, best first:

1. **replay** — the target alone, timed on the inputs recorded from the tests, in fresh
   processes (`replay.py`); used when no benchmark command is given and inputs exist;
2. **bench command** — the whole benchmark command, timed per round;
3. **test command** — the whole test command (the last resort: mostly start-up noise).

Whatever the instrument, rounds are interleaved ABBA in fresh processes and stopped
adaptively (`stats.should_stop`). Instruction counts under callgrind join when wall time
is inconclusive (or always, by setting) and inputs exist. Everything measured for one
candidate, callgrind and the size classes included, fits in `measure.budget_s`
(`budget.py`): the wall rounds leave room for one baseline and one candidate callgrind run
when those may be needed, and a step the budget does not allow is skipped with a note.
"""

from __future__ import annotations

import json
import math
import random
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from runner.config import MeasureSettings
from runner.result import Measurement
from runner.verify import bench, stats
from runner.verify.budget import Budget, callgrind_run_s, wall_share
from runner.verify.replay import (
    CallgrindCounter,
    CallgrindOverBudget,
    CommandRunner,
    ReplayTimer,
)

#: Seconds a callgrind run's target calls should take natively: enough instructions
#: (~10^7 or more) that the fixed cost outside the calls is negligible, little enough
#: that callgrind (about 50x slower) stays within seconds.
CALLGRIND_NATIVE_S = 0.02
CALLGRIND_MAX_CALLS = 20_000
AA_PAIRS = 10
MIN_PAIRS = 5
#: Above this share of a pass spent in the harness itself (a no-op target on the same
#: arguments), the timing says more about the harness than the target: no verdict.
OVERHEAD_LIMIT = 0.5
RoundFactory = Callable[[Path], bench.Round]


@dataclass
class Plan:
    """How every candidate of one target is measured."""

    instrument: str  # "replay of N recorded calls", "bench command", "test command"
    arm: RoundFactory
    inputs: Path | None = None
    counter: CallgrindCounter | None = None
    counter_calls: int = 0
    noise: float | None = None  # sigma from the A/A run
    overhead_s: float = 0.0  # a no-op's seconds per pass in the harness (reported, bounded)
    per_pass_s: float = 0.0  # the baseline's seconds per pass at calibration
    classes: list[SizeClass] = field(default_factory=list)  # timed once more, per size
    extra_inputs: list[Path] = field(default_factory=list)  # more files the arms read
    # Learnt while measuring, for the budget of the next candidate:
    round_s: float | None = None  # wall seconds of one round (half the median pair)
    callgrind_s: float | None = None  # wall seconds of the last callgrind run of one arm
    baseline_counts: list[float] = field(default_factory=list)  # per repeat; deterministic

    @property
    def overhead_fraction(self) -> float | None:
        """The share of a baseline pass that is the harness's, when known."""
        if self.per_pass_s <= 0 or self.overhead_s <= 0:
            return None
        return min(1.0, self.overhead_s / self.per_pass_s)


@dataclass
class SizeClass:
    """One class of timed inputs ("recorded", "largest recorded", "x10", ...)."""

    label: str
    calls: int
    sizes: tuple[int, int]  # smallest and largest call size in the class
    arm: RoundFactory


def recorded_inputs(recording_file: Path, target: str) -> int:
    """How many calls of `target` the recorder kept for replay (0 when none or unknown).

    Read from the recording's JSON, never by unpickling: the inputs are only ever
    unpickled inside the sandbox.
    """
    try:
        document = json.loads(recording_file.read_text(encoding="utf-8"))
        count = document.get("inputs", {}).get(target, 0)
    except (OSError, ValueError, AttributeError):
        return 0
    return count if isinstance(count, int) else 0


def plan_replay(
    target: str,
    inputs: Path,
    baseline: Path,
    python: str,
    run: CommandRunner,
    *,
    valgrind: str | None,
    share: bool = False,
    label: str = "recorded calls",
) -> Plan:
    """Calibrate the replay on the baseline; the same loops serve every candidate.

    `share`: no recorded call mutated its arguments, so the harness may pass the same
    objects to every call instead of fresh copies (copying can cost more than the call).
    The cost of a pass with a no-op in place of the target is measured and reported, never
    subtracted: the speedup is per call, the call included, as callers see it (subtracting
    it gave a cheap method's body alone, 2.3x where callers see 1.4x).
    """
    # Relative to the project: each checkout's sandbox sees only its own copy of the inputs.
    relative = inputs.relative_to(baseline)
    timer = ReplayTimer(python, target, relative, run, share=share)
    loops = timer.calibrate(baseline)
    calls = timer.calls or 1
    per_pass = timer.per_pass_s or 0.0
    per_call = per_pass / calls
    overhead = timer.overhead_per_pass_s
    counter = None
    counter_calls = 0
    if valgrind is not None:
        counter = CallgrindCounter(python, target, relative, run, valgrind=valgrind, share=share)
        wanted = math.ceil(CALLGRIND_NATIVE_S / per_call) if per_call > 0 else calls
        # A multiple of the recorded calls: every input weighs the same in both arms.
        counter_calls = min(max(calls, math.ceil(wanted / calls) * calls), CALLGRIND_MAX_CALLS)
    instrument = f"replay of {calls} {label} ({loops} passes per round)"
    if timer.prepare_limited and per_pass > 0:
        cost = timer.prepare_per_pass_s / per_pass
        instrument = (
            f"replay of {calls} {label} ({loops} passes per round, shortened: fresh copies of "
            f"the arguments the target mutates cost {cost:.0f}x the calls)"
        )
    return Plan(
        instrument=instrument,
        arm=lambda project: timer.arm(project, loops),
        inputs=inputs,
        counter=counter,
        counter_calls=counter_calls,
        overhead_s=overhead,
        per_pass_s=per_pass,
    )


def plan_class(
    label: str,
    target: str,
    inputs: Path,
    baseline: Path,
    python: str,
    run: CommandRunner,
    *,
    sizes: tuple[int, int],
    share: bool = False,
) -> SizeClass:
    """A size class, calibrated on the baseline like the main plan."""
    timer = ReplayTimer(python, target, inputs.relative_to(baseline), run, share=share)
    loops = timer.calibrate(baseline)
    return SizeClass(label, timer.calls or 0, sizes, lambda project: timer.arm(project, loops))


def plan_command(instrument: str, arm: RoundFactory) -> Plan:
    """Whole-command timing (the benchmark command, or the tests)."""
    return Plan(instrument=instrument, arm=arm)


def valgrind_path() -> str | None:
    """valgrind when installed (a Recommends of the package)."""
    return shutil.which("valgrind")


def input_files(plan: Plan, baseline: Path) -> list[Path]:
    """The input files a plan's harness reads, relative to the baseline's checkout."""
    return [p.relative_to(baseline) for p in [plan.inputs, *plan.extra_inputs] if p is not None]


def copy_inputs(plan: Plan, baseline: Path, candidate: Path) -> None:
    """Make the recorded inputs visible inside the candidate's sandbox too."""
    for relative in input_files(plan, baseline):
        inputs = baseline / relative
        (candidate / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(inputs, candidate / relative)


def calibrate_noise(
    plan: Plan,
    baseline: Path,
    rng: random.Random,
    pairs: int = AA_PAIRS,
    *,
    budget_s: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> float | None:
    """A short A/A run (the baseline against itself) estimates the host's noise now.

    It also times a round for the candidates' budgets. With `budget_s` it stops before a
    pair that would not fit; None (and no noise floor) when fewer than 5 pairs did.
    """
    budget = None if budget_s is None else Budget(budget_s, clock)
    rounds = _interleaved(plan.arm(baseline), plan.arm(baseline), pairs, budget, clock)
    _learn_round(plan, rounds)
    if rounds.count < MIN_PAIRS:
        plan.noise = None
        return None
    plan.noise = stats.calibrate_from_aa(rounds.baseline, rounds.candidate, rng=rng)
    return plan.noise


def _interleaved(
    baseline: bench.Round,
    candidate: bench.Round,
    pairs: int,
    budget: Budget | None,
    clock: Callable[[], float],
    first_pair_s: float = 0.0,
) -> bench.Rounds:
    """`pairs` ABAB pairs after one warm-up pair, none started that `budget` cannot hold."""
    fits = None if budget is None else budget.fits
    return bench.interleave(
        baseline, candidate, pairs, warmup=1, clock=clock, fits=fits, first_pair_s=first_pair_s
    )


def _learn_round(plan: Plan, rounds: bench.Rounds) -> None:
    """Remember what one round of this plan costs, when these rounds show it."""
    plan.round_s = _round_of(rounds) or plan.round_s


def _round_of(rounds: bench.Rounds) -> float | None:
    """Seconds of one round: half the median pair, else the longest warm-up round."""
    if rounds.pair_s:
        return stats.median(rounds.pair_s) / 2
    return max(rounds.warmup_s) if rounds.warmup_s else None


def measure(
    plan: Plan,
    baseline: Path,
    candidate: Path,
    cfg: MeasureSettings,
    rng: random.Random,
    *,
    clock: Callable[[], float] = time.monotonic,
    class_pairs: int = 0,
    to_beat: float | None = None,
) -> Measurement:
    """Time both arms until the verdict is clear, count instructions when needed, and time
    the size classes with `class_pairs` pairs each: all within `cfg.budget_s`.

    `to_beat`: the upper bound (candidate / baseline) of another candidate of the same target
    already verified faster; once this one's interval lies wholly above it, it cannot be
    chosen, and neither more rounds, instruction counts nor size classes are spent on it.
    """
    budget = Budget(cfg.budget_s, clock)
    overhead = plan.overhead_fraction
    dominated = overhead is not None and overhead > OVERHEAD_LIMIT
    counting = plan.counter is not None and cfg.instructions != "never" and not dominated
    rounds, stopped = _wall_rounds(plan, baseline, candidate, cfg, rng, budget, counting, to_beat)
    # What a round costs, for everything after the rounds: fixed for this candidate (the
    # wall rounds left room by it), learnt for the next one at the end.
    round_s = plan.round_s or _round_of(rounds)
    interval = stopped.interval
    if interval is None and rounds.count >= MIN_PAIRS:
        interval = stats.bootstrap_ratio_ci(
            rounds.baseline, rounds.candidate, confidence=cfg.confidence, rng=rng, noise=plan.noise
        )
    notes: list[str] = []
    ratios = None
    if counting and not stopped.outclassed:
        wall_only = stats.decide(interval, None, min_effect=cfg.min_effect)
        ratios = _instruction_ratios(
            plan, baseline, candidate, cfg, wall_only.verdict, budget, notes, round_s
        )
    decision = _decision(interval, ratios, cfg.min_effect, overhead if dominated else None)
    classes = []
    if class_pairs and plan.classes and not stopped.outclassed:
        # Without a timed pair there is nothing to set them beside: listed, not timed.
        classes = measure_classes(
            plan,
            baseline,
            candidate,
            class_pairs if rounds.count else 0,
            budget=budget,
            notes=notes,
            round_s=round_s,
        )
    _learn_round(plan, rounds)
    detectable = (
        stats.min_detectable_effect(plan.noise, rounds.count, confidence=cfg.confidence)
        if plan.noise is not None and rounds.count >= MIN_PAIRS
        else None
    )
    point = _point(rounds) if interval is None else interval.point
    return Measurement(
        instrument=plan.instrument,
        baseline_rounds=rounds.baseline,
        candidate_rounds=rounds.candidate,
        ratio=point,
        low=None if interval is None else interval.low,
        high=None if interval is None else interval.high,
        verdict=decision.verdict.value,
        reason=f"{decision.reason}; stopped: {stopped.reason}",
        decided_by=decision.instrument.value,
        instruction_ratios=ratios or [],
        min_detectable=detectable,
        seconds=budget.elapsed(),
        overhead_fraction=overhead,
        size_classes=classes,
        notes=notes,
    )


def _decision(
    interval: stats.Interval | None,
    ratios: list[float] | None,
    min_effect: float,
    dominating: float | None,
) -> stats.Decision:
    """`stats.decide`, unless the harness's own cost (`dominating`) is most of a pass."""
    if dominating is None:
        return stats.decide(interval, ratios, min_effect=min_effect)
    return stats.Decision(
        stats.Verdict.INCONCLUSIVE,
        stats.Instrument.NONE,
        f"overhead-dominated: the harness's own cost is {dominating:.0%} of a baseline pass "
        f"(above {OVERHEAD_LIMIT:.0%}), so the timing is not a verdict on the target",
    )


def _point(rounds: bench.Rounds) -> float | None:
    """The ratio of medians of too few pairs for an interval (None without any)."""
    if not rounds.count:
        return None
    n = rounds.count
    return stats.median(rounds.candidate[:n]) / stats.median(rounds.baseline[:n])


def _wall_rounds(
    plan: Plan,
    baseline: Path,
    candidate: Path,
    cfg: MeasureSettings,
    rng: random.Random,
    budget: Budget,
    counting: bool,
    to_beat: float | None,
) -> tuple[bench.Rounds, stats.StopDecision]:
    """The interleaved wall-time rounds, stopped by `stats.should_stop` or by the budget.

    The budget is checked before every pair, the warm-up included, against the longest
    pair so far; when instruction counts may follow, the rounds leave room for them.
    """

    def stop(rounds: bench.Rounds, _elapsed: float) -> stats.StopDecision:
        # The next pair must fit whatever it costs (the longest so far); reaching 5 pairs
        # is judged on a typical one (the median, else what the target's rounds took).
        pair = bench.next_pair_s(rounds, 2 * plan.round_s if plan.round_s else 0.0)
        typical = stats.median(rounds.pair_s) if rounds.pair_s else None
        typical = typical or (2 * plan.round_s if plan.round_s else pair)
        warm_left = max(0, 2 - len(rounds.warmup_s)) * typical / 2  # of the one warm-up pair
        room = cfg.budget_s
        if counting:  # the warm-up and 5 pairs come first, then one callgrind pair if it fits
            minimum = (MIN_PAIRS + 1) * typical
            room = wall_share(cfg.budget_s, _callgrind_reserve(plan, pair / 2), minimum)
        elapsed, n = budget.elapsed(), rounds.count
        if n < MIN_PAIRS:  # below this no interval means anything: reach it, or stop now
            needed = max(pair, (MIN_PAIRS - n) * typical + warm_left)
            if pair and elapsed + needed > room:
                return stats.StopDecision(
                    True,
                    f"{n} rounds: the budget cannot fit the {MIN_PAIRS} pairs an interval "
                    f"needs (a pair takes ~{typical:.1f} s; {max(0.0, room - elapsed):.0f} s "
                    f"left for wall time of the {cfg.budget_s:g} s budget; measure.budget_s "
                    f"of {math.ceil((MIN_PAIRS + 1) * typical)} s or more would time it)",
                )
            return stats.StopDecision(False, f"{n} rounds: too few to estimate")
        return stats.should_stop(
            rounds.baseline,
            rounds.candidate,
            min_rounds=cfg.min_rounds,
            max_rounds=cfg.max_rounds,
            elapsed_s=elapsed,
            budget_s=room,
            min_effect=cfg.min_effect,
            rng=rng,
            confidence=cfg.confidence,
            noise=plan.noise,
            next_pair_s=pair,
            to_beat=to_beat,
        )

    return bench.adaptive(plan.arm(baseline), plan.arm(candidate), stop, clock=budget.clock)


def _callgrind_reserve(plan: Plan, round_s: float) -> float:
    """Seconds for one baseline and one candidate callgrind run (the baseline's counts are
    kept per target, so only the first candidate that needs them pays for them)."""
    run = callgrind_run_s(plan.callgrind_s, plan.round_s or round_s or None)
    if run is None:
        return 0.0
    return run * (1 if plan.baseline_counts else 2)


def measure_classes(
    plan: Plan,
    baseline: Path,
    candidate: Path,
    pairs: int,
    *,
    budget: Budget | None = None,
    notes: list[str] | None = None,
    round_s: float | None = None,
) -> list[dict[str, object]]:
    """Speedup per size class: `pairs` interleaved pairs each, median of the pair ratios.

    Informative, not a verdict: it shows "faster on large inputs, slower on tiny ones"
    instead of averaging it away. `pairs` 0 lists the classes untimed. With a `budget`, a
    class starts only when its warm-up and `pairs` pairs fit in what is left (a row with 0
    pairs and no speedup otherwise, and a line in `notes`), a round taking `round_s`
    (default: the plan's).
    """
    rows: list[dict[str, object]] = []
    skipped: list[str] = []
    clock = time.monotonic if budget is None else budget.clock
    round_s = round_s or plan.round_s
    first = 2 * round_s if round_s else 0.0
    for size_class in plan.classes:
        if pairs < 1:
            rounds = bench.Rounds()
        elif budget is not None and not budget.fits((pairs + 1) * first):
            skipped.append(size_class.label)
            rounds = bench.Rounds()
        else:
            arms = size_class.arm(baseline), size_class.arm(candidate)
            rounds = _interleaved(*arms, pairs, budget, clock, first)
        ratios = [c / b for b, c in zip(rounds.baseline, rounds.candidate, strict=True) if b > 0]
        ratio = stats.median(ratios) if ratios else float("nan")
        rows.append(
            {
                "class": size_class.label,
                "calls": size_class.calls,
                "sizes": list(size_class.sizes),
                "pairs": len(ratios),
                "speedup": 1.0 / ratio if ratio > 0 else None,
            }
        )
    if skipped and budget is not None and notes is not None:
        need = f"a class of {pairs} pairs needs ~{(pairs + 1) * first:.0f} s"
        notes.append(budget.skipped(f"size classes {', '.join(skipped)}", need))
    return rows


def _instruction_ratios(
    plan: Plan,
    baseline: Path,
    candidate: Path,
    cfg: MeasureSettings,
    wall_verdict: stats.Verdict,
    budget: Budget,
    notes: list[str],
    round_s: float | None,
) -> list[float] | None:
    """candidate / baseline instructions per call, one per repeat; None when not counted.

    Each repeat starts only when the budget has room for its runs: the candidate's, and the
    baseline's unless an earlier candidate of the target already counted that repeat.
    """
    if plan.counter is None or cfg.instructions == "never":
        return None
    if cfg.instructions == "auto" and wall_verdict is not stats.Verdict.INCONCLUSIVE:
        return None  # wall time already decided; callgrind would only cost time
    ratios: list[float] = []
    repeats = cfg.instruction_repeats
    for repeat in range(repeats):
        counted = repeat < len(plan.baseline_counts)
        run = callgrind_run_s(plan.callgrind_s, round_s) or 0.0
        need = run * (1 if counted else 2)
        if not budget.fits(need):
            notes.append(_counts_skipped(budget, repeat, repeats, need, counted))
            break
        try:
            if not counted:
                plan.baseline_counts.append(_count(plan, plan.counter, baseline, budget))
                run = plan.callgrind_s or 0.0  # now measured: the candidate's run is like it
                if not budget.fits(run):
                    notes.append(_counts_skipped(budget, repeat, repeats, run, counted=True))
                    break
            cand = _count(plan, plan.counter, candidate, budget)
        except CallgrindOverBudget:
            # The first run's cost was a guess from the wall rounds, and too low: it was
            # killed at the end of the budget. A run takes longer than that: a later
            # candidate reckons with twice as long, so it does not start one in vain again.
            killed_after = plan.callgrind_s or 0.0
            plan.callgrind_s = 2 * killed_after
            notes.append(
                f"instruction counts stopped: a callgrind run took longer than the "
                f"{budget.total_s:g} s budget had left (killed after {killed_after:.0f} s)"
            )
            break
        base = plan.baseline_counts[repeat]
        if base > 0:
            ratios.append(cand / base)
    return ratios or None


def _count(plan: Plan, counter: CallgrindCounter, project: Path, budget: Budget) -> float:
    """One callgrind run of one arm, killed at the end of the budget: instructions per
    call. Its cost is remembered (a killed run's as a lower bound)."""
    started = budget.clock()
    try:
        (per_call,) = counter.instructions_per_call(
            project, plan.counter_calls, 1, deadline_s=budget.left()
        )
    finally:
        plan.callgrind_s = budget.clock() - started
    return per_call


def _counts_skipped(budget: Budget, repeat: int, repeats: int, need: float, counted: bool) -> str:
    """The report's note when the budget ends the instruction counts early."""
    what = "one callgrind pair" if not counted else "one candidate callgrind run"
    if repeat == 0:
        return budget.skipped("instruction counts", f"{what} needs ~{need:.0f} s")
    return budget.skipped(
        f"instruction counts after {repeat} of {repeats} repeats: the rest",
        f"{what} needs ~{need:.0f} s",
    )
