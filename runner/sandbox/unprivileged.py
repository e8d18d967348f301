"""`sandbox.backend = "none"`: no namespaces, but never root and never the runner's files.

What a command gets instead of bubblewrap (docs/sandbox.md, "Without bubblewrap"):

* **another user** when the runner is root: `sandbox.user` (default `nobody`), no
  supplementary groups, an empty capability bounding set. The command's folder is lent to
  that user for the run (its files chowned to it, and back afterwards); the runner's own
  directories on the way to it get the search bit for others (never the read bit), so the
  user can pass through but not list them, and the runner's files (0600) stay closed.
* **`no_new_privs`** (`prctl`): no setuid binary or file capability gives anything back.
* **Landlock** (Linux >= 5.13), when the kernel has it: writes are refused everywhere but
  the command's folder, its private HOME/TMPDIR and /dev. When the runner is not root
  (the packaged unit) this is what keeps the job's spec, keys and database from the
  command, so there it is required.

`plan()` decides (pure, from facts gathered by the caller); `confine()` is what runs in the
child between fork and exec.
"""

from __future__ import annotations

import ctypes
import os
import pwd
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from runner.errors import SandboxError

_SYS_CREATE_RULESET, _SYS_ADD_RULE, _SYS_RESTRICT_SELF = 444, 445, 446
_LANDLOCK_CREATE_RULESET_VERSION = 1
_LANDLOCK_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_PDEATHSIG = 1
_PR_CAPBSET_DROP = 24
_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL = 47, 4
#: Landlock's filesystem rights that change something (reading stays as Unix allows).
_WRITE_RIGHTS_ABI1 = sum(1 << bit for bit in (1, 4, 5, 6, 7, 8, 9, 10, 11, 12))
_REFER, _TRUNCATE = 1 << 13, 1 << 14
#: Where a command may write besides its folder and scratch (/dev/null, /dev/shm, ttys).
WRITABLE_SYSTEM = (Path("/dev"),)


