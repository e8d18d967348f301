"""The job store on both databases: SQLite in a temporary folder, PostgreSQL in a fresh database.

The PostgreSQL database is created once per test run and dropped at the end; its tests are
skipped (with the reason) only when the server cannot be reached.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import OperationalError

from runner.store.db import make_engine, upgrade
from runner.store.queue import JobStore, RetryPolicy

ADMIN_URL = os.environ.get(
    "OPTIRUNNER_TEST_PG_ADMIN", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


class Clock:
    """A clock tests move by hand."""

    def __init__(self, now: float = 1_750_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test run."""
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"optirunner_test_{os.getpid()}_{secrets.token_hex(3)}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:
        admin.dispose()
        pytest.skip(f"PostgreSQL unreachable at {ADMIN_URL}: {exc.orig}")
    url = ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def pg_engine(pg_url: str) -> Iterator[Engine]:
    engine = make_engine(pg_url, pool_size=30, max_overflow=10)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A migrated, empty database of each kind."""
    if request.param == "sqlite":
        sqlite = make_engine(f"sqlite:///{tmp_path / 'optirunner.db'}")
        upgrade(sqlite)
        yield sqlite
        sqlite.dispose()
        return
    pg: Engine = request.getfixturevalue("pg_engine")
    with pg.begin() as conn:
        conn.execute(text("TRUNCATE jobs, reports, api_tokens, api_sessions"))
    yield pg


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(engine: Engine, clock: Clock) -> JobStore:
    import random

    policy = RetryPolicy(max_attempts=3, base_s=10.0, cap_s=100.0)
    return JobStore(engine, policy=policy, clock=clock, rng=random.Random(1))
