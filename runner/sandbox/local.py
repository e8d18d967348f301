"""The local sandbox: bubblewrap; without it only when `sandbox.backend = "none"` says so.

Either way every command gets rlimits (address space, CPU seconds, file size, open files,
processes), a wall-clock timeout that kills everything it started, a scrubbed environment,
and its own HOME and /tmp. bubblewrap adds: no network, a read-only view of the system,
only the worktree writable, new PID/IPC/UTS namespaces, no capabilities. `auto` never
falls back silently: when bubblewrap cannot run, no command runs. With `none` a command
runs as an unprivileged user under `no_new_privs` and Landlock (`unprivileged.py`).
"""

from __future__ import annotations

import contextlib
import os
import platform
import resource
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO

from runner.errors import MemoryLimitExceeded, SandboxError, SandboxTimeout
from runner.sandbox import unprivileged
from runner.sandbox.base import CommandResult, Environment, Limits, RunRequest
from runner.sandbox.cgroup import PidsCgroup
from runner.sandbox.files import get_file, put_files

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
    """Only what a command needs (`BASE_ENV_NAMES`, then the request's): nothing is
    inherited from the runner's environment."""
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


def host_platform() -> str:
    """The host's OS and machine, e.g. "Debian GNU/Linux 12 (bookworm) x86_64"."""
    try:
        system = platform.freedesktop_os_release().get("PRETTY_NAME", "")
    except OSError:
        system = ""
    return f"{system or platform.system()} {platform.machine()}"


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
        user: str = "nobody",
        state_dir: Path | None = None,
        interpreter: str | None = None,
    ) -> None:
        """`use_bwrap`: True (`bubblewrap`), None (`auto`): both refuse to build a sandbox
        where bubblewrap cannot run; False (`none`): no bubblewrap, commands run as `user`
        when the runner is root. `state_dir`: the runner's own folders, which may be made
        passable (search bit only) for that user. `interpreter`: the job's Python, named
        by `describe()`."""
        self._bwrap = self._choose_bwrap(use_bwrap, bwrap)
        self._ro_binds = [p for p in extra_ro_binds if p.exists()]
        self._state_dir = state_dir
        self._interpreter = interpreter
        self._has_cgroup: bool | None = None
        self._who = unprivileged.Identity("", None, None)
        self._abi = 0
        self.name = "bubblewrap"
        if self._bwrap is None:
            self._who = unprivileged.identity(user, os.geteuid())
            self._abi = unprivileged.landlock_abi()
            unprivileged.require_confinement(self._who, self._abi)
            landlock = f", Landlock ABI {self._abi}" if self._abi else ""
            self.name = f"none (as {self._who.name}{landlock}; no network isolation)"

    @staticmethod
    def _choose_bwrap(use_bwrap: bool | None, path: str | None) -> str | None:
        if use_bwrap is False:
            return None
        found = shutil.which(path or "bwrap")
        why = _bwrap_failure(found) if found else "bubblewrap is not installed"
        if why is None:
            return found
        backend = "bubblewrap" if use_bwrap else "auto"
        raise SandboxError(
            f"no sandbox: {why}, so candidate code is not run (sandbox.backend = {backend!r}); "
            "fix: apt-get install bubblewrap and allow user namespaces "
            "(`optirunner doctor` shows why it fails), or set sandbox.backend = 'none' to run "
            "commands without isolation as an unprivileged user (docs/sandbox.md)"
        )

    @property
    def isolates_network(self) -> bool:
        return self._bwrap is not None

    def put(self, workdir: Path, files: Mapping[str, bytes]) -> None:
        """Write files into the folder: it is the same path inside bubblewrap."""
        put_files(workdir, files)

    def get(self, workdir: Path, relative: str) -> bytes:
        """Read a file a command left in the folder (never through a symlink out of it)."""
        return get_file(workdir, relative)

    def describe(self) -> Environment:
        """This host, and how limits apply here (a pids cgroup where one can be made)."""
        if self._has_cgroup is None:
            self._has_cgroup = PidsCgroup.available()
        enforced = {"timeout_s", "memory_bytes", "cpu_seconds", "file_size_bytes", "open_files"}
        if self._has_cgroup or os.geteuid() != 0:  # the kernel never applies NPROC to root
            enforced.add("processes")
        return Environment(
            name=self.name,
            network_isolated=self.isolates_network,
            backend="bubblewrap" if self._bwrap else "none",
            platform=host_platform(),
            kernel=os.uname().release,
            interpreter=self._interpreter,
            limits="rlimits+pids-cgroup" if self._has_cgroup else "rlimits",
            enforced=tuple(sorted(enforced)),
        )

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
            with self._cgroup_run(limits) as cgroup:
                returncode, timed_out, duration = self._spawn_and_wait(
                    [*prefix, *request.argv], request, env, scratch, cgroup, None
                )
        else:
            env = scrubbed_env(dict(request.env), str(scratch / "home"), str(scratch / "tmp"))
            with self._lent(request.workdir, scratch) as confine, self._cgroup_run(limits) as cg:
                returncode, timed_out, duration = self._spawn_and_wait(
                    list(request.argv), request, env, scratch, cg, confine
                )
        stdout = _read_tail(scratch / "stdout")
        stderr = _read_tail(scratch / "stderr")
        argv = tuple(request.argv)
        return self._judge(argv, returncode, timed_out, stdout, stderr, duration, limits)

    @contextlib.contextmanager
    def _cgroup_run(self, limits: Limits) -> Iterator[PidsCgroup | None]:
        cgroup = PidsCgroup.create(f"optirunner-{uuid.uuid4().hex[:12]}", limits.processes)
        try:
            yield cgroup
        finally:
            if cgroup is not None:
                cgroup.close()

    @contextlib.contextmanager
    def _lent(self, workdir: Path, scratch: Path) -> Iterator[Callable[[], None]]:
        """For `none`: the folder and a private HOME/TMPDIR belong to the command's user for
        the run (and the runner's again after); writes elsewhere are refused by Landlock."""
        who = self._who
        for sub in ("home", "tmp"):
            (scratch / sub).mkdir()
        owner = workdir.stat()
        if who.uid is not None and who.gid is not None:
            unprivileged.lend(scratch, who.uid, who.gid, os.geteuid(), os.getegid())
            unprivileged.open_path_to(scratch / "home", who, None)
            unprivileged.open_path_to(workdir, who, self._state_dir)
            unprivileged.lend(workdir, who.uid, who.gid, owner.st_uid, owner.st_gid)
        writable = [workdir, scratch, *unprivileged.WRITABLE_SYSTEM]
        ruleset = unprivileged.writable_ruleset(writable, self._abi)
        try:
            yield unprivileged.confine(who, ruleset, unprivileged.last_capability())
        finally:
            if ruleset is not None:
                os.close(ruleset)
            if who.uid is not None and who.gid is not None:
                unprivileged.lend(workdir, owner.st_uid, owner.st_gid, who.uid, who.gid)

    def _spawn_and_wait(
        self,
        argv: list[str],
        request: RunRequest,
        env: dict[str, str],
        scratch: Path,
        cgroup: PidsCgroup | None,
        confine: Callable[[], None] | None,
    ) -> tuple[int, bool, float]:
        stdin_path = scratch / "stdin"
        stdin_path.write_bytes(request.stdin or b"")
        with (
            stdin_path.open("rb") as stdin,
            (scratch / "stdout").open("wb") as out,
            (scratch / "stderr").open("wb") as err,
        ):
            started = time.monotonic()
            try:
                proc = _popen(
                    argv, request, env, (stdin, out, err), _preexec(request, cgroup, confine)
                )
            except OSError as exc:
                raise SandboxError(f"cannot start {request.argv[0]!r}: {exc.strerror}") from exc
            except subprocess.SubprocessError as exc:  # the confinement failed in the child
                raise SandboxError(f"cannot confine {request.argv[0]!r}: {exc}") from exc
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
            return proc.wait(), timed_out, time.monotonic() - started

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


