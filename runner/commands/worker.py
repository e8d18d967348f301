"""`optirunner worker JOB_ID`: run one queued job in this process (started by `serve`).

Exit codes are the contract with the supervisor: 0 succeeded, 1 failed (retrying will not
help), 130 cancelled (SIGTERM), anything else is a crash and the job is retried.

A job from an issue reports back to it. When the forge refuses the report for now (an
outage), the job still ends with its own outcome: the report is `pending` in
`<job dir>/forge.json`, and `optirunner serve` retries it with backoff
(`forge.report_backoff_max_s`, for `forge.report_retry_s`): each try is one
`optirunner worker --report-only JOB_ID` process (0 when it ran its try, 130 when stopped
by SIGTERM: the report stays pending).
"""

from __future__ import annotations

import json
import os
import random
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from runner import faults
from runner.commands.optimize import EXIT_BY_OUTCOME
from runner.config import Settings, load_settings, read_environ
from runner.errors import ForgeError, OptirunnerError, StaleAttempt
from runner.forge import reporting
from runner.forge.base import Forge, ForgeJob, ProgressHandle
from runner.forge.factory import open_forge
from runner.forge.settings import ForgeSettings
from runner.job import OptimizeJob
from runner.paths import REPORT_JSON
from runner.result import JobOutcome, JobResult
from runner.sandbox import make_sandbox
from runner.service import jobspec
from runner.service.fence import Fence, stamped
from runner.store.factory import open_store
from runner.store.models import Job
from runner.telemetry.sentry import init_sentry

PROGRESS_EVERY_S = 5.0  # the note is edited at most this often
EXIT_STOPPED = 130  # a report retry stopped by SIGTERM (serve drains): the report stays pending

Reopen = Callable[[], Forge]
# The report states that say this run's job ran to its end (see `ended_earlier`).
_ENDED = frozenset({reporting.POSTED, reporting.PENDING, reporting.FAILED})


def run(
    *, job_id: str, config: Path | None, report_only: bool = False, fence: int | None = None
) -> int:
    """Load the job, build its spec, run the optimize pipeline; returns the exit code.

    `report_only`: no job, one more try at the job's pending report (started by `serve`).
    `fence`: the token of the claim this attempt runs under (given by `serve`).
    """
    # It dies with `serve`: the launcher set its parent-death signal (runner/service/launch.py).
    settings = load_settings(config)
    init_sentry(settings)  # the runner's own errors, redacted; nothing without a DSN
    store = open_store(settings)
    try:
        job = store.get(job_id)
        if report_only:
            store.engine.dispose()
            forge_job = ForgeJob(job_id, job.source, job.spec)
            return retry_report(settings, settings.state_dir / "jobs" / job_id, forge_job)
        guard = Fence(job_id, fence, store.holds_fence)
        guard.check("starting")
        return _attempt(settings, job, guard)
    finally:
        store.engine.dispose()


def _attempt(settings: Settings, job: Job, guard: Fence) -> int:
    """One attempt at the job: its run from the start, or the result an earlier one left."""
    job_id = job.id
    forge_job = ForgeJob(job_id, job.source, job.spec)
    job_dir = settings.state_dir / "jobs" / job_id
    if not _reports_to_forge(settings, forge_job):
        # An earlier attempt's report would give a crash of this one its message.
        (job_dir / REPORT_JSON).unlink(missing_ok=True)
        repo = jobspec.repository(settings, job.spec, job.source)
        return _optimize(settings, job_id, job.attempts, repo, job.spec, None)
    job_dir.mkdir(parents=True, exist_ok=True)

    def reopen() -> Forge:
        return open_forge(settings.forge, settings.state_dir, forge_job, read_environ())

    # A new run of the job supersedes an older run's pending report: a retry trying right
    # now holds the lock (this run waits for it); later ones find nothing pending.
    with reporting.locked(job_dir):
        data = reporting.load(job_dir)
        guard.check("starting on the issue", data)
        kept = ended_earlier(data, job.run, job_dir)
        if kept is not None:
            # A killed attempt of this run had ended the job and reported it: keep that.
            sys.stderr.write(
                f"optirunner worker: job {job_id} attempt {job.attempts}: run {job.run} already"
                f" ended ({kept.outcome.value}, report {data.get('state')}) in an earlier"
                " attempt; its result is kept, nothing is run or posted again\n"
            )
            reopen().release_workspace(forge_job)  # the killed attempt could not remove it
            return EXIT_BY_OUTCOME[kept.outcome]
        (job_dir / REPORT_JSON).unlink(missing_ok=True)
        reporting.update(
            job_dir,
            state=reporting.STARTED,
            generation=f"{os.getpid()}-{time.time_ns()}",
            fence=guard.token if guard.token is not None else stamped(data),
            run=job.run,
            attempts=0,
            next_retry_at=None,
            last_error="",
            reporter_pid=None,
            result=None,
            pending_since=None,
            gives_up_at=None,
        )
    forge = reopen()
    handle = forge.start(forge_job)
    reporting.update(job_dir, handle=handle.to_dict())
    faults.reached("forge:started")
    reporter = _Reporter(settings.forge, job_dir, guard)
    try:
        repo = forge.prepare_workspace(forge_job)
        return _optimize(settings, job_id, job.attempts, repo, job.spec, (forge, handle), reporter)
    except StaleAttempt:
        raise
    except OptirunnerError as exc:  # a bad spec or a failed clone: say so on the issue
        failed = JobResult(job_id, JobOutcome.FAILED, dict(job.spec), time.time(), time.time())
        failed.message = str(exc)
        reporter.finish(forge, handle, failed)
        raise
    finally:
        forge.release_workspace(forge_job)


