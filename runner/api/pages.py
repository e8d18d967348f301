"""The dashboard: read-only pages (Jinja2, autoescaped, no script, every asset in the
package) and their JSON twins under `/api/`. Signing in exchanges a token for a session
cookie; changing a job stays the CLI's (each page shows the command), or the API's with
an operator token."""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs

import anyio
from fastapi import Depends, FastAPI, Query, Request, Response
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse
from jinja2 import Environment, PackageLoader, select_autoescape

from runner import __version__, auth
from runner.api import views
from runner.api.access import guard
from runner.api.jobs import end_session, start_session
from runner.api.state import AppState
from runner.auth import Principal, Role
from runner.store import db
from runner.store.models import JobState
from runner.webhooks.contract import AUTH_ERRORS, ApiError

log = logging.getLogger("optirunner.dashboard")
STATIC = Path(__file__).parent / "static"
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; img-src 'self'; style-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
MAX_FORM_BYTES = 4096
# The query of the jobs list, documented here; `views.parse_filters` checks it (400 with a
# message rather than FastAPI's 422, and for the page too).
StateQuery = Annotated[
    str | None,
    Query(
        alias="state",
        description="Only jobs in this state",
        json_schema_extra={"enum": [s.value for s in JobState]},
    ),
]
RepositoryQuery = Annotated[str | None, Query(description="Only jobs of this repository")]
PageQuery = Annotated[str | None, Query(alias="page", description="Page number, from 1")]
_STORE_DOWN: dict[int | str, dict[str, Any]] = {
    503: {"model": ApiError, "description": "The job store is unavailable"}
}
_OBJECT = {"content": {"application/json": {"schema": {"type": "object"}}}}
LIST_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The rows of the page, its filters, whether a next page exists",
        **_OBJECT,
    },
    400: {"model": ApiError, "description": "A malformed or unknown query parameter"},
    **AUTH_ERRORS,
    **_STORE_DOWN,
}
CSV_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The page's rows as CSV",
        "content": {"text/csv": {"schema": {"type": "string"}}},
    },
    400: LIST_ANSWERS[400],
    **AUTH_ERRORS,
    **_STORE_DOWN,
}
JOB_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {"description": "The job, its candidates, diff, report state and log tail", **_OBJECT},
    404: {"model": ApiError, "description": "No such job"},
    **AUTH_ERRORS,
    **_STORE_DOWN,
}
TRACE_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {"description": "Spans in start order, bars of the waterfall, agent totals", **_OBJECT},
    404: {"model": ApiError, "description": "No such job"},
    **AUTH_ERRORS,
    **_STORE_DOWN,
}
QUEUE_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {"description": "Counts by state, leases, retries and the last errors", **_OBJECT},
    **AUTH_ERRORS,
    **_STORE_DOWN,
}
REFRESH_S = 10  # pages with a running job reload themselves this often

