"""The AI providers' path, in place of generate → verify → measure: the agent loop sees
only the signed bundle and proposes candidates; the host verifies and times each one as
it comes, and tells the agent what it found (runner/agent/loop.py)."""

from __future__ import annotations

from runner.agent.context import BundleView
from runner.agent.exchange import Evaluation, Status
from runner.agent.loop import AgentLoop
from runner.agent.providers.base import Candidate
from runner.agent.providers.llm import make_client
from runner.agent.request import AgentSpec
from runner.agent.secrets import api_key
from runner.pipeline import bundle, verify
from runner.pipeline.baseline import Baseline
from runner.pipeline.context import JobContext
from runner.pipeline.measure import Timer
from runner.pipeline.verify import Verified
from runner.result import CandidateResult, CandidateStatus

_STATUS_FOR_AGENT = {
    CandidateStatus.VERIFIED: Status.VERIFIED,
    CandidateStatus.UNSAFE: Status.UNSAFE,
    CandidateStatus.INVALID: Status.INVALID,
    CandidateStatus.BEHAVIOUR_CHANGED: Status.BEHAVIOUR_CHANGED,
    CandidateStatus.REJECTED: Status.UNSAFE,
    CandidateStatus.NOT_RECORDED: Status.BEHAVIOUR_CHANGED,
}


def run(ctx: JobContext, baseline: Baseline) -> list[Verified]:
    ctx.stage("agent")
    built, public_key = bundle.run(ctx, baseline.sources)
    view = BundleView.from_bundle(built.zip_path, public_key)
    ai = ctx.settings.ai
    client = make_client(ctx.spec.provider, ai, api_key(ctx.spec.provider, ai))
    verified: list[Verified] = []
    timer = Timer(ctx, baseline)

    def evaluate(candidate: Candidate) -> Evaluation:
        done = verify.run(ctx, baseline, len(verified) + 1, candidate)
        verified.append(done)
        if done.result.status is CandidateStatus.VERIFIED:
            timer.time(done)
        return evaluation(done.result)

    spec = AgentSpec(ctx.spec.targets, ctx.settings.measure.min_effect)
    agent = AgentLoop(client, view, spec, ai, evaluate, ctx.tracer, policy=ctx.settings.safety)
    outcome = agent.run()
    ctx.result.agent = {
        "bundle_id": built.bundle_id,
        "model": client.model,
        "turns": len(outcome.turns),
        "stopped_by": outcome.stopped_by,
        "stop_detail": outcome.stop_detail,
        "usage": dict(outcome.usage),
        # Bytes sent about each target: code shown, every request (history included).
        "sent": {str(t): s.to_dict() for t, s in outcome.sent.items()},
    }
    return verified


def evaluation(result: CandidateResult) -> Evaluation:
    """What the agent loop is told about a candidate (computed on the host)."""
    status = _STATUS_FOR_AGENT.get(result.status, Status.TESTS_FAILED)
    ratio = result.measurement.ratio if result.measurement else None
    test_output = result.detail if status is Status.TESTS_FAILED else ""
    return Evaluation(status, detail=result.detail, test_output=test_output, ratio=ratio)
