"""`optirunner jobs list|show|logs|cancel|replay` and `optirunner db upgrade`."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from rich import box
from rich.console import Console
from rich.table import Table

from runner import paths
from runner.config import Settings, load_settings
from runner.errors import OptirunnerError
from runner.forge import reporting
from runner.service.supervisor import WORKER_LOG
from runner.store import db
from runner.store.factory import open_store
from runner.store.models import Job, JobState
from runner.store.queue import JobStore

T = TypeVar("T")


def list_jobs(*, state: str | None, as_json: bool, limit: int, config: Path | None) -> int:
    """Print the newest jobs, optionally of one state."""
    try:
        wanted = JobState(state) if state else None
    except ValueError:
        known = ", ".join(s.value for s in JobState)
        raise OptirunnerError(f"unknown state {state!r} (one of {known})") from None
    jobs = store_call(load_settings(config), lambda s: s.list(wanted, limit))
    if as_json:
        sys.stdout.write(json.dumps([j.to_dict() for j in jobs], indent=2) + "\n")
        return 0
    table = Table(box=box.SIMPLE_HEAD)
    for column in ("id", "state", "tries", "source", "created", "message"):
        table.add_column(column, no_wrap=column != "message", overflow="ellipsis")
    for job in jobs:
        table.add_row(
            job.id,
            job.state.value,
            f"{job.attempts}/{job.max_attempts}",
            _source(job),
            _when(job.created_at),
            job.message,
        )
    Console(highlight=False).print(table)
    return 0


def show(*, job_id: str, config: Path | None) -> int:
    """Print one job's record, where its files are and how its report on the issue went."""
    settings = load_settings(config)
    job, row = store_call(settings, lambda s: (s.get(job_id), s.get_report(job_id)))
    data = job.to_dict()
    data["job_dir"] = str(settings.state_dir / "jobs" / job.id)
    report = Path(data["job_dir"]) / paths.REPORT_MD
    data["report"] = str(report) if report.is_file() else None
    # The issue side: note, branch, merge request, and a pending report's retries (their
    # schedule and claim are in the store: `optirunner serve` retries them).
    data["reporting"] = reporting.describe(Path(data["job_dir"]), row)
    sys.stdout.write(json.dumps(data, indent=2) + "\n")
    return 0


def logs(*, job_id: str, config: Path | None) -> int:
    """Print the worker's log of the job (every attempt)."""
    settings = load_settings(config)
    store_call(settings, lambda s: s.get(job_id))
    path = settings.state_dir / "jobs" / job_id / WORKER_LOG
    if not path.is_file():
        raise OptirunnerError(f"job {job_id} has no worker log yet ({path})")
    sys.stdout.write(path.read_text(encoding="utf-8", errors="replace"))
    return 0


def cancel(*, job_id: str, config: Path | None) -> int:
    """Cancel a queued job, or ask the listener running it to stop it."""
    state = store_call(load_settings(config), lambda s: s.cancel(job_id))
    if state is JobState.RUNNING:
        sys.stdout.write(f"job {job_id}: cancel requested; the listener stops it shortly\n")
    else:
        sys.stdout.write(f"job {job_id}: {state.value}\n")
    return 0


def replay(*, job_id: str, config: Path | None) -> int:
    """Requeue a finished (dead, failed, cancelled or succeeded) job."""
    state = store_call(load_settings(config), lambda s: s.replay(job_id))
    sys.stdout.write(f"job {job_id}: {state.value}\n")
    return 0


def db_upgrade(*, config: Path | None) -> int:
    """Run the database migrations up to head."""
    settings = load_settings(config)
    store = open_store(settings)
    try:
        head = db.upgrade(store.engine)
    finally:
        store.engine.dispose()
    sys.stdout.write(f"job database at revision {head}\n")
    return 0


def store_call(settings: Settings, call: Callable[[JobStore], T]) -> T:
    store = open_store(settings)
    try:
        if db.current_revision(store.engine) is None:
            raise OptirunnerError("the job database is not set up; run `optirunner db upgrade`")
        return call(store)
    finally:
        store.engine.dispose()


def _source(job: Job) -> str:
    src = job.source
    if not src:
        return "-"
    return f"{src.get('forge', '?')} {src.get('project_path', '')}#{src.get('issue', '')}"


def _when(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%d %H:%M:%S")
