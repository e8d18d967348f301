"""The job queue: enqueue with deduplication, claim with a lease, finish, retry, reap.

Every state change goes through `models.transition`; this module only persists it. Time and
randomness are injected so tests never sleep.
"""

from __future__ import annotations

import builtins
import contextlib
import random
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, delete, exists, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from runner import faults, paths
from runner.store.db import StoreError, raise_store_error
from runner.store.models import (
    REPORT_PENDING,
    TERMINAL,
    IllegalTransition,
    Job,
    JobEvent,
    JobState,
    backoff_s,
    jobs,
    reports,
    transition,
)

Clock = Callable[[], float]


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how late a broken attempt is retried."""

    max_attempts: int = 3
    base_s: float = 30.0
    cap_s: float = 3600.0


@dataclass(frozen=True)
class Enqueued:
    """The job a delivery maps to; `created` is False for a duplicate delivery."""

    job_id: str
    created: bool


class JobStore:
    """Jobs in a SQL database; safe to share between threads, processes and hosts."""

    def __init__(
        self,
        engine: Engine,
        *,
        policy: RetryPolicy | None = None,
        clock: Clock = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.engine = engine
        self.policy = policy or RetryPolicy()
        self.clock = clock
        self.rng = rng or random.Random()
        self._pg = engine.dialect.name == "postgresql"
        # Built once, values bound per call: building `.values(**row)` on every webhook
        # cost more CPU than SQLite's own work for the insert.
        dialect = postgresql if self._pg else sqlite
        self._insert = (
            dialect.insert(jobs)
            .on_conflict_do_nothing(index_elements=["dedupe_key"])
            .returning(jobs.c.id)
        )
        # SQLite allows one writer; its busy handler backs off in sleeps of up to 100 ms.
        # Queueing this process's threads on a lock instead keeps webhook answers fast.
        self._lock: contextlib.AbstractContextManager[Any] = (
            contextlib.nullcontext() if self._pg else threading.Lock()
        )

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        try:
            with self._lock, self.engine.begin() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise_store_error(exc, "job database error", str(self.engine.url))

    # -- enqueue ---------------------------------------------------------------------------
    def enqueue(
        self,
        dedupe_key: str,
        spec: dict[str, Any],
        source: dict[str, Any],
        delivery_id: str | None = None,
    ) -> Enqueued:
        """Queue a job once per `dedupe_key`; a repeated key returns the existing job."""
        now = self.clock()
        # 40 random bits: ids of jobs queued in the same second must not collide.
        job_id = paths.new_job_id(datetime.fromtimestamp(now, UTC), secrets.token_hex(5))
        row = {
            "id": job_id,
            "dedupe_key": dedupe_key,
            "delivery_id": delivery_id,
            "state": JobState.QUEUED.value,
            "spec": spec,
            "source": source,
            "attempts": 0,
            "max_attempts": self.policy.max_attempts,
            "fence": 0,
            "run": 1,
            "available_at": now,
            "cancel_requested": 0,
            "message": "",
            "created_at": now,
            "updated_at": now,
        }
        with self._tx() as conn:
            # RETURNING yields the row only when this call inserted it.
            if conn.execute(self._insert, row).first() is not None:
                return Enqueued(job_id, created=True)
            existing = conn.execute(select(jobs.c.id).where(jobs.c.dedupe_key == dedupe_key))
            return Enqueued(existing.scalar_one(), created=False)

    # -- claim and lease -------------------------------------------------------------------
    def claim(self, owner: str, lease_s: float) -> Job | None:
        """Take the oldest due queued job and lease it to `owner`; None when nothing is due."""
        now = self.clock()
        query = (
            select(jobs)
            .where(jobs.c.state == JobState.QUEUED.value, jobs.c.available_at <= now)
            .order_by(jobs.c.available_at, jobs.c.id)
            .limit(1)
        )
        if self._pg:
            # Concurrent claimers skip each other's locked rows instead of waiting.
            query = query.with_for_update(skip_locked=True)
        with self._tx() as conn:
            row = conn.execute(query).first()
            if row is None:
                return None
            job = Job.from_row(row)
            self._move(
                conn,
                job,
                JobEvent.CLAIM,
                attempts=job.attempts + 1,
                fence=job.fence + 1,
                lease_owner=owner,
                lease_expires=now + lease_s,
                started_at=now,
            )
            return self._get(conn, job.id)

    def renew(self, job_id: str, owner: str, lease_s: float) -> Job | None:
        """Extend the lease; None when `owner` no longer holds it (expired and reclaimed)."""
        now = self.clock()
        with self._tx() as conn:
            done = conn.execute(
                update(jobs)
                .where(self._held(job_id, owner))
                .values(lease_expires=now + lease_s, updated_at=now)
            ).rowcount
            return self._get(conn, job_id) if done else None

    def finish(
        self, job_id: str, owner: str, event: JobEvent, message: str = ""
    ) -> JobState | None:
        """End the attempt `owner` holds; None if the lease was lost (someone else owns it)."""
        with self._tx() as conn:
            row = conn.execute(select(jobs).where(self._held(job_id, owner))).first()
            if row is None:
                return None
            return self._end_attempt(conn, Job.from_row(row), event, message)

    def reap(self) -> list[str]:
        """Return jobs whose lease expired to the queue (or to dead); their ids."""
        now = self.clock()
        query = select(jobs).where(
            jobs.c.state == JobState.RUNNING.value, jobs.c.lease_expires < now
        )
        if self._pg:
            query = query.with_for_update(skip_locked=True)
        with self._tx() as conn:
            expired = [Job.from_row(r) for r in conn.execute(query)]
            for job in expired:
                self._end_attempt(conn, job, JobEvent.RETRY, "lease expired (listener gone?)")
            return [job.id for job in expired]

    # -- user actions ----------------------------------------------------------------------
    def cancel(self, job_id: str) -> JobState:
        """Cancel a queued job now; ask the holder of a running one to stop it."""
        with self._tx() as conn:
            job = self._get(conn, job_id, lock=True)
            if job.state is JobState.RUNNING:
                conn.execute(update(jobs).where(jobs.c.id == job_id).values(cancel_requested=1))
                return job.state
            return self._move(
                conn, job, JobEvent.CANCEL, message="cancelled by a user", finished_at=self.clock()
            )

    def replay(self, job_id: str) -> JobState:
        """Requeue a finished job with a fresh set of attempts."""
        with self._tx() as conn:
            job = self._get(conn, job_id, lock=True)
            # The new run reports for itself: an older run's pending report is not retried.
            conn.execute(delete(reports).where(reports.c.job_id == job_id))
            return self._move(
                conn,
                job,
                JobEvent.REPLAY,
                attempts=0,
                run=job.run + 1,
                available_at=self.clock(),
                message="replayed",
                cancel_requested=0,
                finished_at=None,
            )

    # -- pending reports (the forge refused a finished job's report for now) ----------------
    def record_report(
        self, job_id: str, home: str, state: str, due_at: float, *, only_new: bool = False
    ) -> bool:
        """Note the state of a job's report, kept in `home`; True if a row was written.

        Written when the job's worker ends (that run's report replaces any earlier one) and,
        with `only_new`, for reports found on disk at start-up that the store does not know.
        """
        now = self.clock()
        row = {"home": home, "state": state, "due_at": due_at, "owner": None}
        row |= {"lease_expires": None, "updated_at": now}
        dialect = postgresql if self._pg else sqlite
        insert = dialect.insert(reports).values(job_id=job_id, **row)
        if only_new:
            statement = insert.on_conflict_do_nothing(index_elements=["job_id"])
        else:
            statement = insert.on_conflict_do_update(index_elements=["job_id"], set_=row)
        with self._tx() as conn:
            # RETURNING yields the row only when it was written (rowcount is not portable).
            return conn.execute(statement.returning(reports.c.job_id)).first() is not None

    def due_reports(self, home: str, limit: int) -> list[str]:
        """Pending reports kept in `home` whose next try is due and that nobody holds."""
        now = self.clock()
        query = (
            select(reports.c.job_id)
            .where(self._report_due(home, now))
            .order_by(reports.c.due_at, reports.c.job_id)
            .limit(limit)
        )
        with self._tx() as conn:
            return [str(job_id) for job_id in conn.execute(query).scalars()]

    def claim_report(self, job_id: str, home: str, owner: str, lease_s: float) -> bool:
        """Take the claim to try the report now; False if it is not due or someone holds it.

        One conditional UPDATE: of listeners racing for the same report, one wins (on
        PostgreSQL the loser re-reads the row after the winner's commit and finds it held).
        """
        now = self.clock()
        with self._tx() as conn:
            done = conn.execute(
                update(reports)
                .where(reports.c.job_id == job_id, self._report_due(home, now))
                .values(owner=owner, lease_expires=now + lease_s, updated_at=now)
            ).rowcount
        return done == 1

    def renew_report(self, job_id: str, owner: str, lease_s: float) -> bool:
        """Extend the claim; False when `owner` no longer holds it."""
        now = self.clock()
        with self._tx() as conn:
            done = conn.execute(
                update(reports)
                .where(reports.c.job_id == job_id, reports.c.owner == owner)
                .values(lease_expires=now + lease_s, updated_at=now)
            ).rowcount
        return done == 1

    def release_report(self, job_id: str, owner: str, state: str | None, due_at: float) -> bool:
        """End `owner`'s claim with the report's new state (None: forget it); False if lost."""
        now = self.clock()
        held = (reports.c.job_id == job_id) & (reports.c.owner == owner)
        with self._tx() as conn:
            if state is None:
                return conn.execute(delete(reports).where(held)).rowcount == 1
            done = conn.execute(
                update(reports)
                .where(held)
                .values(state=state, due_at=due_at, owner=None, lease_expires=None)
                .values(updated_at=now)
            ).rowcount
        return done == 1

    def get_report(self, job_id: str) -> dict[str, Any] | None:
        """The store's row of a job's report (None when it has none)."""
        with self._tx() as conn:
            row = conn.execute(select(reports).where(reports.c.job_id == job_id)).first()
        return dict(row._mapping) if row is not None else None

    def _report_due(self, home: str, now: float) -> Any:
        finished = exists().where(
            jobs.c.id == reports.c.job_id, jobs.c.state.in_([s.value for s in TERMINAL])
        )
        return (
            (reports.c.home == home)
            & (reports.c.state == REPORT_PENDING)
            & (reports.c.due_at <= now)
            & (reports.c.owner.is_(None) | (reports.c.lease_expires < now))
            & finished
        )

    # -- reading ---------------------------------------------------------------------------
    def get(self, job_id: str) -> Job:
        """One job; StoreError when it does not exist."""
        with self._tx() as conn:
            return self._get(conn, job_id)

    def list(
        self,
        state: JobState | None = None,
        limit: int = 100,
        *,
        offset: int = 0,
        repository: str | None = None,
    ) -> list[Job]:
        """Newest first, optionally of one state and of one repository (the source's
        `project_path`), from `offset` on."""
        query = (
            select(jobs)
            .order_by(jobs.c.created_at.desc(), jobs.c.id.desc())
            .limit(limit)
            .offset(offset)
        )
        if state is not None:
            query = query.where(jobs.c.state == state.value)
        if repository is not None:
            query = query.where(jobs.c.source["project_path"].as_string() == repository)
        with self._tx() as conn:
            return [Job.from_row(r) for r in conn.execute(query)]

    def repositories(self) -> builtins.list[str]:
        """The repositories jobs came from (for the dashboard's filter), sorted."""
        path = jobs.c.source["project_path"].as_string()
        query = select(path).where(path.is_not(None)).distinct()
        with self._tx() as conn:
            return sorted(str(r[0]) for r in conn.execute(query))

    def counts(self) -> dict[JobState, int]:
        """How many jobs are in each state (every state present)."""
        query = select(jobs.c.state, func.count()).group_by(jobs.c.state)
        with self._tx() as conn:
            found = {JobState(s): int(n) for s, n in conn.execute(query)}
        return {state: found.get(state, 0) for state in JobState}

    # -- internals -------------------------------------------------------------------------
    def holds_fence(self, job_id: str, fence: int) -> bool:
        """Whether `fence` is still the running job's token (no newer attempt claimed it)."""
        with self._tx() as conn:
            row = conn.execute(
                select(jobs.c.state, jobs.c.fence).where(jobs.c.id == job_id)
            ).first()
        return row is not None and row.state == JobState.RUNNING.value and row.fence == fence

    def _held(self, job_id: str, owner: str) -> Any:
        return (
            (jobs.c.id == job_id)
            & (jobs.c.state == JobState.RUNNING.value)
            & (jobs.c.lease_owner == owner)
        )

    def _get(self, conn: Connection, job_id: str, *, lock: bool = False) -> Job:
        query = select(jobs).where(jobs.c.id == job_id)
        if lock and self._pg:
            query = query.with_for_update()
        row = conn.execute(query).first()
        if row is None:
            raise StoreError(f"no job {job_id!r}")
        return Job.from_row(row)

    def _end_attempt(self, conn: Connection, job: Job, event: JobEvent, message: str) -> JobState:
        now = self.clock()
        values: dict[str, Any] = {"message": message, "lease_owner": None, "lease_expires": None}
        if event is JobEvent.RELEASE:
            # A shutdown is not the job's fault: the attempt is given back.
            values.update(attempts=max(0, job.attempts - 1), available_at=now)
        elif event is JobEvent.RETRY:
            delay = backoff_s(job.attempts, self.policy.base_s, self.policy.cap_s, self.rng)
            values["available_at"] = now + delay
        new = transition(job.state, event, attempts=job.attempts, max_attempts=job.max_attempts)
        if new is not JobState.QUEUED:
            values["finished_at"] = now
        return self._move(conn, job, event, **values)

    def _move(self, conn: Connection, job: Job, event: JobEvent, **values: Any) -> JobState:
        # `attempts` counts claims so far: RETRY gives up once it reaches max_attempts.
        new = transition(job.state, event, attempts=job.attempts, max_attempts=job.max_attempts)
        changed = conn.execute(
            update(jobs)
            .where(jobs.c.id == job.id, jobs.c.state == job.state.value)
            .values(state=new.value, updated_at=self.clock(), **values)
        ).rowcount
        faults.reached("store:write")  # the crash-safety suite kills serve inside the write
        if changed != 1:
            raise IllegalTransition(f"job {job.id} changed state concurrently")
        return new
