"""A durable queue of (already redacted) events between the tracer and remote sinks.

One SQLite file (`<state_dir>/telemetry/spool.db`, WAL, `synchronous=FULL`): `append`
returns only after the event is committed, so an event reported as appended survives a
crash or power loss. Each remote sink reads with its own cursor and `ack`s what its
receiver confirmed; a row is deleted once every registered sink has acknowledged it,
or when it is older than the retention TTL.

Overflow policy (bounded by `max_events` and `max_bytes`): when an append takes the
spool over either bound, the oldest events whose status is not `error` are deleted
until the spool is back under 90% of both bounds; only if error events alone exceed
the bounds are the oldest errors deleted too. Every time this applies the `dropped`
counter grows and one ERROR log line says how many events were lost.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner import faults
from runner.errors import OptirunnerError

log = logging.getLogger("optirunner.telemetry.spool")

Event = dict[str, Any]
HEADROOM = 0.9
EXPIRE_EVERY = 1000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created REAL NOT NULL,
    error INTEGER NOT NULL,
    size INTEGER NOT NULL,
    payload TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_created ON events(created);
CREATE INDEX IF NOT EXISTS events_error ON events(error, id);
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v INTEGER NOT NULL);
INSERT OR IGNORE INTO meta VALUES ('count', 0), ('bytes', 0), ('dropped', 0), ('expired', 0);
CREATE TABLE IF NOT EXISTS cursors (sink TEXT PRIMARY KEY, acked INTEGER NOT NULL);
CREATE TRIGGER IF NOT EXISTS events_in AFTER INSERT ON events BEGIN
    UPDATE meta SET v = v + 1 WHERE k = 'count';
    UPDATE meta SET v = v + NEW.size WHERE k = 'bytes';
END;
CREATE TRIGGER IF NOT EXISTS events_out AFTER DELETE ON events BEGIN
    UPDATE meta SET v = v - 1 WHERE k = 'count';
    UPDATE meta SET v = v - OLD.size WHERE k = 'bytes';
END;
"""


class SpoolError(OptirunnerError):
    """An event could not be stored (a full disk, a damaged file); nothing was written."""


@dataclass(frozen=True)
class Spooled:
    """One event read from the spool: its row id and the event (with `event_id`)."""

    id: int
    event: Event


@dataclass(frozen=True)
class SpoolStats:
    """Counters of the spool (`dropped`: lost to overflow; `expired`: lost to the TTL)."""

    count: int
    bytes: int
    dropped: int
    expired: int


