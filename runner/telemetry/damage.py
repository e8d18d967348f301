"""A damaged spool file is quarantined and salvaged, never fatal.

A disk or power fault can leave `spool.db` truncated or with garbage pages; SQLite then
answers `database disk image is malformed` (SQLITE_CORRUPT) or `file is not a database`
(SQLITE_NOTADB). Such a file is renamed `spool.db.corrupt-<UTC timestamp>` (its `-wal`
and `-shm` with it), every event row that can still be read is copied into a fresh spool,
and the loss is recorded in `quarantine.jsonl` beside it (one JSON line per quarantined
file: what, why, how many events were salvaged and lost). `/metrics` and `doctor` read
that record, so a quarantine made by any process (serve or a worker) is counted.

Only corruption is handled this way: a locked database, a full disk or a permission
error is not damage, and is raised as it is.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from runner.sqlitecheck import damage, is_damage
from runner.telemetry.spool import Spool

__all__ = ["Salvage", "damage", "history", "is_damage", "open_guarded", "quarantine"]

log = logging.getLogger("optirunner.telemetry.spool")

QUARANTINE_LOG = "quarantine.jsonl"
CORRUPT_MARK = ".corrupt-"
Row = tuple[float, int, str]  # created, error, payload


@dataclass(frozen=True)
class Salvage:
    """One quarantined spool file and what became of its events."""

    quarantined: str
    reason: str
    salvaged: int
    lost: int | None  # None: the file's own event count could not be read either
    at: float

    def describe(self) -> str:
        lost = "an unknown number of" if self.lost is None else str(self.lost)
        return f"{self.quarantined} ({self.reason}): {self.salvaged} events salvaged, {lost} lost"


def open_guarded(
    path: Path,
    *,
    check: bool,
    clock: Callable[[], float] = time.time,
    **options: Any,
) -> tuple[Spool, Salvage | None]:
    """The spool at `path`; a damaged one is quarantined and salvaged into a fresh one.

    `check`: run `PRAGMA quick_check` first (serve at start, O(file size)); without it only
    a file that fails to open is treated as damaged. Serialised between processes by a
    lock file, so serve and a worker never quarantine the same file twice.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with _locked(path):
        reason = damage(path) if check else None
        if reason is None:
            try:
                return Spool(path, clock=clock, **options), None
            except sqlite3.DatabaseError as exc:
                if not is_damage(exc):
                    raise
                reason = str(exc)
        return _recover(path, reason, clock, options)


def _recover(
    path: Path, reason: str, clock: Callable[[], float], options: dict[str, Any]
) -> tuple[Spool, Salvage]:
    now = clock()
    moved = quarantine(path, now)
    rows, expected = read_salvageable(moved)
    spool = Spool(path, clock=clock, **options)
    kept = spool.restore(rows)
    lost = None if expected is None else max(0, expected - kept)
    salvage = Salvage(str(moved), reason, kept, lost, now)
    record(path.parent, salvage)
    log.error(
        "TELEMETRY SPOOL DAMAGED: %s; quarantined as %s, a fresh spool started",
        salvage.describe(),
        moved.name,
    )
    return spool, salvage


def quarantine(path: Path, now: float) -> Path:
    """Rename `path` (and its -wal, -shm) to `<name>.corrupt-<UTC timestamp>`."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    target = path.with_name(f"{path.name}{CORRUPT_MARK}{stamp}")
    n = 1
    while target.exists():
        target = path.with_name(f"{path.name}{CORRUPT_MARK}{stamp}-{n}")
        n += 1
    os.replace(path, target)
    for suffix in ("-wal", "-shm"):
        side = Path(f"{path}{suffix}")
        if side.exists():
            os.replace(side, Path(f"{target}{suffix}"))
    return target


def read_salvageable(path: Path) -> tuple[list[Row], int | None]:
    """Every event row of a damaged spool file that can still be read, and how many
    events the file said it held (None when that is unreadable too)."""
    try:
        db = sqlite3.connect(f"file:{path}?mode=rw", uri=True, isolation_level=None)
    except sqlite3.DatabaseError:
        return [], None
    try:
        # A truncated file is shorter than its header says: SQLite calls that corrupt
        # unless the schema is "writable", and then reads the pages that are there.
        db.execute("PRAGMA writable_schema = ON")
        expected = _scalar(db, "SELECT v FROM meta WHERE k = 'count'")
        top = _scalar(db, "SELECT seq FROM sqlite_sequence WHERE name = 'events'")
        rows = [row for row in _rows(db, top) if _is_event(row)]
    finally:
        db.close()
    return rows, expected


def _rows(db: sqlite3.Connection, top: int | None) -> list[Row]:
    """Rows in id order, stepping over damaged pages (ever larger jumps, up to `top`)."""
    found: list[Row] = []
    wanted, step = 1, 1
    while True:
        reached, complete = _scan(db, wanted, top, found)
        if complete or top is None:
            return found
        step = 1 if reached > wanted else step * 2
        wanted = reached + step
        if wanted > top:
            return found


def _scan(db: sqlite3.Connection, start: int, top: int | None, into: list[Row]) -> tuple[int, bool]:
    """Append rows from id `start` on until the end (True) or a damaged page (False);
    returns the first id not read. A damaged b-tree can answer rows out of order or in a
    cycle: an id that does not grow counts as damage, so reading always ends."""
    wanted = start
    query = "SELECT id, created, error, payload FROM events WHERE id >= ? ORDER BY id"
    try:
        for row_id, created, error, payload in db.execute(query, (start,)):
            if not isinstance(row_id, int) or row_id < wanted:
                return wanted, False
            if top is not None and row_id > top:
                break
            into.append((float(created), int(error), str(payload)))
            wanted = row_id + 1
    except (sqlite3.DatabaseError, TypeError, ValueError):
        return wanted, False
    return wanted, True


def _is_event(row: Row) -> bool:
    try:
        return isinstance(json.loads(row[2]), dict)
    except ValueError:
        return False


def _scalar(db: sqlite3.Connection, query: str) -> int | None:
    try:
        found = db.execute(query).fetchone()
    except sqlite3.DatabaseError:
        return None
    return int(found[0]) if found and isinstance(found[0], int) else None


def record(folder: Path, salvage: Salvage) -> None:
    """Append one line to `quarantine.jsonl` (0600)."""
    fd = os.open(folder / QUARANTINE_LOG, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as out:
        out.write(json.dumps(asdict(salvage), sort_keys=True) + "\n")


def history(folder: Path) -> list[Salvage]:
    """Every quarantine recorded in `folder` (unreadable lines are skipped)."""
    try:
        lines = (folder / QUARANTINE_LOG).read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    found = []
    for line in lines:
        with contextlib.suppress(ValueError, TypeError):
            found.append(Salvage(**json.loads(line)))
    return found


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    fd = os.open(f"{path}.lock", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
