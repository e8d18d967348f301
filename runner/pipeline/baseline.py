"""Stage 2, baseline: the unchanged project's tests (and --workload) run with the behaviour
recorder, then a second time (the A/A pass) to learn what is not reproducible; a baseline
that fails ends the job before any candidate runs."""

from __future__ import annotations

from dataclasses import dataclass, field

from runner import faults
from runner.errors import SandboxError
from runner.pipeline import recorded
from runner.pipeline.context import Checkout, JobContext
from runner.pipeline.inputs import GeneratedInputs
from runner.pipeline.workspace import Sources
from runner.result import JobOutcome
from runner.verify.behaviour import Instability, Recording, instability


@dataclass
class Baseline:
    """What the unchanged project did: the reference every candidate is held to."""

    sources: Sources
    recording: Recording | None  # the tests' calls of the targets
    inputs: GeneratedInputs  # generated from `recording`, at the first need of each target
    workload: Recording | None = None  # the --workload's calls of the targets
    # The A/A pass: what a second run of the unchanged baseline does not reproduce.
    unstable: Instability = field(default_factory=Instability)
    unstable_workload: Instability = field(default_factory=Instability)

    @property
    def checkout(self) -> Checkout:
        return self.sources.baseline


def run(ctx: JobContext, sources: Sources) -> Baseline | None:
    """The baseline, or None when it fails (the job has then ended)."""
    ctx.stage("baseline")
    checkout = sources.baseline
    with ctx.tracer.span("baseline") as span:
        try:
            done, found = recorded.tests(ctx, checkout, keep_inputs=True, again=False)
            faults.reached("baseline:tests")
        except SandboxError as exc:
            ctx.end(JobOutcome.BASELINE_FAILING, f"baseline tests: {exc}")
            span.status = "error"
            return None
        span.set(returncode=done.returncode, duration_s=round(done.duration_s, 3))
        ctx.result.baseline = {
            "returncode": done.returncode,
            "duration_s": done.duration_s,
            "tail": done.tail(),
            "behaviour": recorded.behaviour_note(ctx, found),
        }
        # What ran the commands (the executor's own account: backend, platform, limits).
        ctx.result.sandbox = ctx.sandbox.describe().to_dict()
        if not done.ok:
            span.status = "error"
            ctx.end(
                JobOutcome.BASELINE_FAILING,
                f"the tests fail before any change (exit {done.returncode}); no candidate was run",
            )
            return None
    baseline = Baseline(sources, found, GeneratedInputs(ctx, checkout.project, found))
    if found is not None:
        baseline.unstable = _aa_pass(ctx, checkout, found, "tests")
    return baseline if _workload(ctx, baseline) else None


def _aa_pass(ctx: JobContext, checkout: Checkout, first: Recording, what: str) -> Instability:
    """Record the unchanged baseline a second time: every value the two runs disagree
    on is not reproducible, so no candidate is ever judged on it (behaviour.instability)."""
    record = recorded.tests if what == "tests" else recorded.workload
    with ctx.tracer.span("baseline.aa", what=what) as span:
        try:
            done, again = record(ctx, checkout, keep_inputs=False, again=True)
        except SandboxError as exc:
            done, again = None, None
            ctx.warn(f"A/A {what} run: {exc}")
        if done is not None and not done.ok:
            ctx.warn(f"the second baseline {what} run failed")
        if again is None:  # a flaky suite: compare everything, as without the A/A pass
            span.status = "error"
            ctx.result.baseline[f"aa_{what}"] = "the second baseline run gave no recording"
            return Instability()
        found = instability(first, again)
        span.set(calls=len(found.paths), sites=len(found.sites))
        ctx.result.baseline[f"aa_{what}"] = found.describe()
        return found


def _workload(ctx: JobContext, baseline: Baseline) -> bool:
    """Run the --workload on the unchanged code, recording the targets' calls."""
    if ctx.spec.workload_cmd is None:
        return True
    checkout = baseline.checkout
    with ctx.tracer.span("baseline.workload") as span:
        try:
            done, found = recorded.workload(ctx, checkout, keep_inputs=True, again=False)
        except SandboxError as exc:
            ctx.end(JobOutcome.BASELINE_FAILING, f"baseline workload: {exc}")
            span.status = "error"
            return False
        baseline.workload = found
        span.set(returncode=done.returncode, duration_s=round(done.duration_s, 3))
        ctx.result.baseline["workload"] = {
            "command": ctx.spec.workload_cmd,
            "returncode": done.returncode,
            "duration_s": done.duration_s,
            "calls": found.call_count if found else 0,
        }
        if not done.ok:
            span.status = "error"
            ctx.end(
                JobOutcome.BASELINE_FAILING,
                f"the workload `{ctx.spec.workload_cmd}` fails before any change "
                f"(exit {done.returncode}); no candidate was run:\n{done.tail(8)}",
            )
            return False
    if baseline.workload is not None:
        baseline.unstable_workload = _aa_pass(ctx, checkout, baseline.workload, "workload")
    return True
