"""Tokens, roles and session cookies: the pure core of the API's authentication.

A token is `opr_<id>_<secret>`: the id (12 hex digits) finds its row, the secret (256
random bits, URL-safe base64) is kept only as its SHA-256 and compared in constant time.
Roles are ordered: `metrics` scrapes `/metrics`; `viewer` also reads jobs and pages;
`operator` may also cancel and replay jobs through the API.

A module of its own below `runner.api` (which checks requests with it) and `runner.store`
(which keeps the digests), so that neither imports the other's layer.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from enum import StrEnum

from runner.errors import OptirunnerError

PREFIX = "opr_"
TOKEN_RE = re.compile(r"opr_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")
SESSION_COOKIE = "optirunner_session"
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._@+-]{0,127}")
# What an unknown id is compared against, so that a guess costs the same either way.
_NO_DIGEST = hashlib.sha256(b"no such token").hexdigest()


class Role(StrEnum):
    """What a token may do; each role may do what the ones before it may."""

    METRICS = "metrics"
    VIEWER = "viewer"
    OPERATOR = "operator"


_RANK = {Role.METRICS: 0, Role.VIEWER: 1, Role.OPERATOR: 2}


class BadToken(OptirunnerError):
    """A token name, role or value the CLI refuses."""


@dataclass(frozen=True)
class Principal:
    """Who a request is: the token it came with (directly or through a session)."""

    token_id: str
    name: str
    role: Role

    def may(self, needed: Role) -> bool:
        return _RANK[self.role] >= _RANK[needed]


@dataclass(frozen=True)
class NewToken:
    """A token as created: the value is shown once and never stored."""

    token_id: str
    value: str
    digest: str


def parse_role(text: str) -> Role:
    try:
        return Role(text)
    except ValueError:
        known = ", ".join(r.value for r in Role)
        raise BadToken(f"unknown role {text!r} (one of {known})") from None


def check_name(name: str) -> str:
    if not NAME_RE.fullmatch(name):
        raise BadToken(
            f"bad token name {name[:40]!r}: 1-128 letters, digits, spaces or ._@+- "
            "(starting with a letter or digit)"
        )
    return name


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def new_token() -> NewToken:
    token_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    return NewToken(token_id, f"{PREFIX}{token_id}_{secret}", digest(secret))


def split(value: str) -> tuple[str, str] | None:
    """(id, secret) of a well-formed token, None for anything else."""
    match = TOKEN_RE.fullmatch(value.strip())
    return (match.group(1), match.group(2)) if match else None


def matches(secret: str, stored: str | None) -> bool:
    """Whether `secret` hashes to `stored`, in constant time (None: compared all the same)."""
    return hmac.compare_digest(digest(secret), stored or _NO_DIGEST) and stored is not None


def bearer(header: str | None) -> str | None:
    """The credentials of an `Authorization: Bearer ...` header."""
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def new_session() -> tuple[str, str]:
    """A session cookie's value and the digest the store keeps."""
    value = secrets.token_urlsafe(32)
    return value, digest(value)


def session_cookie(value: str, max_age_s: int, *, secure: bool) -> str:
    """The `Set-Cookie` value: HttpOnly, SameSite=Strict, Secure when served over TLS."""
    parts = [
        f"{SESSION_COOKIE}={value}",
        "Path=/",
        f"Max-Age={max_age_s}",
        "HttpOnly",
        "SameSite=Strict",
    ]
    if secure:
        parts.append("Secure")
    return "; ".join(parts)


def cleared_cookie(*, secure: bool) -> str:
    return session_cookie("", 0, secure=secure)
