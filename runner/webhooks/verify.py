"""Request checks and signature verification: plain functions over headers and bytes.

Order matters: the body size and content type are checked before authentication, and the
body is decoded as JSON only after the sender proved it holds the secret.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

TOLERANCE_S = 300.0
MAX_DEPTH = 64  # deepest JSON nesting accepted; real GitLab and Jira events stay under 20
# Only a `\uD800`-`\uDFFF` escape can put a surrogate into the decoded text (UTF-8 cannot).
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


@dataclass(frozen=True)
class Rejected(Exception):
    """The request cannot be accepted: `status` is the HTTP status, `reason` says why."""

    status: int
    reason: str

    def __str__(self) -> str:
        return f"{self.status}: {self.reason}"


def lower_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Header names are case-insensitive; compare them in lower case."""
    return {k.lower(): v for k, v in headers.items()}


def check_size(body: bytes, limit: int) -> None:
    """413 when the body is larger than `limit` bytes."""
    if len(body) > limit:
        raise Rejected(413, f"body of {len(body)} bytes exceeds the limit of {limit}")


def check_content_type(headers: Mapping[str, str]) -> None:
    """415 unless the body is declared as JSON (parameters such as charset are allowed)."""
    declared = headers.get("content-type", "")
    media = declared.split(";", 1)[0].strip().lower()
    if media != "application/json":
        raise Rejected(415, f"content type must be application/json, not {declared or 'missing'!r}")


def parse_json(body: bytes) -> dict[str, Any]:
    """400 unless the body is UTF-8 text holding one JSON object the rest can handle.

    Everything that reads a payload may assume: valid Unicode (no lone surrogates, which no
    database or log accepts), nesting at most `MAX_DEPTH` deep (so `str()` of any part of it
    cannot recurse too far), numbers Python can convert.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise Rejected(400, "body is not UTF-8") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise Rejected(400, f"body is not valid JSON: {exc.msg} at {exc.pos}") from None
    except RecursionError:
        raise Rejected(400, f"body is nested more than {MAX_DEPTH} levels deep") from None
    except ValueError:  # an integer of more than 4300 digits (sys.get_int_max_str_digits)
        raise Rejected(400, "body holds a number too large to read") from None
    if not isinstance(data, dict):
        raise Rejected(400, "body must be a JSON object")
    if _SURROGATE_ESCAPE.search(text) and not _valid_unicode(data):
        raise Rejected(400, "body holds a lone surrogate escape (not valid Unicode)")
    if text.count("{") + text.count("[") > MAX_DEPTH and _too_deep(data):
        raise Rejected(400, f"body is nested more than {MAX_DEPTH} levels deep")
    return data


def _valid_unicode(data: dict[str, Any]) -> bool:
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _too_deep(data: dict[str, Any]) -> bool:
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            return True
        items = value.values() if isinstance(value, dict) else value
        stack.extend((item, depth + 1) for item in items if isinstance(item, dict | list))
    return False


def check_token(presented: str | None, expected: str) -> None:
    """401 unless the shared token matches; constant time so timing leaks nothing."""
    if presented is None:
        raise Rejected(401, "missing token")
    if not hmac.compare_digest(presented.encode(), expected.encode()):
        raise Rejected(401, "wrong token")


def check_hub_signature(headers: Mapping[str, str], body: bytes, secret: str) -> None:
    """401 unless `X-Hub-Signature: sha256=<hex HMAC-SHA256 of the raw body>` matches."""
    header = headers.get("x-hub-signature")
    if not header:
        raise Rejected(401, "missing X-Hub-Signature")
    method, _, given = header.partition("=")
    if method.strip().lower() != "sha256" or not given:
        raise Rejected(401, "X-Hub-Signature must be sha256=<hex>")
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(given.strip().lower().encode(), expected.encode()):
        raise Rejected(401, "bad signature")


def standard_key(secret: str) -> bytes:
    """The HMAC key of a Standard Webhooks secret: base64 after the `whsec_` prefix."""
    try:
        return base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):
        raise Rejected(401, "the configured signing key is not valid base64") from None


def standard_signature(key: bytes, msg_id: str, timestamp: str, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, as a sender computes it."""
    signed = msg_id.encode() + b"." + timestamp.encode() + b"." + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def check_standard_signature(
    headers: Mapping[str, str], body: bytes, secret: str, now: float, tolerance: float = TOLERANCE_S
) -> None:
    """401 unless one `webhook-signature` entry matches and the timestamp is recent."""
    msg_id = headers.get("webhook-id")
    timestamp = headers.get("webhook-timestamp")
    signatures = headers.get("webhook-signature")
    if not msg_id or not timestamp or not signatures:
        raise Rejected(401, "missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        sent = int(timestamp)
    except ValueError:
        raise Rejected(401, "webhook-timestamp is not an integer") from None
    # A replayed capture is refused once it is older (or newer) than the tolerance.
    # (An int beyond 2**53 is past any tolerance; `now - sent` would overflow a float.)
    if abs(sent) > 2**53 or abs(now - sent) > tolerance:
        raise Rejected(401, "webhook-timestamp is outside the tolerance")
    expected = standard_signature(standard_key(secret), msg_id, timestamp, body)
    # Several space-separated signatures allow key rotation; any valid v1 one is enough.
    for candidate in signatures.split():
        if candidate.startswith("v1,") and hmac.compare_digest(
            candidate.encode(), expected.encode()
        ):
            return
    raise Rejected(401, "bad signature")
