"""The local sandbox: bubblewrap when it works here, plain subprocesses otherwise.

Either way every command gets rlimits (address space, CPU seconds, file size, open files,
processes), a wall-clock timeout that kills everything it started, a scrubbed environment,
and its own HOME and /tmp. bubblewrap adds: no network, a read-only view of the system,
only the worktree writable, new PID/IPC/UTS namespaces, no capabilities.
"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import IO

from runner.errors import MemoryLimitExceeded, SandboxError, SandboxTimeout
from runner.sandbox.base import CommandResult, Limits, RunRequest
from runner.sandbox.cgroup import PidsCgroup

#: The environment every command starts from; the request adds what the command needs.
BASE_PATH = "/usr/local/bin:/usr/bin:/bin"
SANDBOX_TMP = "/tmp"  # noqa: S108 - inside bubblewrap: a private tmpfs, gone with the command
SANDBOX_HOME = f"{SANDBOX_TMP}/home"
OUTPUT_CAP = 2 * 1024 * 1024  # bytes of stdout/stderr kept (the end of each stream)

#: Top-level system folders made visible (read-only) inside bubblewrap.
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
#: Files of /etc a program may legitimately need; the rest of /etc (credentials, the
#: runner's own configuration) stays invisible.
ETC_ENTRIES = (
    "alternatives",
    "ca-certificates",
    "ca-certificates.conf",
    "gai.conf",
    "group",
    "host.conf",
    "hosts",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "locale.alias",
    "localtime",
    "mime.types",
    "nsswitch.conf",
    "os-release",
    "passwd",
    "protocols",
    "services",
    "ssl",
    "timezone",
)
#: What a Python program prints when an allocation fails under RLIMIT_AS.
_OOM_MARKERS = ("MemoryError", "Cannot allocate memory", "std::bad_alloc", "out of memory")


def bwrap_argv(
    bwrap: str,
    workdir: Path,
    ro_binds: Iterable[Path],
    *,
    as_root: bool,
    system_dirs: Sequence[str] = SYSTEM_DIRS,
) -> list[str]:
    """The bubblewrap prefix for one command (pure: the caller checks what exists)."""
    argv = [bwrap, "--die-with-parent", "--new-session"]
    argv += ["--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts"]
    argv += ["--unshare-cgroup-try", "--hostname", "optirunner-sandbox"]
    if as_root:
        argv += ["--cap-drop", "ALL"]
    for entry in system_dirs:
        path = Path(entry)
        if path.is_symlink():
            argv += ["--symlink", os.readlink(path), entry]
        elif path.is_dir():
            argv += ["--ro-bind", entry, entry]
    for name in ETC_ENTRIES:
        argv += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    argv += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", SANDBOX_TMP, "--dir", SANDBOX_HOME]
    for root in ro_binds:
        argv += ["--ro-bind", str(root), str(root)]
    # Last, so that it wins over any read-only bind that contains it.
    argv += ["--bind", str(workdir), str(workdir), "--chdir", str(workdir), "--"]
    return argv


def scrubbed_env(request_env: dict[str, str], home: str, tmp: str) -> dict[str, str]:
    """Only what a command needs: nothing is inherited from the runner's environment."""
    env = {
        "PATH": BASE_PATH,
        "HOME": home,
        "TMPDIR": tmp,
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
    }
    env.update(request_env)
    return env


def looks_out_of_memory(returncode: int, stderr: str) -> bool:
    """A failed command whose last output says an allocation failed."""
    if returncode == 0:
        return False
    tail = stderr[-4000:]
    return any(marker in tail for marker in _OOM_MARKERS)


def _cpu_exceeded(returncode: int) -> bool:
    # Killed by SIGXCPU directly, or reported as 128+signal by bubblewrap or a shell.
    return returncode in (-signal.SIGXCPU, 128 + signal.SIGXCPU)


