"""Measuring one candidate against the baseline: instrument choice, A/A noise, verdict.

The instruments, best first:

1. **replay** — the target alone, timed on the inputs recorded from the tests, in fresh
   processes (`replay.py`); used when no benchmark command is given and inputs exist;
2. **bench command** — the whole benchmark command, timed per round;
3. **test command** — the whole test command (the last resort: mostly start-up noise).

Whatever the instrument, rounds are interleaved ABBA in fresh processes and stopped
adaptively (`stats.should_stop`). Instruction counts under callgrind join when wall time
is inconclusive (or always, by setting) and inputs exist.
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
from runner.verify.replay import CallgrindCounter, CommandRunner, ReplayTimer

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
    return Plan(
        instrument=f"replay of {calls} {label} ({loops} passes per round)",
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


def copy_inputs(plan: Plan, baseline: Path, candidate: Path) -> None:
    """Make the recorded inputs visible inside the candidate's sandbox too."""
    for inputs in [plan.inputs, *plan.extra_inputs]:
        if inputs is None:
            continue
        relative = inputs.relative_to(baseline)
        (candidate / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(inputs, candidate / relative)


def calibrate_noise(plan: Plan, baseline: Path, rng: random.Random, pairs: int = AA_PAIRS) -> float:
    """A short A/A run (the baseline against itself) estimates the host's noise now."""
    arm = plan.arm(baseline)
    rounds = bench.interleave(arm, plan.arm(baseline), pairs, warmup=1)
    plan.noise = stats.calibrate_from_aa(rounds.baseline, rounds.candidate, rng=rng)
    return plan.noise


def measure(
    plan: Plan,
    baseline: Path,
    candidate: Path,
    cfg: MeasureSettings,
    rng: random.Random,
    *,
    clock: Callable[[], float] = time.monotonic,
) -> Measurement:
    """Time both arms until the verdict is clear; count instructions when needed."""
    started = clock()

    def stop(rounds: bench.Rounds, elapsed: float) -> stats.StopDecision:
        if rounds.count < MIN_PAIRS:  # below this no interval means anything, budget or not
            return stats.StopDecision(False, f"{rounds.count} rounds: too few to estimate")
        return stats.should_stop(
            rounds.baseline,
            rounds.candidate,
            min_rounds=cfg.min_rounds,
            max_rounds=cfg.max_rounds,
            elapsed_s=elapsed,
            budget_s=cfg.budget_s,
            min_effect=cfg.min_effect,
            rng=rng,
            confidence=cfg.confidence,
            noise=plan.noise,
        )

    rounds, stopped = bench.adaptive(plan.arm(baseline), plan.arm(candidate), stop, clock=clock)
    interval = stopped.interval or stats.bootstrap_ratio_ci(
        rounds.baseline, rounds.candidate, confidence=cfg.confidence, rng=rng, noise=plan.noise
    )
    wall_only = stats.decide(interval, None, min_effect=cfg.min_effect)
    overhead = plan.overhead_fraction
    dominated = overhead is not None and overhead > OVERHEAD_LIMIT
    ratios = (
        None
        if dominated
        else _instruction_ratios(plan, baseline, candidate, cfg, wall_only.verdict)
    )
    decision = stats.decide(interval, ratios, min_effect=cfg.min_effect)
    if dominated:
        decision = stats.Decision(
            stats.Verdict.INCONCLUSIVE,
            stats.Instrument.NONE,
            f"overhead-dominated: the harness's own cost is {overhead:.0%} of a baseline pass "
            f"(above {OVERHEAD_LIMIT:.0%}), so the timing is not a verdict on the target",
        )
    detectable = (
        stats.min_detectable_effect(plan.noise, rounds.count, confidence=cfg.confidence)
        if plan.noise is not None and rounds.count >= 5
        else None
    )
    return Measurement(
        instrument=plan.instrument,
        baseline_rounds=rounds.baseline,
        candidate_rounds=rounds.candidate,
        ratio=interval.point,
        low=interval.low,
        high=interval.high,
        verdict=decision.verdict.value,
        reason=f"{decision.reason}; stopped: {stopped.reason}",
        decided_by=decision.instrument.value,
        instruction_ratios=ratios or [],
        min_detectable=detectable,
        seconds=clock() - started,
        overhead_fraction=overhead,
    )


def measure_classes(
    plan: Plan, baseline: Path, candidate: Path, pairs: int
) -> list[dict[str, object]]:
    """Speedup per size class: `pairs` interleaved pairs each, median of the pair ratios.

    Informative, not a verdict: it shows "faster on large inputs, slower on tiny ones"
    instead of averaging it away.
    """
    rows: list[dict[str, object]] = []
    for size_class in plan.classes:
        rounds = bench.interleave(
            size_class.arm(baseline), size_class.arm(candidate), pairs, warmup=1
        )
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
    return rows


def _instruction_ratios(
    plan: Plan,
    baseline: Path,
    candidate: Path,
    cfg: MeasureSettings,
    wall_verdict: stats.Verdict,
) -> list[float] | None:
    """candidate / baseline instructions per call, one per repeat; None when not counted."""
    if plan.counter is None or cfg.instructions == "never":
        return None
    if cfg.instructions == "auto" and wall_verdict is not stats.Verdict.INCONCLUSIVE:
        return None  # wall time already decided; callgrind would only cost time
    calls, repeats = plan.counter_calls, cfg.instruction_repeats
    base = plan.counter.instructions_per_call(baseline, calls, repeats)
    cand = plan.counter.instructions_per_call(candidate, calls, repeats)
    return [c / b for b, c in zip(base, cand, strict=True) if b > 0]
