"""Acceptance: spool → Icarus shipper (its own process, as in `serve`) → the real receiver
(`optirunner icarus-receiver`, SQLite), both killed and restarted while events flow."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from runner.telemetry.spool import Spool

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "e2e-runner-token-0123456789"  # noqa: S105 - test credential

# The shipping side of `optirunner serve`: build_shipper(settings).run(stop) until SIGTERM.
SHIPPER = textwrap.dedent(
    """
    import asyncio, signal, sys
    from runner.config import Settings
    from runner.telemetry.setup import build_shipper

    async def main() -> None:
        shippers = build_shipper(Settings())
        assert shippers is not None
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        print("shipping", flush=True)
        await shippers.run(stop)
        shippers.close()

    asyncio.run(main())
    """
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Processes:
    """The receiver and the shipper as child processes of the test."""

    def __init__(self, tmp: Path, port: int) -> None:
        self.tmp = tmp
        self.port = port
        self.receiver_db = tmp / "receiver.db"
        self.state = tmp / "state"
        self.receiver: subprocess.Popen[str] | None = None
        self.shipper: subprocess.Popen[str] | None = None
        self.env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "OPTIRUNNER_STATE_DIR": str(self.state),
            "OPTIRUNNER_TELEMETRY__ICARUS__URL": f"ws://127.0.0.1:{port}",
            "OPTIRUNNER_TELEMETRY__ICARUS__TOKEN": TOKEN,
            "OPTIRUNNER_TELEMETRY__ICARUS__RUNNER_ID": "e2e",
            "OPTIRUNNER_TELEMETRY__ICARUS__BATCH_SIZE": "200",
            "OPTIRUNNER_TELEMETRY__ICARUS__BACKOFF_INITIAL_S": "0.05",
            "OPTIRUNNER_TELEMETRY__ICARUS__BACKOFF_MAX_S": "0.2",
            "OPTIRUNNER_ICARUS_RECEIVER_TOKENS": TOKEN,
        }

    def _start(self, argv: list[str], ready: str) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=self.env
        )
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert ready in line, line
        return proc

    def start_receiver(self) -> None:
        argv = [sys.executable, "-m", "runner", "icarus-receiver", "--db", str(self.receiver_db)]
        argv += ["--port", str(self.port), "--web-port", "0"]
        self.receiver = self._start(argv, "listening on")

    def start_shipper(self) -> None:
        self.shipper = self._start([sys.executable, "-c", SHIPPER], "shipping")

    @staticmethod
    def _stop(proc: subprocess.Popen[str] | None, signum: int) -> None:
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signum)
        proc.wait(timeout=30)
        if proc.stdout is not None:
            proc.stdout.close()

    def stop_receiver(self, signum: int = signal.SIGKILL) -> None:
        self._stop(self.receiver, signum)

    def stop_shipper(self, signum: int = signal.SIGKILL) -> None:
        self._stop(self.shipper, signum)

    def stored(self) -> int:
        if not self.receiver_db.exists():
            return 0
        with sqlite3.connect(self.receiver_db, timeout=30) as db:
            try:
                return int(db.execute("SELECT COUNT(*) FROM events").fetchone()[0])
            except sqlite3.OperationalError:  # table not created yet
                return 0


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Processes]:
    procs = Processes(tmp_path, free_port())
    try:
        yield procs
    finally:
        procs.stop_shipper()
        procs.stop_receiver()


def wait_for(check: Callable[[], bool], what: str, timeout: float = 45.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def test_10k_events_through_receiver_and_runner_restarts_arrive_exactly_once(
    procs: Processes,
) -> None:
    spool = Spool(procs.state / "telemetry" / "spool.db")  # what a job's tracer appends to
    produced = 0

    def produce(count: int) -> None:
        nonlocal produced
        for first in range(produced, produced + count, 100):
            events = [
                {"job_id": "e2e-job", "name": "step", "status": "ok", "attributes": {"n": n}}
                for n in range(first, first + 100)
            ]
            spool.append_many(events)
        produced += count

    procs.start_receiver()
    procs.start_shipper()
    produce(2000)
    wait_for(lambda: procs.stored() >= 1000, "the first events")

    procs.stop_receiver(signal.SIGKILL)  # receiver down #1, mid-stream
    produce(2000)
    procs.start_receiver()
    wait_for(lambda: procs.stored() >= 3000, "shipping after receiver restart #1")

    procs.stop_shipper(signal.SIGKILL)  # the runner crashes
    produce(2000)
    procs.start_shipper()  # ... and comes back: resumes from its spool cursor
    wait_for(lambda: procs.stored() >= 5000, "shipping after the runner restart")

    procs.stop_receiver(signal.SIGTERM)  # receiver down #2
    produce(2000)
    procs.start_receiver()
    produce(2000)
    wait_for(lambda: procs.stored() >= 10_000, "all 10,000 events")
    wait_for(lambda: spool.pending("icarus") == 0, "the acks of the last batch")
    procs.stop_shipper(signal.SIGTERM)
    procs.stop_receiver(signal.SIGTERM)

    assert produced == 10_000
    with sqlite3.connect(procs.receiver_db) as db:
        rows = db.execute("SELECT event_id, payload FROM events").fetchall()
        duplicates = db.execute("SELECT v FROM counters WHERE k = 'duplicates'").fetchone()[0]
    numbers = sorted(json.loads(payload)["attributes"]["n"] for _, payload in rows)
    assert numbers == list(range(10_000))  # every event, each stored exactly once
    assert len({event_id for event_id, _ in rows}) == 10_000
    assert duplicates >= 0  # redeliveries (if any) were recognised by event id
    assert spool.stats().count == 0  # everything acknowledged left the spool
    spool.close()


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")
def test_runner_memory_stays_bounded_during_a_100k_event_outage(procs: Processes) -> None:
    spool = Spool(procs.state / "telemetry" / "spool.db")
    procs.start_shipper()  # the receiver is down from the start
    time.sleep(0.5)
    assert procs.shipper is not None
    pid = procs.shipper.pid
    samples = [rss_kib(pid)]
    for first in range(0, 100_000, 1000):
        spool.append_many(
            [
                {"job_id": "outage", "name": "step", "status": "ok", "attributes": {"n": n}}
                for n in range(first, first + 1000)
            ]
        )
        if first % 10_000 == 0:
            samples.append(rss_kib(pid))
    samples.append(rss_kib(pid))
    assert spool.stats().count == 100_000  # nothing dropped: under the spool's bounds
    procs.start_receiver()  # the outage ends: 100k events drain in batches
    while spool.pending("icarus") > 0:
        samples.append(rss_kib(pid))
        time.sleep(0.25)
    samples.append(rss_kib(pid))
    assert procs.stored() == 100_000
    growth_mib = (max(samples) - samples[0]) / 1024
    print(f"shipper RSS: start {samples[0] / 1024:.1f} MiB, max {max(samples) / 1024:.1f} MiB")
    assert growth_mib < 32, samples  # batches of 200: memory does not follow the backlog
    spool.close()
