"""Stage 3, generate (the offline providers): each target's candidates, proposed from its
module's source; why a provider proposed none goes into the report."""

from __future__ import annotations

from runner.agent.providers import load_provider
from runner.agent.providers.base import Candidate, TargetSource
from runner.bundle.apply import extract_definition
from runner.pipeline.context import JobContext
from runner.pipeline.workspace import Sources


def run(ctx: JobContext, sources: Sources) -> list[Candidate]:
    ctx.stage("generate")
    provider = load_provider(ctx.spec.provider, ctx.settings)
    found: list[Candidate] = []
    with ctx.tracer.span("generate", provider=provider.name) as span:
        for target in ctx.spec.targets:
            module = sources.modules[target]
            source = TargetSource(target, extract_definition(module, target.qualname), module)
            proposed = provider.propose(source, ctx.spec.max_candidates)
            found.extend(proposed)
            declines: dict[str, str] = getattr(provider, "declines", {})
            if not proposed:
                ctx.result.declines[str(target)] = declines.get(
                    str(target), f"{provider.name} proposed no candidate"
                )
        span.set(candidates=len(found))
    ctx.observer("generated", {"count": len(found)})
    return found