_env = Environment(
    loader=PackageLoader("runner.api", "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def _speed(value: Any) -> str:
    return f"{value:.2f}×" if isinstance(value, int | float) else "–"


def _seconds(value: Any) -> str:
    if not isinstance(value, int | float):
        return "–"
    if value < 120:
        return f"{value:.1f} s"
    return f"{value / 60:.1f} min"


_env.filters["speed"] = _speed
_env.filters["seconds"] = _seconds


def render(name: str, status: int = 200, **context: Any) -> HTMLResponse:
    body = _env.get_template(name).render(version=__version__, **context)
    return HTMLResponse(body, status_code=status, headers=PAGE_HEADERS)


def add_routes(app: FastAPI, state: AppState) -> None:
    """The pages, their JSON twins, the sign-in and the static assets."""
    page = Depends(guard(state, Role.VIEWER, page=True))
    viewer = Depends(guard(state, Role.VIEWER))

    @app.get("/static/dashboard.css", include_in_schema=False)
    async def stylesheet() -> Response:
        return FileResponse(STATIC / "dashboard.css", media_type="text/css")

    @app.get("/", include_in_schema=False)
    async def home() -> Response:
        return RedirectResponse("/jobs", status_code=303)

    @app.get("/login", include_in_schema=False)
    async def login_form(request: Request) -> Response:
        return render("login.html", next=_next(request.query_params.get("next")))

    @app.post("/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        return await _login(state, request)

    @app.post("/logout", include_in_schema=False)
    async def logout(request: Request) -> Response:
        if not _same_origin(request):
            return render("error.html", 403, message="cross-site sign-out refused")
        return await end_session(state, request, RedirectResponse("/login", status_code=303))

    # -- jobs ----------------------------------------------------------------------------------
    @app.get("/jobs", include_in_schema=False)
    async def jobs_html(request: Request, principal: Principal = page) -> Response:
        return await _page(
            state, lambda: _jobs_view(state, dict(request.query_params)), "jobs.html", principal
        )

    async def jobs_twin(
        request: Request,
        state_: StateQuery = None,
        repository: RepositoryQuery = None,
        page_: PageQuery = None,
        _: Principal = viewer,
    ) -> Response:
        """The jobs page as JSON, or (the `.csv` route) its rows as CSV."""
        view = await _view(state, lambda: _jobs_view(state, dict(request.query_params)), json=True)
        if isinstance(view, Response):
            return view
        if not request.url.path.endswith(".csv"):
            return JSONResponse(view)
        return Response(
            _csv(view["jobs"]),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="optirunner-jobs.csv"'},
        )

    for path, answers, summary in (
        ("/api/dashboard/jobs", LIST_ANSWERS, "The jobs page, as JSON"),
        ("/api/dashboard/jobs.csv", CSV_ANSWERS, "The jobs table as CSV"),
    ):
        app.add_api_route(
            path, jobs_twin, methods=["GET"], responses=answers, summary=summary, name=path
        )

    @app.get("/jobs/{job_id}", include_in_schema=False)
    async def job_html(job_id: str, principal: Principal = page) -> Response:
        return await _page(state, lambda: _job_view(state, job_id), "job.html", principal)

    @app.get("/api/dashboard/jobs/{job_id}", responses=JOB_ANSWERS, summary="A job's page, as JSON")
    async def job_json(job_id: str, _: Principal = viewer) -> Response:
        return await _twin(state, lambda: _job_view(state, job_id))

    @app.get("/jobs/{job_id}/trace", include_in_schema=False)
    async def trace_html(job_id: str, principal: Principal = page) -> Response:
        return await _page(state, lambda: _trace_view(state, job_id), "trace.html", principal)

    @app.get(
        "/api/dashboard/jobs/{job_id}/trace",
        responses=TRACE_ANSWERS,
        summary="A job's trace (its redacted spans), as JSON",
    )
    async def trace_json(job_id: str, _: Principal = viewer) -> Response:
        return await _twin(state, lambda: _trace_view(state, job_id))

    @app.get("/jobs/{job_id}/plots/{name}", include_in_schema=False)
    async def plot(job_id: str, name: str, _: Principal = page) -> Response:
        path = await anyio.to_thread.run_sync(_plot_path, state, job_id, name)
        if path is None:
            return render("error.html", 404, message="no such plot")
        return FileResponse(path, media_type="image/png", headers={"Cache-Control": "no-store"})

    # -- queue ---------------------------------------------------------------------------------
    @app.get("/queue", include_in_schema=False)
    async def queue_html(principal: Principal = page) -> Response:
        return await _page(
            state, lambda: _queue_view(state), "queue.html", principal, always_refresh=True
        )

    @app.get("/api/dashboard/queue", responses=QUEUE_ANSWERS, summary="The queue page, as JSON")
    async def queue_json(_: Principal = viewer) -> Response:
        return await _twin(state, lambda: _queue_view(state))


class _NotFound(Exception):
    pass


async def _page(
    state: AppState,
    build: Callable[[], Any],
    template: str,
    principal: Principal,
    *,
    always_refresh: bool = False,
) -> Response:
    """A page: its view rendered, reloading itself while a job runs (or always)."""
    view = await _view(state, build)
    if isinstance(view, Response):
        return view
    refresh = always_refresh or view["running"]
    return render(template, view=view, principal=principal, refresh=refresh)


async def _twin(state: AppState, build: Callable[[], Any]) -> Response:
    """A page's JSON twin: the same view."""
    view = await _view(state, build, json=True)
    return view if isinstance(view, Response) else JSONResponse(view)


async def _view(state: AppState, build: Callable[[], Any], *, json: bool = False) -> Any:
    """Build a view in a thread, redacted; errors become their page (or JSON answer)."""
    try:
        view = await anyio.to_thread.run_sync(build)
    except views.BadQuery as exc:
        return _error(400, str(exc), json)
    except _NotFound as exc:
        return _error(404, str(exc), json)
    except db.StoreError as exc:
        log.warning("dashboard: %s", exc)
        return _error(503, "job store unavailable", json)
    return views.redacted(view, state.redactor)


def _error(status: int, message: str, json: bool) -> Response:
    if json:
        return JSONResponse({"error": message}, status_code=status)
    return render("error.html", status, message=message)


def _jobs_view(state: AppState, params: dict[str, str]) -> dict[str, Any]:
    filters = views.parse_filters(params)
    offset = (filters["page"] - 1) * views.PAGE_SIZE
    jobs = state.store.list(
        filters["state"], views.PAGE_SIZE + 1, offset=offset, repository=filters["repository"]
    )
    return views.jobs_page(jobs, filters, state.store.repositories(), state.clock())


def _job_dir(state: AppState, job_id: str) -> Path:
    return state.jobs_dir / job_id


def _job_view(state: AppState, job_id: str) -> dict[str, Any]:
    job = _get(state, job_id)
    row = state.store.get_report(job.id)
    return views.job_page(job, _job_dir(state, job.id), row, state.clock())


def _get(state: AppState, job_id: str) -> Any:
    try:
        return state.store.get(job_id)
    except db.StoreError:
        db.ping(state.store.engine)  # unreachable: the StoreError goes on (503)
        raise _NotFound(f"no job {job_id[:80]!r}") from None


def _trace_view(state: AppState, job_id: str) -> dict[str, Any]:
    job = _get(state, job_id)
    return views.trace_page(job, _job_dir(state, job.id), state.clock())


def _plot_path(state: AppState, job_id: str, name: str) -> Path | None:
    try:
        job = _get(state, job_id)
    except (_NotFound, db.StoreError):
        return None
    return views.plot_path(_job_dir(state, job.id), name)


def _queue_view(state: AppState) -> dict[str, Any]:
    store = state.store
    return views.queue_page(
        store.counts(),
        store.list(JobState.RUNNING, 200),
        store.list(JobState.QUEUED, 200),
        [*store.list(JobState.FAILED, 10), *store.list(JobState.DEAD, 10)],
        state.clock(),
    )


CSV_COLUMNS = ("id", "state", "repository", "targets", "issue", "created", "duration_s", "outcome")


def _csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        values = [
            row["id"],
            row["state"],
            row["repository"] or "",
            " ".join(row["targets"]),
            row["trigger"]["issue"] or "",
            row["created"] or "",
            "" if row["duration_s"] is None else f"{row['duration_s']:.1f}",
            row["outcome"],
        ]
        # A cell starting with = + - @ is a formula to a spreadsheet: quote it as text.
        writer.writerow([f"'{v}" if str(v)[:1] in "=+-@\t\r" else v for v in values])
    return out.getvalue()


def _next(raw: str | None) -> str:
    """Where to go after signing in: a path of this site only."""
    if raw and raw.startswith("/") and not raw.startswith(("//", "/\\")) and len(raw) < 2048:
        return raw
    return "/jobs"


def _same_origin(request: Request) -> bool:
    """A form post from this site. Browsers say so in `Sec-Fetch-Site`; older ones only in
    `Origin` (compared with the Host). A request with neither is not a browser's: allowed."""
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site in {"same-origin", "none"}
    origin = request.headers.get("origin")
    if origin is None:
        return True
    return origin.split("://", 1)[-1] == request.headers.get("host", "")


async def _login(state: AppState, request: Request) -> Response:
    if not _same_origin(request):
        return render("error.html", 403, message="cross-site sign-in refused")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return render("login.html", 413, next="/jobs", error="the form is too large")
    form = parse_qs(body.decode("utf-8", errors="replace"), max_num_fields=4)
    target = _next(form.get("next", [""])[0])
    value = (form.get("token") or [""])[0].strip()
    try:
        principal = await anyio.to_thread.run_sync(state.token_store.authenticate, value)
    except db.StoreError as exc:
        log.warning("sign-in: %s", exc)
        return render("login.html", 503, next=target, error="the job store is unavailable")
    if principal is None or not principal.may(Role.VIEWER):
        log.info("sign-in refused: invalid, revoked or metrics-only token")
        return render(
            "login.html", 401, next=target, error="invalid, revoked or metrics-only token"
        )
    return await start_session(
        state, principal, request, lambda _: RedirectResponse(target, status_code=303)
    )


__all__ = ["add_routes", "auth"]
