"""What every sandbox test needs: a command's folder, a listener to reach, an interpreter."""

from __future__ import annotations

import os
import pwd
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from runner.sandbox import unprivileged

# The contract's asserts explain themselves as a test module's do.
pytest.register_assert_rewrite("tests.sandbox.contract")


def _python_nobody_can_run() -> str:
    """This interpreter, unless the tests run as root and it lives where `nobody` (the
    user of backend "none") cannot pass, e.g. pyenv under /root: then Debian's python3."""
    if os.geteuid() != 0:
        return sys.executable
    nobody = pwd.getpwnam("nobody")
    for folder in Path(sys.executable).resolve().parents:
        info = folder.stat()
        mode, owner, group = info.st_mode, info.st_uid, info.st_gid
        if not unprivileged.can_search(mode, owner, group, nobody.pw_uid, nobody.pw_gid):
            return "/usr/bin/python3"
    return sys.executable


#: The Python the local backends' commands run.
PY = _python_nobody_can_run()


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """The command's folder: `work` in the test's own temporary folder (which is outside it)."""
    path = tmp_path / "work"
    path.mkdir()
    return path


@pytest.fixture
def listener() -> Iterator[int]:
    """A real TCP server on 127.0.0.1, port 0."""
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen()
        yield srv.getsockname()[1]
