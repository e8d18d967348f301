"""The order of a job's stages: the one place it is written."""

from __future__ import annotations

from runner.agent.providers.llm import CLIENTS
from runner.pipeline import agent, baseline, choose, generate, measure, verify, workspace
from runner.pipeline.choose import Choice
from runner.pipeline.context import JobContext
from runner.result import JobOutcome


def run(ctx: JobContext) -> Choice | None:
    """Run every stage up to the choice of winners (None: the baseline ended the job)."""
    sources = workspace.run(ctx)
    base = baseline.run(ctx, sources)
    if base is None:
        return None
    if ctx.spec.provider in CLIENTS:
        verified = agent.run(ctx, base)
    else:
        candidates = generate.run(ctx, sources)
        verified = [verify.run(ctx, base, i, cand) for i, cand in enumerate(candidates, 1)]
        measure.run(ctx, base, verified)
    results = [v.result for v in verified]
    choice = choose.run(results)
    ctx.result.candidates = results
    ctx.result.best = [r.id for r in choice.best]
    ctx.end(JobOutcome.SUCCEEDED, choice.summary)
    return choice
