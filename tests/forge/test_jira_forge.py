"""Jira Cloud (ADF, REST v3) and Data Center (wiki, REST v2) with the repository on GitLab."""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import TOKEN, job_result, make_patch, write_job_dir
from fake_gitlab import FakeGitLab
from fake_jira import FakeJira

from runner.forge.base import ForgeJob
from runner.forge.gitlab import GitLabProject, make_client
from runner.forge.jira import JiraForge, make_jira
from runner.forge.markup import to_adf, to_wiki
from runner.forge.settings import ForgeSettings, JiraForgeSettings
from runner.result import JobOutcome

JIRA_TOKEN = "jira-api-token-XYZ"  # noqa: S105


def jira_job(job_id: str = "20240501-130000-def456") -> ForgeJob:
    source = {
        "forge": "jira",
        "instance": "https://acme.atlassian.net",
        "project_id": "10000",
        "project_path": "",
        "issue": "OPT-12",
        "web_url": "https://acme.atlassian.net/browse/OPT-12",
        "jira_project": "OPT",
    }
    return ForgeJob(job_id, source, {"targets": ["widgets/inventory.py::lookup"]})


@pytest.fixture(params=["cloud", "datacenter"])
def jira_server(request: pytest.FixtureRequest) -> Iterator[FakeJira]:
    if request.param == "cloud":
        auth = "Basic " + base64.b64encode(f"bot@acme.test:{JIRA_TOKEN}".encode()).decode()
    else:
        auth = f"Bearer {JIRA_TOKEN}"
    with FakeJira(auth, request.param) as server:
        yield server


def jira_forge(settings: ForgeSettings, server: FakeJira, state_dir: Path) -> JiraForge:
    cfg = JiraForgeSettings(
        url=server.url,
        deployment=server.state.deployment,  # type: ignore[arg-type]
        email="bot@acme.test",
        projects={"OPT": "acme/widgets"},
    )
    settings = settings.model_copy(update={"jira": cfg})
    repo = GitLabProject(make_client(settings, TOKEN), settings, "acme/widgets", state_dir, TOKEN)
    return JiraForge(settings, repo, make_jira(settings, JIRA_TOKEN))


def test_jira_end_to_end(
    forge_settings: ForgeSettings,
    jira_server: FakeJira,
    gitlab_server: FakeGitLab,
    state_dir: Path,
    bare: Path,
    tmp_path: Path,
) -> None:
    job = jira_job()
    forge = jira_forge(forge_settings, jira_server, state_dir)
    work = forge.prepare_workspace(job)
    handle = forge.start(job)
    state = jira_server.state
    assert len(state.comments) == 1
    assert "optirunner-running" in state.labels
    forge.progress(handle, "baseline: tests pass")
    assert len(state.comments) == 1
    assert "baseline: tests pass" in json.dumps(state.comments[0]["body"])
    base = (
        subprocess.run(["git", "rev-parse", "HEAD"], cwd=work, capture_output=True, check=True)
        .stdout.decode()
        .strip()
    )
    job_dir = write_job_dir(tmp_path / "job", make_patch(work))
    result = job_result(job.job_id, JobOutcome.SUCCEEDED, best=True, commit=base)
    delivery = forge.finish(handle, result, job_dir)

    assert delivery.branch == "optirunner/OPT-12-inventory-lookup"
    mr = gitlab_server.state.mrs[0]
    assert "Related to [OPT-12](https://acme.atlassian.net/browse/OPT-12)" in mr["description"]
    body = state.comments[0]["body"]
    if state.deployment == "cloud":
        assert body["type"] == "doc"
        assert any(n["type"] == "table" for n in body["content"])
    else:
        assert isinstance(body, str)
        assert "||id||" in body
        assert "{code}" in body
    assert "verified improvement" in json.dumps(body)
    assert "optirunner-done" in state.labels
    assert "optirunner-running" not in state.labels
    assert state.links[0]["object"]["url"] == mr["web_url"]
    api = {r.path.split("/rest/api/")[1][0] for r in state.requests if "/rest/api/" in r.path}
    assert api == ({"3"} if state.deployment == "cloud" else {"2"})

    again = jira_forge(forge_settings, jira_server, state_dir)
    handle2 = again.start(job)
    assert handle2.note_id == handle.note_id
    again.finish(handle2, result, job_dir)
    assert len(state.comments) == 1
    assert len(state.links) == 1
    assert len(gitlab_server.state.mrs) == 1


def test_failure_on_jira(
    forge_settings: ForgeSettings,
    jira_server: FakeJira,
    gitlab_server: FakeGitLab,
    state_dir: Path,
    tmp_path: Path,
) -> None:
    job = jira_job()
    forge = jira_forge(forge_settings, jira_server, state_dir)
    handle = forge.start(job)
    result = job_result(job.job_id, JobOutcome.FAILED, best=False, message="bad spec: targets")
    forge.finish(handle, result, write_job_dir(tmp_path / "job", None))
    assert "could not finish" in json.dumps(jira_server.state.comments[0]["body"])
    assert "optirunner-failed" in jira_server.state.labels
    assert not jira_server.state.links


def test_markup_conversions() -> None:
    md = "# T\n\n- `a` **b** [c](http://x)\n\n| h1 | h2 |\n| --- | --- |\n| 1 | 2 |\n"
    md += "\n```diff\n+x\n```\n<details>\n\n<!-- optirunner:job=J -->"
    adf = to_adf(md)
    kinds = [n["type"] for n in adf["content"]]
    assert kinds == ["heading", "bulletList", "table", "codeBlock", "paragraph"]
    wiki = to_wiki(md)
    assert "h1. T" in wiki
    assert "* {{a}} *b* [c|http://x]" in wiki
    assert "||h1||h2||" in wiki
    assert "|1|2|" in wiki
    assert "~optirunner:job=J~" in wiki
