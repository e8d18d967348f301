"""Masks credentials, known secret values and (opt-in) personal data in trace text.

Pure and deterministic: no I/O, no global state. `Redactor.redact(text)` returns the
text with every finding replaced by `[REDACTED:<rule>]`; it never raises (fail closed:
if anything goes wrong the whole value becomes `[REDACTED:redaction-failed]`).
`StreamRedactor` does the same for text that arrives in pieces (command output),
holding back a tail so that a secret split across two writes is still masked.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus

from runner.telemetry.rules import ASSIGNMENT_RULES, FORMAT_RULES, PII_RULES, Rule

FAILED = "[REDACTED:redaction-failed]"
KNOWN_SECRET_RULE = "known-secret"  # noqa: S105 - a rule name
MIN_KNOWN_SECRET_LENGTH = 6
_B64_CHARS = "[A-Za-z0-9+/_-]"
_SENSITIVE_KEY = re.compile(
    r"(?i)(?:passw(?:or)?d|secret|api[_.-]?key|(?<!_)token$|auth(?:orization)?$|cookie"
    r"|credential|private[_.-]?key|\btoken\b)"
)

Span = tuple[int, int, str]


def placeholder(rule: str) -> str:
    """What a finding of `rule` is replaced with."""
    return f"[REDACTED:{rule}]"


def base64_cores(secret: bytes) -> set[str]:
    """Substrings that every base64 encoding of a stream containing `secret` must contain.

    The secret can start at any of three byte offsets within a 3-byte group; for each
    offset (and for the standard and URL-safe alphabets) only the characters whose six
    bits all come from the secret are kept.
    """
    cores: set[str] = set()
    for shift in range(3):
        padded = b"\0" * shift + secret
        start = -(-shift * 8 // 6)
        stop = len(padded) * 8 // 6
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            core = encode(padded).decode("ascii")[start:stop]
            if len(core) >= MIN_KNOWN_SECRET_LENGTH:
                cores.add(core)
    return cores


def literal_forms(secret: str) -> set[str]:
    """The secret as written, URL-encoded (both cases of %XX), JSON-escaped and hex."""
    quoted = quote(secret, safe="")
    forms = {
        secret,
        quoted,
        re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), quoted),
        quote_plus(secret),
        json.dumps(secret)[1:-1],
        secret.encode().hex(),
    }
    return {form for form in forms if len(form) >= MIN_KNOWN_SECRET_LENGTH}


def known_secret_pattern(secrets: Iterable[str]) -> re.Pattern[str] | None:
    """One regex matching every known secret in all its encoded forms (None if none)."""
    literals: set[str] = set()
    cores: set[str] = set()
    for secret in secrets:
        if len(secret) < MIN_KNOWN_SECRET_LENGTH:
            continue
        literals |= literal_forms(secret)
        cores |= base64_cores(secret.encode())
    if not literals and not cores:
        return None
    b64 = [f"{_B64_CHARS}*{re.escape(c)}{_B64_CHARS}*=*" for c in sorted(cores, key=len)[::-1]]
    plain = [re.escape(s) for s in sorted(literals, key=len, reverse=True)]
    return re.compile("|".join(b64 + plain))


def merge_spans(spans: list[Span]) -> list[Span]:
    """Sort spans and join the overlapping ones (the first rule names the union)."""
    merged: list[Span] = []
    for start, end, rule in sorted(spans):
        if merged and start < merged[-1][1]:
            last = merged[-1]
            merged[-1] = (last[0], max(last[1], end), last[2])
        else:
            merged.append((start, end, rule))
    return merged


def apply_spans(text: str, spans: list[Span]) -> str:
    """Replace each (merged, sorted) span of `text` with its placeholder."""
    parts: list[str] = []
    position = 0
    for start, end, rule in spans:
        parts.append(text[position:start])
        parts.append(placeholder(rule))
        position = end
    parts.append(text[position:])
    return "".join(parts)


def rule_spans(rule: Rule, text: str, lowered: str) -> list[Span]:
    """Where `rule` finds a credential in `text` (`lowered` is `text.lower()`)."""
    if rule.keywords and not any(k in lowered for k in rule.keywords):
        return []
    found: list[Span] = []
    for start, end in documents(rule, text):
        if rule.requires is not None and rule.requires.search(text, start, end) is None:
            continue
        for match in rule.pattern.finditer(text, start, end):
            value = match.group(rule.group)
            if not value or (rule.check is not None and not rule.check(value)):
                continue
            found.append((match.start(rule.group), match.end(rule.group), rule.name))
    return found


def documents(rule: Rule, text: str) -> list[tuple[int, int]]:
    """The (start, end) parts of `text` that `rule` looks at one by one (YAML documents)."""
    if rule.document is None:
        return [(0, len(text))]
    bounds: list[tuple[int, int]] = []
    start = 0
    for separator in rule.document.finditer(text):
        bounds.append((start, separator.start()))
        start = separator.end()
    bounds.append((start, len(text)))
    return bounds


class Redactor:
    """The redaction rules plus the exact values of the secrets the runner knows."""

    def __init__(self, known_secrets: Iterable[str] = (), *, pii: bool = False) -> None:
        secrets = [s for s in known_secrets if s]
        self.known_secrets: tuple[str, ...] = tuple(dict.fromkeys(secrets))
        self.pii = pii
        self._rules: tuple[Rule, ...] = FORMAT_RULES + ASSIGNMENT_RULES + (PII_RULES if pii else ())
        self._known = known_secret_pattern(secrets)
        longest = max((len(s) for s in secrets), default=0)
        self.longest_known = 2 * longest + 8  # base64 and %-encoding grow a value

    def with_secrets(self, secrets: Iterable[str]) -> Redactor:
        """This redactor, also masking `secrets` (itself when none of them is new)."""
        known = set(self.known_secrets)
        new = [s for s in secrets if len(s) >= MIN_KNOWN_SECRET_LENGTH and s not in known]
        if not new:
            return self
        return Redactor([*self.known_secrets, *new], pii=self.pii)

    def spans(self, text: str) -> list[Span]:
        """Every finding in `text`, merged (may raise on a bug: use `redact`)."""
        found: list[Span] = []
        if self._known is not None:
            found.extend(
                (m.start(), m.end(), KNOWN_SECRET_RULE) for m in self._known.finditer(text)
            )
        lowered = text.lower()
        for rule in self._rules:
            found.extend(rule_spans(rule, text, lowered))
        return merge_spans(found)

    def redact(self, text: str) -> str:
        """`text` with every finding masked; a placeholder if redaction fails."""
        try:
            return apply_spans(text, self.spans(text))
        except Exception:  # fail closed: nothing unredacted leaves on a bug
            return FAILED

    def redact_value(self, value: Any, key: str = "", *, memo: bool = False) -> Any:
        """Redact every string inside `value` (dicts, lists, tuples); other scalars pass.

        A non-numeric string under a key that names a secret (`password`, `api_key`,
        `authorization`, ...) is masked whole. `memo`: redact each distinct string once (a
        dashboard view repeats the same statuses and descriptions a thousand times).
        """
        redact: Any = self.redact
        if memo:
            seen: dict[str, str] = {}

            def redact(text: str) -> str:
                if text not in seen:
                    seen[text] = self.redact(text)
                return seen[text]

        try:
            return self._value(value, key, redact)
        except Exception:
            return FAILED

    def _value(self, value: Any, key: str, redact: Any) -> Any:
        if isinstance(value, str):
            if key and value and not value.isdigit() and _SENSITIVE_KEY.search(key):
                return placeholder("sensitive-key")
            return redact(value)
        if isinstance(value, Mapping):
            return {str(k): self._value(v, str(k), redact) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._value(v, key, redact) for v in value]
        if value is None or isinstance(value, bool | int | float):
            return value
        return redact(str(value))

    def stream(self, max_hold: int = 1 << 20) -> StreamRedactor:
        """A redactor for text arriving in chunks (see `StreamRedactor`)."""
        return StreamRedactor(self, max_hold=max_hold)


class StreamRedactor:
    """Redacts a stream written in pieces; `feed` returns what is safe to emit now.

    The last `hold` characters are always held back (at least 1 KiB, and twice the
    longest known secret) so that a value split across writes is seen whole; a finding
    that reaches into the held tail holds back from its start. An unterminated private
    key block is held until its END line, up to `max_hold` characters, after which the
    buffer is emitted redacted. `flush()` emits the rest at the end of the stream.
    """

    def __init__(self, redactor: Redactor, max_hold: int = 1 << 20) -> None:
        self._redactor = redactor
        self._hold = max(1024, redactor.longest_known)
        self._max_hold = max(max_hold, self._hold)
        self._tail = ""

    def feed(self, chunk: str) -> str:
        """Add `chunk`; return the redacted text that can no longer change."""
        buffer = self._tail + chunk
        try:
            spans = self._redactor.spans(buffer)
        except Exception:
            self._tail = ""
            return FAILED
        cut = max(0, len(buffer) - self._hold)
        for start, end, _rule in spans:
            if start < cut < end:
                cut = start
        if len(buffer) - cut > self._max_hold:
            cut = len(buffer)
        self._tail = buffer[cut:]
        return apply_spans(buffer[:cut], [s for s in spans if s[1] <= cut])

    def flush(self) -> str:
        """The redacted remainder; the stream can be reused afterwards."""
        rest, self._tail = self._tail, ""
        return self._redactor.redact(rest) if rest else ""
