"""Issue 11 end to end for Jira: a signed Jira webhook fixture comes back to the Jira issue.

The recorded deliveries (`/work/shared/fixtures/webhooks/jira`, signed with the test
secret) are posted byte for byte with their headers to a real `optirunner serve`. The Jira
project `OPT` is mapped to a repository served by a real `git http-backend`; the worker
clones it, runs the job and reports on a local Jira (the `jira` library unmodified, only
the base URL differs):

* Cloud, a `/optimize` comment, `OPT` mapped to a plain git URL: one ADF comment (REST
  v3) edited to the report, labels, the result branch pushed; no merge request, no link.
* Data Center, the trigger label added, `OPT` mapped to the GitLab project: one wiki
  comment (REST v2), labels, branch, a draft merge request on GitLab and a remote link
  from the issue to it.
"""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from runner.forge.base import MARKER_PREFIX

from ..projects import SLOW_MODULE
from .conftest import Serve, wait_for
from .test_forge_e2e import (
    basic,
    git,
    job_state,
    seed_remote,
    serve_config,
    shown,
    worker_log,
)

sys.path.insert(0, str(Path(__file__).parents[1] / "forge"))

from fake_gitlab import FakeGitLab
from fake_jira import FakeJira
from git_http import GitHTTPServer

pytestmark = pytest.mark.slow

FIXTURES = Path("/work/shared/fixtures/webhooks/jira")
if not FIXTURES.is_dir():  # the same files, kept with the webhook tests
    FIXTURES = Path(__file__).parents[1] / "webhooks" / "fixtures" / "jira"
WEBHOOK_SECRET = "test-jira-webhook-secret"  # noqa: S105 - what the fixtures are signed with
GIT_TOKEN = "git-e2e-SeCrEt-0123456789"  # noqa: S105 - a test token
JIRA_TOKEN = "jira-e2e-SeCrEt-0123456789"  # noqa: S105 - a test token
EMAIL = "optirunner@acme.test"
TARGET = "src/widgets/csvparse.py::parse_rows"  # what the comment fixture asks for

# A src layout: the comment fixture names src/widgets/csvparse.py::parse_rows; the label
# fixture names nothing, so the targets also come from the repository's file.
FILES = {
    "src/widgets/__init__.py": "",
    "src/widgets/csvparse.py": SLOW_MODULE.replace("def common(", "def parse_rows("),
    "conftest.py": "import sys\nfrom pathlib import Path\n\n"
    'sys.path.insert(0, str(Path(__file__).parent / "src"))\n',
    "test_csvparse.py": """from widgets.csvparse import parse_rows


def test_parse_rows():
    assert parse_rows([1, 2, 3], [3, 1]) == [1, 3]
    assert parse_rows([], [1]) == []
    assert parse_rows(list(range(300)), list(range(0, 300, 7))) == list(range(0, 300, 7))
""",
    "bench.py": """import sys

sys.path.insert(0, "src")
from widgets.csvparse import parse_rows

left = list(range(3000))
right = list(range(0, 6000, 2))
for _ in range(3):
    parse_rows(left, right)
""",
    ".optirunner.toml": f'targets = ["{TARGET}"]\nbench_cmd = "python bench.py"\n',
}


@dataclass
class JiraWorld:
    tmp: Path
    git_server: GitHTTPServer
    bare: Path
    jira: FakeJira
    gitlab: FakeGitLab | None


@pytest.fixture
def remote(tmp_path: Path) -> tuple[Path, Path]:
    return seed_remote(tmp_path, FILES)


@pytest.fixture
def cloud(tmp_path: Path, remote: tuple[Path, Path]) -> Iterator[JiraWorld]:
    """Jira Cloud with issue OPT-42 (the comment fixture's); the code at a git URL."""
    root, bare = remote
    auth = "Basic " + base64.b64encode(f"{EMAIL}:{JIRA_TOKEN}".encode()).decode()
    with (
        GitHTTPServer(root, basic(GIT_TOKEN)) as git_server,
        FakeJira(auth, "cloud", key="OPT-42", issue_id="10042") as jira,
    ):
        yield JiraWorld(tmp_path, git_server, bare, jira, None)


@pytest.fixture
def datacenter(tmp_path: Path, remote: tuple[Path, Path]) -> Iterator[JiraWorld]:
    """Jira Data Center with issue OPT-7 (the label fixture's); the code on GitLab."""
    root, bare = remote
    with (
        GitHTTPServer(root, basic(GIT_TOKEN)) as git_server,
        FakeGitLab(GIT_TOKEN, git_server.url, bare) as gitlab,
        FakeJira(f"Bearer {JIRA_TOKEN}", "datacenter", key="OPT-7", issue_id="20042") as jira,
    ):
        yield JiraWorld(tmp_path, git_server, bare, jira, gitlab)


def start_serve(world: JiraWorld, serves: list[Serve], mapping: str) -> Serve:
    """serve with `OPT` mapped to `mapping` (service.jira.projects: the webhook and worker)."""
    deployment = world.jira.state.deployment
    sections = (
        f'[forge.jira]\nurl = "{world.jira.url}"\ndeployment = "{deployment}"\n'
        f'email = "{EMAIL}"\n'
        f'[service.jira]\nsecret = "{WEBHOOK_SECRET}"\nprojects = {{OPT = "{mapping}"}}\n'
    )
    env = {"OPTIRUNNER_JIRA_TOKEN": JIRA_TOKEN}
    if world.gitlab is not None:
        sections += (
            f'[forge.gitlab]\nurl = "{world.gitlab.url}"\ngit_url = "{world.git_server.url}"\n'
        )
        env["OPTIRUNNER_GITLAB_TOKEN"] = GIT_TOKEN
    else:
        env["OPTIRUNNER_GIT_TOKEN"] = GIT_TOKEN
    serve = Serve(serve_config(world.tmp, "", sections), env=env)
    serves.append(serve)
    serve.wait_ready()
    return serve