class Spool:
    """The spool file; safe to share between threads and between processes."""

    def __init__(
        self,
        path: Path,
        *,
        max_events: int = 200_000,
        max_bytes: int = 256 << 20,
        retention_s: float = 7 * 86400.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not path.exists():
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        self.path = path
        self.max_events = max_events
        self.max_bytes = max_bytes
        self.retention_s = retention_s
        self._clock = clock
        self._lock = threading.Lock()
        self._appends = 0
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA busy_timeout = 30000")
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = FULL")
        with self._lock:
            self._db.executescript(f"BEGIN IMMEDIATE;{_SCHEMA}COMMIT;")
        self.expire()

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db, self._lock)

    # writing -------------------------------------------------------------------------

    def append(self, event: Event) -> int:
        """Store one event durably; return its row id."""
        return self.append_many([event])[-1]

    def append_many(self, events: Iterable[Event]) -> list[int]:
        """Store events in one transaction (committed and synced when this returns)."""
        now = self._clock()
        rows = []
        for event in events:
            stamped = {"event_id": uuid.uuid4().hex, **event}
            payload = json.dumps(stamped, default=str, sort_keys=True)
            rows.append((now, int(event.get("status") == "error"), payload))
        ids = self._insert(rows)
        self._appends += len(ids)
        if self._appends >= EXPIRE_EVERY:
            self._appends = 0
            self.expire()
        return ids

    def restore(self, rows: Iterable[tuple[float, int, str]]) -> int:
        """Insert rows salvaged from a damaged spool as they were (creation time, error
        flag, payload), in one transaction; returns how many the bounds kept."""
        ids = self._insert(list(rows))
        return min(len(ids), self.stats().count)

    def _insert(self, rows: list[tuple[float, int, str]]) -> list[int]:
        """One transaction: the rows go in, the bounds are enforced; on any SQLite error
        (a full disk) it is rolled back and nothing of it stays."""
        ids: list[int] = []
        try:
            with self._transaction() as db:
                for created, error, payload in rows:
                    cursor = db.execute(
                        "INSERT INTO events (created, error, size, payload) VALUES (?, ?, ?, ?)",
                        (created, error, len(payload), payload),
                    )
                    ids.append(int(cursor.lastrowid or 0))
                faults.reached("spool:append")  # the crash-safety suite kills a writer here
                dropped = self._enforce_bounds(db)
        except sqlite3.DatabaseError as exc:
            raise SpoolError(
                f"telemetry spool {self.path}: {len(rows)} event(s) not stored ({exc}); "
                "the spool is unchanged"
            ) from None
        if dropped:
            log.error(
                "TELEMETRY SPOOL FULL: dropped %d events (oldest non-error first) from %s; "
                "limits %d events / %d bytes; is the telemetry receiver reachable?",
                dropped,
                self.path,
                self.max_events,
                self.max_bytes,
            )
        return ids

    def __call__(self, event: Event) -> None:
        """Use the spool as a `Tracer` sink."""
        self.append(event)

    def _enforce_bounds(self, db: sqlite3.Connection) -> int:
        count, size = _meta(db, "count"), _meta(db, "bytes")
        if count <= self.max_events and size <= self.max_bytes:
            return 0
        keep_count = int(self.max_events * HEADROOM)
        keep_bytes = int(self.max_bytes * HEADROOM)
        dropped = 0
        for error in (0, 1):
            while _meta(db, "count") > keep_count or _meta(db, "bytes") > keep_bytes:
                batch = max(1, min(1000, _meta(db, "count") - keep_count))
                deleted = db.execute(
                    "DELETE FROM events WHERE id IN "
                    "(SELECT id FROM events WHERE error = ? ORDER BY id LIMIT ?)",
                    (error, batch),
                ).rowcount
                if deleted == 0:
                    break
                dropped += deleted
        db.execute("UPDATE meta SET v = v + ? WHERE k = 'dropped'", (dropped,))
        return dropped

    def expire(self) -> int:
        """Delete events older than the retention TTL; return how many."""
        cutoff = self._clock() - self.retention_s
        with self._transaction() as db:
            expired = db.execute("DELETE FROM events WHERE created < ?", (cutoff,)).rowcount
            db.execute("UPDATE meta SET v = v + ? WHERE k = 'expired'", (expired,))
        if expired:
            log.warning("telemetry spool: %d unsent events expired (older than TTL)", expired)
        return int(expired)

    # reading -------------------------------------------------------------------------

    def register(self, sink: str) -> None:
        """Give `sink` a cursor; from now on rows are kept until it acknowledges them."""
        with self._transaction() as db:
            db.execute("INSERT OR IGNORE INTO cursors VALUES (?, 0)", (sink,))

    def keep_cursors(self, sinks: Iterable[str]) -> None:
        """Remove the cursors of sinks not in `sinks` (no longer configured), so that
        they do not keep events in the spool; then delete what every remaining sink
        acknowledged."""
        names = sorted(set(sinks))
        marks = ",".join("?" * len(names))
        with self._transaction() as db:
            db.execute(f"DELETE FROM cursors WHERE sink NOT IN ({marks})", names)  # noqa: S608
            floor = db.execute("SELECT MIN(acked) FROM cursors").fetchone()[0]
            if floor is not None:
                db.execute("DELETE FROM events WHERE id <= ?", (floor,))

    def sinks(self) -> dict[str, int]:
        """Every registered sink and the last row id it acknowledged."""
        with self._lock:
            return dict(self._db.execute("SELECT sink, acked FROM cursors").fetchall())

    def read(self, sink: str, limit: int) -> list[Spooled]:
        """The oldest `limit` events `sink` has not acknowledged yet."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, payload FROM events WHERE id > "
                "(SELECT COALESCE(MAX(acked), 0) FROM cursors WHERE sink = ?) "
                "ORDER BY id LIMIT ?",
                (sink, limit),
            ).fetchall()
        return [Spooled(int(row[0]), json.loads(row[1])) for row in rows]

    def ack(self, sink: str, upto_id: int) -> None:
        """`sink`'s receiver confirmed every event up to `upto_id`: advance, delete."""
        with self._transaction() as db:
            db.execute(
                "INSERT INTO cursors VALUES (?, ?) ON CONFLICT(sink) "
                "DO UPDATE SET acked = MAX(acked, excluded.acked)",
                (sink, upto_id),
            )
            floor = db.execute("SELECT MIN(acked) FROM cursors").fetchone()[0]
            db.execute("DELETE FROM events WHERE id <= ?", (floor,))

    def pending(self, sink: str) -> int:
        """How many events `sink` has not acknowledged."""
        with self._lock:
            row = self._db.execute(
                "SELECT COUNT(*) FROM events WHERE id > "
                "(SELECT COALESCE(MAX(acked), 0) FROM cursors WHERE sink = ?)",
                (sink,),
            ).fetchone()
        return int(row[0])

    def stats(self) -> SpoolStats:
        """Current counters."""
        with self._lock:
            values = dict(self._db.execute("SELECT k, v FROM meta").fetchall())
        return SpoolStats(values["count"], values["bytes"], values["dropped"], values["expired"])

    def close(self) -> None:
        """Close the database (idempotent)."""
        with self._lock:
            self._db.close()


def _meta(db: sqlite3.Connection, key: str) -> int:
    return int(db.execute("SELECT v FROM meta WHERE k = ?", (key,)).fetchone()[0])


class _Transaction:
    """`BEGIN IMMEDIATE` … `COMMIT` (or `ROLLBACK`) under the connection's lock."""

    def __init__(self, db: sqlite3.Connection, lock: threading.Lock) -> None:
        self._db = db
        self._lock = lock

    def __enter__(self) -> sqlite3.Connection:
        self._lock.acquire()
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._lock.release()
            raise
        return self._db

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        try:
            if exc_type is None:
                try:
                    self._db.execute("COMMIT")
                except sqlite3.DatabaseError:  # e.g. a full disk at commit: undo all of it
                    if self._db.in_transaction:
                        self._db.execute("ROLLBACK")
                    raise
            elif self._db.in_transaction:
                self._db.execute("ROLLBACK")
        finally:
            self._lock.release()
