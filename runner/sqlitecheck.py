"""Is an SQLite file damaged? Shared by the job store and the telemetry spool.

Damage is what a disk or power fault leaves: SQLITE_CORRUPT (`database disk image is
malformed`) or SQLITE_NOTADB (`file is not a database`). A locked database, a full disk
or a permission error is not damage: restarting or freeing space fixes those.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

#: SQLite's primary result codes for a damaged file (extended codes share the low byte).
_DAMAGE_CODES = frozenset({11, 26})  # SQLITE_CORRUPT, SQLITE_NOTADB


def is_damage(exc: BaseException) -> bool:
    """Whether an sqlite3 error says the file itself is damaged (not locked, not full)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int):
        return (code & 0xFF) in _DAMAGE_CODES
    text = str(exc)
    return "malformed" in text or "not a database" in text


def damage(path: Path, *, read_only: bool = False) -> str | None:
    """Why the SQLite file at `path` is unusable, or None (absent, empty, or it passes
    `PRAGMA quick_check`). Errors other than damage are raised."""
    if not path.exists() or path.stat().st_size == 0:
        return None
    mode = "ro" if read_only else "rw"
    try:
        db = sqlite3.connect(f"file:{path}?mode={mode}", uri=True, isolation_level=None)
        try:
            rows = db.execute("PRAGMA quick_check(1)").fetchall()
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        if is_damage(exc):
            return str(exc)
        raise
    verdict = str(rows[0][0]) if rows else "no answer"
    return None if verdict == "ok" else f"quick_check: {verdict}"
