"""Retries of one model request: Retry-After on 429, capped exponential backoff otherwise.

The SDKs' own retries are switched off (`max_retries=0`) so that every wait happens here,
with an injected `sleep` and random source: tests run the schedule without waiting, and a
trace shows each attempt.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from runner.agent.errors import ProviderError, RateLimited
from runner.agent.settings import AISettings

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to wait between attempts."""

    max_retries: int = 4
    backoff_s: float = 1.0
    backoff_cap_s: float = 30.0
    max_retry_after_s: float = 120.0

    @classmethod
    def from_settings(cls, ai: AISettings) -> RetryPolicy:
        """The policy configured under `[ai]`."""
        return cls(ai.max_retries, ai.backoff_s, ai.backoff_cap_s, ai.max_retry_after_s)

    def delay(self, attempt: int, error: ProviderError, rng: random.Random) -> float | None:
        """Seconds to wait before retry number `attempt` (1-based), or None to give up.

        A 429's Retry-After is honoured as sent (a server that asks for longer than
        `max_retry_after_s` is not waited for). Other transient errors wait a random time
        up to ``min(cap, base · 2^(attempt-1))`` ("full jitter"), so that many runners
        hitting one endpoint do not retry in lockstep.
        """
        if not error.retryable or attempt > self.max_retries:
            return None
        if isinstance(error, RateLimited) and error.retry_after is not None:
            return error.retry_after if error.retry_after <= self.max_retry_after_s else None
        ceiling = min(self.backoff_cap_s, self.backoff_s * 2 ** (attempt - 1))
        return rng.uniform(ceiling / 2, ceiling)


@dataclass
class Attempts:
    """What happened on the way to a response: one entry per failed attempt."""

    failures: list[str] = field(default_factory=list)
    waited_s: float = 0.0


def with_retries(
    call: Callable[[], T],
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
    attempts: Attempts | None = None,
    deadline_left: Callable[[], float] | None = None,
) -> T:
    """Run `call` until it succeeds or the policy gives up (then re-raise the last error).

    `deadline_left` (seconds) stops waiting when a wait would outlast the caller's budget.
    """
    chooser = rng or random.Random()
    record = attempts if attempts is not None else Attempts()
    attempt = 0
    while True:
        try:
            return call()
        except ProviderError as exc:
            attempt += 1
            record.failures.append(f"{type(exc).__name__}: {exc}")
            wait = policy.delay(attempt, exc, chooser)
            if wait is None or (deadline_left is not None and wait >= deadline_left()):
                raise
            record.waited_s += wait
            sleep(wait)
