"""The data of one model exchange: request, completion, and the host's evaluation.

Plain frozen dataclasses shared by the request builder, the parser, the SDK clients and
the agent loop; no I/O here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal, Protocol

from runner.spec import Target


@dataclass(frozen=True)
class Message:
    """One chat message; the system prompt travels separately in `Request.system`."""

    role: Literal["user", "assistant"]
    content: str


@dataclass(frozen=True)
class Request:
    """Everything sent to the model for one turn, before any vendor formatting.

    `kind` is the turn (propose, repair, refine) and `prompt` the template version used,
    so a trace says exactly which text produced a candidate.
    """

    kind: str
    prompt: str
    target: Target
    system: str
    messages: tuple[Message, ...]

    @property
    def sent_bytes(self) -> int:
        """Bytes of the text sent: the system prompt and every message (UTF-8)."""
        return len(self.system.encode()) + sum(len(m.content.encode()) for m in self.messages)


@dataclass(frozen=True)
class Completion:
    """What came back: text plus the accounting every turn records.

    `finish_reason` is normalised: ``stop``, ``length`` (hit the token limit),
    ``refusal``, ``content_filter`` or the vendor's own word; `raw_finish_reason` is
    the vendor's value as sent.
    """

    text: str
    finish_reason: str
    raw_finish_reason: str
    model: str
    input_tokens: int
    output_tokens: int
    latency_s: float = 0.0
    response_id: str = ""


class ChatClient(Protocol):
    """A vendor API behind one method; implemented in runner/agent/providers/{openai,anthropic}."""

    provider: str
    model: str

    def payload(self, request: Request, timeout_s: float | None = None) -> dict[str, Any]:
        """The exact JSON body that `complete` sends for `request` (pure)."""
        ...

    def complete(self, request: Request, timeout_s: float | None = None) -> Completion:
        """Send `request` once (no retries); raise a ProviderError subclass on failure."""
        ...


class Status(StrEnum):
    """The host's verdict on one candidate."""

    VERIFIED = "verified"  # tests pass, behaviour identical (ratio set when measured)
    UNSAFE = "unsafe"  # rejected by the safety policy; never executed
    INVALID = "invalid"  # could not be applied to the module
    TESTS_FAILED = "tests_failed"
    BEHAVIOUR_CHANGED = "behaviour_changed"


@dataclass(frozen=True)
class Evaluation:
    """What `evaluate(candidate)` returns to the loop.

    `detail` is a host-written explanation (safety reason, first behaviour mismatch);
    `test_output` is the raw tail of the test run, which the request builder filters to
    failure lines before any of it is sent; `ratio` is candidate time / baseline time
    (below 1 is faster) when the candidate was measured.
    """

    status: Status
    detail: str = ""
    test_output: str = ""
    ratio: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def verified(self) -> bool:
        """Tests pass and the behaviour is unchanged."""
        return self.status is Status.VERIFIED
