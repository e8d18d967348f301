"""Worker processes: claim jobs, run each in `optirunner worker JOB_ID`, record how it ended.

The supervisor is the only writer of a running job's state: a worker writes its job
directory and exits with a code; the supervisor turns the code into a store event.

It also owns the retries of reports the forge refused (an outage): when a worker leaves
its report `pending` (`<job dir>/forge.json`), the supervisor records it in the store's
`reports` table; every few seconds it claims the due ones kept in its state directory and
runs one try each in `optirunner worker --report-only JOB_ID` (own process group, at most
`REPORT_CONCURRENCY` at once, not counted against `service.concurrency`). The claim is a
conditional UPDATE, so listeners sharing a database never try the same report at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import signal
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner import paths
from runner.config import Settings
from runner.forge import reporting
from runner.metrics import Metrics
from runner.service import launch, procs
from runner.store.db import StoreError
from runner.store.models import TERMINAL, Job, JobEvent
from runner.store.queue import JobStore

log = logging.getLogger("optirunner.supervisor")

WORKER_LOG = paths.WORKER_LOG
EXIT_FAILED = 1
EXIT_CANCELLED = 130

REPORT_CONCURRENCY = 2  # report retries at once (apart from jobs: each is a few requests)
REPORT_SCAN_S = 2.0  # how often the store is asked for due reports (one indexed query)

ArgvFor = Callable[[str], list[str]]


def home_of(settings: Settings) -> str:
    """Where this listener keeps job directories: its reports can only be retried here."""
    home = f"{socket.gethostname()}:{settings.state_dir.resolve()}"
    if len(home) > 255:
        digest = hashlib.sha256(str(settings.state_dir.resolve()).encode()).hexdigest()
        home = f"{socket.gethostname()[:180]}:{digest}"
    return home


def report_row(data: Mapping[str, Any], now: float) -> tuple[str | None, float]:
    """The store's view of a report from its forge.json: (state, due); None: forget it (pure).

    A state other than pending, posted or failed means a newer run of the job owns the
    state: that run records its own report when it ends.
    """
    state = data.get("state")
    if state == reporting.PENDING:
        due = data.get("next_retry_at")
        return reporting.PENDING, float(due) if isinstance(due, int | float) else now
    if state in {reporting.POSTED, reporting.FAILED}:
        return str(state), now
    return None, now


def event_for_exit(code: int, *, aborted: bool, cancel_requested: bool) -> JobEvent:
    """What a worker's exit code means for its job (pure)."""
    if aborted:
        return JobEvent.RELEASE  # we killed it for a shutdown: not the job's fault
    if code == 0:
        return JobEvent.SUCCEED
    if code == EXIT_CANCELLED and cancel_requested:
        return JobEvent.CANCEL
    if code == EXIT_FAILED:
        return JobEvent.FAIL  # the pipeline ran and reported failure: retrying will not help
    return JobEvent.RETRY  # crash, signal, internal error: try again later


@dataclass
class _Running:
    job: Job
    process: asyncio.subprocess.Process
    started: float
    renewed: float
    aborted: bool = False
    cancel_sent: bool = False
    task: asyncio.Task[None] | None = field(default=None, repr=False)


@dataclass
class _Reporting:
    """One try at a pending report (`optirunner worker --report-only`)."""

    job_id: str
    process: asyncio.subprocess.Process
    renewed: float
    aborted: bool = False
    task: asyncio.Task[None] | None = field(default=None, repr=False)


