"""Which processes an attempt of a job left behind, and ending them before the next one.

The supervisor writes `<job dir>/worker.json` when it starts a worker: its pid (which is
also its process group, a worker runs in a session of its own), the start time the
kernel gives it and the boot it ran in. Before the next attempt of the job starts, every
process still in that group is killed: a worker's helpers (git, the recorder's pytest)
must not run on beside the attempt that replaces it.

A process group number stays taken while any member of the group lives, so the group of
a dead worker cannot be handed to an unrelated process while members remain; if a new
process has the number as its pid, its start time differs from the recorded one and
nothing is killed.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
from dataclasses import dataclass
from pathlib import Path

from runner.paths import write_atomic

WORKER_JSON = "worker.json"
_PROC = Path("/proc")


@dataclass(frozen=True)
class Identity:
    """A process as the kernel knows it: pid, start time (clock ticks after boot), boot."""

    pid: int
    start: int
    boot: str

    def to_json(self) -> str:
        return json.dumps({"pid": self.pid, "start": self.start, "boot": self.boot}) + "\n"


def boot_id(proc: Path = _PROC) -> str:
    """This boot's id ('' when the kernel does not say)."""
    try:
        return (proc / "sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def stat_fields(pid: int, proc: Path = _PROC) -> list[str] | None:
    """/proc/<pid>/stat after the command name (field 3 onwards); None if it is gone."""
    try:
        text = (proc / str(pid) / "stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()


def identity(pid: int, proc: Path = _PROC) -> Identity | None:
    """The identity of a living process; None if it is gone."""
    fields = stat_fields(pid, proc)
    if fields is None:
        return None
    return Identity(pid, int(fields[19]), boot_id(proc))  # field 22: starttime


def record(job_dir: Path, pid: int) -> None:
    """Remember the worker just started for this job (best effort: it may be gone)."""
    found = identity(pid)
    if found is not None:
        write_atomic(job_dir / WORKER_JSON, found.to_json())


def load(job_dir: Path) -> Identity | None:
    """The recorded worker of the job's last attempt, if any (and readable)."""
    try:
        data = json.loads((job_dir / WORKER_JSON).read_text(encoding="utf-8"))
        return Identity(int(data["pid"]), int(data["start"]), str(data["boot"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def group_members(pgid: int, proc: Path = _PROC) -> list[int]:
    """Pids of the living (not zombie) processes in process group `pgid`."""
    members = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        fields = stat_fields(int(entry.name), proc)
        if fields is not None and fields[0] != "Z" and int(fields[2]) == pgid:  # field 5: pgrp
            members.append(int(entry.name))
    return members


def end_leftovers(job_dir: Path) -> list[int]:
    """SIGKILL what the job's previous worker left running; returns the pids killed."""
    previous = load(job_dir)
    if previous is None or previous.boot != boot_id():
        return []  # none recorded, or from an earlier boot: nothing of it can run now
    leader = identity(previous.pid)
    if leader is not None and leader.start != previous.start:
        return []  # the number belongs to another process now
    members = group_members(previous.pid)
    for pid in members:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    return members
