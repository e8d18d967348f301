"""What a job left on its forge, and how far its report got: `<job dir>/forge.json`.

The worker writes it: the handle of the job's note when the job starts, then the state of
the report — `posted` (with the delivery: note, label, branch, commit, merge request),
`pending` (the forge refused it for now: attempts, next retry, last error, the job's result
to post, when retrying gives up) or `failed` (given up, or an error retrying cannot fix).
A pending report is retried by `optirunner serve` (`optirunner worker --report-only`, one
try per process, under `locked()`); the store's `reports` row says when it is due and who
holds the claim. `optirunner jobs show` prints both. Each run of a job writes a new
`generation`.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from runner import paths
from runner.paths import write_atomic
from runner.result import (
    DERIVED_MEASUREMENT_KEYS,
    CandidateResult,
    CandidateStatus,
    JobOutcome,
    JobResult,
    Measurement,
)

STATE_FILE = "forge.json"
LOCK_FILE = "forge.lock"

STARTED = "started"  # the note is posted, the job runs
PENDING = "pending"  # the job ended; the forge refused the report for now
POSTED = "posted"
FAILED = "failed"


def retry_delay(attempt: int, cap: float, jitter: float) -> float:
    """Pause after failed try number `attempt` (1-based): 2, 4, 8... s, capped at `cap`.

    `jitter` in [0.5, 1] spreads the retries of reports that failed together.
    """
    return min(cap, 2.0 ** max(1, attempt)) * jitter


def next_retry_at(
    attempt: int, since: float, now: float, *, window: float, cap: float, jitter: float
) -> float | None:
    """When to try again after failed try `attempt`; None: give up (pure).

    Tries go on for `window` seconds from the first failure (`since`); the last one is
    moved to the end of the window rather than skipped.
    """
    deadline = since + window
    if now >= deadline:
        return None
    return min(now + retry_delay(attempt, cap, jitter), deadline)


def is_due(data: Mapping[str, Any], now: float) -> bool:
    """A pending report whose next try time has come (pure)."""
    if data.get("state") != PENDING:
        return False
    due = data.get("next_retry_at")
    return not isinstance(due, int | float) or due <= now


def result_from_dict(data: Mapping[str, Any]) -> JobResult:
    """The inverse of `JobResult.to_dict()` (what a pending report keeps, and report.json)."""
    candidates = []
    for raw in data.get("candidates", []):
        fields = dict(raw)
        measured = fields.pop("measurement", None)
        measurement = None
        if measured is not None:
            kept = {k: v for k, v in measured.items() if k not in DERIVED_MEASUREMENT_KEYS}
            measurement = Measurement(**kept)
        fields["status"] = CandidateStatus(fields["status"])
        candidates.append(CandidateResult(**fields, measurement=measurement))
    fields = {k: v for k, v in data.items() if k not in {"outcome", "candidates"}}
    return JobResult(**fields, outcome=JobOutcome(data["outcome"]), candidates=candidates)


def pending_result(job_dir: Path) -> JobResult | None:
    """The result a pending report posts: kept in forge.json, else the job's report.json."""
    data = load(job_dir).get("result")
    if not isinstance(data, dict):
        try:
            data = json.loads((job_dir / paths.REPORT_JSON).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
    try:
        return result_from_dict(data)
    except (KeyError, TypeError, ValueError):
        return None


def after_crash(job_dir: Path, now: float, code: int, *, pause: float) -> None:
    """A retrying process died without recording its try: next try in `pause`, or give up.

    Without this a retry that crashes at once would be due again at once, forever.
    """
    with locked(job_dir):
        data = load(job_dir)
        if data.get("state") != PENDING or not is_due(data, now):
            return  # it recorded its try after all, or a newer run owns the state
        error = f"the process retrying the report ended with {code} (see `jobs logs`)"
        gives_up = data.get("gives_up_at")
        if isinstance(gives_up, int | float) and now + pause > gives_up:
            update(job_dir, state=FAILED, next_retry_at=None, last_error=error, reporter_pid=None)
        else:
            update(job_dir, next_retry_at=now + pause, last_error=error, reporter_pid=None)


def load(job_dir: Path) -> dict[str, Any]:
    """The job's forge state ({} when it has none or it cannot be read)."""
    try:
        data = json.loads((job_dir / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def update(job_dir: Path, **values: Any) -> dict[str, Any]:
    """Merge `values` into the state (atomically) and return it."""
    data = {**load(job_dir), **values, "updated_at": time.time()}
    write_atomic(job_dir / STATE_FILE, json.dumps(data, indent=2) + "\n")
    return data


@contextmanager
def locked(job_dir: Path) -> Iterator[None]:
    """One writer of the job's forge state (and one poster of its report) at a time."""
    with (job_dir / LOCK_FILE).open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def describe(job_dir: Path, row: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
    """The state for people (`jobs show`): times as UTC text, who retries it and when.

    `row` is the store's `reports` row of the job, if it has one.
    """
    data = load(job_dir)
    if not data:
        return None
    shown: dict[str, Any] = {
        "state": data.get("state"),
        "attempts": data.get("attempts", 0),
        "next_retry": _when(data.get("next_retry_at")),
        "last_error": data.get("last_error") or None,
        "gives_up": _when(data.get("gives_up_at")) if data.get("state") == PENDING else None,
        "updated": _when(data.get("updated_at")),
        "note_id": (data.get("handle") or {}).get("note_id"),
        "delivery": data.get("delivery"),
    }
    if data.get("state") == PENDING:
        shown["retrying"] = _retrying(data, row)
    return shown


def _retrying(data: Mapping[str, Any], row: Mapping[str, Any] | None) -> str:
    pid = data.get("reporter_pid")
    if isinstance(pid, int) and _alive(pid):
        return f"yes (pid {pid}): trying now"
    if row is not None and row.get("state") == PENDING:
        owner = f", claimed by {row['owner']}" if row.get("owner") else ""
        return f"yes: `optirunner serve` tries again from {_when(row.get('due_at'))}{owner}"
    return (
        "no: no listener has it scheduled; `optirunner serve` picks it up when it starts,"
        " or `optirunner jobs replay` runs the job again"
    )


def _when(stamp: Any) -> str | None:
    if not isinstance(stamp, int | float):
        return None
    return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
