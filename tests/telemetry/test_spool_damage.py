"""Damaged and full spools, on real SQLite files: quarantined and salvaged, never fatal."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from runner.errors import DiskFull
from runner.paths import write_atomic
from runner.telemetry import damage
from runner.telemetry.spool import Spool, SpoolError

PAGE = 4096


def filled_spool(path: Path, events: int) -> set[str]:
    """A spool of `events` events, checkpointed into the main file; their event ids."""
    spool = Spool(path)
    spool.register("icarus")
    ids = spool.append_many([{"n": i, "pad": "x" * 300} for i in range(events)])
    assert len(ids) == events
    spool._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    found = {s.event["event_id"] for s in spool.read("icarus", events)}
    spool.close()
    return found


def truncate_mid_page(path: Path, fraction: float) -> None:
    size = path.stat().st_size
    with path.open("r+b") as fh:
        fh.truncate(int(size * fraction) // PAGE * PAGE + PAGE // 2)


def test_truncated_spool_is_quarantined_and_what_is_readable_salvaged(tmp_path: Path) -> None:
    path = tmp_path / "spool.db"
    originals = filled_spool(path, 2000)
    truncate_mid_page(path, 0.5)
    assert damage.damage(path) is not None
    spool, salvage = damage.open_guarded(path, check=True, clock=lambda: 1_700_000_000.0)
    assert salvage is not None
    moved = Path(salvage.quarantined)
    assert moved.name == "spool.db.corrupt-20231114T221320Z"
    assert moved.exists()
    assert damage.damage(path) is None  # a fresh, sound spool in its place
    spool.register("icarus")
    kept = {s.event["event_id"] for s in spool.read("icarus", 10_000)}
    assert kept <= originals  # only real events, none invented
    assert 0 < salvage.salvaged == len(kept) < 2000
    assert salvage.lost == 2000 - salvage.salvaged
    assert damage.history(tmp_path) == [salvage]
    spool.append({"after": True})  # and it takes new events
    assert spool.stats().count == salvage.salvaged + 1


def test_garbage_instead_of_a_spool_is_quarantined_with_nothing_to_salvage(
    tmp_path: Path,
) -> None:
    path = tmp_path / "spool.db"
    path.write_bytes(b"this is not SQLite at all" * 400)
    spool, salvage = damage.open_guarded(path, check=False)
    assert salvage is not None
    assert salvage.salvaged == 0
    assert salvage.lost is None  # the file's own count is unreadable too
    assert "not a database" in salvage.reason
    assert spool.stats().count == 0


def test_a_sound_spool_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "spool.db"
    filled_spool(path, 10)
    spool, salvage = damage.open_guarded(path, check=True)
    assert salvage is None
    assert spool.stats().count == 10
    assert not list(tmp_path.glob("*.corrupt-*"))


def test_a_locked_spool_is_not_damage() -> None:
    locked = sqlite3.OperationalError("database is locked")
    locked.sqlite_errorcode = 5  # type: ignore[attr-defined]
    full = sqlite3.OperationalError("database or disk is full")
    full.sqlite_errorcode = 13  # type: ignore[attr-defined]
    corrupt = sqlite3.DatabaseError("database disk image is malformed")
    corrupt.sqlite_errorcode = 11  # type: ignore[attr-defined]
    assert not damage.is_damage(locked)
    assert not damage.is_damage(full)
    assert damage.is_damage(corrupt)


def test_a_full_disk_refuses_the_append_clearly_and_corrupts_nothing(small_disk: Path) -> None:
    spool = Spool(small_disk / "spool.db")
    spool.register("icarus")
    stored, error = 0, None
    while error is None and stored < 10_000:
        try:
            spool.append({"pad": "y" * 20_000})
            stored += 1
        except SpoolError as exc:
            error = str(exc)
    assert error is not None
    assert "not stored (database or disk is full); the spool is unchanged" in error
    assert stored > 10
    assert spool.stats().count == stored  # the failed append left nothing half-written
    spool.close()
    assert damage.damage(small_disk / "spool.db") is None  # quick_check: ok
    again = Spool(small_disk / "spool.db")
    assert len(again.read("icarus", 100_000)) == stored


def test_a_full_disk_keeps_the_previous_job_file(small_disk: Path) -> None:
    spec = small_disk / "spec.json"
    write_atomic(spec, json.dumps({"version": 1}))
    (small_disk / "filler").write_bytes(b"\0" * (2 * 1024 * 1024 - 64 * 1024))
    with pytest.raises(DiskFull, match=r"cannot write .*spec.json: no space left"):
        write_atomic(spec, json.dumps({"version": 2, "pad": "z" * 200_000}))
    assert json.loads(spec.read_text()) == {"version": 1}
    assert [p.name for p in small_disk.iterdir() if p.name.startswith(".spec")] == []
