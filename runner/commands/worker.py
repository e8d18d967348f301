"""`optirunner worker JOB_ID`: run one queued job in this process (started by `serve`).

Exit codes are the contract with the supervisor: 0 succeeded, 1 failed (retrying will not
help), 130 cancelled (SIGTERM), anything else is a crash and the job is retried.
"""

from __future__ import annotations

import os
import random
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from runner.commands.optimize import EXIT_BY_OUTCOME
from runner.config import Settings, load_settings
from runner.errors import ForgeError, OptirunnerError
from runner.forge.base import Forge, ForgeJob, ProgressHandle
from runner.forge.factory import open_forge
from runner.job import OptimizeJob
from runner.result import JobOutcome, JobResult
from runner.sandbox import make_sandbox
from runner.service import jobspec
from runner.store.factory import open_store

PROGRESS_EVERY_S = 5.0  # the note is edited at most this often
REPORT_RETRY_S = 300.0  # posting the report survives a forge outage of a few minutes
REPORT_BACKOFF_MAX_S = 30.0


def run(*, job_id: str, config: Path | None) -> int:
    """Load the job, build its spec, run the optimize pipeline; returns the exit code."""
    _die_with_parent()
    settings = load_settings(config)
    store = open_store(settings)
    try:
        job = store.get(job_id)
    finally:
        store.engine.dispose()
    forge_job = ForgeJob(job_id, job.source, job.spec)
    if not _reports_to_forge(settings, forge_job):
        repo = jobspec.repository(settings, job.spec, job.source)
        return _optimize(settings, job_id, job.attempts, repo, job.spec, None)
    forge = open_forge(settings.forge, settings.state_dir, forge_job, os.environ)
    handle = forge.start(forge_job)
    try:
        repo = forge.prepare_workspace(forge_job)
        return _optimize(settings, job_id, job.attempts, repo, job.spec, (forge, handle))
    except OptirunnerError as exc:  # a bad spec or a failed clone: say so on the issue
        failed = JobResult(job_id, JobOutcome.FAILED, dict(job.spec), time.time(), time.time())
        failed.message = str(exc)
        _finish(forge, handle, failed, settings.state_dir / "jobs" / job_id)
        raise
    finally:
        forge.release_workspace(forge_job)


def _reports_to_forge(settings: Settings, job: ForgeJob) -> bool:
    """Jobs from an issue go back to it once the forge is configured; local ones do not."""
    if job.spec.get("repo"):
        return False  # a trusted local job (queued by code, not by an issue)
    if job.forge == "gitlab":
        return settings.forge.gitlab.url is not None
    return job.forge == "jira" and settings.forge.jira.url is not None


def _optimize(
    settings: Settings,
    job_id: str,
    attempt: int,
    repo: Path,
    job_spec: dict[str, object],
    forge: tuple[Forge, ProgressHandle] | None,
) -> int:
    spec = jobspec.build_spec(settings, repo, job_spec, jobspec.repo_defaults(repo))
    sys.stderr.write(f"optirunner worker: job {job_id} attempt {attempt}: {spec.repo}\n")
    observer = _progress_observer(*forge) if forge is not None else None
    # SIGTERM (a cancel) ends the job like Ctrl-C: recorded as cancelled, cleaned up.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        job = OptimizeJob(settings, spec, make_sandbox(settings), job_id=job_id)
        if observer is not None:
            job.observer = observer
        result = job.run()
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    sys.stderr.write(f"optirunner worker: {result.outcome.value}: {result.message}\n")
    if forge is not None:
        _finish(forge[0], forge[1], result, job.dir.root)
    return EXIT_BY_OUTCOME[result.outcome]


def _progress_observer(
    forge: Forge, handle: ProgressHandle
) -> Callable[[str, dict[str, Any]], None]:
    """Edit the issue's note as stages start (at most every few seconds: no noise)."""
    last = [0.0]

    def observe(event: str, data: dict[str, Any]) -> None:
        if event != "stage" or time.monotonic() - last[0] < PROGRESS_EVERY_S:
            return
        last[0] = time.monotonic()
        try:
            forge.progress(handle, f"stage: {data.get('name', '?')}")
        except ForgeError as exc:  # progress is best effort; the final report is not
            sys.stderr.write(f"optirunner worker: progress note not updated: {exc}\n")

    return observe


def _finish(forge: Forge, handle: ProgressHandle, result: JobResult, job_dir: Path) -> None:
    """Post the report; a forge outage is retried with backoff for a few minutes.

    `finish` is idempotent (the note is found by its marker, the branch and merge request
    by name), so a retry after a lost response posts nothing twice.
    """
    deadline = time.monotonic() + REPORT_RETRY_S
    attempt = 0
    while True:
        try:
            delivery = forge.finish(handle, result, job_dir)
        except ForgeError as exc:
            delay = min(REPORT_BACKOFF_MAX_S, 2.0**attempt) * random.uniform(0.5, 1.0)
            if not exc.retryable or time.monotonic() + delay > deadline:
                sys.stderr.write(f"optirunner worker: report not posted: {exc}\n")
                return
            sys.stderr.write(
                f"optirunner worker: forge unavailable ({exc}); retry in {delay:.0f} s\n"
            )
            time.sleep(delay)
            attempt += 1
        else:
            sys.stderr.write(f"optirunner worker: reported on the issue: {delivery}\n")
            return


def _interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _die_with_parent() -> None:
    """If `serve` dies (even by SIGKILL), end this worker's whole process group.

    Its lease then expires and another listener runs the job again; a worker without a
    listener would finish a job nobody records.
    """
    if os.getpgid(0) != os.getpid():
        return  # not started by the supervisor (no group of its own): never kill the caller's
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os.killpg(os.getpgid(0), signal.SIGKILL)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
