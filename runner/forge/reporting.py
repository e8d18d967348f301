"""What a job left on its forge, and how far its report got: `<job dir>/forge.json`.

The worker writes it: the handle of the job's note when the job starts, then the state of
the report — `posted` (with the delivery: note, label, branch, commit, merge request),
`pending` (the forge refused it for now: attempts, next retry, last error, the pid of the
process retrying it) or `failed` (given up, or an error retrying cannot fix).
`optirunner jobs show` prints it. Each run of a job writes a new `generation`; a
background retry of an older run stops when it sees a newer one.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from runner.paths import write_atomic

STATE_FILE = "forge.json"
LOCK_FILE = "forge.lock"

STARTED = "started"  # the note is posted, the job runs
PENDING = "pending"  # the job ended; the forge refused the report for now
POSTED = "posted"
FAILED = "failed"


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


def describe(job_dir: Path) -> dict[str, Any] | None:
    """The state for people (`jobs show`): times as UTC text, whether a retry is alive."""
    data = load(job_dir)
    if not data:
        return None
    shown: dict[str, Any] = {
        "state": data.get("state"),
        "attempts": data.get("attempts", 0),
        "next_retry": _when(data.get("next_retry_at")),
        "last_error": data.get("last_error") or None,
        "updated": _when(data.get("updated_at")),
        "note_id": (data.get("handle") or {}).get("note_id"),
        "delivery": data.get("delivery"),
    }
    if data.get("state") == PENDING:
        pid = data.get("reporter_pid")
        alive = isinstance(pid, int) and _alive(pid)
        shown["retrying"] = (
            f"yes (pid {pid})"
            if alive
            else "no: the retrying process ended; `optirunner jobs replay` posts the report"
        )
    return shown


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
