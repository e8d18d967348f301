"""What the HTTP routes need, built once by the listener (or a test)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from runner.config import ServiceSettings
from runner.metrics import Metrics
from runner.store.queue import JobStore
from runner.store.tokens import TokenStore
from runner.telemetry.redact import Redactor


@dataclass
class AppState:
    """The listener's settings, stores and metrics; `tokens` defaults to the job database's."""

    settings: ServiceSettings
    store: JobStore
    metrics: Metrics
    clock: Callable[[], float] = time.time
    accepting: Callable[[], bool] = lambda: True
    tokens: TokenStore | None = None
    # Where the job directories are (`<state_dir>/jobs`): the pages read their files.
    jobs_dir: Path = Path("/nonexistent")
    # Every page and its JSON twin pass this (the settings' secrets are known to it).
    redactor: Redactor = field(default_factory=Redactor)

    def __post_init__(self) -> None:
        if self.tokens is None:
            self.tokens = TokenStore(self.store.engine, self.clock)

    @property
    def token_store(self) -> TokenStore:
        assert self.tokens is not None  # noqa: S101 - set in __post_init__
        return self.tokens
