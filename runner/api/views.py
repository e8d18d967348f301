"""What each dashboard page shows, as plain data: the page renders it, its `/api/` twin
answers it as JSON. Pure functions of the job rows and the files of a job's directory;
every string passes the redactor on the way out (`redacted`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from runner import paths
from runner.forge import reporting
from runner.store.models import Job, JobState
from runner.telemetry.redact import Redactor
from runner.telemetry.timeline import read_events, timeline

PAGE_SIZE = 50
LOG_TAIL_LINES = 200
MAX_DIFF_CHARS = 200_000
MAX_FILE_BYTES = 16 << 20  # report.json and logs larger than this are cut, never loaded whole
PLOT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,120}\.png")


class BadQuery(ValueError):
    """A query parameter the page cannot use: answered 400 with this message."""


def parse_filters(params: Mapping[str, str]) -> dict[str, Any]:
    """`state`, `repository` and `page` of a jobs list query, checked."""
    known = {"state", "repository", "page"}
    unknown = sorted(set(params) - known)
    if unknown:
        raise BadQuery(f"unknown query parameter {unknown[0][:40]!r} (state, repository, page)")
    state: JobState | None = None
    raw_state = params.get("state", "")
    if raw_state:
        try:
            state = JobState(raw_state)
        except ValueError:
            names = ", ".join(s.value for s in JobState)
            raise BadQuery(f"unknown state {raw_state[:40]!r} (one of {names})") from None
    raw_page = params.get("page", "1") or "1"
    if not (raw_page.isascii() and raw_page.isdigit()) or len(raw_page) > 6 or int(raw_page) < 1:
        raise BadQuery(f"page must be a whole number from 1, not {raw_page[:20]!r}")
    repository = params.get("repository", "") or None
    if repository is not None and len(repository) > 512:
        raise BadQuery("repository is longer than 512 characters")
    return {"state": state, "repository": repository, "page": int(raw_page)}


def when(stamp: float | None) -> str | None:
    if stamp is None:
        return None
    return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def duration(job: Job, now: float) -> float | None:
    """Seconds the job has run (until now while it runs)."""
    if job.started_at is None:
        return None
    end = job.finished_at if job.finished_at is not None else now
    return max(0.0, end - job.started_at)


def safe_link(url: Any) -> str | None:
    """A URL fit for an href: http(s) only (a `javascript:` link would run when clicked)."""
    if isinstance(url, str) and re.match(r"https?://[^\s\"'<>]+\Z", url):
        return url
    return None


def job_row(job: Job, now: float) -> dict[str, Any]:
    """One line of the jobs table."""
    source = job.source or {}
    targets = job.spec.get("targets") if isinstance(job.spec, dict) else None
    return {
        "id": job.id,
        "state": job.state.value,
        "repository": source.get("project_path"),
        "targets": [str(t) for t in targets] if isinstance(targets, list) else [],
        "trigger": {
            "forge": source.get("forge"),
            "issue": source.get("issue"),
            "how": source.get("trigger"),
            "author": source.get("author"),
            "url": safe_link(source.get("web_url")),
        },
        "attempts": job.attempts,
        "max_attempts": job.max_attempts,
        "created": when(job.created_at),
        "started": when(job.started_at),
        "finished": when(job.finished_at),
        "duration_s": duration(job, now),
        "outcome": job.message,
    }


def jobs_page(
    jobs: list[Job], filters: Mapping[str, Any], repositories: list[str], now: float
) -> dict[str, Any]:
    """The jobs list: a page of rows (one more row was asked for, to know if a next exists)."""
    rows = [job_row(job, now) for job in jobs[:PAGE_SIZE]]
    state = filters.get("state")
    return {
        "jobs": rows,
        "filters": {
            "state": state.value if isinstance(state, JobState) else None,
            "repository": filters.get("repository"),
            "page": filters.get("page", 1),
        },
        "has_next": len(jobs) > PAGE_SIZE,
        "states": [s.value for s in JobState],
        "repositories": repositories,
        "running": any(row["state"] == JobState.RUNNING.value for row in rows),
    }


def _read_text(path: Path, limit: int = MAX_FILE_BYTES) -> str | None:
    try:
        with open(path, "rb") as handle:
            return handle.read(limit).decode("utf-8", errors="replace")
    except OSError:
        return None


def _read_json(path: Path) -> dict[str, Any] | None:
    text = _read_text(path)
    if text is None:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> list[str]:
    """The last `lines` lines of a log, read from its end (a log may be large)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, 2)
            size = handle.tell()
            handle.seek(max(0, size - 256 * 1024))
            data = handle.read()
    except OSError:
        return []
    return data.decode("utf-8", errors="replace").splitlines()[-lines:]