def ended_earlier(data: dict[str, Any], run: int, job_dir: Path) -> JobResult | None:
    """The result of this run, if an earlier attempt of it ended the job and reported it.

    The report was posted, is pending (serve retries it) or could not be posted: either way
    the job ran to its end, and running it again would only post the same thing twice.
    """
    if data.get("run") != run or data.get("state") not in _ENDED:
        return None
    try:
        raw = json.loads((job_dir / REPORT_JSON).read_text(encoding="utf-8"))
        return reporting.result_from_dict(raw)
    except (OSError, ValueError, KeyError, TypeError):
        return None  # the job's own report is gone: run it again


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
    observer = None
    if forge is not None and reporter is not None:
        observer = _progress_observer(*forge, reporter)
    # SIGTERM (a cancel) ends the job like Ctrl-C: recorded as cancelled, cleaned up.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        sandbox = make_sandbox(settings)
        if observer is None:
            job = OptimizeJob(settings, spec, sandbox, job_id=job_id)
        else:
            job = OptimizeJob(settings, spec, sandbox, job_id=job_id, observer=observer)
        result = job.run()
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    sys.stderr.write(f"optirunner worker: {result.outcome.value}: {result.message}\n")
    if forge is not None and reporter is not None:
        reporter.finish(forge[0], forge[1], result)
    return EXIT_BY_OUTCOME[result.outcome]


def _progress_observer(
    forge: Forge, handle: ProgressHandle, reporter: _Reporter
) -> Callable[[str, dict[str, Any]], None]:
    """Edit the issue's note as stages start (at most every few seconds: no noise).

    Under the forge lock and the fence: a stale attempt's progress must not replace a
    newer attempt's report.
    """
    last = [0.0]

    def observe(event: str, data: dict[str, Any]) -> None:
        if event != "stage" or time.monotonic() - last[0] < PROGRESS_EVERY_S:
            return
        last[0] = time.monotonic()
        with reporting.locked(reporter.job_dir):
            reporter.guard.check("editing the note", reporting.load(reporter.job_dir))
            try:
                forge.progress(handle, f"stage: {data.get('name', '?')}")
            except ForgeError as exc:  # progress is best effort; the final report is not
                sys.stderr.write(f"optirunner worker: progress note not updated: {exc}\n")

    return observe


class _Reporter:
    """Posts a job's report when it ends; a forge outage leaves it pending for `serve`.

    `forge.finish` is idempotent (the note is found by its marker, the branch and merge
    request by name), so a retry after a lost response posts nothing twice.
    """

    def __init__(self, settings: ForgeSettings, job_dir: Path, guard: Fence) -> None:
        self.settings = settings
        self.job_dir = job_dir
        self.guard = guard

    def finish(self, forge: Forge, handle: ProgressHandle, result: JobResult) -> None:
        """The first try, at once; on an outage the report is pending and serve retries it."""
        with reporting.locked(self.job_dir):
            self.guard.check("posting the report", reporting.load(self.job_dir))
            faults.reached("forge:post")
            post_report(self.settings, self.job_dir, lambda: forge, handle, result, 1, time.time())
        faults.reached("forge:posted")


