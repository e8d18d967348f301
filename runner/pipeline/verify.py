"""Stage 4, verify: each candidate in its own checkout — the safety policy, the project's
tests with the recorder, behaviour against the baseline's recording, the reward-hack
checks, the generated inputs, and the --workload. A candidate that passes all of them is
`verified`; measuring it is the next stage's."""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from runner import faults
from runner.agent.providers.base import Candidate
from runner.agent.safety import check_candidate
from runner.bundle import formatting
from runner.bundle.apply import apply_candidate, extract_definition
from runner.errors import (
    CandidateError,
    MemoryLimitExceeded,
    SandboxError,
    SandboxTimeout,
    SecurityViolation,
)
from runner.pipeline import recorded
from runner.pipeline.baseline import Baseline
from runner.pipeline.context import Checkout, JobContext
from runner.result import CandidateResult, CandidateStatus
from runner.spec import Target
from runner.telemetry.tracing import Span
from runner.verify import differential, rewardhack
from runner.verify.behaviour import Comparison, Instability, Recording, compare
from runner.verify.replay import ReplayError

FORMAT_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Verified:
    """A candidate's verification: its result, and its checkout when it got one."""

    result: CandidateResult
    checkout: Checkout | None


def run(ctx: JobContext, baseline: Baseline, index: int, cand: Candidate) -> Verified:
    """Verify candidate number `index` (from 1) of the job."""
    if index == 1:
        ctx.stage("verify")
    cid = f"c{index}"
    result = CandidateResult(
        cid, str(cand.target), cand.rule, cand.description, CandidateStatus.INVALID
    )
    ctx.observer("candidate", {"id": cid, "description": cand.description})
    with ctx.tracer.span("verify", candidate=cid, target=str(cand.target), rule=cand.rule) as s:
        checkout = _checkout(ctx, baseline, cid, cand, result)
        faults.reached("verify:candidate")
        if checkout is not None:
            _tests(ctx, baseline, checkout, result)
        s.set(status=result.status.value, tests=result.tests)
    ctx.observer("verified", {"id": cid, "status": result.status.value})
    return Verified(result, checkout)


def _checkout(
    ctx: JobContext, baseline: Baseline, cid: str, cand: Candidate, result: CandidateResult
) -> Checkout | None:
    """The candidate's checkout, with its code in place (None: it was refused)."""
    sources = baseline.sources
    original = sources.modules[cand.target]
    try:
        check_candidate(
            original, cand.target.qualname, cand.code, cand.imports, ctx.settings.safety
        )
    except SecurityViolation as exc:
        result.status, result.detail = CandidateStatus.UNSAFE, str(exc)
        with ctx.tracer.span("safety.rejected", candidate=cid, reason=exc.reason):
            pass  # an instant event: the trace shows every rejection
        return None
    code = _formatted(ctx, baseline, cand.code)
    try:
        updated = apply_candidate(original, cand.target.qualname, code, cand.imports)
    except CandidateError as exc:
        result.detail = str(exc)
        return None
    checkout = sources.checkout(cid)
    try:
        ctx.commands.put(checkout.project, {cand.target.path: updated.encode("utf-8")})
    except SandboxError as exc:  # e.g. the module is a symlink out of the project
        result.detail = f"the candidate could not be written into its checkout: {exc}"
        return None
    result.diff = unified_diff(
        (sources.patch_prefix / cand.target.path).as_posix(), original, updated
    )
    return checkout


def _formatted(ctx: JobContext, baseline: Baseline, code: str) -> str:
    """The candidate's code through the project's formatter (only that code)."""
    formatter = baseline.sources.formatter
    if formatter is None:
        return code
    project = baseline.checkout.project
    scratch = project / formatting.SCRATCH
    scratch.parent.mkdir(parents=True, exist_ok=True)
    scratch.write_text(code, encoding="utf-8")
    argv = formatting.formatter_argv(formatter, formatting.SCRATCH)
    try:
        done = ctx.commands.run(argv, project, {}, FORMAT_TIMEOUT_S, check=False)
    except SandboxError:
        return code
    # Not installed, or it refused the code: the candidate goes in as written.
    return scratch.read_text(encoding="utf-8") if done.ok else code


