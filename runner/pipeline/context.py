"""What every stage is given: the job's settings and spec, its commands (the one way to the
executor), its sinks (the job directory, the tracer, the observer), its clock and random
source, and the report being filled in."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner import faults, paths
from runner.config import Settings
from runner.pipeline.commands import Commands
from runner.result import JobOutcome, JobResult
from runner.sandbox.base import Sandbox
from runner.spec import JobSpec
from runner.telemetry.tracing import Tracer
from runner.workspace import Workspace

Observer = Callable[[str, dict[str, Any]], None]
BASELINE = "baseline"  # the name of the unchanged checkout


def quiet(_event: str, _data: dict[str, Any]) -> None:
    return None


@dataclass(frozen=True)
class Checkout:
    """A worktree of the project: the unchanged baseline, or one candidate's (named by
    its id)."""

    name: str
    project: Path

    @property
    def is_baseline(self) -> bool:
        return self.name == BASELINE


@dataclass
class JobContext:
    """The job's inputs and sinks, shared by every stage; `result` is the report."""

    settings: Settings
    spec: JobSpec
    sandbox: Sandbox
    dir: paths.JobDir
    tracer: Tracer
    result: JobResult
    observer: Observer
    clock: Callable[[], float]
    rng: random.Random
    commands: Commands  # every command of the job runs through these
    # Set by the workspace stage as soon as it exists, so that the job removes the
    # checkouts even when a later step of that stage fails.
    workspace: Workspace | None = None

    @property
    def python(self) -> str:
        """The interpreter the project's commands run with."""
        return self.commands.python

    def stage(self, name: str, **data: Any) -> None:
        """A stage starts: the fault point of its boundary, then the observer."""
        faults.reached(f"stage:{name}")
        self.observer("stage", {"name": name, **data})

    def warn(self, message: str) -> None:
        self.observer("warning", {"message": message})

    def end(self, outcome: JobOutcome, message: str) -> None:
        self.result.outcome = outcome
        self.result.message = message
        self.result.finished = self.clock()
        self.observer("end", {"outcome": outcome.value, "message": message})