class LocalSandbox:
    """Runs commands on this host, isolated by bubblewrap when available."""

    def __init__(
        self,
        *,
        use_bwrap: bool | None = None,
        extra_ro_binds: Sequence[Path] = (),
        bwrap: str | None = None,
    ) -> None:
        self._bwrap = self._choose_bwrap(use_bwrap, bwrap)
        self._ro_binds = [p for p in extra_ro_binds if p.exists()]
        self.name = "bubblewrap" if self._bwrap else "local (no isolation)"

    @staticmethod
    def _choose_bwrap(use_bwrap: bool | None, path: str | None) -> str | None:
        if use_bwrap is False:
            return None
        found = shutil.which(path or "bwrap")
        if found and _bwrap_works(found):
            return found
        if use_bwrap:
            raise SandboxError(
                "the sandbox backend is 'bubblewrap' but bubblewrap "
                + ("cannot create namespaces here" if found else "is not installed")
                + " (apt-get install bubblewrap, or set sandbox.backend = 'auto')"
            )
        return None

    @property
    def isolates_network(self) -> bool:
        return self._bwrap is not None

    def run(self, request: RunRequest) -> CommandResult:
        """Run one command to completion under the request's limits."""
        if not request.argv:
            raise SandboxError("empty command")
        with tempfile.TemporaryDirectory(prefix="optirunner-sbx-") as scratch:
            return self._run_in(request, Path(scratch))

    def _run_in(self, request: RunRequest, scratch: Path) -> CommandResult:
        limits = request.limits
        if self._bwrap:
            prefix = bwrap_argv(
                self._bwrap, request.workdir, self._ro_binds, as_root=os.geteuid() == 0
            )
            env = scrubbed_env(dict(request.env), SANDBOX_HOME, SANDBOX_TMP)
        else:
            prefix = []
            for sub in ("home", "tmp"):
                (scratch / sub).mkdir()
            env = scrubbed_env(dict(request.env), str(scratch / "home"), str(scratch / "tmp"))
        cgroup = PidsCgroup.create(f"optirunner-{uuid.uuid4().hex[:12]}", limits.processes)
        started = time.monotonic()
        try:
            returncode, timed_out = self._spawn_and_wait(
                [*prefix, *request.argv], request, env, scratch, cgroup
            )
        finally:
            if cgroup is not None:
                cgroup.close()
        duration = time.monotonic() - started
        stdout = _read_tail(scratch / "stdout")
        stderr = _read_tail(scratch / "stderr")
        argv = tuple(request.argv)
        return self._judge(argv, returncode, timed_out, stdout, stderr, duration, limits)

    def _spawn_and_wait(
        self,
        argv: list[str],
        request: RunRequest,
        env: dict[str, str],
        scratch: Path,
        cgroup: PidsCgroup | None,
    ) -> tuple[int, bool]:
        stdin_path = scratch / "stdin"
        stdin_path.write_bytes(request.stdin or b"")
        with (
            stdin_path.open("rb") as stdin,
            (scratch / "stdout").open("wb") as out,
            (scratch / "stderr").open("wb") as err,
        ):
            try:
                proc = _popen(argv, request, env, (stdin, out, err), cgroup)
            except OSError as exc:
                raise SandboxError(f"cannot start {request.argv[0]!r}: {exc.strerror}") from exc
            timed_out = False
            try:
                proc.wait(timeout=request.limits.timeout_s)
            except subprocess.TimeoutExpired:
                timed_out = True
            except BaseException:  # Ctrl-C: leave nothing running behind us
                _kill_tree(proc.pid, cgroup)
                proc.wait()
                raise
            _kill_tree(proc.pid, cgroup)  # whatever the command left running dies with it
            return proc.wait(), timed_out

    def _judge(
        self,
        argv: tuple[str, ...],
        returncode: int,
        timed_out: bool,
        stdout: str,
        stderr: str,
        duration: float,
        limits: Limits,
    ) -> CommandResult:
        shown = " ".join(argv)
        if timed_out:
            raise SandboxTimeout(
                f"`{shown}` ran past its {limits.timeout_s:g} s timeout; "
                "all its processes were killed"
            )
        if _cpu_exceeded(returncode):
            raise SandboxTimeout(f"`{shown}` used more than {limits.cpu_seconds} s of CPU time")
        if looks_out_of_memory(returncode, stderr):
            raise MemoryLimitExceeded(
                f"`{shown}` hit its memory limit of {limits.memory_bytes // 1024**2} MiB"
            )
        return CommandResult(
            argv, returncode, stdout, stderr, duration, isolated_network=self.isolates_network
        )


def _popen(
    argv: list[str],
    request: RunRequest,
    env: dict[str, str],
    streams: tuple[IO[bytes], IO[bytes], IO[bytes]],
    cgroup: PidsCgroup | None,
) -> subprocess.Popen[bytes]:
    stdin, out, err = streams
    return subprocess.Popen(
        argv,
        cwd=request.workdir,
        env=env,
        stdin=stdin,
        stdout=out,
        stderr=err,
        start_new_session=True,  # its own process group: the timeout kills all of it
        preexec_fn=_limiter(request.limits, cgroup),  # noqa: PLW1509 - only async-signal-safe calls
        close_fds=True,
    )


def _limiter(limits: Limits, cgroup: PidsCgroup | None) -> Callable[[], None]:
    """The function run in the child between fork and exec: join the cgroup, set rlimits."""
    procs = cgroup.procs_file if cgroup is not None else None
    settings = [
        (resource.RLIMIT_AS, limits.memory_bytes),
        (resource.RLIMIT_CPU, limits.cpu_seconds),
        (resource.RLIMIT_FSIZE, limits.file_size_bytes),
        (resource.RLIMIT_NOFILE, limits.open_files),
        (resource.RLIMIT_CORE, 0),
    ]
    if os.geteuid() != 0:  # the kernel ignores RLIMIT_NPROC for root; the cgroup covers it
        settings.append((resource.RLIMIT_NPROC, limits.processes))

    def limit() -> None:
        if procs is not None:
            fd = os.open(procs, os.O_WRONLY)
            os.write(fd, b"0\n")
            os.close(fd)
        for which, value in settings:
            _, hard = resource.getrlimit(which)
            capped = value if hard == resource.RLIM_INFINITY else min(value, hard)
            # CPU: SIGXCPU at the soft limit (recognisable), SIGKILL a second later.
            ceiling = capped + 1 if which == resource.RLIMIT_CPU else capped
            if hard != resource.RLIM_INFINITY:
                ceiling = min(ceiling, hard)
            resource.setrlimit(which, (capped, ceiling))

    return limit


def _kill_tree(pid: int, cgroup: PidsCgroup | None) -> None:
    """SIGKILL the command's process group and every process of its cgroup."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    if cgroup is not None:
        cgroup.kill_all()


def _read_tail(path: Path) -> str:
    with path.open("rb") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        fh.seek(max(0, size - OUTPUT_CAP))
        data = fh.read()
    return data.decode("utf-8", errors="replace")


_PROBED: dict[str, bool] = {}


def _bwrap_works(bwrap: str) -> bool:
    """Whether bubblewrap can create its namespaces here (containers often forbid it)."""
    if bwrap not in _PROBED:
        argv = [bwrap, "--unshare-net", "--unshare-pid", "--ro-bind", "/", "/", "--", "true"]
        try:
            done = subprocess.run(argv, capture_output=True, timeout=30, check=False)
            _PROBED[bwrap] = done.returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            _PROBED[bwrap] = False
    return _PROBED[bwrap]
