from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from runner.telemetry.spool import Spool


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_ack_deletes_only_what_every_sink_acknowledged(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.db")
    spool.register("icarus")
    spool.register("otlp")
    ids = spool.append_many([{"name": f"e{i}"} for i in range(10)])
    batch = spool.read("icarus", 4)
    assert [b.id for b in batch] == ids[:4]
    assert all("event_id" in b.event for b in batch)
    spool.ack("icarus", batch[-1].id)
    assert spool.stats().count == 10  # otlp has not acknowledged yet
    assert [b.id for b in spool.read("icarus", 100)] == ids[4:]
    spool.ack("otlp", ids[6])
    assert spool.stats().count == 6  # rows up to min(cursors) are gone
    assert spool.pending("otlp") == 3
    assert spool.pending("icarus") == 6
    spool.ack("icarus", ids[2])  # an older ack never moves a cursor back
    assert spool.pending("icarus") == 6


def test_reopen_keeps_cursors_and_events(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.db")
    spool.register("icarus")
    ids = spool.append_many([{"n": i} for i in range(5)])
    spool.ack("icarus", ids[1])
    spool.close()
    again = Spool(tmp_path / "s.db")
    assert [b.event["n"] for b in again.read("icarus", 10)] == [2, 3, 4]
    assert oct((tmp_path / "s.db").stat().st_mode & 0o777) == "0o600"


def test_ttl_expires_unsent_events(tmp_path: Path) -> None:
    clock = Clock()
    spool = Spool(tmp_path / "s.db", retention_s=60, clock=clock)
    spool.register("icarus")
    spool.append({"n": "old"})
    clock.now += 30
    spool.append({"n": "new"})
    clock.now += 40
    assert spool.expire() == 1
    assert [b.event["n"] for b in spool.read("icarus", 10)] == ["new"]
    assert spool.stats().expired == 1


def test_overflow_drops_oldest_non_error_events_first(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spool = Spool(tmp_path / "s.db", max_events=100)
    spool.register("icarus")
    events = [{"n": i, "status": "error" if i % 10 == 0 else "ok"} for i in range(150)]
    with caplog.at_level(logging.ERROR, logger="optirunner.telemetry.spool"):
        spool.append_many(events[:100])
        assert spool.stats().dropped == 0
        spool.append_many(events[100:])
    kept = spool.read("icarus", 1000)
    stats = spool.stats()
    assert len(kept) == stats.count <= 90
    assert stats.dropped == 150 - stats.count
    assert all(e["n"] in {b.event["n"] for b in kept} for e in events if e["status"] == "error")
    assert kept[-1].event["n"] == 149  # the newest survive
    assert "TELEMETRY SPOOL FULL" in caplog.text


def test_overflow_by_bytes_drops_errors_only_when_nothing_else_is_left(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.db", max_events=1000, max_bytes=1 << 16)
    spool.register("icarus")
    spool.append_many([{"status": "error", "blob": "x" * 1000} for _ in range(100)])
    stats = spool.stats()
    assert stats.bytes <= 1 << 16
    assert stats.dropped > 0


WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from runner.telemetry.spool import Spool

    spool = Spool(Path(sys.argv[1]))
    i = 0
    while True:
        row = spool.append({"n": i, "pad": "p" * 200})
        sys.stdout.write(f"{i} {row}\\n")
        sys.stdout.flush()
        i += 1
    """
)


def test_sigkill_mid_append_loses_nothing_acknowledged(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(db)], stdout=subprocess.PIPE, text=True, env=env
    )
    assert proc.stdout is not None
    acknowledged: list[int] = []
    deadline = time.monotonic() + 60
    while len(acknowledged) < 40 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line:
            acknowledged.append(int(line.split()[0]))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    assert len(acknowledged) >= 40
    spool = Spool(db)
    spool.register("check")
    stored = {b.event["n"] for b in spool.read("check", 100_000)}
    assert set(acknowledged) <= stored
    assert stored == set(range(len(stored)))  # no gaps, no torn rows
