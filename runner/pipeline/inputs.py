"""Generated and scaled-up inputs of each target (runner/verify/evidence.py): built from
the baseline's recorded calls and run by the baseline once, at the first candidate that
needs them; every later candidate of the target is run on the same inputs."""

from __future__ import annotations

from pathlib import Path

from runner.errors import SandboxError
from runner.pipeline.commands import SEED
from runner.pipeline.context import JobContext
from runner.pipeline.recorded import INPUTS_DIR, RECORD_FILE
from runner.spec import Target
from runner.verify import differential, measure
from runner.verify.behaviour import Recording
from runner.verify.evidence import TargetInputs
from runner.verify.replay import ReplayError

SANDBOX_MARGIN_S = 120.0  # a harness run's own budget, plus imports and start-up


class GeneratedInputs:
    """Per target, its generated inputs (None: none could be made), built at first need."""

    def __init__(self, ctx: JobContext, project: Path, recording: Recording | None) -> None:
        self.ctx = ctx
        self.project = project  # the baseline's checkout
        self.recording = recording
        self._made: dict[str, TargetInputs | None] = {}

    def __getitem__(self, target: str) -> TargetInputs | None:
        if target not in self._made:
            self._made[target] = None  # a failure is not retried by the next candidate
            self._made[target] = self._make(target)
        return self._made[target]

    def made(self, target: str) -> TargetInputs | None:
        """The inputs when they were already built (never builds them)."""
        return self._made.get(target)

    def _make(self, target: str) -> TargetInputs | None:
        if self.recording is None:
            return None
        ctx = self.ctx
        cfg = ctx.settings.inputs
        index = ctx.spec.targets.index(Target.parse(target))
        kept = measure.recorded_inputs(self.project / RECORD_FILE, target)
        pickles = INPUTS_DIR / f"{index}.pkl"
        runner = differential.Runner(
            ctx.python,
            target,
            ctx.commands.runner(cfg.budget_s + SANDBOX_MARGIN_S),
            SEED,
            call_timeout_s=cfg.call_timeout_s,
            budget_s=cfg.budget_s,
            inputs=pickles if kept and (self.project / pickles).is_file() else None,
        )
        inputs = TargetInputs(
            target,
            self.recording.targets.get(target, []),
            kept if runner.inputs is not None else 0,
            cfg,
            runner,
            ctx.spec.float_tolerance,
        )
        with ctx.tracer.span("inputs.prepare", target=target) as span:
            try:
                inputs.prepare(self.project)
            except (ReplayError, SandboxError) as exc:
                ctx.warn(f"generated inputs for {target}: {exc}")
                span.status = "error"
                return None
            span.set(specs=len(inputs.specs), timing_sets=[t.label for t in inputs.timing])
        return inputs
