"""`optirunner traces list|show|flush` and `optirunner icarus-receiver`.

`list` and `show` read the (redacted) `events.jsonl` of each job directory; `flush` ships
the spool to every configured remote sink now and says how many events each took.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from runner import paths
from runner.config import load_settings
from runner.errors import OptirunnerError
from runner.telemetry.timeline import Event, read_events, timeline

# Attributes worth a column in the timeline, in this order (the rest: `--json`).
RECEIVER_TOKENS_ENV = "OPTIRUNNER_ICARUS_RECEIVER_TOKENS"


def _jobs_dir(config: Path | None) -> Path:
    return load_settings(config).state_dir / "jobs"


def _when(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S")


def summary(job_id: str, events: list[Event]) -> dict[str, Any]:
    """One line of `traces list`: span count, start, duration, status, errors."""
    starts = [float(e.get("start") or 0) for e in events]
    ends = [float(e.get("end") or 0) for e in events]
    root = next((e for e in events if e.get("name") == "job"), None)
    root = root or next((e for e in events if not e.get("parent_id")), None)
    return {
        "job_id": job_id,
        "spans": len(events),
        "start": min(starts) if starts else None,
        "duration_s": round(max(ends) - min(starts), 3) if events else None,
        "status": root.get("status") if root else "-",
        "errors": sum(1 for e in events if e.get("status") == "error"),
    }


def list_traces(*, as_json: bool, limit: int, config: Path | None) -> int:
    """Print the newest jobs that have a trace."""
    jobs = _jobs_dir(config)
    found = sorted(jobs.glob(f"*/{paths.EVENTS}"), reverse=True)[:limit] if jobs.is_dir() else []
    rows = [summary(path.parent.name, read_events(path)) for path in found]
    if as_json:
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return 0
    table = Table(box=box.SIMPLE_HEAD)
    for column in ("job", "start (UTC)", "duration", "spans", "errors", "status"):
        table.add_column(column, no_wrap=True)
    for row in rows:
        table.add_row(
            row["job_id"],
            _when(row["start"]) if row["start"] else "-",
            f"{row['duration_s']:.2f} s" if row["duration_s"] is not None else "-",
            str(row["spans"]),
            str(row["errors"]),
            str(row["status"]),
        )
    Console(highlight=False).print(table)
    if not rows:
        Console(stderr=True, highlight=False).print(f"no traces under {jobs}")
    return 0


def show(*, job_id: str, as_json: bool, config: Path | None) -> int:
    """Print one job's trace as a timeline."""
    if "/" in job_id or job_id.startswith("."):
        raise OptirunnerError(f"not a job id: {job_id!r}")
    path = _jobs_dir(config) / job_id / paths.EVENTS
    if not path.is_file():
        raise OptirunnerError(f"no trace for job {job_id} (looked for {path})")
    rows = timeline(read_events(path))
    if as_json:
        sys.stdout.write(json.dumps(rows, indent=2, default=str) + "\n")
        return 0
    table = Table(box=box.SIMPLE_HEAD, title=f"trace of job {job_id}")
    table.add_column("offset", justify="right", no_wrap=True)
    table.add_column("duration", justify="right", no_wrap=True)
    table.add_column("span", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("attributes", overflow="fold")
    styles = {"error": "red", "cancelled": "yellow"}
    for row in rows:
        attributes = " ".join(f"{k}={_short(v)}" for k, v in row["attributes"].items())
        status = str(row["status"])
        table.add_row(
            f"{row['offset_s']:.3f} s",
            f"{row['duration_s']:.3f} s",
            "  " * row["depth"] + str(row["name"]),
            f"[{styles[status]}]{status}[/]" if status in styles else status,
            attributes,
        )
    Console(highlight=False).print(table)
    return 0


def _short(value: Any, width: int = 60) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= width else text[: width - 1] + "…"


def flush(*, attempts: int, config: Path | None) -> int:
    """Ship the spool to every remote sink now; exit 1 when one is unreachable."""
    from runner.telemetry.setup import build_shipper  # noqa: PLC0415 - websockets, otel

    settings = load_settings(config)
    shippers = build_shipper(settings)
    if shippers is None:
        raise OptirunnerError(
            "no telemetry sink is configured (telemetry.icarus.url, telemetry.otlp.endpoint)"
        )
    out = Console(highlight=False)
    try:
        before = {s.sink: shippers.spool.pending(s.sink) for s in shippers.shippers}
        with contextlib.suppress(OptirunnerError):  # reported per sink below
            asyncio.run(shippers.run(drain=True, max_failures=attempts))
        for shipper in shippers.shippers:
            left = shippers.spool.pending(shipper.sink)
            error = shippers.errors.get(shipper.sink)
            state = f"[red]FAILED[/]: {error}" if error else "ok"
            out.print(
                f"{shipper.sink}: shipped {shipper.acked_events} of {before[shipper.sink]} "
                f"pending events, {left} left: {state}",
                soft_wrap=True,
            )
        stats = shippers.spool.stats()
        out.print(
            f"spool: {stats.count} events, {stats.bytes} bytes, "
            f"dropped {stats.dropped}, expired {stats.expired}"
        )
        if shippers.errors:
            names = ", ".join(shippers.errors)
            raise OptirunnerError(f"telemetry flush failed: {names} unreachable or refused")
    finally:
        shippers.close()
    return 0