def _tests(
    ctx: JobContext, baseline: Baseline, checkout: Checkout, result: CandidateResult
) -> None:
    try:
        run, found = recorded.tests(ctx, checkout, keep_inputs=False, again=False)
    except SandboxError as exc:
        result.status, result.tests, result.detail = sandbox_failure(exc)
        return
    if not run.ok:
        result.status, result.tests = CandidateStatus.TESTS_FAILED, "failed"
        result.detail = run.tail(8)
        return
    result.tests = "passed"
    reference = baseline.recording
    if reference is None or found is None:
        result.status = CandidateStatus.VERIFIED
        result.behaviour = recorded.behaviour_note(ctx, reference)
        return
    unrecorded = _unrecorded(reference, result.target)
    if unrecorded:
        result.status, result.behaviour = CandidateStatus.NOT_RECORDED, unrecorded
        result.detail = unrecorded
        return
    with ctx.tracer.span("behaviour", candidate=checkout.name) as span:
        comparison = _compare(ctx, reference, found, baseline.unstable, span)
    result.behaviour = comparison.describe()
    result.calls_compared = comparison.calls_compared
    result.inputs["recorded"] = len(reference.targets.get(result.target, []))
    if not comparison.ok:
        result.status, result.detail = CandidateStatus.BEHAVIOUR_CHANGED, comparison.describe()
        return
    if _reward_hack(ctx, baseline, checkout, result, found):
        return
    _generated(ctx, baseline, checkout, result)
    if result.status is CandidateStatus.VERIFIED:
        _workload(ctx, baseline, checkout, result)


def _compare(
    ctx: JobContext, reference: Recording, found: Recording, unstable: Instability, span: Span
) -> Comparison:
    """The candidate's recorded calls against the baseline's; the span records the result."""
    comparison = compare(
        reference, found, float_tolerance=ctx.spec.float_tolerance, unstable=unstable
    )
    span.set(ok=comparison.ok, calls=comparison.calls_compared)
    return comparison


def _workload(
    ctx: JobContext, baseline: Baseline, checkout: Checkout, result: CandidateResult
) -> None:
    """The candidate on the --workload: it must exit as the baseline did, and make the
    same calls of the targets with the same results."""
    reference = baseline.workload
    if reference is None:
        return
    with ctx.tracer.span("behaviour.workload", candidate=checkout.name) as span:
        try:
            run, found = recorded.workload(ctx, checkout, keep_inputs=False, again=False)
        except SandboxError as exc:
            result.status, _, detail = sandbox_failure(exc)
            result.detail = f"workload: {detail}"
            return
        span.set(returncode=run.returncode)
        if not run.ok:
            result.status = CandidateStatus.BEHAVIOUR_CHANGED
            result.detail = (
                f"behaviour differs on the workload: it exits {run.returncode} with the "
                f"candidate (0 with the baseline):\n{run.tail(8)}"
            )
            result.behaviour = result.detail
            return
        if found is None:
            result.behaviour += "; workload calls not compared: the recorder wrote no file"
            return
        comparison = _compare(ctx, reference, found, baseline.unstable_workload, span)
    calls = len(reference.targets.get(result.target, []))
    result.inputs["workload"] = calls
    if not comparison.ok:
        result.status = CandidateStatus.BEHAVIOUR_CHANGED
        result.detail = comparison.describe().replace(
            "behaviour differs:", "behaviour differs on the workload:", 1
        )
        result.behaviour = result.detail
        return
    result.behaviour += f"; identical on {calls} workload calls"


def _unrecorded(reference: Recording, target: str) -> str:
    """Why nothing can be claimed for a target the tests never called ('' if they did)."""
    error = reference.errors.get(target)
    if error:
        return f"{target} could not be recorded ({error}): no verdict is claimed for it"
    if not reference.targets.get(target):
        return (
            f"0 calls recorded for {target}: the tests never call it, so its behaviour "
            "cannot be compared and no verdict is claimed for it"
        )
    return ""


