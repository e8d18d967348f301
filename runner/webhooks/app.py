"""The HTTP surface: webhooks, health, metrics and a read-only job API (FastAPI).

Routes are thin: bytes in, `receive()` decides, the store queues, the answer says why.
A delivery is answered only after its job is durably queued.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

import anyio
from fastapi import FastAPI, Query, Request, Response
from fastapi.responses import JSONResponse

from runner.config import ServiceSettings
from runner.service.metrics import CONTENT_TYPE, Metrics
from runner.store import db
from runner.store.models import JobState
from runner.store.queue import JobStore
from runner.webhooks.decision import Decision, Ignored
from runner.webhooks.receive import FORGES, receive
from runner.webhooks.verify import Rejected

log = logging.getLogger("optirunner.webhooks")


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
    app = FastAPI(title="optirunner", docs_url=None, redoc_url=None)

    @app.post("/webhooks/{forge}")
    async def webhook(forge: str, request: Request) -> Response:
        return await _webhook(state, forge, request)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> Response:
        checks = await anyio.to_thread.run_sync(_readiness, state)
        status = 200 if all(checks.values()) else 503
        return JSONResponse({"ready": status == 200, "checks": checks}, status_code=status)

    @app.get("/metrics")
    async def metrics() -> Response:
        body = await anyio.to_thread.run_sync(state.metrics.render)
        return Response(body, media_type=CONTENT_TYPE)

    @app.get("/api/jobs")
    async def list_jobs(
        wanted: Annotated[str | None, Query(alias="state")] = None, limit: int = 100
    ) -> Response:
        return await _list_jobs(state, wanted, limit)

    @app.get("/api/jobs/{job_id}")
    async def show_job(job_id: str) -> Response:
        try:
            job = await anyio.to_thread.run_sync(state.store.get, job_id)
        except db.StoreError:
            return JSONResponse({"error": f"no job {job_id!r}"}, status_code=404)
        return JSONResponse(job.to_dict())

    return app


async def _webhook(state: AppState, forge: str, request: Request) -> Response:
    started = time.perf_counter()
    label = forge if forge in FORGES else "unknown"
    try:
        body = await _read_body(request, state.settings.max_body_bytes)
        decision = receive(forge, state.settings, dict(request.headers), body, state.clock())
        response = await _act(state, forge, decision)
    except Rejected as exc:
        log.info("webhook %s rejected (%d): %s", forge, exc.status, exc.reason)
        state.metrics.webhooks.labels(label, f"rejected_{exc.status}").inc()
        response = JSONResponse({"status": "rejected", "reason": exc.reason}, exc.status)
    except db.StoreError as exc:
        # 503 makes GitLab and Jira deliver again later: nothing is lost.
        log.warning("webhook %s not queued: %s", forge, exc)
        state.metrics.webhooks.labels(label, "error").inc()
        response = JSONResponse({"status": "error", "reason": "job store unavailable"}, 503)
    state.metrics.webhook_seconds.labels(label).observe(time.perf_counter() - started)
    return response


async def _act(state: AppState, forge: str, decision: Decision) -> Response:
    if isinstance(decision, Ignored):
        result = "invalid_spec" if decision.invalid_spec else "ignored"
        log.info("webhook %s %s: %s", forge, result, decision.reason)
        state.metrics.webhooks.labels(forge, result).inc()
        return JSONResponse({"status": "ignored", "reason": decision.reason})
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
    if declared.isdigit() and int(declared) > limit:
        raise Rejected(413, f"body of {declared} bytes exceeds the limit of {limit}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Rejected(413, f"body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


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
    try:
        which = JobState(wanted) if wanted else None
    except ValueError:
        return JSONResponse({"error": f"unknown state {wanted!r}"}, status_code=400)
    jobs = await anyio.to_thread.run_sync(lambda: state.store.list(which, max(1, min(limit, 1000))))
    payload: dict[str, Any] = {"jobs": [job.to_dict() for job in jobs]}
    return JSONResponse(payload)
