"""A per-command pids cgroup: caps the number of processes and finds every one of them.

RLIMIT_NPROC counts the processes of a whole user and the kernel never applies it to
root, so on its own it cannot contain a fork bomb. A pids cgroup can: it caps the
command's own process tree and lists every member, including those that left the
process group with `setsid`. It is used when the runner may create one (root on a
cgroup v1 host, or a delegated cgroup v2 subtree); otherwise the sandbox falls back to
the rlimit and says so.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

CGROUP_FS = Path("/sys/fs/cgroup")


def _own_cgroup(proc_cgroup: str) -> tuple[Path, bool] | None:
    """Where this process's pids cgroup lives: (folder, is_v2), from /proc/self/cgroup."""
    v2: Path | None = None
    for line in proc_cgroup.splitlines():
        _, controllers, path = line.split(":", 2)
        rel = path.lstrip("/")
        if "pids" in controllers.split(","):
            return CGROUP_FS / "pids" / rel, False
        if controllers == "":
            v2 = CGROUP_FS / rel if (CGROUP_FS / "cgroup.controllers").exists() else None
    return (v2, True) if v2 is not None else None


@dataclass
class PidsCgroup:
    """A pids cgroup made for one command; `close()` kills what is left and removes it."""

    path: Path

    @classmethod
    def create(cls, name: str, max_pids: int) -> PidsCgroup | None:
        """Make `<own cgroup>/<name>` with `pids.max`, or None where that is not allowed."""
        try:
            found = _own_cgroup(Path("/proc/self/cgroup").read_text())
            if found is None:
                return None
            path = found[0] / name
            path.mkdir()
        except OSError:
            return None
        try:
            (path / "pids.max").write_text(f"{max_pids}\n")
        except OSError:
            with contextlib.suppress(OSError):
                path.rmdir()
            return None
        return cls(path)

    @classmethod
    def available(cls) -> bool:
        """Whether this process may make one (by making one and removing it again)."""
        probe = cls.create(f"optirunner-probe-{uuid.uuid4().hex[:8]}", 10)
        if probe is None:
            return False
        probe.close()
        return True

    @property
    def procs_file(self) -> bytes:
        """The file a child writes its pid to (prepared before fork: no allocation after)."""
        return os.fsencode(self.path / "cgroup.procs")

    def pids(self) -> list[int]:
        """Every process still in the cgroup."""
        try:
            text = (self.path / "cgroup.procs").read_text()
        except OSError:
            return []
        return [int(p) for p in text.split()]

    def hit_limit(self) -> bool:
        """True when a fork was refused because the cgroup was full."""
        try:
            for line in (self.path / "pids.events").read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "max" and int(value) > 0:
                    return True
        except OSError:
            return False
        return False

    def kill_all(self) -> None:
        """SIGKILL every member until none is left (new ones may appear while killing)."""
        for _ in range(50):
            pids = self.pids()
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.01)

    def close(self) -> None:
        """Kill the remaining members and remove the cgroup."""
        self.kill_all()
        for _ in range(100):
            try:
                self.path.rmdir()
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.01)  # members that were just killed are still being reaped
            else:
                return