def _reward_hack(
    ctx: JobContext,
    baseline: Baseline,
    checkout: Checkout,
    result: CandidateResult,
    found: Recording,
) -> bool:
    """Reject a candidate that touches what the baseline does not, or special-cases the
    recorded inputs, or changes the signature (runner/verify/rewardhack.py)."""
    reference = baseline.recording
    assert reference is not None  # noqa: S101 - checked by the caller
    target = Target.parse(result.target)
    original = baseline.sources.modules[target]
    updated = (checkout.project / target.path).read_text(encoding="utf-8")
    try:
        before = extract_definition(original, target.qualname)
        after = extract_definition(updated, target.qualname)
    except CandidateError as exc:
        after, before = "", ""
        ctx.warn(f"reward-hack check: {exc}")
    findings = rewardhack.check(
        before,
        after,
        baseline_module=original,
        candidate_module=updated,
        recorded_values=reference.targets.get(result.target, []),
        baseline_accesses=reference.accesses.get(result.target, []),
        candidate_accesses=found.accesses.get(result.target, []),
    )
    with ctx.tracer.span("rewardhack", candidate=checkout.name) as span:
        span.set(findings=len(findings), kinds=sorted({f.kind for f in findings}))
    if not findings:
        return False
    result.status, result.detail = CandidateStatus.REJECTED, rewardhack.describe(findings)
    return True


def _generated(
    ctx: JobContext, baseline: Baseline, checkout: Checkout, result: CandidateResult
) -> None:
    """Baseline and candidate on the same generated and scaled-up inputs."""
    result.status = CandidateStatus.VERIFIED
    inputs = baseline.inputs[result.target]
    if inputs is None or not inputs.baseline:
        return
    with ctx.tracer.span("behaviour.generated", candidate=checkout.name) as span:
        assert inputs.project is not None  # noqa: S101 - prepared
        shared = [file.path.relative_to(inputs.project) for file in inputs.timing]
        if inputs.runner.inputs is not None:  # the recorded calls the specs start from
            shared.append(inputs.runner.inputs)
        try:
            ctx.commands.copy(inputs.project, checkout.project, shared)
            evidence = inputs.check(checkout.project)
        except (ReplayError, SandboxError) as exc:
            evidence = differential.Evidence(notes=[f"not run: {exc}"])
        span.set(
            generated=evidence.generated,
            scaled=evidence.scaled,
            unstable=evidence.unstable,
            differs=bool(evidence.difference),
        )
    result.inputs.update(
        generated=evidence.generated, scaled=evidence.scaled, unstable=evidence.unstable
    )
    if evidence.difference:
        result.status = CandidateStatus.BEHAVIOUR_CHANGED
        result.detail = f"behaviour differs {evidence.difference}"
        result.behaviour = result.detail
        return
    extra = evidence.generated + evidence.scaled
    note = f"; identical on {extra} generated inputs" if extra else ""
    if evidence.notes:
        note += f"; generated inputs {'; '.join(evidence.notes)}"
    result.behaviour += note


def unified_diff(path: str, before: str, after: str) -> str:
    """A `git apply`-able diff of one file, paths relative to the project folder."""
    lines = difflib.unified_diff(
        before.splitlines(keepends=True),
        after.splitlines(keepends=True),
        fromfile=f"a/{path}",
        tofile=f"b/{path}",
    )
    return "".join(lines)


def sandbox_failure(exc: SandboxError) -> tuple[CandidateStatus, str, str]:
    """A candidate's status, test status and detail when its command could not finish."""
    if isinstance(exc, SandboxTimeout):
        return CandidateStatus.TIMEOUT, "timeout", str(exc)
    if isinstance(exc, MemoryLimitExceeded):
        return CandidateStatus.MEMORY, "memory limit", str(exc)
    return CandidateStatus.TESTS_FAILED, "error", str(exc)
