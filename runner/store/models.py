"""Job states, their legal transitions (in one function), retry backoff, and the table."""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Float, Index, Integer, MetaData, String, Table, Text

from runner.errors import OptirunnerError


class JobState(StrEnum):
    """Where a job is in its life."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    DEAD = "dead"


class JobEvent(StrEnum):
    """What can happen to a job."""

    CLAIM = "claim"  # a listener took the lease
    SUCCEED = "succeed"  # the worker finished and the job succeeded
    FAIL = "fail"  # the worker finished and the job failed for a reason retrying cannot fix
    RETRY = "retry"  # the attempt broke (crash, lost lease): try again later, or give up
    RELEASE = "release"  # the listener shut down: back to the queue, the attempt not counted
    CANCEL = "cancel"  # a user cancelled it
    REPLAY = "replay"  # a user requeued a finished job


TERMINAL = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED, JobState.DEAD})


class IllegalTransition(OptirunnerError):
    """A job was asked to move in a way its state does not allow."""


def transition(state: JobState, event: JobEvent, *, attempts: int, max_attempts: int) -> JobState:
    """The state after `event`; the only place that knows the legal moves."""
    q, r = JobState.QUEUED, JobState.RUNNING
    moves: dict[tuple[JobState, JobEvent], JobState] = {
        (q, JobEvent.CLAIM): r,
        (q, JobEvent.CANCEL): JobState.CANCELLED,
        (r, JobEvent.SUCCEED): JobState.SUCCEEDED,
        (r, JobEvent.FAIL): JobState.FAILED,
        (r, JobEvent.CANCEL): JobState.CANCELLED,
        (r, JobEvent.RELEASE): q,
        (r, JobEvent.RETRY): q if attempts < max_attempts else JobState.DEAD,
    }
    moves.update({(done, JobEvent.REPLAY): q for done in TERMINAL})
    try:
        return moves[(state, event)]
    except KeyError:
        raise IllegalTransition(f"a {state.value} job cannot {event.value}") from None


def backoff_s(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Delay before retry number `attempt` (1-based): exponential, capped, half jittered.

    The jitter spreads retries of jobs that failed together (e.g. after a database outage);
    keeping half of the delay fixed guarantees a minimum pause.
    """
    delay = min(cap, base * 2.0 ** max(0, attempt - 1))
    return delay / 2 + rng.uniform(0, delay / 2)


metadata = MetaData()

jobs = Table(
    "jobs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("dedupe_key", String(512), nullable=False, unique=True),
    Column("delivery_id", String(255)),
    Column("state", String(16), nullable=False),
    Column("spec", JSON, nullable=False),
    Column("source", JSON, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("max_attempts", Integer, nullable=False),
    # The fencing token: +1 at every claim, never counted back (`attempts` is, when a
    # shutdown gives an attempt back). A worker holds the value of its claim; a write or a
    # post by an attempt whose token is no longer the job's is refused (runner/service/fence.py).
    Column("fence", Integer, nullable=False, default=0, server_default="0"),
    # Which run of the job this is: 1, then +1 at each `jobs replay`. The attempts of one run
    # share it, so a retry can tell a report its run already posted from an older run's.
    Column("run", Integer, nullable=False, default=1, server_default="1"),
    Column("available_at", Float, nullable=False),
    Column("lease_owner", String(64)),
    Column("lease_expires", Float),
    Column("cancel_requested", Integer, nullable=False, default=0),
    Column("message", Text, nullable=False, default=""),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("started_at", Float),
    Column("finished_at", Float),
    Index("ix_jobs_state_available", "state", "available_at"),
)

# A finished job's report that the forge refused for now (an outage): `optirunner serve`
# retries it. The details (attempts, last error, the result) are in `<job dir>/forge.json`;
# this row says where that folder is (`home`), when the next try is due, and which listener
# holds the claim to try it (one at a time, across processes and hosts).
REPORT_PENDING = "pending"  # the states of a report row: pending, posted, failed

reports = Table(
    "reports",
    metadata,
    Column("job_id", String(32), primary_key=True),
    Column("home", String(255), nullable=False),
    Column("state", String(16), nullable=False),
    Column("due_at", Float, nullable=False),
    Column("owner", String(64)),
    Column("lease_expires", Float),
    Column("updated_at", Float, nullable=False),
    Index("ix_reports_state_due", "state", "due_at"),
)


# API tokens of the dashboard and the job API (`optirunner tokens add|list|revoke`): only
# the SHA-256 of each secret is kept (tokens are 256 random bits: a slow hash adds nothing).
api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", String(16), primary_key=True),
    Column("name", String(128), nullable=False),
    Column("role", String(16), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("last_used_at", Float),
    Column("revoked_at", Float),
)

# Browser sessions: a token exchanged once for a cookie. The key is the SHA-256 of the
# cookie's secret; revoking the token ends its sessions (they are looked up through it).
api_sessions = Table(
    "api_sessions",
    metadata,
    Column("digest", String(64), primary_key=True),
    Column("token_id", String(16), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Index("ix_api_sessions_token", "token_id"),
)


@dataclass(frozen=True)
class Job:
    """One row of `jobs`, as the rest of the runner sees it."""

    id: str
    dedupe_key: str
    delivery_id: str | None
    state: JobState
    spec: dict[str, Any]
    source: dict[str, Any]
    attempts: int
    max_attempts: int
    fence: int
    run: int
    available_at: float
    lease_owner: str | None
    lease_expires: float | None
    cancel_requested: bool
    message: str
    created_at: float
    updated_at: float
    started_at: float | None
    finished_at: float | None

    @classmethod
    def from_row(cls, row: Any) -> Job:
        data = dict(row._mapping)
        data["state"] = JobState(data["state"])
        data["cancel_requested"] = bool(data["cancel_requested"])
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for the API and `jobs list --json`."""
        data = self.__dict__.copy()
        data["state"] = self.state.value
        return data
