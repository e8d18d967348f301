"""Engines and migrations: SQLite (WAL) by default, PostgreSQL (psycopg 3) when configured."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path
from typing import Any, NoReturn

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import SQLAlchemyError

from runner.errors import NeedsOperator, OptirunnerError
from runner.sqlitecheck import damage, is_damage

MIGRATIONS = Path(__file__).parent / "migrations"
DB_FILE = "optirunner.db"


class StoreError(OptirunnerError):
    """The job database cannot be reached or is not usable."""


class DamagedDatabase(StoreError, NeedsOperator):
    """The SQLite job database is damaged: serve stops (exit 4) and is not restarted."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        super().__init__(
            f"the job database {path} is damaged ({reason}); a restart cannot fix this: "
            "stop the service and follow 'Damaged job database' in docs/operations.md "
            "(/usr/share/doc/optirunner/operations.md)"
        )


def sqlite_path(url: str) -> Path | None:
    """The file of an SQLite URL (None for other databases and in-memory ones)."""
    if not url.startswith("sqlite"):
        return None
    path = url.split(":///", 1)[-1]
    return Path(path) if path and path != ":memory:" else None


def check_sqlite(url: str) -> None:
    """Raise DamagedDatabase when the job database is an SQLite file that fails to open
    or fails `PRAGMA quick_check` (serve runs this before anything else)."""
    path = sqlite_path(url)
    if path is None:
        return
    try:
        reason = damage(path)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open the job database {path}: {exc}") from None
    if reason is not None:
        raise DamagedDatabase(str(path), reason)


def raise_store_error(exc: SQLAlchemyError, what: str, url: str) -> NoReturn:
    """The StoreError for a driver error: DamagedDatabase when the file is damaged, a
    clear line for a full disk (SQLite rolled the transaction back: nothing changed)."""
    original = getattr(exc, "orig", None)
    path = sqlite_path(url)
    if path is not None and original is not None and is_damage(original):
        raise DamagedDatabase(str(path), str(original)) from None
    if original is not None and "disk is full" in str(original):
        where = path or "the job database"
        raise StoreError(f"{what}: no space left on the disk of {where}; nothing was changed")
    raise StoreError(f"{what}: {exc.__class__.__name__}: {exc}") from exc


def database_url(configured: str | None, state_dir: Path) -> str:
    """The configured URL, or SQLite in the state directory."""
    if configured:
        # Plain postgresql:// means psycopg 3 here, not SQLAlchemy's psycopg2 default.
        if configured.startswith(("postgresql://", "postgres://")):
            return "postgresql+psycopg://" + configured.split("://", 1)[1]
        return configured
    return f"sqlite:///{state_dir / DB_FILE}"


def make_engine(url: str, **options: Any) -> Engine:
    """An engine; SQLite gets WAL, a busy timeout and `BEGIN IMMEDIATE` transactions."""
    if url.startswith("sqlite"):
        return _sqlite_engine(url, **options)
    return create_engine(url, pool_pre_ping=True, **options)


def _sqlite_engine(url: str, **options: Any) -> Engine:
    path = url.split(":///", 1)[-1]
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **options)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite would defer it).
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()
        if path and path != ":memory:":  # job specs are no business of other users
            with contextlib.suppress(OSError):
                os.chmod(path, 0o600)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # IMMEDIATE takes the write lock up front: two claimers never both read "queued".
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine) -> str:
    """Run the migrations up to head; returns the head revision."""
    try:
        command.upgrade(alembic_config(engine), "head")
    except SQLAlchemyError as exc:
        raise_store_error(exc, "cannot migrate the job database", str(engine.url))
    return head_revision()


def head_revision() -> str:
    script = ScriptDirectory(str(MIGRATIONS))
    head = script.get_current_head()
    assert head is not None  # noqa: S101 - the package ships its migrations
    return head


def current_revision(engine: Engine) -> str | None:
    """The database's revision (None before the first migration)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def ping(engine: Engine) -> None:
    """Raise StoreError unless the database answers."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        original = getattr(exc, "orig", None)
        path = sqlite_path(str(engine.url))
        if path is not None and original is not None and is_damage(original):
            raise DamagedDatabase(str(path), str(original)) from None
        raise StoreError(f"job database unreachable: {exc.__class__.__name__}") from None
