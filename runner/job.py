"""One job, run to completion: the stages of runner/pipeline/ in their order, with a
report left in the job directory however the job ends.

No terminal output and no environment reads here: the caller passes settings, a spec,
the executor, and an observer that is told about progress.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable

from runner import paths
from runner.config import Settings
from runner.errors import JobCancelled, OptirunnerError, StaleAttempt
from runner.pipeline import report, stages
from runner.pipeline.commands import SEED, Commands
from runner.pipeline.context import JobContext, Observer, quiet
from runner.result import JobOutcome, JobResult
from runner.sandbox.base import Sandbox
from runner.spec import JobSpec
from runner.telemetry.setup import job_tracer


class OptimizeJob:
    """Runs one job to completion; `run()` always leaves a report in the job directory."""

    def __init__(
        self,
        settings: Settings,
        spec: JobSpec,
        sandbox: Sandbox,
        *,
        job_id: str | None = None,
        observer: Observer = quiet,
        clock: Callable[[], float] = time.time,
    ) -> None:
        job_dir = paths.JobDir.create(settings.state_dir, job_id or paths.new_job_id())
        # Redacted before any sink: the settings' secrets are masked wherever they appear.
        tracer = job_tracer(settings, job_dir.job_id, job_dir.path(paths.EVENTS), clock=clock)
        result = JobResult(job_dir.job_id, JobOutcome.FAILED, {}, clock())
        self.commands = Commands(settings, sandbox, tracer, result)
        self.ctx = JobContext(
            settings,
            spec,
            sandbox,
            job_dir,
            tracer,
            result,
            observer,
            clock,
            random.Random(SEED),
            self.commands,
        )
        self.tracer = tracer
        self.result = result

    def run(self) -> JobResult:
        """Run every stage; known errors end the job as failed, Ctrl-C as cancelled."""
        ctx = self.ctx
        ctx.dir.write(paths.SPEC, ctx.spec.to_json())
        ctx.result.spec = json.loads(ctx.spec.to_json())
        patch, stale = "", False
        try:
            with ctx.tracer.span("job", job_id=ctx.dir.job_id, targets=len(ctx.spec.targets)):
                choice = stages.run(ctx)
                patch = choice.patch if choice is not None else ""
        except (KeyboardInterrupt, JobCancelled):
            ctx.end(JobOutcome.CANCELLED, "cancelled by the user (Ctrl-C)")
        except StaleAttempt:
            stale = True  # a newer attempt owns the job directory's results: write none
            raise
        except OptirunnerError as exc:
            ctx.end(JobOutcome.FAILED, str(exc))
        finally:
            if not stale:
                if ctx.workspace is not None and not ctx.settings.keep_worktrees:
                    ctx.workspace.cleanup()
                report.write(ctx, patch)
            ctx.tracer.close()
        return ctx.result
