"""What the OpenAI and Anthropic clients share: calling `create`, mapping SDK errors.

Both official SDKs raise the same family of exceptions (`APITimeoutError`,
`APIConnectionError`, `APIStatusError` with `.status_code` and `.response`), so one
mapping turns either into the runner's typed `ProviderError`s.
"""

from __future__ import annotations

import email.utils
import inspect
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from runner.agent.errors import (
    ConnectionFailed,
    MalformedResponse,
    ProviderError,
    RateLimited,
    RequestRejected,
    RequestTimedOut,
    ServerError,
)

# Statuses worth retrying besides 5xx: request timeout, conflict (OpenAI uses it for locks).
_TRANSIENT = {408, 409}


def call_create(create: Callable[..., Any], body: Mapping[str, Any], timeout_s: float) -> Any:
    """Call an SDK `create` with `body`; fields the SDK version lacks go in `extra_body`.

    The body is what `payload()` returned (and what `--show-prompt` prints), so whatever
    the SDK version, exactly these fields are sent.
    """
    accepted = inspect.signature(create).parameters
    known = {k: v for k, v in body.items() if k in accepted}
    extra = {k: v for k, v in body.items() if k not in accepted}
    return create(**known, extra_body=extra or None, timeout=timeout_s)


def provider_error(exc: Exception, vendor: str) -> ProviderError | MalformedResponse:
    """The typed error for an SDK exception (timeouts, connection, HTTP status)."""
    name = type(exc).__name__
    if name == "APITimeoutError":
        return RequestTimedOut(f"{vendor}: no response in time")
    if name == "APIConnectionError":
        return ConnectionFailed(f"{vendor}: cannot connect: {exc}")
    status = getattr(exc, "status_code", None)
    if not isinstance(status, int):
        return MalformedResponse(f"{vendor}: unusable response: {name}: {exc}")
    message = f"{vendor}: HTTP {status}: {_message(exc)}"
    if status == 429:
        response = getattr(exc, "response", None)
        headers = getattr(response, "headers", {}) or {}
        return RateLimited(message, retry_after=retry_after(headers, datetime.now(UTC)))
    if status >= 500 or status in _TRANSIENT:
        return ServerError(message, status=status)
    return RequestRejected(message, status=status)


def _message(exc: Exception) -> str:
    """The server's own error message when the body has one, else the SDK's text."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return str(inner["message"])
    return str(getattr(exc, "message", exc))


def retry_after(headers: Mapping[str, str], now: datetime) -> float | None:
    """Seconds a 429 asks to wait: `retry-after-ms`, `retry-after` (seconds or HTTP date)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    if (ms := _number(lowered.get("retry-after-ms"))) is not None:
        return ms / 1000
    raw = lowered.get("retry-after")
    if raw is None:
        return None
    if (seconds := _number(raw)) is not None:
        return seconds
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - now).total_seconds())


def _number(raw: str | None) -> float | None:
    try:
        value = float(raw) if raw is not None else None
    except ValueError:
        return None
    return value if value is not None and value >= 0 else None
