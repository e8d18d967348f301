"""Build the job store a command needs from the settings."""

from __future__ import annotations

import time
from collections.abc import Callable

from runner.config import Settings
from runner.store.db import check_sqlite, database_url, make_engine, upgrade
from runner.store.queue import JobStore, RetryPolicy


def retry_policy(settings: Settings) -> RetryPolicy:
    svc = settings.service
    return RetryPolicy(svc.max_attempts, svc.backoff_base_s, svc.backoff_max_s)


def open_store(
    settings: Settings, *, migrate: bool = False, clock: Callable[[], float] = time.time
) -> JobStore:
    """The store at `service.database_url` (default SQLite in the state directory)."""
    url = database_url(settings.service.database_url, settings.state_dir)
    if migrate:  # serve and `db upgrade`: a damaged file stops them with one clear line
        check_sqlite(url)
    engine = make_engine(url)
    if migrate:
        upgrade(engine)
    return JobStore(engine, policy=retry_policy(settings), clock=clock)
