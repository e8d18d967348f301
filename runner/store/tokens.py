"""API tokens and browser sessions in the job database (`api_tokens`, `api_sessions`).

Only digests are stored; `runner.auth` makes and checks the values. Time is injected.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, select, update
from sqlalchemy.exc import SQLAlchemyError

from runner import auth
from runner.auth import BadToken, Principal, Role
from runner.store.db import raise_store_error
from runner.store.models import api_sessions, api_tokens

# `last_used_at` is written at most this often per token: a dashboard refreshing every few
# seconds must not turn every read into a database write.
TOUCH_EVERY_S = 60.0


@dataclass(frozen=True)
class TokenInfo:
    """A token's row, without its digest (what `tokens list` shows)."""

    token_id: str
    name: str
    role: Role
    created_at: float
    last_used_at: float | None
    revoked_at: float | None

    @classmethod
    def from_row(cls, row: Any) -> TokenInfo:
        return cls(
            row.id, row.name, Role(row.role), row.created_at, row.last_used_at, row.revoked_at
        )

    def to_dict(self) -> dict[str, Any]:
        data = self.__dict__.copy()
        data["role"] = self.role.value
        return data


class TokenStore:
    """Create, list, revoke and check tokens; open, check and end sessions."""

    def __init__(self, engine: Engine, clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.clock = clock

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        try:
            with self.engine.begin() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise_store_error(exc, "token database error", str(self.engine.url))

    # -- the CLI's side ------------------------------------------------------------------------
    def add(self, name: str, role: Role) -> tuple[TokenInfo, str]:
        """A new token; its value is returned once and only its digest is kept."""
        auth.check_name(name)
        made = auth.new_token()
        now = self.clock()
        with self._tx() as conn:
            conn.execute(
                insert(api_tokens).values(
                    id=made.token_id, name=name, role=role.value, digest=made.digest, created_at=now
                )
            )
        return TokenInfo(made.token_id, name, role, now, None, None), made.value

    def list(self) -> list[TokenInfo]:
        query = select(api_tokens).order_by(api_tokens.c.created_at, api_tokens.c.id)
        with self._tx() as conn:
            return [TokenInfo.from_row(row) for row in conn.execute(query)]

    def revoke(self, ref: str) -> TokenInfo:
        """Revoke the token with this id or name (a name must be unambiguous among the live
        tokens); its sessions end with it."""
        with self._tx() as conn:
            rows = conn.execute(
                select(api_tokens).where(
                    (api_tokens.c.id == ref)
                    | ((api_tokens.c.name == ref) & api_tokens.c.revoked_at.is_(None))
                )
            ).all()
            if not rows:
                raise BadToken(f"no token {ref!r} (see `optirunner tokens list`)")
            if len(rows) > 1:
                ids = ", ".join(row.id for row in rows)
                raise BadToken(f"{len(rows)} live tokens are named {ref!r}: revoke by id ({ids})")
            row = rows[0]
            now = self.clock()
            if row.revoked_at is None:
                conn.execute(
                    update(api_tokens).where(api_tokens.c.id == row.id).values(revoked_at=now)
                )
            conn.execute(delete(api_sessions).where(api_sessions.c.token_id == row.id))
            info = TokenInfo.from_row(row)
        return TokenInfo(**{**info.__dict__, "revoked_at": row.revoked_at or now})

    # -- the listener's side -------------------------------------------------------------------
    def authenticate(self, value: str) -> Principal | None:
        """The principal of a live token, None for anything else (malformed, unknown,
        revoked or wrong secret: one answer, and the same work for each)."""
        parts = auth.split(value)
        token_id, secret = parts if parts else ("", "")
        with self._tx() as conn:
            row = conn.execute(select(api_tokens).where(api_tokens.c.id == token_id)).first()
            stored = row.digest if row is not None and row.revoked_at is None else None
            if not auth.matches(secret, stored) or row is None:
                return None
            now = self.clock()
            if row.last_used_at is None or now - row.last_used_at >= TOUCH_EVERY_S:
                conn.execute(
                    update(api_tokens).where(api_tokens.c.id == row.id).values(last_used_at=now)
                )
        return Principal(row.id, row.name, Role(row.role))

    def open_session(self, principal: Principal, ttl_s: float) -> str:
        """A session for `principal`, valid `ttl_s`; returns the cookie's value. Expired
        sessions are removed on the way."""
        value, key = auth.new_session()
        now = self.clock()
        with self._tx() as conn:
            conn.execute(delete(api_sessions).where(api_sessions.c.expires_at <= now))
            conn.execute(
                insert(api_sessions).values(
                    digest=key, token_id=principal.token_id, created_at=now, expires_at=now + ttl_s
                )
            )
        return value

    def session(self, value: str) -> Principal | None:
        """The principal of a live session (its token not revoked, not expired)."""
        if not value or len(value) > 128:
            return None
        query = (
            select(api_tokens.c.id, api_tokens.c.name, api_tokens.c.role)
            .select_from(api_sessions.join(api_tokens, api_tokens.c.id == api_sessions.c.token_id))
            .where(
                api_sessions.c.digest == auth.digest(value),
                api_sessions.c.expires_at > self.clock(),
                api_tokens.c.revoked_at.is_(None),
            )
        )
        with self._tx() as conn:
            row = conn.execute(query).first()
        return Principal(row.id, row.name, Role(row.role)) if row is not None else None

    def end_session(self, value: str) -> None:
        with self._tx() as conn:
            conn.execute(delete(api_sessions).where(api_sessions.c.digest == auth.digest(value)))