def candidate_row(raw: Mapping[str, Any], plots: set[str], best: set[str]) -> dict[str, Any]:
    """One candidate as the job page shows it."""
    measurement = raw.get("measurement") if isinstance(raw.get("measurement"), dict) else None
    m: Mapping[str, Any] = measurement or {}
    cid = str(raw.get("id", ""))
    low, high = m.get("low"), m.get("high")
    return {
        "id": cid,
        "target": raw.get("target"),
        "rule": raw.get("rule"),
        "description": raw.get("description"),
        "status": raw.get("status"),
        "tests": raw.get("tests"),
        "behaviour": raw.get("behaviour"),
        "calls_compared": raw.get("calls_compared"),
        "detail": raw.get("detail") or "",
        "speedup": m.get("speedup"),
        # The interval is on the time ratio (candidate/baseline): as a speedup it flips.
        "speedup_interval": _interval(low, high),
        "instruction_speedups": m.get("instruction_speedups") or [],
        "decided_by": m.get("decided_by"),
        "verdict": m.get("verdict"),
        "reason": m.get("reason"),
        "min_detectable": m.get("min_detectable"),
        "plot": f"{cid}.png" if f"{cid}.png" in plots else None,
        "winner": cid in best,
    }


def _interval(low: Any, high: Any) -> list[float] | None:
    """The time ratio's interval as speedups (1 / high, 1 / low), when both are positive."""
    if isinstance(low, int | float) and isinstance(high, int | float) and low > 0 and high > 0:
        return [1 / high, 1 / low]
    return None


def job_page(
    job: Job, job_dir: Path, report_row: Mapping[str, Any] | None, now: float
) -> dict[str, Any]:
    """One job: its row, spec, candidates, the winner's diff, the report back, the log tail."""
    result = _read_json(job_dir / paths.REPORT_JSON) or {}
    plots_dir = job_dir / paths.PLOTS
    plots = {p.name for p in plots_dir.glob("*.png")} if plots_dir.is_dir() else set()
    best = {str(b) for b in result.get("best", []) if isinstance(b, str)}
    raw_candidates: Any = result.get("candidates")
    if not isinstance(raw_candidates, list):
        raw_candidates = []
    candidates = [candidate_row(c, plots, best) for c in raw_candidates if isinstance(c, dict)]
    diff = _read_text(job_dir / paths.PATCH, MAX_DIFF_CHARS)
    events_path = job_dir / paths.EVENTS
    spans = timeline(read_events(events_path)) if events_path.is_file() else []
    stages = [
        {k: row[k] for k in ("name", "offset_s", "duration_s", "status")}
        for row in spans
        if row["depth"] == 1
    ]
    forge = reporting.describe(job_dir, report_row) if job_dir.is_dir() else None
    return {
        "job": job_row(job, now),
        "spec": job.spec,
        "spec_text": json.dumps(job.spec, indent=2, sort_keys=True),
        "stages": stages,
        "outcome": result.get("outcome"),
        "message": result.get("message") or job.message,
        "baseline": result.get("baseline") or {},
        "declines": result.get("declines") or {},
        "candidates": candidates,
        "diff": diff,
        "reporting": forge,
        "log_tail": log_tail(job_dir / paths.WORKER_LOG),
        "running": job.state is JobState.RUNNING,
        "commands": {
            "cancel": f"optirunner jobs cancel {job.id}",
            "replay": f"optirunner jobs replay {job.id}",
            "logs": f"optirunner jobs logs {job.id}",
        },
    }


