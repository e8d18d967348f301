"""Sandboxes run the job's commands: tests, benchmarks, candidate code."""

from __future__ import annotations

import sys
from pathlib import Path

from runner.config import Settings
from runner.sandbox.base import Sandbox

_USE_BWRAP = {"auto": None, "bubblewrap": True, "none": False}


def interpreter_roots(python: str) -> list[Path]:
    """Folders an interpreter needs readable: its venv (if any) and its installation."""
    exe = Path(python)
    roots = {exe.parent.parent, exe.resolve().parent.parent}
    return sorted(r for r in roots if r != Path("/usr") and r != Path("/"))


def make_sandbox(settings: Settings) -> Sandbox:
    """The sandbox the settings ask for (only the local one exists so far)."""
    from runner.sandbox.local import LocalSandbox  # noqa: PLC0415 - avoid import cycles

    python = settings.python or sys.executable
    return LocalSandbox(
        use_bwrap=_USE_BWRAP[settings.sandbox.backend],
        extra_ro_binds=interpreter_roots(python),
        user=settings.sandbox.user,
        state_dir=settings.state_dir,
        interpreter=python,
    )
