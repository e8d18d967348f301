"""`optirunner serve` end to end: crash recovery, drain, abort, systemd notifications."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from pathlib import Path

import pytest

from runner.service import procs
from runner.store.models import JobState
from runner.store.queue import JobStore

from .conftest import Serve, enqueue, in_state, sleep_cmd, wait_for

pytestmark = pytest.mark.slow


class NotifySocket:
    """A real unix datagram socket standing in for systemd's $NOTIFY_SOCKET."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.messages: list[str] = []
        self._stop = False
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop:
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except TimeoutError:
                continue

    def close(self) -> None:
        self._stop = True
        self._thread.join(2)
        self.sock.close()


def worker_pids(serve: Serve) -> list[int]:
    """Process groups of the workers of `serve` (children of its pid)."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == serve.proc.pid:  # ppid
                out.append(int(entry.name))
    return out


def alive(pid: int) -> bool:
    """Running (not gone, not a zombie)."""
    fields = procs.stat_fields(pid)
    return fields is not None and fields[0] != "Z"


def test_kill_9_then_restart_runs_the_job_again(
    sqlite_setup: tuple[Path, JobStore], serves: list[Serve]
) -> None:
    config, store = sqlite_setup
    job_id = enqueue(store, "crash", sleep_cmd(1.5))
    first = Serve(config)
    serves.append(first)
    first.wait_ready()
    wait_for(in_state(store, job_id, JobState.RUNNING), what="job running")
    workers = worker_pids(first)
    os.kill(first.proc.pid, signal.SIGKILL)  # serve only: its worker notices and ends itself
    first.wait()
    wait_for(lambda: not any(alive(p) for p in workers), 10, "orphaned worker to end")
    second = Serve(config)
    serves.append(second)
    second.wait_ready()
    wait_for(in_state(store, job_id, JobState.SUCCEEDED), 60, "job to succeed after restart")
    job = store.get(job_id)
    assert job.attempts == 2  # the killed attempt and the one that succeeded
    assert len(store.list()) == 1
    log = (first.settings.state_dir / "jobs" / job_id / "worker.log").read_text()
    # The first worker died with serve (it may not have written a line); one run ended.
    assert log.count("optirunner worker: succeeded") == 1


def test_sigterm_drains_and_notifies_systemd(
    sqlite_setup: tuple[Path, JobStore], serves: list[Serve], tmp_path: Path
) -> None:
    config, store = sqlite_setup
    notify = NotifySocket(tmp_path / "notify.sock")
    try:
        job_id = enqueue(store, "drain", sleep_cmd(1.5))
        serve = Serve(config, env={"NOTIFY_SOCKET": str(notify.path)})
        serves.append(serve)
        serve.wait_ready()
        wait_for(in_state(store, job_id, JobState.RUNNING), what="job running")
        later = enqueue(store, "later", sleep_cmd(0))
        serve.signal(signal.SIGTERM)
        assert serve.wait(60) == 0
        assert store.get(job_id).state is JobState.SUCCEEDED
        assert store.get(later).state is JobState.QUEUED  # no new job after SIGTERM
        time.sleep(0.3)
    finally:
        notify.close()
    assert notify.messages[0].startswith("READY=1")
    assert "WATCHDOG=1" in notify.messages
    assert notify.messages[-1] == "STOPPING=1"
    assert all(m == "WATCHDOG=1" for m in notify.messages[1:-1])


def test_second_sigterm_kills_workers_and_requeues(
    sqlite_setup: tuple[Path, JobStore], serves: list[Serve]
) -> None:
    config, store = sqlite_setup
    job_id = enqueue(store, "abort", sleep_cmd(60))
    serve = Serve(config)
    serves.append(serve)
    serve.wait_ready()
    wait_for(in_state(store, job_id, JobState.RUNNING), what="job running")
    wait_for(lambda: bool(worker_pids(serve)), what="worker process")
    workers = worker_pids(serve)
    started = time.monotonic()
    serve.signal(signal.SIGTERM)
    time.sleep(0.5)
    assert serve.proc.poll() is None  # draining: the job is still running
    serve.signal(signal.SIGTERM)
    assert serve.wait(30) == 0
    assert time.monotonic() - started < 20
    job = store.get(job_id)
    assert (job.state, job.attempts, job.lease_owner) == (JobState.QUEUED, 0, None)
    assert not any(alive(p) for p in workers)
