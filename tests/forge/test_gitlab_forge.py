"""GitLab end to end: real git over HTTP with the header from the environment, fake API."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import TOKEN, gitlab_job, job_result, make_patch, write_job_dir
from fake_gitlab import FakeGitLab
from git_http import GitHTTPServer

from runner.forge.base import marker
from runner.forge.gitlab import GitLabForge
from runner.forge.settings import ForgeSettings
from runner.result import JobOutcome

from conftest import git  # isort: skip


def forge(settings: ForgeSettings, state_dir: Path) -> GitLabForge:
    return GitLabForge(settings, state_dir, TOKEN, "42")


def test_improvement_end_to_end(
    forge_settings: ForgeSettings,
    state_dir: Path,
    gitlab_server: FakeGitLab,
    git_server: GitHTTPServer,
    bare: Path,
    tmp_path: Path,
) -> None:
    job = gitlab_job()
    gl = forge(forge_settings, state_dir)
    work = gl.prepare_workspace(job)
    assert (work / "widgets" / "inventory.py").is_file()
    base = git("rev-parse", "HEAD", cwd=work).strip()
    assert base == git("rev-parse", "main", cwd=bare).strip()

    handle = gl.start(job)
    state = gitlab_server.state
    assert len(state.notes[7]) == 1
    assert "optirunner is working on this" in state.notes[7][0]["body"]
    assert marker(job.job_id) in state.notes[7][0]["body"]
    assert "optirunner::running" in state.issues[7]["labels"]

    gl.progress(handle, "baseline: tests pass")
    assert len(state.notes[7]) == 1
    assert "baseline: tests pass" in state.notes[7][0]["body"]

    patch = make_patch(work)
    job_dir = write_job_dir(tmp_path / "job", patch)
    result = job_result(job.job_id, JobOutcome.SUCCEEDED, best=True, commit=base)
    delivery = gl.finish(handle, result, job_dir)

    # One commit on main whose diff is patch.diff, by the configured author.
    branch = "optirunner/7-inventory-lookup"
    assert delivery.branch == branch
    assert git("rev-list", "--count", f"main..{branch}", cwd=bare).strip() == "1"
    assert git("diff", f"main..{branch}", cwd=bare).encode() == patch
    assert git("log", "-1", "--format=%an <%ae>", branch, cwd=bare).strip() == (
        "optirunner bot <bot@optirunner.test>"
    )
    assert "Optirunner-Job: " + job.job_id in git("log", "-1", "--format=%B", branch, cwd=bare)

    # A draft merge request carrying the report and the uploaded plot.
    assert len(state.mrs) == 1
    mr = state.mrs[0]
    assert mr["draft"]
    assert mr["source_branch"] == branch
    assert mr["target_branch"] == "main"
    assert "Related to #7" in mr["description"]
    assert "| c1 |" in mr["description"]
    assert "2.50× [2.38–2.63]" in mr["description"]
    assert state.uploads
    assert state.uploads[0]["url"] in mr["description"]
    assert "How to reproduce" in mr["description"]

    # The same note, now the final report; labels moved on.
    assert len(state.notes[7]) == 1
    body = state.notes[7][0]["body"]
    assert "verified improvement" in body
    assert "!1" in body
    assert marker(job.job_id) in body
    assert "optirunner::done" in state.issues[7]["labels"]
    assert "optirunner::running" not in state.issues[7]["labels"]

    # Replaying the job: no new note, MR or commit.
    again = forge(forge_settings, state_dir)
    handle2 = again.start(job)
    assert handle2.note_id == handle.note_id
    delivery2 = again.finish(handle2, result, job_dir)
    assert delivery2.commit == delivery.commit
    assert delivery2.merge_request == "1"
    assert len(state.notes[7]) == 1
    assert len(state.mrs) == 1
    assert git("rev-list", "--count", f"main..{branch}", cwd=bare).strip() == "1"
    gl.release_workspace(job)
    assert not work.exists()


def test_no_improvement_says_so_with_numbers(
    forge_settings: ForgeSettings, state_dir: Path, gitlab_server: FakeGitLab, tmp_path: Path
) -> None:
    job = gitlab_job()
    gl = forge(forge_settings, state_dir)
    handle = gl.start(job)
    result = job_result(job.job_id, JobOutcome.SUCCEEDED, best=False)
    delivery = gl.finish(handle, result, write_job_dir(tmp_path / "job", b""))
    body = gitlab_server.state.notes[7][0]["body"]
    assert "no verified improvement" in body
    assert "inconclusive" in body
    assert "1.01× [0.97–1.05]" in body
    assert delivery.branch is None
    assert not gitlab_server.state.mrs
    assert "optirunner::done" in gitlab_server.state.issues[7]["labels"]


def test_failure_says_what_to_change(
    forge_settings: ForgeSettings, state_dir: Path, gitlab_server: FakeGitLab, tmp_path: Path
) -> None:
    job = gitlab_job()
    gl = forge(forge_settings, state_dir)
    handle = gl.start(job)
    result = job_result(
        job.job_id, JobOutcome.FAILED, best=False, message="target widgets/x.py::f not found"
    )
    gl.finish(handle, result, write_job_dir(tmp_path / "job", None))
    body = gitlab_server.state.notes[7][0]["body"]
    assert "could not finish" in body
    assert "not found" in body
    assert "```optirunner" in body  # a corrected example
    assert "optirunner::failed" in gitlab_server.state.issues[7]["labels"]
    baseline = job_result(job.job_id, JobOutcome.BASELINE_FAILING, best=False, message="tests")
    gl.finish(handle, baseline, tmp_path / "job")
    assert "tests fail on the unchanged code" in gitlab_server.state.notes[7][0]["body"]
    assert len(gitlab_server.state.notes[7]) == 1


def test_workspace_at_spec_ref_and_cached_clone(
    forge_settings: ForgeSettings, state_dir: Path, gitlab_server: FakeGitLab, bare: Path
) -> None:
    gl = forge(forge_settings, state_dir)
    one = gl.prepare_workspace(gitlab_job("job-1", ref="feature"))
    assert (one / "NOTES.md").is_file()
    two = gl.prepare_workspace(gitlab_job("job-2"))
    assert not (two / "NOTES.md").exists()
    clones = list((state_dir / "repos").glob("*.git"))
    assert len(clones) == 1  # one cached clone, two worktrees
    sha = git("rev-parse", "feature", cwd=bare).strip()
    three = gl.prepare_workspace(gitlab_job("job-3", ref=sha))
    assert git("rev-parse", "HEAD", cwd=three).strip() == sha


def test_wrong_token_is_a_clear_error(
    forge_settings: ForgeSettings, state_dir: Path, gitlab_server: FakeGitLab
) -> None:
    from runner.errors import ForgeError

    gl = GitLabForge(forge_settings, state_dir, "wrong-token", "42")
    with pytest.raises(ForgeError, match="401") as info:
        gl.start(gitlab_job())
    assert not info.value.retryable


def test_outage_is_retryable_and_loses_nothing(
    forge_settings: ForgeSettings, state_dir: Path, gitlab_server: FakeGitLab, tmp_path: Path
) -> None:
    from runner.errors import ForgeError

    job = gitlab_job()
    gl = forge(forge_settings, state_dir)
    handle = gl.start(job)
    gitlab_server.state.fail = [502, 502]
    result = job_result(job.job_id, JobOutcome.SUCCEEDED, best=False)
    job_dir = write_job_dir(tmp_path / "job", b"")
    with pytest.raises(ForgeError) as info:
        gl.finish(handle, result, job_dir)
    assert info.value.retryable
    gitlab_server.state.fail = []
    gl.finish(handle, result, job_dir)  # the retry
    assert len(gitlab_server.state.notes[7]) == 1
    assert "no verified improvement" in gitlab_server.state.notes[7][0]["body"]
