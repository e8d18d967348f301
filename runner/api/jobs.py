"""The job API (`/api/...`) and `/metrics`: read for viewers, cancel and replay for
operators, sessions for the browser. Every route is guarded (runner.api.access)."""

from __future__ import annotations

import logging
from typing import Annotated, Any

import anyio
from fastapi import Depends, FastAPI, Query, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse

from runner import auth
from runner.api.access import Denied, guard, secure
from runner.api.state import AppState
from runner.auth import Principal, Role
from runner.metrics import CONTENT_TYPE
from runner.store import db
from runner.store.models import IllegalTransition, JobState
from runner.webhooks.contract import (
    AUTH_ERRORS,
    JobAction,
    JobList,
    JobRecord,
    Session,
    api_responses,
    short,
)

log = logging.getLogger("optirunner.api")


def add_routes(app: FastAPI, state: AppState) -> None:
    """The API's routes, on `app` (the one listener, or the separate API listener)."""
    viewer = Depends(guard(state, Role.VIEWER))
    scraper = Depends(guard(state, Role.METRICS))
    operator = Depends(guard(state, Role.OPERATOR, cookie=False))
    bearer_only = Depends(guard(state, Role.VIEWER, cookie=False))  # metrics tokens: no session

    @app.exception_handler(Denied)
    async def denied(request: Request, exc: Denied) -> Response:
        return exc.answer(request)

    @app.get("/metrics", response_class=PlainTextResponse, responses=AUTH_ERRORS)
    async def metrics(_: Principal = scraper) -> Response:
        body = await anyio.to_thread.run_sync(state.metrics.render)
        return Response(body, media_type=CONTENT_TYPE)

    @app.get("/api/jobs", responses=api_responses(JobList, (400, "Unknown state")))
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
        _: Principal = viewer,
    ) -> Response:
        return await _list_jobs(state, wanted, limit)

    @app.get("/api/jobs/{job_id}", responses=api_responses(JobRecord, (404, "No such job")))
    async def show_job(job_id: str, _: Principal = viewer) -> Response:
        return await _show_job(state, job_id)

    for action in ("cancel", "replay"):
        app.add_api_route(
            f"/api/jobs/{{job_id}}/{action}",
            _action_route(state, action),
            methods=["POST"],
            name=f"{action}_job",
            summary=f"{action.capitalize()} a job (operator role, bearer token only)",
            dependencies=[operator],
            responses=api_responses(
                JobAction, (404, "No such job"), (409, f"The job's state does not allow {action}")
            ),
        )

    @app.post("/api/session", responses=api_responses(Session))
    async def open_session(request: Request, principal: Principal = bearer_only) -> Response:
        """Exchange a bearer token for a session cookie (HttpOnly, SameSite=Strict, Secure
        over TLS): the browser's way in."""
        return await start_session(state, principal, request, JSONResponse)

    @app.delete("/api/session", status_code=204)
    async def close_session(request: Request) -> Response:
        """End the request's session (no credentials needed: without one, nothing ends)."""
        return await end_session(state, request, Response(status_code=204))


async def start_session(
    state: AppState, principal: Principal, request: Request, answer: Any
) -> Response:
    """Open a session for `principal` and set its cookie on the answer `answer(body)` builds
    (JSON for the API; the login page passes a redirect)."""
    ttl = int(state.settings.session_ttl_s)
    try:
        value = await anyio.to_thread.run_sync(state.token_store.open_session, principal, ttl)
    except db.StoreError as exc:
        log.warning("session: %s", exc)
        return JSONResponse({"error": "job store unavailable"}, status_code=503)
    body = {"name": principal.name, "role": principal.role.value, "expires_at": state.clock() + ttl}
    response: Response = answer(body)
    response.headers["set-cookie"] = auth.session_cookie(value, ttl, secure=secure(request))
    response.headers["cache-control"] = "no-store"
    log.info("session opened for token %s (%s)", principal.token_id, principal.name)
    return response


async def end_session(state: AppState, request: Request, response: Response) -> Response:
    value = request.cookies.get(auth.SESSION_COOKIE)
    if value:
        try:
            await anyio.to_thread.run_sync(state.token_store.end_session, value)
        except db.StoreError as exc:
            log.warning("session: %s", exc)
            return JSONResponse({"error": "job store unavailable"}, status_code=503)
    response.headers["set-cookie"] = auth.cleared_cookie(secure=secure(request))
    return response


def _action_route(state: AppState, action: str) -> Any:
    async def route(job_id: str, request: Request) -> Response:
        principal: Principal = request.state.principal
        store = state.store
        call = store.cancel if action == "cancel" else store.replay
        try:
            new = await anyio.to_thread.run_sync(call, job_id)
        except IllegalTransition as exc:
            return JSONResponse({"error": short(str(exc))}, status_code=409)
        except db.StoreError as exc:
            return await _missing_or_down(state, job_id, exc)
        log.info("job %s: %s by token %s (%s)", job_id, action, principal.token_id, principal.name)
        return JSONResponse({"job_id": job_id, "state": new.value})

    return route


async def _list_jobs(state: AppState, wanted: str | None, limit: int) -> Response:
    which: JobState | None = None
    if wanted is not None:  # `?state=` too: an empty state is no state
        try:
            which = JobState(wanted)
        except ValueError:
            return JSONResponse({"error": f"unknown state {short(wanted)!r}"}, status_code=400)
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
        return await _missing_or_down(state, job_id, exc)
    return JSONResponse(job.to_dict())


async def _missing_or_down(state: AppState, job_id: str, exc: db.StoreError) -> Response:
    # The store says "no job" and "unreachable" with one error: ask the database which.
    if not await anyio.to_thread.run_sync(_answers, state):
        log.warning("job API: %s", exc)
        return JSONResponse({"error": "job store unavailable"}, status_code=503)
    return JSONResponse({"error": f"no job {short(job_id)!r}"}, status_code=404)


def _answers(state: AppState) -> bool:
    try:
        db.ping(state.store.engine)
    except db.StoreError:
        return False
    return True
