"""The sandbox Protocol and the result and limit types shared by every implementation."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol


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


class Sandbox(Protocol):
    """Runs a command with no network, bounded resources, and nothing left behind."""

    name: str

    @property
    def isolates_network(self) -> bool:
        """True when commands cannot reach any network (reported on every job)."""
        ...

    def run(self, request: RunRequest) -> CommandResult:
        """Run `request` to completion; raise `SandboxTimeout` / `MemoryLimitExceeded` /
        `SandboxError`. A non-zero exit is a result, not an error."""
        ...