def deliver(serve: Serve, name: str) -> str:
    """The fixture's exact bytes with its recorded headers (the signature covers them)."""
    headers = json.loads((FIXTURES / f"{name}.headers.json").read_text())
    body = (FIXTURES / f"{name}.json").read_bytes()
    response = httpx.post(f"{serve.url}/webhooks/jira", content=body, headers=headers, timeout=10)
    assert response.status_code == 202, response.text
    return str(response.json()["job_id"])


def wait_reported(serve: Serve, world: JiraWorld, job_id: str) -> None:
    def done() -> bool:
        state = job_state(serve, job_id)["state"]
        assert state not in {"failed", "cancelled", "dead"}, worker_log(serve, job_id)
        return state == "succeeded" and "optirunner-done" in world.jira.state.labels

    try:
        wait_for(done, timeout=300, what=f"job {job_id} reported on Jira")
    except AssertionError:
        raise AssertionError(worker_log(serve, job_id)) from None


def check_issue(world: JiraWorld, job_id: str) -> Any:
    """One comment, created once and edited to the report; labels running -> done."""
    state = world.jira.state
    assert len(state.comments) == 1
    assert len(world.jira.comment_requests("POST")) == 1
    assert world.jira.comment_requests("PUT")  # progress and report: edits of that comment
    body = state.comments[0]["body"]
    text = json.dumps(body) if isinstance(body, dict) else body
    assert f"{MARKER_PREFIX}{job_id}" in text
    assert "verified improvement" in text
    edits = [r for r in state.requests if r.method == "PUT" and "/comment" not in r.path]
    label_ops = [r.body["update"]["labels"] for r in edits]
    assert label_ops[0][0] == {"add": "optirunner-running"}
    assert label_ops[-1][0] == {"add": "optirunner-done"}
    assert "optirunner-done" in state.labels
    assert "optirunner-running" not in state.labels
    assert "optimize" in state.labels  # the user's labels are left alone
    version = "3" if state.deployment == "cloud" else "2"
    assert {r.path.split("/")[3] for r in state.requests} == {version}
    return body


def check_branch(serve: Serve, world: JiraWorld, job_id: str, branch: str) -> None:
    """The branch holds one commit on main whose tree is main + patch.diff."""
    assert git("rev-list", "--count", f"main..{branch}", cwd=world.bare).strip() == "1"
    patch = (serve.settings.state_dir / "jobs" / job_id / "patch.diff").read_bytes()
    check = world.tmp / f"check-{job_id}"
    git("clone", "-q", str(world.bare), str(check), cwd=world.tmp)
    git("apply", "--index", "-", cwd=check, input_bytes=patch)
    tree = git("write-tree", cwd=check).strip()
    assert git("rev-parse", f"{branch}^{{tree}}", cwd=world.bare).strip() == tree
    verbs = {p.partition("?")[0].rsplit("/", 1)[-1] for _, p, _ in world.git_server.requests}
    assert {"git-upload-pack", "git-receive-pack"} <= verbs  # cloned and pushed over HTTP


def test_cloud_comment_mapped_to_a_git_url(cloud: JiraWorld, serves: list[Serve]) -> None:
    url = f"{cloud.git_server.url}/acme/widgets.git"
    serve = start_serve(cloud, serves, mapping=url)
    job_id = deliver(serve, "cloud_comment_created")
    wait_reported(serve, cloud, job_id)

    body = check_issue(cloud, job_id)
    assert body["type"] == "doc"  # ADF on Cloud
    branch = "optirunner/OPT-42-csvparse-parse-rows"
    assert branch in json.dumps(body)
    check_branch(serve, cloud, job_id, branch)
    assert cloud.jira.state.links == []  # no merge request, so nothing to link
    report = shown(serve, job_id)["reporting"]
    assert report["state"] == "posted"
    assert report["delivery"]["branch"] == branch
    assert report["delivery"]["merge_request"] is None


def test_datacenter_label_mapped_to_a_gitlab_project(
    datacenter: JiraWorld, serves: list[Serve]
) -> None:
    serve = start_serve(datacenter, serves, mapping="acme/widgets")
    job_id = deliver(serve, "dc_issue_updated_label_added")
    wait_reported(serve, datacenter, job_id)

    body = check_issue(datacenter, job_id)
    assert isinstance(body, str)  # wiki markup on Data Center
    assert datacenter.gitlab is not None
    (mr,) = datacenter.gitlab.state.mrs
    assert mr["draft"] is True
    assert mr["source_branch"] == "optirunner/OPT-7-csvparse-parse-rows"
    assert "[OPT-7](https://jira.example.com/browse/OPT-7)" in mr["description"]
    assert f"!{mr['iid']}" in body
    assert datacenter.gitlab.state.notes[7] == []  # GitLab only gets the merge request
    check_branch(serve, datacenter, job_id, mr["source_branch"])
    (link,) = datacenter.jira.state.links
    assert link["object"]["url"] == mr["web_url"]
    assert job_id in link["object"]["summary"]
