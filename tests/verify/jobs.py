"""A real job (real pytest runs, real harness processes) with hand-written candidates, for
the job-level tests of the evidence: one setup for all of them."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from runner.agent import providers
from runner.agent.providers.base import Candidate, TargetSource
from runner.config import Settings
from runner.job import OptimizeJob
from runner.result import JobResult
from runner.sandbox import make_sandbox
from runner.spec import JobSpec, Target
from tests.projects import write_files


class ScriptedProvider:
    """Hand-written candidates per target name, as an AI would propose them: a subclass
    sets `candidates` ({qualname: [(rule, code), ...]}) and is named as "module:Class"."""

    name = "fixture"
    candidates: Mapping[str, list[tuple[str, str]]] = {}

    def propose(self, source: TargetSource, limit: int) -> list[Candidate]:
        found = self.candidates.get(source.target.qualname, [])
        return [Candidate(source.target, rule, code, rule) for rule, code in found][:limit]


def run_fixture_job(
    root: Path,
    files: Mapping[str, str],
    provider: str,
    targets: tuple[Target, ...],
    *,
    budget_s: float = 8,  # the warm-up and 5 pairs of ~0.5 s rounds on a loaded host
    inputs: Mapping[str, Any] | None = None,
    workload_cmd: str | None = None,
) -> JobResult:
    """Run one job on `files` (written under `root`), with `provider` ("module:Class")
    proposing the candidates, no sandbox, and the tests run by this interpreter's pytest."""
    project = write_files(root / "project", files)
    patch = pytest.MonkeyPatch()
    patch.setitem(providers.PROVIDERS, "fixture", provider)
    settings = Settings(
        state_dir=root / "state",
        sandbox={"backend": "auto"},
        measure={"budget_s": budget_s, "instructions": "never", "noise_check": False},
        inputs=dict(inputs or {}),
    )
    spec = JobSpec(
        repo=str(project),
        targets=targets,
        test_cmd=f"{sys.executable} -m pytest -q -p no:cacheprovider tests",
        workload_cmd=workload_cmd,
        provider="fixture",
    )
    try:
        return OptimizeJob(settings, spec, make_sandbox(settings)).run()
    finally:
        patch.undo()