def post_report(
    settings: ForgeSettings,
    job_dir: Path,
    reopen: Reopen,
    handle: ProgressHandle,
    result: JobResult,
    attempt: int,
    since: float,
) -> str:
    """Try `attempt` at posting the report, recorded in forge.json; returns its new state.

    Call under `reporting.locked(job_dir)`. `since`: when the first try failed (the retry
    window of `report_retry_s` counts from there).
    """

    def record(state: str, next_retry_at: float | None, last_error: str, **more: Any) -> str:
        """Record this try in forge.json (with `more` fields); returns `state`."""
        reporting.update(
            job_dir,
            state=state,
            attempts=attempt,
            next_retry_at=next_retry_at,
            last_error=last_error,
            handle=handle.to_dict(),
            **more,
            reporter_pid=None,
        )
        return state

    try:
        delivery = reopen().finish(handle, result, job_dir)
    except ForgeError as exc:
        now = time.time()
        retry_at = None
        if exc.retryable:
            retry_at = reporting.next_retry_at(
                attempt,
                since,
                now,
                window=settings.report_retry_s,
                cap=settings.report_backoff_max_s,
                jitter=random.uniform(0.5, 1.0),
            )
        if retry_at is None:
            why = "gave up" if exc.retryable else "cannot be posted"
            sys.stderr.write(f"optirunner worker: report {why} ({attempt} tries): {exc}\n")
            return record(reporting.FAILED, None, str(exc))
        sys.stderr.write(
            f"optirunner worker: forge unavailable ({exc}); report pending, "
            f"optirunner serve retries it in {retry_at - now:.0f} s\n"
        )
        return record(
            reporting.PENDING,
            retry_at,
            str(exc),
            result=result.to_dict(),
            pending_since=since,
            gives_up_at=since + settings.report_retry_s,
        )
    sys.stderr.write(f"optirunner worker: reported on the issue: {delivery}\n")
    return record(
        reporting.POSTED, None, "", delivery=delivery.to_dict(), result=None, gives_up_at=None
    )


def retry_report(settings: Settings, job_dir: Path, job: ForgeJob) -> int:
    """`optirunner worker --report-only JOB_ID`: one more try at a pending, due report.

    Under the job directory's lock, so a replayed run of the job (or a second listener on
    this host) never posts at the same time; a report that is no longer pending or not due
    yet is left alone. SIGTERM stops the try and leaves the report pending (exit 130).
    """
    signal.signal(signal.SIGTERM, _interrupt)  # kept until the process ends
    try:
        with reporting.locked(job_dir):
            data = reporting.load(job_dir)
            if not reporting.is_due(data, time.time()):
                state = data.get("state") or "not recorded"
                sys.stderr.write(f"optirunner worker: report {state}, not due: nothing to do\n")
                return 0
            reporting.update(job_dir, reporter_pid=os.getpid())
            attempt = int(data.get("attempts") or 0) + 1
            since = float(data.get("pending_since") or data.get("updated_at") or time.time())
            result = reporting.pending_result(job_dir)
            handle = data.get("handle")
            if result is None or not isinstance(handle, dict):
                error = "the job's result or note is gone; `optirunner jobs replay` reruns it"
                sys.stderr.write(f"optirunner worker: report cannot be posted: {error}\n")
                reporting.update(
                    job_dir,
                    state=reporting.FAILED,
                    next_retry_at=None,
                    last_error=error,
                    reporter_pid=None,
                )
                return 0
            sys.stderr.write(f"optirunner worker: job {job.job_id}: report, try {attempt}\n")

            def reopen() -> Forge:
                return open_forge(settings.forge, settings.state_dir, job, read_environ())

            progress = ProgressHandle.from_dict(handle)
            post_report(settings.forge, job_dir, reopen, progress, result, attempt, since)
    except KeyboardInterrupt:
        sys.stderr.write("optirunner worker: report try stopped; the report stays pending\n")
        return EXIT_STOPPED
    return 0  # SIGTERM from here on still ends the process as 130 (KeyboardInterrupt)


def _interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt
