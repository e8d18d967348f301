"""What of an event may be kept: the redactor applied to every field, and the content policy.

Content attributes (prompts, responses, code, command output) follow the policy:
`redacted` keeps them redacted, `hash` keeps only `sha256:<hex>` of the redacted text
(so a hash cannot confirm a guessed secret) and its length, `none` drops them. Every
other string is redacted. If processing an event fails, its attributes are replaced by
a placeholder (fail closed) and the structural fields (ids, times, status) are kept.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from typing import Any

from runner.telemetry.redact import FAILED, Redactor
from runner.telemetry.settings import ContentPolicy

Event = dict[str, Any]

CONTENT_KEYS = frozenset(
    {
        "prompt",
        "response",
        "completion",
        "code",
        "source",
        "diff",
        "patch",
        "output",
        "stdout",
        "stderr",
        "gen_ai.prompt",
        "gen_ai.completion",
        "gen_ai.input.messages",
        "gen_ai.output.messages",
        "gen_ai.system_instructions",
    }
)
CONTENT_SUFFIXES = tuple(f".{key}" for key in CONTENT_KEYS if "." not in key)
STRUCTURAL = (
    "job_id",
    "trace_id",
    "span_id",
    "parent_id",
    "start",
    "end",
    "status",
    "event_id",
)


def is_content(key: str) -> bool:
    """Whether attribute `key` holds content (prompt, response, code, command output)."""
    return key in CONTENT_KEYS or key.startswith("content.") or key.endswith(CONTENT_SUFFIXES)


_BEGIN = re.compile(r"-----BEGIN [A-Z0-9 ]*-----")
_END = re.compile(r"-----END [A-Z0-9 ]*-----")


def output_tail(text: str, *, lines: int = 40, chars: int = 8192) -> str:
    """The end of a command's output, cut so that redaction still sees whole secrets.

    At most `lines` lines and about `chars` characters, cut at line starts. A line longer
    than that is cut after its first whitespace past the limit (a token is never kept in
    part) or left out. A tail that starts inside a `-----BEGIN …-----` block leaves the
    rest of that block out (its lines alone would not look like a key). Redaction itself
    happens later, on every attribute: this only chooses what to keep.
    """
    kept = text.splitlines(keepends=True)[-lines:] if text else []
    while len(kept) > 1 and sum(map(len, kept)) > chars:
        kept.pop(0)
    tail = "".join(kept)
    if len(tail) > chars:  # one line longer than the limit
        cut = tail[-chars:]
        space = re.search(r"\s", cut)
        tail = f"… {cut[space.end() :]}" if space else f"[{len(tail)} characters left out]"
    head = text[: len(text) - len("".join(kept))] if kept else ""
    begin = head.rfind("-----BEGIN ")
    if begin >= 0 and _BEGIN.match(head, begin) and not _END.search(head, begin):
        end = _END.search(tail)  # the tail starts inside a key block: leave the block out
        tail = f"[key block left out]{tail[end.end() :]}" if end else "[key block left out]"
    return tail


def content_digest(redacted: Any) -> str:
    """`sha256:<hex>` of a redacted content value (strings as UTF-8, others as JSON)."""
    text = redacted if isinstance(redacted, str) else json.dumps(redacted, sort_keys=True)
    return "sha256:" + hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()


class EventRedactor:
    """The processor a `Tracer` applies to every event before any sink sees it."""

    def __init__(self, redactor: Redactor, content: ContentPolicy = "redacted") -> None:
        self.redactor = redactor
        self.content = content

    def add_secrets(self, secrets: Iterable[str]) -> None:
        """Also mask these values from now on (e.g. the environment of a sandbox command)."""
        self.redactor = self.redactor.with_secrets(secrets)

    def __call__(self, event: Event) -> Event:
        try:
            return self._process(event)
        except Exception:  # fail closed
            kept = {k: event.get(k) for k in STRUCTURAL if k in event}
            return {**kept, "name": FAILED, "attributes": {"redaction": FAILED}}

    def _process(self, event: Event) -> Event:
        out: Event = {}
        for key, value in event.items():
            if key == "attributes":
                out[key] = self.attributes(value)
            elif key == "events":
                out[key] = [self.span_event(item) for item in value]
            elif key in STRUCTURAL:
                out[key] = value
            else:
                out[key] = self.redactor.redact_value(value, key)
        return out

    def span_event(self, item: dict[str, Any]) -> dict[str, Any]:
        """A span event (name, time, attributes): redacted like the span itself."""
        return {
            "name": self.redactor.redact_value(item.get("name", "")),
            "time": item.get("time"),
            "attributes": self.attributes(item.get("attributes") or {}),
        }

    def attributes(self, attributes: dict[str, Any]) -> dict[str, Any]:
        """Redact attributes; apply the content policy to content attributes."""
        out: dict[str, Any] = {}
        for key, value in attributes.items():
            if not is_content(key):
                out[key] = self.redactor.redact_value(value, key)
            elif self.content == "redacted":
                out[key] = self.redactor.redact_value(value)
            elif self.content == "hash":
                redacted = self.redactor.redact_value(value)
                out[key] = content_digest(redacted)
                out[f"{key}.length"] = len(value) if isinstance(value, str | list) else None
        return out