class _RulesetAttr(ctypes.Structure):
    _fields_ = (("handled_access_fs", ctypes.c_uint64),)


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = (("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32))


_libc = ctypes.CDLL(None, use_errno=True)


@dataclass(frozen=True)
class Identity:
    """Who the command runs as: `uid`/`gid`, or None to stay the runner's own user."""

    name: str
    uid: int | None
    gid: int | None


def landlock_abi() -> int:
    """The kernel's Landlock ABI version; 0 when it has none (old kernel, not enabled)."""
    version = int(_libc.syscall(_SYS_CREATE_RULESET, None, 0, _LANDLOCK_CREATE_RULESET_VERSION))
    return max(version, 0)


def identity(user: str, euid: int) -> Identity:
    """The user commands run as: `user` when the runner is root, else the runner itself."""
    if euid != 0:
        return Identity(pwd.getpwuid(euid).pw_name if _known(euid) else str(euid), None, None)
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise SandboxError(
            f"sandbox.user {user!r} does not exist; with sandbox.backend = 'none' a root "
            "runner runs commands as that user (useradd --system, or set another one)"
        ) from None
    if entry.pw_uid == 0:
        raise SandboxError(f"sandbox.user {user!r} is root: commands never run as root")
    return Identity(user, entry.pw_uid, entry.pw_gid)


def _known(uid: int) -> bool:
    try:
        pwd.getpwuid(uid)
    except KeyError:
        return False
    return True


def require_confinement(who: Identity, abi: int) -> None:
    """A runner that cannot change user must at least have Landlock to protect its files."""
    if who.uid is None and abi == 0:
        raise SandboxError(
            "sandbox.backend = 'none' without root needs Landlock (Linux >= 5.13 with "
            "landlock in lsm=) so that commands cannot write the runner's own files; "
            "install bubblewrap, or enable Landlock"
        )


def can_search(mode: int, owner: int, group: int, uid: int, gid: int) -> bool:
    """Whether `uid`/`gid` may pass through a directory with these bits (pure)."""
    if owner == uid:
        return bool(mode & stat.S_IXUSR)
    if group == gid:
        return bool(mode & stat.S_IXGRP)
    return bool(mode & stat.S_IXOTH)


def open_path_to(target: Path, who: Identity, runner_owns_below: Path | None) -> None:
    """Let `who` pass through every directory above `target`.

    A blocking directory the runner owns at or below `runner_owns_below` (its state
    directory) gets the search bit for others; any other one is an error that names it.
    """
    if who.uid is None or who.gid is None:
        return
    for folder in reversed(target.parents):
        info = folder.stat()
        if can_search(info.st_mode, info.st_uid, info.st_gid, who.uid, who.gid):
            continue
        ours = runner_owns_below is not None and (
            folder == runner_owns_below or runner_owns_below in folder.parents
        )
        if ours and info.st_uid == os.geteuid():
            os.chmod(folder, stat.S_IMODE(info.st_mode) | stat.S_IXOTH)
            continue
        raise SandboxError(
            f"sandbox.backend = 'none' runs commands as {who.name}, who cannot reach "
            f"{target}: {folder} is mode {stat.S_IMODE(info.st_mode):04o}; set state_dir "
            f"to a folder {who.name} can pass through (e.g. /var/lib/optirunner), "
            "or use bubblewrap"
        )


def lend(root: Path, to_uid: int, to_gid: int, from_uid: int, from_gid: int) -> None:
    """Chown what `from_uid` owns under `root` (not following links) to `to_uid`.

    Through directory fds (`os.fwalk`): a symlink swapped in by a command can never make
    this change a file outside `root`. Regular files with other hard links are skipped.
    """
    if os.lstat(root).st_uid == from_uid:
        os.chown(root, to_uid, to_gid, follow_symlinks=False)
    for _path, dirs, files, fd in os.fwalk(root, follow_symlinks=False):
        for name in [*dirs, *files]:
            try:
                info = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                continue
            if info.st_uid != from_uid:
                continue
            if stat.S_ISREG(info.st_mode) and info.st_nlink > 1 and to_uid != 0:
                continue
            os.chown(name, to_uid, to_gid, dir_fd=fd, follow_symlinks=False)


def writable_ruleset(paths: Iterable[Path], abi: int) -> int | None:
    """A Landlock ruleset fd refusing writes outside `paths`; None without Landlock."""
    if abi == 0:
        return None
    rights = _WRITE_RIGHTS_ABI1 | (_REFER if abi >= 2 else 0) | (_TRUNCATE if abi >= 3 else 0)
    attr = _RulesetAttr(rights)
    fd = int(_libc.syscall(_SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.sizeof(attr), 0))
    if fd < 0:
        raise SandboxError(f"landlock: {os.strerror(ctypes.get_errno())}")
    try:
        for path in paths:
            _allow(fd, path, rights)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _allow(ruleset: int, path: Path, rights: int) -> None:
    target = os.open(path, os.O_PATH | os.O_CLOEXEC)
    try:
        rule = _PathBeneath(rights, target)
        done = _libc.syscall(
            _SYS_ADD_RULE, ruleset, _LANDLOCK_RULE_PATH_BENEATH, ctypes.byref(rule), 0
        )
        if done != 0:
            raise SandboxError(f"landlock rule for {path}: {os.strerror(ctypes.get_errno())}")
    finally:
        os.close(target)


def last_capability() -> int:
    """The highest capability number this kernel knows."""
    try:
        return int(Path("/proc/sys/kernel/cap_last_cap").read_text())
    except (OSError, ValueError):
        return 63


def die_with_parent() -> None:
    """In a child before exec: SIGKILL when the worker that started it dies (even by SIGKILL).

    Set last: a change of credentials clears it. A sandboxed command then never outlives
    a killed job (bubblewrap, with `--die-with-parent`, takes its whole sandbox with it).
    """
    if _libc.prctl(_PR_SET_PDEATHSIG, 9, 0, 0, 0) != 0:  # 9: SIGKILL
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG)")


def confine(who: Identity, ruleset: int | None, last_cap: int) -> Callable[[], None]:
    """What the child runs right before exec: drop to `who`, no_new_privs, Landlock."""

    def apply() -> None:
        if who.uid is not None and who.gid is not None:
            for cap in range(last_cap + 1):
                _libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0)
            os.setgroups([])
            os.setresgid(who.gid, who.gid, who.gid)
            os.setresuid(who.uid, who.uid, who.uid)
        _libc.prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
        if _libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
        if ruleset is not None and _libc.syscall(_SYS_RESTRICT_SELF, ruleset, 0) != 0:
            raise OSError(ctypes.get_errno(), "landlock_restrict_self")
        if os.getuid() == 0 or os.geteuid() == 0:
            raise OSError("still root: refusing to run the command")

    return apply
