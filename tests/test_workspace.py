from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from runner.errors import WorkspaceError
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


def test_clean_git_checkout_and_duplicate_name(repo: Path, tmp_path: Path) -> None:
    source = inspect_source(repo / "proj")
    assert not source.dirty
    ws = Workspace(source, tmp_path / "w")
    ws.checkout("c1")
    with pytest.raises(WorkspaceError, match="already exists"):
        ws.checkout("c1")
    ws.cleanup()


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
