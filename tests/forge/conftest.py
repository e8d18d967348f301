"""Fixtures: a real git smart-HTTP remote, a fake GitLab API, a fake Jira, job results."""

from __future__ import annotations

import base64
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from fake_gitlab import FakeGitLab
from git_http import GitHTTPServer

from runner.forge.base import ForgeJob
from runner.forge.settings import ForgeSettings, GitLabForgeSettings
from runner.result import (
    CandidateResult,
    CandidateStatus,
    JobOutcome,
    JobResult,
    Measurement,
)

TOKEN = "glpat-SeCrEt-token-0123456789"  # noqa: S105 - a test token
SOURCE = '''"""Inventory."""


def lookup(items, wanted):
    for item in items:
        if item == wanted:
            return True
    return False
'''
FASTER = SOURCE.replace(
    "    for item in items:\n        if item == wanted:\n            return True\n    return False",
    "    return wanted in items",
)
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


def git(*args: str, cwd: Path) -> str:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(cwd), "GIT_CONFIG_NOSYSTEM": "1"}
    ident = ["-c", "user.name=dev", "-c", "user.email=dev@example.com"]
    proc = subprocess.run(["git", *ident, *args], cwd=cwd, env=env, capture_output=True, check=True)
    return proc.stdout.decode()


def basic(token: str) -> str:
    return "Basic " + base64.b64encode(f"oauth2:{token}".encode()).decode()


@pytest.fixture
def remote_root(tmp_path: Path) -> Path:
    """A bare repository acme/widgets.git with one commit on main."""
    root = tmp_path / "remote"
    bare = root / "acme" / "widgets.git"
    bare.mkdir(parents=True)
    git("init", "--bare", "-q", "-b", "main", str(bare), cwd=tmp_path)
    work = tmp_path / "seed"
    work.mkdir()
    git("init", "-q", "-b", "main", cwd=work)
    (work / "widgets").mkdir()
    (work / "widgets" / "inventory.py").write_text(SOURCE)
    (work / "README.md").write_text("widgets\n")
    git("add", "-A", cwd=work)
    git("commit", "-q", "-m", "initial", cwd=work)
    git("checkout", "-q", "-b", "feature", cwd=work)
    (work / "NOTES.md").write_text("feature branch\n")
    git("add", "-A", cwd=work)
    git("commit", "-q", "-m", "feature", cwd=work)
    git("push", "-q", str(bare), "main", "feature", cwd=work)
    return root


@pytest.fixture
def bare(remote_root: Path) -> Path:
    return remote_root / "acme" / "widgets.git"


@pytest.fixture
def git_server(remote_root: Path) -> Iterator[GitHTTPServer]:
    with GitHTTPServer(remote_root, basic(TOKEN)) as server:
        yield server


@pytest.fixture
def gitlab_server(git_server: GitHTTPServer, bare: Path) -> Iterator[FakeGitLab]:
    with FakeGitLab(TOKEN, git_server.url, bare) as server:
        yield server


@pytest.fixture
def forge_settings(gitlab_server: FakeGitLab, git_server: GitHTTPServer) -> ForgeSettings:
    return ForgeSettings(
        author_name="optirunner bot",
        author_email="bot@optirunner.test",
        gitlab=GitLabForgeSettings(url=gitlab_server.url, git_url=git_server.url),
    )


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    path = tmp_path / "state"
    path.mkdir()
    return path


def gitlab_job(job_id: str = "20240501-120000-abc123", **spec: object) -> ForgeJob:
    source = {
        "forge": "gitlab",
        "instance": "https://gitlab.example",
        "project_id": "42",
        "project_path": "acme/widgets",
        "issue": "7",
        "web_url": "https://gitlab.example/acme/widgets/-/issues/7",
        "author": "dev",
        "trigger": "comment",
    }
    return ForgeJob(job_id, source, {"targets": ["widgets/inventory.py::lookup"], **spec})


def make_patch(worktree: Path) -> bytes:
    """The diff of the faster `lookup` against the worktree's HEAD."""
    (worktree / "widgets" / "inventory.py").write_text(FASTER)
    try:
        return git("diff", "HEAD", cwd=worktree).encode()
    finally:
        git("checkout", "--", ".", cwd=worktree)


def measurement(ratio: float, low: float, high: float, verdict: str) -> Measurement:
    return Measurement(
        instrument="replay of recorded calls",
        baseline_rounds=[1.0] * 20,
        candidate_rounds=[ratio] * 20,
        ratio=ratio,
        low=low,
        high=high,
        verdict=verdict,
        reason="interval excludes 1" if verdict == "faster" else "interval includes 1",
        min_detectable=0.02,
        seconds=12.0,
    )


def job_result(
    job_id: str,
    outcome: JobOutcome,
    *,
    best: bool,
    commit: str = "",
    message: str = "",
) -> JobResult:
    verdict = "faster" if best else "inconclusive"
    ratio, low, high = (0.4, 0.38, 0.42) if best else (0.99, 0.95, 1.03)
    cand = CandidateResult(
        id="c1",
        target="widgets/inventory.py::lookup",
        rule="loop-to-in",
        description="membership test instead of a loop",
        status=CandidateStatus.VERIFIED,
        tests="passed",
        calls_compared=12,
        measurement=measurement(ratio, low, high, verdict),
    )
    return JobResult(
        job_id=job_id,
        outcome=outcome,
        spec={
            "repo": "/state/worktrees/x",
            "targets": ["widgets/inventory.py::lookup"],
            "test_cmd": "python -m pytest -q",
            "commit": commit,
            "provider": "rules",
        },
        started=time.time() - 30,
        finished=1714564800.0,
        message=message or ("1 verified improvement" if best else "no candidate was faster"),
        candidates=[cand] if outcome is JobOutcome.SUCCEEDED else [],
        best=["c1"] if best else [],
    )


def write_job_dir(job_dir: Path, patch: bytes | None) -> Path:
    (job_dir / "plots").mkdir(parents=True, exist_ok=True)
    (job_dir / "plots" / "c1.png").write_bytes(PNG)
    if patch is not None:
        (job_dir / "patch.diff").write_bytes(patch)
    return job_dir
