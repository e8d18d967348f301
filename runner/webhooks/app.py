"""The HTTP surface: webhooks and health here; the guarded job API, `/metrics` and the
dashboard from `runner.api` (FastAPI).

Routes are thin: bytes in, `receive()` decides, the store queues, the answer says why.
A delivery is answered only after its job is durably queued. With `service.api_port` set,
the listener serves two apps: webhooks (facing the forge) and the API (kept internal).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

import anyio
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from runner import __version__
from runner.api import jobs as jobs_api
from runner.api import pages
from runner.api.state import AppState
from runner.store import db
from runner.webhooks.contract import (
    GITLAB_REQUEST,
    JIRA_REQUEST,
    REASON_CHARS,
    WEBHOOK_RESPONSES,
    Health,
    Readiness,
    short,
)
from runner.webhooks.decision import Decision, Ignored
from runner.webhooks.receive import FORGES, receive
from runner.webhooks.verify import Rejected

__all__ = ["REASON_CHARS", "AppState", "create_app"]

log = logging.getLogger("optirunner.webhooks")


def create_app(state: AppState, *, webhooks: bool = True, api: bool = True) -> FastAPI:
    """The ASGI application of one listener: the webhook routes, the API's, or both."""
    app = FastAPI(title="optirunner", version=__version__, docs_url=None, redoc_url=None)
    if webhooks:
        _add_webhook_routes(app, state)

    @app.get("/healthz", response_model=Health)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", responses={200: {"model": Readiness}, 503: {"model": Readiness}})
    async def readyz() -> Response:
        checks = await anyio.to_thread.run_sync(_readiness, state)
        status = 200 if all(checks.values()) else 503
        return JSONResponse({"ready": status == 200, "checks": checks}, status_code=status)

    if api:
        jobs_api.add_routes(app, state)
        pages.add_routes(app, state)
    return app


def _add_webhook_routes(app: FastAPI, state: AppState) -> None:
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
        reason = short(exc.reason)
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
        reason = short(decision.reason)
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


def _readiness(state: AppState) -> dict[str, bool]:
    checks = {"database": False, "migrations": False, "workers": state.accepting()}
    try:
        db.ping(state.store.engine)
        checks["database"] = True
        checks["migrations"] = db.current_revision(state.store.engine) == db.head_revision()
    except Exception:  # readiness reports a failure, it never raises one
        log.warning("readiness: database check failed", exc_info=True)
    return checks
