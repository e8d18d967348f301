"""`put` and `get` for a command's folder on this host (the local backends).

A command may have left symlinks in its folder (a candidate's tests can plant
`report.json -> /etc/shadow`): every path is resolved and must still be inside the
folder, and only regular files are read, so neither call ever touches a file outside it.
Nothing races the check: no process outlives its command.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Mapping
from pathlib import Path

from runner.errors import SandboxError, SandboxFileNotFound, SandboxPathError
from runner.sandbox.base import relative_parts

#: The mode of a new file (an existing one keeps its own).
NEW_FILE_MODE = 0o644


def inside(workdir: Path, relative: str) -> Path:
    """`workdir / relative` with its symlinks resolved; `SandboxPathError` unless that is
    still a path inside `workdir`."""
    parts = relative_parts(relative)
    try:
        root = workdir.resolve(strict=True)
        target = root.joinpath(*parts).resolve()
    except FileNotFoundError:
        raise SandboxError(f"the command's folder {workdir} does not exist") from None
    except (RuntimeError, OSError) as exc:  # a symlink loop (RuntimeError before 3.13)
        raise SandboxPathError(f"{relative!r} in {workdir} cannot be resolved: {exc}") from None
    if target == root or not target.is_relative_to(root):
        raise SandboxPathError(
            f"{relative!r} leads out of {workdir} through a symlink (to {target})"
        )
    return target


def put_files(workdir: Path, files: Mapping[str, bytes]) -> None:
    """Write every file (atomically, each), after checking every path."""
    targets = [(relative, inside(workdir, relative), data) for relative, data in files.items()]
    for relative, target, data in targets:
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            _replace(target, data)
        except OSError as exc:
            raise SandboxError(f"cannot write {relative!r} in {workdir}: {exc}") from None


def _replace(target: Path, data: bytes) -> None:
    try:
        mode = stat.S_IMODE(target.stat().st_mode)
    except FileNotFoundError:
        mode = NEW_FILE_MODE
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            os.fchmod(out.fileno(), mode)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def get_file(workdir: Path, relative: str) -> bytes:
    """The content of the regular file at `relative`; `SandboxFileNotFound` when absent."""
    path = inside(workdir, relative)
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC  # a FIFO never blocks
    try:
        fd = os.open(path, flags)
    except (FileNotFoundError, NotADirectoryError):
        raise SandboxFileNotFound(
            f"no file {relative!r} in {workdir}: the command did not leave it"
        ) from None
    except OSError as exc:
        raise SandboxError(f"cannot read {relative!r} in {workdir}: {exc.strerror}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise SandboxError(f"{relative!r} in {workdir} is not a regular file")
    with os.fdopen(fd, "rb") as src:
        return src.read()
