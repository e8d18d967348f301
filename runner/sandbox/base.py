"""The sandbox Protocol: the one boundary through which a job runs commands.

Every command of a job (tests, recorder, replay, bench, callgrind) is a `RunRequest` given
to a `Sandbox`; files go into the command's folder with `put` and come out with `get`;
`describe` says what ran them, for the report. The local backend (bubblewrap, or `none`)
implements it today; a Dagger engine and a client's CI pipeline implement the same
Protocol and pass the same contract suite, tests/sandbox/contract.py.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

from runner.errors import SandboxPathError

#: The names a backend may add to a command's environment (the request's values win);
#: PWD, when set, is the command's folder (bubblewrap sets it with `--chdir`).
BASE_ENV_NAMES = frozenset({"PATH", "HOME", "TMPDIR", "LANG", "LC_ALL", "PWD"})


@dataclass(frozen=True)
class Limits:
    """Resource limits applied to every command (rlimits plus a wall-clock timeout)."""

    timeout_s: float = 600.0
    memory_bytes: int = 4 * 1024**3
    cpu_seconds: int = 1800
    file_size_bytes: int = 1024**3
    open_files: int = 1024
    processes: int = 256


@dataclass(frozen=True)
class CommandResult:
    """What a finished command left behind."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    duration_s: float
    isolated_network: bool

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def tail(self, lines: int = 20) -> str:
        """The last lines of combined output, for error messages and reports."""
        text = "\n".join(s.rstrip("\n") for s in (self.stdout, self.stderr) if s.strip())
        return "\n".join(text.splitlines()[-lines:])


@dataclass(frozen=True)
class RunRequest:
    """One command to run: argv, the folder bound read-write, and the exact environment."""

    argv: Sequence[str]
    workdir: Path
    env: Mapping[str, str] = field(default_factory=dict)
    limits: Limits = field(default_factory=Limits)
    stdin: bytes | None = None


@dataclass(frozen=True)
class Environment:
    """What runs a sandbox's commands, as the job report states it.

    `name` and `network_isolated` are the report's `sandbox` keys of old: `Sandbox.name`
    and whether commands cannot reach any network. The rest is what the backend knows:
    `platform` (OS and machine, or the image's), `kernel` (None where it is not known,
    e.g. a remote pipeline), `image` (a container image reference; None for local
    commands), `interpreter` (the Python the job's commands use, when the backend was
    told), `limits` (how resource limits are applied, e.g. "rlimits+pids-cgroup") and
    `enforced` (the `Limits` fields the backend enforces, sorted).
    """

    name: str
    network_isolated: bool
    backend: str
    platform: str
    kernel: str | None = None
    image: str | None = None
    interpreter: str | None = None
    limits: str = ""
    enforced: tuple[str, ...] = ()

    def enforces(self, limit: str) -> bool:
        """Whether the backend enforces the `Limits` field `limit` (e.g. "memory_bytes")."""
        return limit in self.enforced

    def to_dict(self) -> dict[str, Any]:
        """The report's `sandbox` object (JSON-ready)."""
        return {
            "name": self.name,
            "network_isolated": self.network_isolated,
            "backend": self.backend,
            "platform": self.platform,
            "kernel": self.kernel,
            "image": self.image,
            "interpreter": self.interpreter,
            "limits": self.limits,
            "enforced": list(self.enforced),
        }


def relative_parts(relative: str) -> tuple[str, ...]:
    """The parts of a path inside a command's folder; `SandboxPathError` for any other
    (pure: symlinks are the backend's to check, where the files are)."""
    if not relative or "\0" in relative:
        raise SandboxPathError(f"not a file path inside the command's folder: {relative!r}")
    path = PurePosixPath(relative)
    if path.is_absolute():
        raise SandboxPathError(f"{relative!r} is absolute; paths are relative to the folder")
    if ".." in path.parts:
        raise SandboxPathError(f"{relative!r} has a '..' part; it could leave the folder")
    if not path.parts:
        raise SandboxPathError(f"{relative!r} names the folder itself, not a file in it")
    return path.parts


class Sandbox(Protocol):
    """Runs a command with no network, bounded resources, and nothing left behind.

    The one executor boundary: a backend implements these six members and passes
    tests/sandbox/contract.py. Paths given to `put` and `get` are relative to the
    request's `workdir` (the folder the commands see as their cwd, read-write) and must
    stay inside it: an absolute path, a `..` part, or a symlink leading out of the folder
    raises `SandboxPathError`.
    """

    name: str

    @property
    def isolates_network(self) -> bool:
        """True when commands cannot reach any network (reported on every job)."""
        ...

    def run(self, request: RunRequest) -> CommandResult:
        """Run `request` to completion; raise `SandboxTimeout` / `MemoryLimitExceeded` /
        `SandboxError`. A non-zero exit is a result, not an error.

        The command's environment is `request.env` over a base of at most
        `BASE_ENV_NAMES` (PATH, HOME, TMPDIR, LANG, LC_ALL, PWD): nothing of the runner's.
        When it ends, no process it started is left running."""
        ...

    def put(self, workdir: Path, files: Mapping[str, bytes]) -> None:
        """Write `files` (relative path -> content) into `workdir`, as the next command
        sees it: parent folders are made, an existing file is replaced (keeping its mode).
        Every path is checked before any file is written."""
        ...

    def get(self, workdir: Path, relative: str) -> bytes:
        """The content of the file a command left at `relative` in `workdir`; raise
        `SandboxFileNotFound` (a `SandboxError`) when there is no such file."""
        ...

    def describe(self) -> Environment:
        """What runs the commands, for the report (`describe().to_dict()`)."""
        ...
