from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from runner.workspace import Workspace, inspect_source


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@e", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "proj" / "pkg").mkdir(parents=True)
    (root / "proj" / "pkg" / "mod.py").write_text("X = 1\n")
    (root / "proj" / ".gitignore").write_text("ignored.txt\n")
    (root / "other.txt").write_text("outside the project\n")
    git(root, "init", "-q")
    git(root, "add", ".")
    git(root, "commit", "-qm", "init")
    return root


def snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(root).parts
    }


def test_git_checkout_replays_uncommitted_state(repo: Path, tmp_path: Path) -> None:
    project = repo / "proj"
    (project / "pkg" / "mod.py").write_text("X = 2\n")  # tracked change
    (project / "pkg" / "new.py").write_text("Y = 3\n")  # untracked
    (project / "ignored.txt").write_text("secret\n")  # ignored: not copied
    before = snapshot(repo)
    source = inspect_source(project)
    assert source.git_root == repo.resolve()
    assert source.dirty
    assert source.subdir == Path("proj")
    ws = Workspace(source, tmp_path / "job" / "worktrees")
    checkout = ws.checkout("baseline")
    assert checkout == tmp_path / "job" / "worktrees" / "baseline" / "proj"
    assert (checkout / "pkg" / "mod.py").read_text() == "X = 2\n"
    assert (checkout / "pkg" / "new.py").read_text() == "Y = 3\n"
    assert not (checkout / "ignored.txt").exists()
    (checkout / "pkg" / "mod.py").write_text("X = 99\n")
    ws.cleanup()
    assert not (tmp_path / "job" / "worktrees" / "baseline").exists()
    assert snapshot(repo) == before
    assert "worktrees" not in git(repo, "worktree", "list")


def git_worktrees(root: Path) -> list[str]:
    out = subprocess.run(
        ["git", "worktree", "list", "--porcelain"], cwd=root, capture_output=True, text=True,
        check=True,
    ).stdout  # fmt: skip
    return [line.split(" ", 1)[1] for line in out.splitlines() if line.startswith("worktree ")]


def test_a_leftover_checkout_of_the_same_name_is_replaced(repo: Path, tmp_path: Path) -> None:
    """Issue 24: a killed attempt's `baseline` no longer fails the retry's checkout."""
    source = inspect_source(repo / "proj")
    assert not source.dirty
    ws = Workspace(source, tmp_path / "w")
    first = ws.checkout("c1")
    (first / "scratch.txt").write_text("left by a killed attempt")
    again = Workspace(source, tmp_path / "w").checkout("c1")  # a new attempt, a new object
    assert again == first
    assert not (again / "scratch.txt").exists()
    ws.cleanup()
    assert git_worktrees(repo) == [str(repo)]


def test_clear_removes_a_dead_attempts_checkouts_and_prunes(repo: Path, tmp_path: Path) -> None:
    source = inspect_source(repo / "proj")
    dead = Workspace(source, tmp_path / "w")
    dead.checkout("baseline")
    dead.checkout("c1")
    shutil.rmtree(tmp_path / "w" / "c1")  # half removed: git still lists it
    (tmp_path / "w" / "c2").mkdir()  # a candidate copy that never became a worktree
    assert len(git_worktrees(repo)) == 3
    # c1 is gone from disk: only pruned from git's list
    assert sorted(Workspace(source, tmp_path / "w").clear()) == ["baseline", "c2"]
    assert list((tmp_path / "w").iterdir()) == []
    assert git_worktrees(repo) == [str(repo)]


def test_plain_folder_is_copied_without_venvs(tmp_path: Path) -> None:
    project = tmp_path / "plain"
    (project / ".venv" / "bin").mkdir(parents=True)
    (project / "__pycache__").mkdir()
    (project / "mod.py").write_text("X = 1\n")
    source = inspect_source(project)
    assert source.git_root is None
    ws = Workspace(source, tmp_path / "w")
    checkout = ws.checkout("baseline")
    assert (checkout / "mod.py").read_text() == "X = 1\n"
    assert not (checkout / ".venv").exists()
    assert not (checkout / "__pycache__").exists()
    ws.cleanup()
    assert not checkout.exists()
    assert (project / "mod.py").exists()