class Supervisor:
    """Runs up to `service.concurrency` worker processes and keeps their leases alive."""

    def __init__(
        self,
        settings: Settings,
        store: JobStore,
        metrics: Metrics,
        owner: str,
        argv_for: ArgvFor,
        clock: Callable[[], float] = time.monotonic,
        report_argv_for: ArgvFor | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.metrics = metrics
        self.owner = owner
        self.argv_for = argv_for
        self.report_argv_for = report_argv_for or (
            lambda job_id: [*argv_for(job_id), "--report-only"]
        )
        self.clock = clock
        self.accepting = True
        self.running: dict[str, _Running] = {}
        self.reporters: dict[str, _Reporting] = {}
        self.home = home_of(settings)
        self._report_scan_at = 0.0

    # -- one tick of the main loop -----------------------------------------------------------
    async def tick(self) -> None:
        """Requeue expired leases, renew ours, start new jobs while there is room."""
        await asyncio.to_thread(self.store.reap)
        await self._renew_leases()
        while self.accepting and len(self.running) < self.settings.service.concurrency:
            job = await asyncio.to_thread(
                self.store.claim, self.owner, self.settings.service.lease_s
            )
            if job is None:
                break
            await self._start(job)
        if self.accepting and self.clock() >= self._report_scan_at:
            self._report_scan_at = self.clock() + REPORT_SCAN_S
            await self._start_reports()

    async def _renew_leases(self) -> None:
        lease = self.settings.service.lease_s
        for run in list(self.running.values()):
            # Renew at a third of the lease, so two missed ticks still keep it.
            if self.clock() - run.renewed < lease / 3:
                continue
            fresh = await asyncio.to_thread(self.store.renew, run.job.id, self.owner, lease)
            run.renewed = self.clock()
            if fresh is None:
                log.warning("job %s: lease lost; stopping its worker", run.job.id)
                self._signal(run, signal.SIGKILL)
            elif fresh.cancel_requested and not run.cancel_sent:
                log.info("job %s: cancel requested", run.job.id)
                run.cancel_sent = True
                run.job = fresh
                self._signal(run, signal.SIGTERM)
        for rep in list(self.reporters.values()):
            if self.clock() - rep.renewed < lease / 3:
                continue
            held = await asyncio.to_thread(self.store.renew_report, rep.job_id, self.owner, lease)
            rep.renewed = self.clock()
            if not held:
                log.warning("job %s: report claim lost; stopping its retry", rep.job_id)
                self._kill(rep.process, signal.SIGKILL)

    # -- starting and ending workers ---------------------------------------------------------
    async def _start(self, job: Job) -> None:
        job_dir = paths.JobDir.create(self.settings.state_dir, job.id)
        # What a dead attempt left running (its worker's helpers) ends before this one.
        killed = await asyncio.to_thread(procs.end_leftovers, job_dir.root)
        if killed:
            log.warning(
                "job %s: killed %d process(es) of its previous attempt", job.id, len(killed)
            )
        with open(job_dir.path(WORKER_LOG), "ab") as log_file:
            os.chmod(job_dir.path(WORKER_LOG), 0o600)
            # Through the launcher: the worker dies with this process from its first
            # instruction; `--fence` is its claim's token (runner/service/fence.py).
            process = await asyncio.create_subprocess_exec(
                *launch.prefix(),
                *self.argv_for(job.id),
                "--fence",
                str(job.fence),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log_file,
                stderr=log_file,
                start_new_session=True,  # its own process group: one kill reaches all of it
            )
        _lower_priority(process.pid, self.settings.service.worker_nice)
        await asyncio.to_thread(procs.record, job_dir.root, process.pid)
        now = self.clock()
        run = _Running(job, process, now, now)
        self.running[job.id] = run
        run.task = asyncio.create_task(self._wait(run))
        log.info("job %s: attempt %d started (pid %d)", job.id, job.attempts, process.pid)

    async def _wait(self, run: _Running) -> None:
        code = await run.process.wait()
        self._kill(run.process, signal.SIGKILL)  # what it left in its group ends with it
        event = event_for_exit(code, aborted=run.aborted, cancel_requested=run.cancel_sent)
        message = _message(self.settings, run.job.id, code)
        try:
            state = await asyncio.to_thread(
                self.store.finish, run.job.id, self.owner, event, message
            )
        except StoreError as exc:
            # The lease will expire and the job will run again: at least once.
            log.warning("job %s: cannot record its end: %s", run.job.id, exc)
            state = None
        if state in TERMINAL:
            await self._record_report(run.job.id)
        if event is JobEvent.RETRY:
            self.metrics.worker_restarts.inc()
        self.metrics.job_seconds.labels(event.value).observe(self.clock() - run.started)
        log.info("job %s: worker exit %d -> %s (%s)", run.job.id, code, state, message)
        self.running.pop(run.job.id, None)

    # -- pending reports ---------------------------------------------------------------------
    async def recover_reports(self) -> int:
        """At start-up: pending reports in our job directories that the store does not know.

        (A listener that stopped between a worker's end and recording its report, or
        reports left pending by an older version.) Returns how many were added.
        """
        try:
            return await asyncio.to_thread(self._recover_reports)
        except StoreError as exc:
            log.warning("pending reports not recovered: %s", exc)
            return 0

    def _recover_reports(self) -> int:
        found = 0
        now = time.time()
        for path in sorted((self.settings.state_dir / "jobs").glob(f"*/{reporting.STATE_FILE}")):
            state, due = report_row(reporting.load(path.parent), now)
            if state == reporting.PENDING and self.store.record_report(
                path.parent.name, self.home, state, due, only_new=True
            ):
                found += 1
        if found:
            log.info("%d pending report(s) found on disk; they will be retried", found)
        return found

    async def _record_report(self, job_id: str) -> None:
        """After a job's worker: a report it left pending is retried from now on."""
        job_dir = self.settings.state_dir / "jobs" / job_id
        state, due = report_row(await asyncio.to_thread(reporting.load, job_dir), time.time())
        if state != reporting.PENDING:
            return
        try:
            await asyncio.to_thread(self.store.record_report, job_id, self.home, state, due)
        except StoreError as exc:  # found again by the start-up scan of the next listener
            log.warning("job %s: pending report not recorded: %s", job_id, exc)
            return
        log.info("job %s: report pending; retried from %s", job_id, time.ctime(due))

    async def _start_reports(self) -> None:
        """Claim due reports kept here and start a try for each, up to REPORT_CONCURRENCY."""
        free = REPORT_CONCURRENCY - len(self.reporters)
        if free <= 0:
            return
        lease = self.settings.service.lease_s
        due = await asyncio.to_thread(self.store.due_reports, self.home, free + len(self.reporters))
        for job_id in due:
            if free <= 0:
                break
            if job_id in self.reporters:
                continue
            if await asyncio.to_thread(
                self.store.claim_report, job_id, self.home, self.owner, lease
            ):
                await self._start_reporter(job_id)
                free -= 1

    async def _start_reporter(self, job_id: str) -> None:
        job_dir = paths.JobDir.create(self.settings.state_dir, job_id)
        with open(job_dir.path(WORKER_LOG), "ab") as log_file:
            process = await asyncio.create_subprocess_exec(
                *launch.prefix(),
                *self.report_argv_for(job_id),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log_file,
                stderr=log_file,
                start_new_session=True,  # its own process group, like a worker
            )
        _lower_priority(process.pid, self.settings.service.worker_nice)
        rep = _Reporting(job_id, process, self.clock())
        self.reporters[job_id] = rep
        rep.task = asyncio.create_task(self._wait_reporter(rep))
        log.info("job %s: report retry started (pid %d)", job_id, process.pid)

    async def _wait_reporter(self, rep: _Reporting) -> None:
        code = await rep.process.wait()
        job_dir = self.settings.state_dir / "jobs" / rep.job_id
        now = time.time()
        try:
            if code not in {0, EXIT_CANCELLED} and not rep.aborted:
                pause = self.settings.forge.report_backoff_max_s
                await asyncio.to_thread(reporting.after_crash, job_dir, now, code, pause=pause)
            state, due = report_row(await asyncio.to_thread(reporting.load, job_dir), now)
            await asyncio.to_thread(self.store.release_report, rep.job_id, self.owner, state, due)
            log.info("job %s: report retry exit %d -> %s", rep.job_id, code, state)
        except (StoreError, OSError) as exc:  # the claim expires; the report is tried again
            log.warning("job %s: report retry exit %d not recorded: %s", rep.job_id, code, exc)
        finally:
            self.reporters.pop(rep.job_id, None)

    # -- shutdown ----------------------------------------------------------------------------
    async def drain(self, timeout: float, abort: asyncio.Event) -> bool:
        """Stop claiming; wait for running jobs up to `timeout` or `abort`; True if all ended.

        Report retries are stopped at once (SIGTERM): their reports stay pending and the
        next start of a listener tries them.
        """
        self.accepting = False
        for rep in list(self.reporters.values()):
            rep.aborted = True
            self._kill(rep.process, signal.SIGTERM)
        deadline = self.clock() + timeout
        while (self.running or self.reporters) and self.clock() < deadline and not abort.is_set():
            await self._renew_leases()
            waiter = asyncio.create_task(abort.wait())
            tasks = [r.task for r in self.running.values() if r.task is not None]
            tasks += [r.task for r in self.reporters.values() if r.task is not None]
            await asyncio.wait([*tasks, waiter], timeout=1.0, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
        return not self.running and not self.reporters

    async def abort(self) -> None:
        """Kill every worker's process group and give its job back to the queue."""
        for run in list(self.running.values()):
            run.aborted = True
            self._signal(run, signal.SIGKILL)
        for rep in list(self.reporters.values()):
            rep.aborted = True
            self._kill(rep.process, signal.SIGKILL)
        tasks = [r.task for r in self.running.values() if r.task is not None]
        tasks += [r.task for r in self.reporters.values() if r.task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=30)

    @classmethod
    def _signal(cls, run: _Running, signum: signal.Signals) -> None:
        cls._kill(run.process, signum)

    @staticmethod
    def _kill(process: asyncio.subprocess.Process, signum: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):  # already gone
            os.killpg(process.pid, signum)


def _lower_priority(pid: int, nice: int) -> None:
    """Let the listener win the CPU: a busy job must not delay webhook answers.

    Set right after the spawn, before the worker has finished importing, so the job's own
    children (tests, benchmarks) inherit it. All candidates of a job run at the same
    niceness; on a busy host they only run slower.

    A worker runs in a session of its own, and Linux's autogroup scheduling (enabled in many
    kernels) weighs each session as one group whatever its processes' niceness: the
    session's group gets the niceness too, or the setting would change little.
    """
    if nice <= 0:
        return
    try:
        os.setpriority(os.PRIO_PROCESS, pid, nice)
    except OSError as exc:  # the worker already exited, or a platform without it
        log.debug("worker %d: cannot set niceness %d: %s", pid, nice, exc)
        return
    autogroup = Path(f"/proc/{pid}/autogroup")
    with contextlib.suppress(OSError):  # no autogroup (kernel, cgroup) or the worker ended
        autogroup.write_text(f"{nice}\n")


def _message(settings: Settings, job_id: str, code: int) -> str:
    """The job's own summary (report.json), else the last line the worker wrote."""
    job_dir = settings.state_dir / "jobs" / job_id
    try:
        report = json.loads((job_dir / paths.REPORT_JSON).read_text(encoding="utf-8"))
        if isinstance(report, dict) and report.get("message"):
            return str(report["message"])
    except (OSError, ValueError):
        pass
    try:
        lines = (job_dir / WORKER_LOG).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        lines = []
    tail = next((line for line in reversed(lines) if line.strip()), "")
    return tail[-500:] or f"worker exited with {code}"
