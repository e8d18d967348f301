"""Shared fixtures: every test gets its own state directory and never touches /etc or /var."""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


def _passable(folder: Path) -> Path:
    """As root, `sandbox.backend = "none"` runs commands as `nobody`, who must pass through
    the folders above a job's checkout (as it does through /var/lib): give pytest's 0700
    temporary folders the search bit for others (never the read bit)."""
    if os.geteuid() == 0:
        folder.chmod(stat.S_IMODE(folder.stat().st_mode) | stat.S_IXOTH)
    return folder


@pytest.fixture(autouse=True)
def _passable_tmp(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> None:
    base = tmp_path_factory.getbasetemp()
    _passable(base.parent)
    _passable(base)
    if "tmp_path" in request.fixturenames:
        _passable(request.getfixturevalue("tmp_path"))


@pytest.fixture(autouse=True)
def _isolated_state(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = _passable(tmp_path_factory.mktemp("xdg-state"))
    monkeypatch.setenv("XDG_STATE_HOME", str(state))
    monkeypatch.delenv("STATE_DIRECTORY", raising=False)
    for name in list(__import__("os").environ):
        if name.startswith("OPTIRUNNER_"):
            monkeypatch.delenv(name)


@pytest.fixture
def repo_root() -> Path:
    return Path(__file__).resolve().parents[1]


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 2 MiB tmpfs, for full-disk tests (needs root and mount(2): skipped, with
    mount's own reason, where that is impossible)."""
    mnt = tmp_path / "small-disk"
    mnt.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m,mode=0755", "tmpfs", str(mnt)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)
