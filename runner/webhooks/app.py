"""The HTTP surface: webhooks, health, metrics and a read-only job API (FastAPI).

Routes are thin: bytes in, `receive()` decides, the store queues, the answer says why.
A delivery is answered only after its job is durably queued.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

import anyio
from fastapi import FastAPI, Query, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse

from runner import __version__
from runner.config import ServiceSettings
from runner.service.metrics import CONTENT_TYPE, Metrics
from runner.store import db
from runner.store.models import JobState
from runner.store.queue import JobStore
from runner.webhooks.contract import (
    GITLAB_REQUEST,
    JIRA_REQUEST,
    WEBHOOK_RESPONSES,
    Health,
    JobList,
    JobRecord,
    Readiness,
    api_responses,
)
from runner.webhooks.decision import Decision, Ignored
from runner.webhooks.receive import FORGES, receive
from runner.webhooks.verify import Rejected

log = logging.getLogger("optirunner.webhooks")
REASON_CHARS = 300


@dataclass
class AppState:
    """What the routes need; built once by the listener (or a test)."""

    settings: ServiceSettings
    store: JobStore
    metrics: Metrics
    clock: Callable[[], float] = time.time
    accepting: Callable[[], bool] = lambda: True


def create_app(state: AppState) -> FastAPI:
    """The ASGI application for one listener."""
    app = FastAPI(title="optirunner", version=__version__, docs_url=None, redoc_url=None)

    for forge, request_doc in (("gitlab", GITLAB_REQUEST), ("jira", JIRA_REQUEST)):
        app.add_api_route(
            f"/webhooks/{forge}",
            _webhook_route(state, forge),
            methods=["POST"],
            name=f"{forge}_webhook",
            summary=f"Receive a {'GitLab' if forge == 'gitlab' else 'Jira'} webhook delivery",
            status_code=202,
            responses=WEBHOOK_RESPONSES,
            openapi_extra=request_doc,
        )

    @app.post("/webhooks/{forge}", include_in_schema=False)
    async def unknown_webhook(forge: str, request: Request) -> Response:
        return await _webhook(state, forge, request)  # 404, counted as forge "unknown"

    @app.get("/healthz", response_model=Health)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", responses={200: {"model": Readiness}, 503: {"model": Readiness}})
    async def readyz() -> Response:
        checks = await anyio.to_thread.run_sync(_readiness, state)
        status = 200 if all(checks.values()) else 503
        return JSONResponse({"ready": status == 200, "checks": checks}, status_code=status)

    @app.get("/metrics", response_class=PlainTextResponse)
    async def metrics() -> Response:
        body = await anyio.to_thread.run_sync(state.metrics.render)
        return Response(body, media_type=CONTENT_TYPE)

    @app.get("/api/jobs", responses=api_responses(JobList, 400, "Unknown state"))
    async def list_jobs(
        wanted: Annotated[
            str | None,
            Query(
                alias="state",
                description="Only jobs in this state",
                json_schema_extra={"enum": [s.value for s in JobState]},
            ),
        ] = None,
        limit: Annotated[int, Query(description="At most this many, clamped to 1..1000")] = 100,
    ) -> Response:
        return await _list_jobs(state, wanted, limit)

    @app.get("/api/jobs/{job_id}", responses=api_responses(JobRecord, 404, "No such job"))
    async def show_job(job_id: str) -> Response:
        return await _show_job(state, job_id)

    return app


def _webhook_route(state: AppState, forge: str) -> Callable[[Request], Awaitable[Response]]:
    async def webhook(request: Request) -> Response:
        return await _webhook(state, forge, request)

    return webhook


async def _webhook(state: AppState, forge: str, request: Request) -> Response:
    started = time.perf_counter()
    label = forge if forge in FORGES else "unknown"
    try:
        body = await _read_body(request, state.settings.max_body_bytes)
        decision = receive(forge, state.settings, dict(request.headers), body, state.clock())
        response = await _act(state, forge, decision)
    except Rejected as exc:
        reason = _short(exc.reason)
        log.info("webhook %s rejected (%d): %s", label, exc.status, reason)
        state.metrics.webhooks.labels(label, f"rejected_{exc.status}").inc()
        response = JSONResponse({"status": "rejected", "reason": reason}, exc.status)
    except db.StoreError as exc:
        # 503 makes GitLab and Jira deliver again later: nothing is lost.
        log.warning("webhook %s not queued: %s", label, exc)
        state.metrics.webhooks.labels(label, "error").inc()
        response = JSONResponse({"status": "error", "reason": "job store unavailable"}, 503)
    state.metrics.webhook_seconds.labels(label).observe(time.perf_counter() - started)
    return response


async def _act(state: AppState, forge: str, decision: Decision) -> Response:
    if isinstance(decision, Ignored):
        result = "invalid_spec" if decision.invalid_spec else "ignored"
        reason = _short(decision.reason)
        log.info("webhook %s %s: %s", forge, result, reason)
        state.metrics.webhooks.labels(forge, result).inc()
        return JSONResponse({"status": "ignored", "reason": reason})
    queued = await anyio.to_thread.run_sync(
        lambda: state.store.enqueue(
            decision.dedupe_key, decision.spec, decision.source.to_dict(), decision.delivery_id
        )
    )
    result = "queued" if queued.created else "duplicate"
    log.info("webhook %s %s job %s (%s)", forge, result, queued.job_id, decision.dedupe_key)
    state.metrics.webhooks.labels(forge, result).inc()
    return JSONResponse(
        {"status": result, "job_id": queued.job_id}, status_code=202 if queued.created else 200
    )


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, refusing (413) as soon as it is known to be too large."""
    declared = request.headers.get("content-length", "")
    # ASCII digits only: "²".isdigit() holds, and int() refuses more than 4300 digits.
    if declared.isascii() and declared.isdigit():
        digits = declared.lstrip("0") or "0"
        if len(digits) > 19 or int(digits) > limit:
            raise Rejected(413, f"body of {digits[:20]} bytes exceeds the limit of {limit}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Rejected(413, f"body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _short(text: str, limit: int = REASON_CHARS) -> str:
    """A reason fit for an answer and a log line: reasons quote what the sender wrote."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _readiness(state: AppState) -> dict[str, bool]:
    checks = {"database": False, "migrations": False, "workers": state.accepting()}
    try:
        db.ping(state.store.engine)
        checks["database"] = True
        checks["migrations"] = db.current_revision(state.store.engine) == db.head_revision()
    except Exception:  # readiness reports a failure, it never raises one
        log.warning("readiness: database check failed", exc_info=True)
    return checks


async def _list_jobs(state: AppState, wanted: str | None, limit: int) -> Response:
    which: JobState | None = None
    if wanted is not None:  # `?state=` too: an empty state is no state
        try:
            which = JobState(wanted)
        except ValueError:
            return JSONResponse({"error": f"unknown state {_short(wanted)!r}"}, status_code=400)
    try:
        jobs = await anyio.to_thread.run_sync(
            lambda: state.store.list(which, max(1, min(limit, 1000)))
        )
    except db.StoreError as exc:
        log.warning("job API: %s", exc)
        return JSONResponse({"error": "job store unavailable"}, status_code=503)
    payload: dict[str, Any] = {"jobs": [job.to_dict() for job in jobs]}
    return JSONResponse(payload)


async def _show_job(state: AppState, job_id: str) -> Response:
    try:
        job = await anyio.to_thread.run_sync(state.store.get, job_id)
    except db.StoreError as exc:
        # The store says "no job" and "unreachable" with one error: ask the database which.
        if not await anyio.to_thread.run_sync(_answers, state):
            log.warning("job API: %s", exc)
            return JSONResponse({"error": "job store unavailable"}, status_code=503)
        return JSONResponse({"error": f"no job {_short(job_id)!r}"}, status_code=404)
    return JSONResponse(job.to_dict())


def _answers(state: AppState) -> bool:
    try:
        db.ping(state.store.engine)
    except db.StoreError:
        return False
    return True
