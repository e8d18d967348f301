"""Typed failures of the AI providers and the agent loop.

Two families: `ProviderError` (the request did not produce a response: rate limits, server
errors, timeouts, rejected credentials) and `ResponseError` (a response arrived but holds
nothing usable: a refusal, no code, code that does not parse, a truncated answer). The
loop turns both into a recorded turn and carries on or stops; nothing here is a crash.
"""

from __future__ import annotations

from runner.errors import OptirunnerError


class AgentError(OptirunnerError):
    """Any failure of a model exchange."""


# --- the request failed ---------------------------------------------------------------------


class ProviderError(AgentError):
    """The provider did not answer usefully; `retryable` says whether trying again may help."""

    retryable = False

    def __init__(self, message: str, *, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)


class RateLimited(ProviderError):
    """HTTP 429; `retry_after` is the server's Retry-After in seconds, when it sent one."""

    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(message, status=429)


class ServerError(ProviderError):
    """HTTP 5xx (or 408/409/529-style transient statuses)."""

    retryable = True


class ConnectionFailed(ProviderError):
    """The endpoint could not be reached (refused, reset, DNS)."""

    retryable = True


class RequestTimedOut(ProviderError):
    """No complete response within `ai.timeout_s`."""

    retryable = True


class RequestRejected(ProviderError):
    """A 4xx other than 429: bad key, unknown model, malformed request; retrying cannot help."""


# --- a response arrived but cannot be used ----------------------------------------------------


class ResponseError(AgentError):
    """The model answered, but not with usable candidates."""


class MalformedResponse(ResponseError):
    """The body is not the documented response shape (not JSON, fields missing)."""


class Refusal(ResponseError):
    """The model declined to answer."""


class NoCode(ResponseError):
    """The response holds no code block and no candidate JSON."""


class CodeDoesNotParse(ResponseError):
    """Every code block in the response is invalid Python."""


class TruncatedResponse(ResponseError):
    """The response stopped at the token limit (finish_reason length / stop_reason max_tokens)."""


class BudgetExhausted(AgentError):
    """A job budget is used up; `budget` names it (tokens, cost, turns, wall_time)."""

    def __init__(self, budget: str, detail: str) -> None:
        self.budget = budget
        super().__init__(f"{budget} budget exhausted: {detail}")