def _preexec(
    request: RunRequest, cgroup: PidsCgroup | None, confine: Callable[[], None] | None
) -> Callable[[], None]:
    """Between fork and exec: the cgroup and rlimits (as the runner), then the confinement.

    Last, the parent-death signal: a command never outlives the worker that runs it.
    """
    limit = _limiter(request.limits, cgroup)

    def child() -> None:
        limit()
        if confine is not None:
            confine()
        unprivileged.die_with_parent()

    return child


def _popen(
    argv: list[str],
    request: RunRequest,
    env: dict[str, str],
    streams: tuple[IO[bytes], IO[bytes], IO[bytes]],
    preexec: Callable[[], None],
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
        preexec_fn=preexec,  # noqa: PLW1509 - only async-signal-safe calls
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


_PROBED: dict[str, str | None] = {}


def _bwrap_failure(bwrap: str) -> str | None:
    """Why bubblewrap cannot create its namespaces here (containers often forbid it), or
    None when it can."""
    if bwrap not in _PROBED:
        argv = [bwrap, "--unshare-net", "--unshare-pid", "--ro-bind", "/", "/", "--", "true"]
        try:
            done = subprocess.run(argv, capture_output=True, timeout=30, check=False, text=True)
        except (OSError, subprocess.TimeoutExpired) as exc:
            _PROBED[bwrap] = f"{bwrap} does not run ({exc})"
        else:
            last = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
            _PROBED[bwrap] = None if done.returncode == 0 else f"{bwrap} cannot run: {last}"
    return _PROBED[bwrap]
