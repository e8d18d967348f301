"""Who may call a route: a bearer token or a session cookie, checked against the role the
route needs. Without valid credentials the answer is 401 (JSON for the API, the login
page for the dashboard), never data; with a role too weak, 403."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from urllib.parse import quote

import anyio
from fastapi import Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from runner import auth
from runner.api.state import AppState
from runner.auth import Principal, Role
from runner.store import db

log = logging.getLogger("optirunner.api")


class Denied(Exception):
    """Raised by a route's guard; `answer()` turns it into the response."""

    def __init__(self, status: int, reason: str, *, page: bool = False) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.page = page

    def answer(self, request: Request) -> Response:
        if self.page and self.status == 401:  # a browser without a session: sign in first
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
        headers = {"WWW-Authenticate": 'Bearer realm="optirunner"'} if self.status == 401 else {}
        return JSONResponse({"error": self.reason}, status_code=self.status, headers=headers)


def guard(
    state: AppState, needed: Role, *, cookie: bool = True, page: bool = False
) -> Callable[[Request], Awaitable[Principal]]:
    """A FastAPI dependency: the request's principal, or Denied. `cookie=False` routes (the
    ones that change jobs) take a bearer token only, so a page can never trigger them."""

    async def dependency(request: Request) -> Principal:
        principal = await identify(state, request, cookie=cookie)
        if principal is None:
            raise Denied(401, _why(request, cookie), page=page)
        if not principal.may(needed):
            raise Denied(
                403, f"the {principal.role.value} role may not do this ({needed.value} may)"
            )
        request.state.principal = principal
        return principal

    return dependency


async def identify(state: AppState, request: Request, *, cookie: bool) -> Principal | None:
    """The principal of the request's bearer token, else (when allowed) of its cookie."""
    token = auth.bearer(request.headers.get("authorization"))
    session = request.cookies.get(auth.SESSION_COOKIE) if cookie else None
    if token is None and not session:
        return None
    tokens = state.token_store
    try:
        if token is not None:
            return await anyio.to_thread.run_sync(tokens.authenticate, token)
        assert session is not None  # noqa: S101 - checked above
        return await anyio.to_thread.run_sync(tokens.session, session)
    except db.StoreError as exc:
        log.warning("authentication: %s", exc)
        raise Denied(503, "job store unavailable") from None


def _why(request: Request, cookie: bool) -> str:
    header = request.headers.get("authorization")
    if header is None and not (cookie and request.cookies.get(auth.SESSION_COOKIE)):
        if not cookie and request.cookies.get(auth.SESSION_COOKIE):
            return "this call takes a bearer token, not a session cookie"
        return (
            "authentication required: send 'Authorization: Bearer <token>' (optirunner tokens add)"
        )
    if header is not None and auth.bearer(header) is None:
        return "the Authorization header must be 'Bearer <token>'"
    return "invalid, revoked or expired credentials"


def secure(request: Request) -> bool:
    """Whether the request came over TLS (directly, or from a trusted local proxy that said
    so with X-Forwarded-Proto: uvicorn's proxy headers)."""
    return request.url.scheme == "https"
