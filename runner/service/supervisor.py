"""Worker processes: claim jobs, run each in `optirunner worker JOB_ID`, record how it ended.

The supervisor is the only writer of a running job's state: a worker writes its job
directory and exits with a code; the supervisor turns the code into a store event.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from runner import paths
from runner.config import Settings
from runner.service.metrics import Metrics
from runner.store.db import StoreError
from runner.store.models import Job, JobEvent
from runner.store.queue import JobStore

log = logging.getLogger("optirunner.supervisor")

WORKER_LOG = "worker.log"
EXIT_FAILED = 1
EXIT_CANCELLED = 130

ArgvFor = Callable[[str], list[str]]


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
    ) -> None:
        self.settings = settings
        self.store = store
        self.metrics = metrics
        self.owner = owner
        self.argv_for = argv_for
        self.clock = clock
        self.accepting = True
        self.running: dict[str, _Running] = {}

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

    # -- starting and ending workers ---------------------------------------------------------
    async def _start(self, job: Job) -> None:
        job_dir = paths.JobDir.create(self.settings.state_dir, job.id)
        # A new attempt supersedes an earlier attempt's report (its message would mislead).
        job_dir.path(paths.REPORT_JSON).unlink(missing_ok=True)
        with open(job_dir.path(WORKER_LOG), "ab") as log_file:
            os.chmod(job_dir.path(WORKER_LOG), 0o600)
            process = await asyncio.create_subprocess_exec(
                *self.argv_for(job.id),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log_file,
                stderr=log_file,
                start_new_session=True,  # its own process group: one kill reaches all of it
            )
        _lower_priority(process.pid, self.settings.service.worker_nice)
        now = self.clock()
        run = _Running(job, process, now, now)
        self.running[job.id] = run
        run.task = asyncio.create_task(self._wait(run))
        log.info("job %s: attempt %d started (pid %d)", job.id, job.attempts, process.pid)

    async def _wait(self, run: _Running) -> None:
        code = await run.process.wait()
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
        if event is JobEvent.RETRY:
            self.metrics.worker_restarts.inc()
        self.metrics.job_seconds.labels(event.value).observe(self.clock() - run.started)
        log.info("job %s: worker exit %d -> %s (%s)", run.job.id, code, state, message)
        self.running.pop(run.job.id, None)

    # -- shutdown ----------------------------------------------------------------------------
    async def drain(self, timeout: float, abort: asyncio.Event) -> bool:
        """Stop claiming; wait for running jobs up to `timeout` or `abort`; True if all ended."""
        self.accepting = False
        deadline = self.clock() + timeout
        while self.running and self.clock() < deadline and not abort.is_set():
            await self._renew_leases()
            waiter = asyncio.create_task(abort.wait())
            tasks = [r.task for r in self.running.values() if r.task is not None]
            await asyncio.wait([*tasks, waiter], timeout=1.0, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
        return not self.running

    async def abort(self) -> None:
        """Kill every worker's process group and give its job back to the queue."""
        for run in list(self.running.values()):
            run.aborted = True
            self._signal(run, signal.SIGKILL)
        tasks = [r.task for r in self.running.values() if r.task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=30)

    @staticmethod
    def _signal(run: _Running, signum: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):  # already gone
            os.killpg(run.process.pid, signum)


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
