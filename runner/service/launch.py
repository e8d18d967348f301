"""`python -m runner.service.launch PARENT_PID -- ARGV...`: exec ARGV so it dies with PARENT_PID.

`optirunner serve` starts each worker through this: the parent-death signal (SIGKILL) is
set here, before the worker's interpreter starts, so a worker can never outlive its
listener — not even by a second, while it imports (a worker that registered later kept
running beside the retry when serve was killed just after starting it). The signal
survives `execve`. If the parent already died before the signal was set, nothing runs.

Only the standard library is imported: this module must start in milliseconds.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys

_PR_SET_PDEATHSIG = 1
EXIT_ORPHANED = 75  # EX_TEMPFAIL: the listener was gone before the worker started


def set_parent_death_signal(signum: int = signal.SIGKILL) -> None:
    """Ask the kernel to send `signum` to this process when its parent exits (Linux)."""
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, int(signum), 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG)")


def prefix(parent_pid: int | None = None) -> list[str]:
    """The argv that starts a command through this module for the calling process."""
    pid = os.getpid() if parent_pid is None else parent_pid
    return [sys.executable, "-m", "runner.service.launch", str(pid), "--"]


def main(argv: list[str]) -> int:
    """Set the signal, check the parent is still the one named, exec the command."""
    if len(argv) < 3 or argv[1] != "--" or not argv[0].isdigit():
        sys.stderr.write("usage: python -m runner.service.launch PARENT_PID -- ARGV...\n")
        return 2
    set_parent_death_signal()
    if os.getppid() != int(argv[0]):  # it died before the signal was set
        return EXIT_ORPHANED
    os.execv(argv[2], argv[2:])  # noqa: S606 - the listener's own worker command
    return 0  # pragma: no cover - execv does not return


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
