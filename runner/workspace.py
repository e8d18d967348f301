"""Checkouts for one job: the baseline and each candidate get their own copy of the project.

The user's working tree is only ever read. For a git repository each checkout is a
`git worktree` of HEAD, on top of which the uncommitted state of the project folder
(tracked changes and untracked, non-ignored files) is replayed, so a job optimizes what
the user sees. A folder outside git is copied (without virtualenvs and caches).
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from runner.errors import WorkspaceError

# Folders never copied into a checkout of a non-git project: large and rebuildable.
SKIP_DIRS = frozenset(
    {
        ".git",
        ".venv",
        "venv",
        "node_modules",
        ".tox",
        ".nox",
        "__pycache__",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".hypothesis",
    }
)
# Never run the repository's hooks: checking out must not execute the project's code.
_GIT = ("git", "-c", "core.hooksPath=/dev/null", "-c", "advice.detachedHead=false")


@dataclass(frozen=True)
class Source:
    """Where the project comes from: a folder, possibly inside a git repository."""

    project: Path
    git_root: Path | None
    commit: str | None
    dirty: bool

    @property
    def subdir(self) -> Path:
        """The project folder relative to the git root (`.` for a plain folder)."""
        return self.project.relative_to(self.git_root) if self.git_root else Path()


def _git(*args: str, cwd: Path, input_bytes: bytes | None = None) -> bytes:
    proc = subprocess.run(
        [*_GIT, *args], cwd=cwd, input=input_bytes, capture_output=True, check=False
    )
    if proc.returncode != 0:
        detail = proc.stderr.decode(errors="replace").strip().splitlines()
        raise WorkspaceError(f"git {args[0]} failed in {cwd}: {detail[-1] if detail else '?'}")
    return proc.stdout


def inspect_source(project: Path) -> Source:
    """Find the git repository (if any) that holds `project`, its commit and dirtiness."""
    if shutil.which("git") is None:
        return Source(project, None, None, dirty=False)
    probe = subprocess.run(
        [*_GIT, "rev-parse", "--show-toplevel"], cwd=project, capture_output=True, check=False
    )
    if probe.returncode != 0:
        return Source(project, None, None, dirty=False)
    root = Path(probe.stdout.decode().strip()).resolve()
    head = subprocess.run(
        [*_GIT, "rev-parse", "--verify", "-q", "HEAD"], cwd=root, capture_output=True, check=False
    )
    if head.returncode != 0:  # a repository without commits: treat as a plain folder
        return Source(project, None, None, dirty=False)
    status = _git("status", "--porcelain", "--", str(project), cwd=root)
    return Source(project, root, head.stdout.decode().strip(), dirty=bool(status.strip()))


class Workspace:
    """Creates and removes the checkouts of one job under `<job dir>/worktrees/`."""

    def __init__(self, source: Source, root: Path) -> None:
        self.source = source
        self.root = root
        self._created: list[Path] = []

    def clear(self) -> list[str]:
        """Remove what an earlier attempt of the job left under the root; returns the names.

        A killed attempt cannot clean up: its checkouts stay on disk and registered in the
        source repository. They are removed (`git worktree remove`, then the folder) and
        `git worktree prune` forgets any whose folder is already gone.
        """
        left = sorted(self.root.iterdir()) if self.root.is_dir() else []
        for dest in left:
            self._remove(dest)
        self._prune()
        return [dest.name for dest in left]

    def checkout(self, name: str) -> Path:
        """A fresh checkout named `name`; returns the project folder inside it.

        A leftover checkout of that name (from a killed attempt) is replaced.
        """
        dest = self.root / name
        if dest.exists() or dest.is_symlink():
            self._remove(dest)
            self._prune()
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._created.append(dest)
        if self.source.git_root is None:
            shutil.copytree(
                self.source.project,
                dest,
                symlinks=True,
                ignore=lambda _d, names: [n for n in names if n in SKIP_DIRS],
            )
            return dest
        return self._git_checkout(dest)

    def _git_checkout(self, dest: Path) -> Path:
        root, commit = self.source.git_root, self.source.commit
        assert root is not None  # noqa: S101 - guarded by checkout()
        assert commit is not None  # noqa: S101
        _git("worktree", "add", "--detach", "--quiet", str(dest), commit, cwd=root)
        project = dest / self.source.subdir
        if self.source.dirty:
            self._replay_uncommitted(dest, project)
        return project

    def _replay_uncommitted(self, dest: Path, project: Path) -> None:
        """Bring the user's uncommitted edits and new files of the project into a checkout."""
        root = self.source.git_root
        assert root is not None  # noqa: S101
        # Paths in the diff are relative to the repository root, so apply at the root.
        diff = _git("diff", "HEAD", "--binary", "--", str(self.source.subdir), cwd=root)
        if diff.strip():
            _git("apply", "--whitespace=nowarn", "-", cwd=dest, input_bytes=diff)
        others = _git("ls-files", "-z", "--others", "--exclude-standard", cwd=self.source.project)
        for rel in filter(None, others.decode().split("\0")):
            src, dst = self.source.project / rel, project / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst, follow_symlinks=False)

    def cleanup(self) -> None:
        """Remove every checkout this workspace made (and git's bookkeeping of them)."""
        for dest in reversed(self._created):
            self._remove(dest)
        self._prune()
        self._created.clear()

    def _remove(self, dest: Path) -> None:
        if self.source.git_root is not None:
            subprocess.run(
                [*_GIT, "worktree", "remove", "--force", "--force", str(dest)],
                cwd=self.source.git_root,
                capture_output=True,
                check=False,
            )
        if dest.is_symlink() or dest.is_file():
            dest.unlink(missing_ok=True)
        else:
            shutil.rmtree(dest, ignore_errors=True)

    def _prune(self) -> None:
        if self.source.git_root is not None:
            subprocess.run(
                [*_GIT, "worktree", "prune"],
                cwd=self.source.git_root,
                capture_output=True,
                check=False,
            )
