"""`optirunner worker JOB_ID`: run one queued job in this process (started by `serve`).

Exit codes are the contract with the supervisor: 0 succeeded, 1 failed (retrying will not
help), 130 cancelled (SIGTERM), anything else is a crash and the job is retried.

A job from an issue reports back to it. When the forge refuses the report for now (an
outage), the job still ends with its own outcome: the report is `pending` in
`<job dir>/forge.json` and a background process forked from the worker retries it with
backoff (`forge.report_retry_s`, `forge.report_backoff_max_s`) while `serve` runs.
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
from runner.forge import reporting
from runner.forge.base import Forge, ForgeJob, ProgressHandle
from runner.forge.factory import open_forge
from runner.forge.settings import ForgeSettings
from runner.job import OptimizeJob
from runner.result import JobOutcome, JobResult
from runner.sandbox import make_sandbox
from runner.service import jobspec
from runner.store.factory import open_store

PROGRESS_EVERY_S = 5.0  # the note is edited at most this often
WATCH_EVERY_S = 0.5  # how often a background report retry checks that serve still runs

Reopen = Callable[[], Forge]


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
    job_dir = settings.state_dir / "jobs" / job_id
    job_dir.mkdir(parents=True, exist_ok=True)

    def reopen() -> Forge:
        return open_forge(settings.forge, settings.state_dir, forge_job, os.environ)

    # A new run of the job: an older run's background retry stops before we post anything.
    with reporting.locked(job_dir):
        reporting.update(
            job_dir,
            state=reporting.STARTED,
            generation=f"{os.getpid()}-{time.time_ns()}",
            attempts=0,
            next_retry_at=None,
            last_error="",
            reporter_pid=None,
        )
    forge = reopen()
    handle = forge.start(forge_job)
    reporting.update(job_dir, handle=handle.to_dict())
    reporter = _Reporter(settings.forge, job_dir, reopen)
    try:
        repo = forge.prepare_workspace(forge_job)
        return _optimize(settings, job_id, job.attempts, repo, job.spec, (forge, handle), reporter)
    except OptirunnerError as exc:  # a bad spec or a failed clone: say so on the issue
        failed = JobResult(job_id, JobOutcome.FAILED, dict(job.spec), time.time(), time.time())
        failed.message = str(exc)
        reporter.finish(forge, handle, failed)
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
    reporter: _Reporter | None = None,
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
    if forge is not None and reporter is not None:
        reporter.finish(forge[0], forge[1], result)
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


class _Reporter:
    """Posts a job's report; a forge outage leaves it pending and retried in the background.

    `finish` is idempotent (the note is found by its marker, the branch and merge request
    by name), so a retry after a lost response posts nothing twice.
    """

    def __init__(self, settings: ForgeSettings, job_dir: Path, reopen: Reopen) -> None:
        self.settings = settings
        self.job_dir = job_dir
        self.reopen = reopen
        self.generation = str(reporting.load(job_dir).get("generation", ""))

    def finish(self, forge: Forge, handle: ProgressHandle, result: JobResult) -> None:
        """One try now; on an outage: pending, and a background process keeps trying."""
        deadline = time.time() + self.settings.report_retry_s
        with reporting.locked(self.job_dir):
            retry = self._attempt(forge, handle, result, 1, deadline)
        if retry:
            self._retry_in_background(handle, result, deadline)

    def _attempt(
        self, forge: Forge, handle: ProgressHandle, result: JobResult, attempt: int, deadline: float
    ) -> bool:
        """Post the report once and record how it went (under the lock); True: retry later."""
        try:
            delivery = forge.finish(handle, result, self.job_dir)
        except ForgeError as exc:
            delay = min(self.settings.report_backoff_max_s, 2.0**attempt)
            delay *= random.uniform(0.5, 1.0)
            if not exc.retryable or time.time() + delay > deadline:
                why = "gave up" if exc.retryable else "cannot be posted"
                sys.stderr.write(f"optirunner worker: report {why} ({attempt} tries): {exc}\n")
                reporting.update(
                    self.job_dir,
                    state=reporting.FAILED,
                    attempts=attempt,
                    next_retry_at=None,
                    last_error=str(exc),
                    handle=handle.to_dict(),
                )
                return False
            sys.stderr.write(
                f"optirunner worker: forge unavailable ({exc}); report pending, "
                f"retry in {delay:.0f} s\n"
            )
            reporting.update(
                self.job_dir,
                state=reporting.PENDING,
                attempts=attempt,
                next_retry_at=time.time() + delay,
                last_error=str(exc),
                handle=handle.to_dict(),
            )
            return True
        sys.stderr.write(f"optirunner worker: reported on the issue: {delivery}\n")
        reporting.update(
            self.job_dir,
            state=reporting.POSTED,
            attempts=attempt,
            next_retry_at=None,
            last_error="",
            handle=handle.to_dict(),
            delivery=delivery.to_dict(),
        )
        return False

    def _retry_in_background(
        self, handle: ProgressHandle, result: JobResult, deadline: float
    ) -> None:
        """Fork the process that keeps trying; this one goes on to end the job."""
        watched = os.getppid()  # serve (or whoever started this worker)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid:
            with reporting.locked(self.job_dir):
                if reporting.load(self.job_dir).get("generation") == self.generation:
                    reporting.update(self.job_dir, reporter_pid=pid)
            return
        code = 0
        try:
            self._retry_loop(handle, result, deadline, watched)
        except BaseException as exc:  # the child must never return into the worker's code
            sys.stderr.write(f"optirunner worker: report retry ended: {exc!r}\n")
            code = 1
        finally:
            sys.stderr.flush()
            os._exit(code)

    def _retry_loop(
        self, handle: ProgressHandle, result: JobResult, deadline: float, watched: int
    ) -> None:
        attempt = 1
        while True:
            state = reporting.load(self.job_dir)
            due = float(state.get("next_retry_at") or 0.0)
            while time.time() < due:
                if not _alive(watched):
                    return  # serve is gone: the report stays pending (jobs replay posts it)
                time.sleep(min(WATCH_EVERY_S, max(0.0, due - time.time())))
            attempt += 1
            with reporting.locked(self.job_dir):
                current = reporting.load(self.job_dir)
                if current.get("generation") != self.generation:
                    return  # a newer run of the job reports instead
                try:
                    forge = self.reopen()
                except ForgeError as exc:
                    if not exc.retryable:
                        raise
                    forge = None
                if forge is None:
                    retry = self._schedule(attempt, deadline, "forge unavailable")
                else:
                    retry = self._attempt(forge, handle, result, attempt, deadline)
            if not retry:
                return

    def _schedule(self, attempt: int, deadline: float, error: str) -> bool:
        delay = min(self.settings.report_backoff_max_s, 2.0**attempt) * random.uniform(0.5, 1.0)
        if time.time() + delay > deadline:
            reporting.update(self.job_dir, state=reporting.FAILED, attempts=attempt)
            return False
        reporting.update(
            self.job_dir,
            state=reporting.PENDING,
            attempts=attempt,
            next_retry_at=time.time() + delay,
            last_error=error,
        )
        return True


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return pid != 1


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
