"""The bundle (AI providers only): the targets' minimal code, cut from the baseline and
signed — the only code that leaves the host (docs/security.md)."""

from __future__ import annotations

from datetime import UTC, datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from runner.bundle.bundle import BuiltBundle, build_bundle
from runner.bundle.extract import extract
from runner.bundle.signing import load_or_create_key
from runner.pipeline.context import JobContext
from runner.pipeline.workspace import Sources


def run(ctx: JobContext, sources: Sources) -> tuple[BuiltBundle, Ed25519PublicKey]:
    """Cut and sign the bundle; the key that verifies it."""
    with ctx.tracer.span("bundle") as span:
        extraction = extract(sources.baseline.project, list(ctx.spec.targets))
        key = load_or_create_key(ctx.settings.state_dir)
        built = build_bundle(
            extraction,
            ctx.dir.root,
            key,
            repository=ctx.spec.repo,
            commit=ctx.result.spec.get("commit"),
            now=lambda: datetime.fromtimestamp(ctx.clock(), UTC),
        )
        span.set(bundle_id=built.bundle_id, files=len(extraction.files), share=extraction.share)
    return built, key.public_key()