def plot_path(job_dir: Path, name: str) -> Path | None:
    """The plot file a page may link to (a name, never a path)."""
    if not PLOT_NAME.fullmatch(name):
        return None
    path = job_dir / paths.PLOTS / name
    return path if path.is_file() else None


def queue_page(
    counts: Mapping[JobState, int],
    running: Iterable[Job],
    queued: Iterable[Job],
    failures: Iterable[Job],
    now: float,
) -> dict[str, Any]:
    """The queue: how many jobs in each state, who holds each running job, the last errors."""
    return {
        "counts": {state.value: n for state, n in counts.items()},
        "leases": [
            {
                "job": job.id,
                "owner": job.lease_owner,
                "expires_in_s": (job.lease_expires - now) if job.lease_expires else None,
                "attempt": f"{job.attempts}/{job.max_attempts}",
                "started": when(job.started_at),
            }
            for job in running
        ],
        "retrying": [
            {
                "job": job.id,
                "attempt": f"{job.attempts}/{job.max_attempts}",
                "next_in_s": max(0.0, job.available_at - now),
                "message": job.message,
            }
            for job in queued
            if job.attempts > 0
        ],
        "errors": [
            {
                "job": job.id,
                "state": job.state.value,
                "when": when(job.updated_at),
                "message": job.message,
            }
            for job in failures
        ],
    }


def redacted(view: Any, redactor: Redactor) -> Any:
    """The view with every string redacted: what leaves for a page or its JSON twin."""
    return redactor.redact_value(view, memo=True)


MAX_SPANS = 2000  # rows of a traces page; the rest are counted
BAR_WIDTH = 400  # the waterfall's width, in SVG units


def trace_page(job: Job, job_dir: Path, now: float) -> dict[str, Any]:
    """A job's spans as a waterfall (offset and width of each bar, out of BAR_WIDTH), with
    the agent's turns, tokens and cost added up."""
    path = job_dir / paths.EVENTS
    events = read_events(path) if path.is_file() else []
    rows = timeline(events)
    total = max((r["offset_s"] + r["duration_s"] for r in rows), default=0.0) or 1.0
    for row in rows:
        row["bar_x"] = round(BAR_WIDTH * row["offset_s"] / total, 1)
        row["bar_w"] = max(1.0, round(BAR_WIDTH * row["duration_s"] / total, 1))
    agent = {"turns": 0, "input_tokens": 0, "output_tokens": 0, "cost_usd": 0.0}
    for event in events:
        attributes = event.get("attributes") or {}
        if "gen_ai.usage.input_tokens" in attributes:
            agent["turns"] += 1
            agent["input_tokens"] += _number(attributes.get("gen_ai.usage.input_tokens"))
            agent["output_tokens"] += _number(attributes.get("gen_ai.usage.output_tokens"))
            agent["cost_usd"] += _number(attributes.get("optirunner.cost_usd"))
    return {
        "job": job_row(job, now),
        "spans": rows[:MAX_SPANS],
        "spans_left_out": max(0, len(rows) - MAX_SPANS),
        "total_s": total if rows else 0.0,
        "errors": sum(1 for r in rows if r["status"] == "error"),
        "agent": agent,
        "running": job.state is JobState.RUNNING,
        "bar_width": BAR_WIDTH,
    }


def _number(value: Any) -> Any:
    return value if isinstance(value, int | float) and not isinstance(value, bool) else 0
