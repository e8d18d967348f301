"""Issue 11 end to end: a GitLab `/optimize` comment comes back to the issue.

A real `optirunner serve` receives the note webhook fixture, its worker clones the project
from a real git smart-HTTP server (`git http-backend`), runs the job, edits one note on the
issue, moves the scoped label, pushes a one-commit branch and opens a draft merge request
on a local GitLab REST v4 server (python-gitlab unmodified, only the base URL differs).
`optirunner jobs replay` then posts nothing new, and a forge that answers 502 for a
minute as the job ends loses nothing: the report is pending (`jobs show`), then posted once
by `serve`, which owns the retries — also across a stop and a restart of `serve`.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from runner.forge.base import marker

from ..projects import SHOP, SLOW_MODULE, write_files
from .conftest import Serve, tiny_repo, wait_for, write_config

sys.path.insert(0, str(Path(__file__).parents[1] / "forge"))

from fake_gitlab import FakeGitLab, Recorded
from git_http import GitHTTPServer

pytestmark = pytest.mark.slow

FIXTURES = Path(__file__).parents[1] / "webhooks" / "fixtures" / "gitlab"
TOKEN = "glpat-e2e-SeCrEt-0123456789"  # noqa: S105 - a test token
WEBHOOK_TOKEN = "test-gitlab-webhook-token"  # noqa: S105 - write_config's webhook token
PROJECT = "acme/widgets"  # what FakeGitLab knows: project 42, issue 7, default branch main

# The targets come from the repository: only a real clone of the project can know them.
REPO_FILE = 'targets = ["shop.py::common"]\nbench_cmd = "python bench.py"\n'


def git(*args: str, cwd: Path, input_bytes: bytes | None = None) -> str:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(cwd), "GIT_CONFIG_NOSYSTEM": "1"}
    ident = ["-c", "user.name=dev", "-c", "user.email=dev@example.com"]
    proc = subprocess.run(
        ["git", *ident, *args], cwd=cwd, env=env, input=input_bytes, capture_output=True,
        check=True,
    )  # fmt: skip
    return proc.stdout.decode()


def basic(token: str) -> str:
    return "Basic " + base64.b64encode(f"oauth2:{token}".encode()).decode()


class World:
    """The git server, the GitLab API and the bare repository they share."""

    def __init__(self, tmp: Path, git_server: GitHTTPServer, api: FakeGitLab, bare: Path) -> None:
        self.tmp = tmp
        self.git_server = git_server
        self.api = api
        self.bare = bare

    def requests(self, method: str, suffix: str) -> list[Recorded]:
        return [
            r for r in self.api.state.requests if r.method == method and r.path.endswith(suffix)
        ]


def seed_remote(tmp: Path, files: dict[str, str]) -> tuple[Path, Path]:
    """A bare `acme/widgets.git` under `<tmp>/remote` with `files` as one commit on main."""
    root = tmp / "remote"
    bare = root / "acme" / "widgets.git"
    bare.mkdir(parents=True)
    git("init", "--bare", "-q", "-b", "main", str(bare), cwd=tmp)
    seed = write_files(tmp / "seed", files)
    git("init", "-q", "-b", "main", cwd=seed)
    git("add", "-A", cwd=seed)
    git("commit", "-q", "-m", "initial", cwd=seed)
    git("push", "-q", str(bare), "main", cwd=seed)
    return root, bare


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    root, bare = seed_remote(tmp_path, {**SHOP, ".optirunner.toml": REPO_FILE})
    with (
        GitHTTPServer(root, basic(TOKEN)) as git_server,
        FakeGitLab(TOKEN, git_server.url, bare) as api,
    ):
        yield World(tmp_path, git_server, api, bare)


def serve_config(tmp: Path, forge: str, extra: str = "") -> Path:
    """write_config's service settings, a quick measurement, the forge sections given."""
    config = write_config(tmp, tiny_repo(tmp / "unused-repo"))
    with open(config, "a") as out:
        out.write(
            "[measure]\nbudget_s = 20\ninstructions = \"never\"\nnoise_check = false\n"
            "[forge]\nauthor_name = \"optirunner bot\"\nauthor_email = \"bot@optirunner.test\"\n"
            f"{forge}{extra}"
        )  # fmt: skip
    return config


def start_serve(world: World, serves: list[Serve], forge: str = "") -> Serve:
    gitlab = f'[forge.gitlab]\nurl = "{world.api.url}"\ngit_url = "{world.git_server.url}"\n'
    config = serve_config(world.tmp, forge, gitlab)
    serve = Serve(config, env={"OPTIRUNNER_GITLAB_TOKEN": TOKEN})
    serves.append(serve)
    serve.wait_ready()
    return serve


def cli(serve: Serve, *args: str) -> str:
    """`optirunner <args> --config <serve's config>` as its own process; its stdout."""
    argv = [sys.executable, "-m", "runner", *args, "--config", str(serve.config)]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def shown(serve: Serve, job_id: str) -> dict[str, Any]:
    """`optirunner jobs show ID` (JSON)."""
    return dict(json.loads(cli(serve, "jobs", "show", job_id)))


def deliver_note(serve: Serve, world: World) -> str:
    """The note fixture, moved into the fake's world (project 42 acme/widgets, issue 7)."""
    headers = json.loads((FIXTURES / "note_issue_optimize_command.headers.json").read_text())
    payload = json.loads((FIXTURES / "note_issue_optimize_command.json").read_text())
    headers["X-Gitlab-Token"] = WEBHOOK_TOKEN
    headers["X-Gitlab-Instance"] = world.api.url
    payload["project_id"] = payload["project"]["id"] = 42
    payload["project"]["web_url"] = f"{world.api.url}/{PROJECT}"
    attrs = payload["object_attributes"]
    attrs["note"] = "/optimize"  # targets and bench command from the repository's file
    attrs["project_id"] = 42
    attrs["url"] = f"{world.api.url}/{PROJECT}/-/issues/7#note_{attrs['id']}"
    payload["issue"].update({"iid": 7, "id": 5007, "project_id": 42})
    response = httpx.post(
        f"{serve.url}/webhooks/gitlab", content=json.dumps(payload), headers=headers, timeout=10
    )
    assert response.status_code == 202, response.text
    return str(response.json()["job_id"])


def job_state(serve: Serve, job_id: str) -> dict[str, Any]:
    return dict(serve.get(f"/api/jobs/{job_id}").json())


def wait_done(serve: Serve, world: World, job_id: str, timeout: float = 300) -> None:
    """The job has ended and the issue carries a final label (the report is posted)."""

    def done() -> bool:
        state = job_state(serve, job_id)["state"]
        assert state not in {"failed", "cancelled", "dead"}, worker_log(serve, job_id)
        labels = world.api.state.issues[7]["labels"]
        return state == "succeeded" and "optirunner::done" in labels

    try:
        wait_for(done, timeout=timeout, what=f"job {job_id} reported")
    except AssertionError:
        raise AssertionError(worker_log(serve, job_id)) from None


def worker_log(serve: Serve, job_id: str) -> str:
    jobs = serve.settings.state_dir / "jobs" / job_id
    return "\n".join(p.read_text(errors="replace") for p in sorted(jobs.glob("*.log")))


def check_delivery(serve: Serve, world: World, job_id: str) -> None:
    """One note (the report), labels running -> done, one draft MR, one pushed commit."""
    notes = world.api.state.notes[7]
    assert len(notes) == 1, [n["body"][:80] for n in notes]
    body = notes[0]["body"]
    assert marker(job_id) in body
    assert "verified improvement" in body
    assert "×" in body  # the speedup with its interval
    assert len(world.requests("POST", "/issues/7/notes")) >= 1
    assert world.requests("PUT", f"/issues/7/notes/{notes[0]['id']}")  # edited in place

    label_calls = [r.body["add_labels"] for r in world.requests("PUT", "/issues/7")]
    assert label_calls[0] == "optirunner::running"
    assert label_calls[-1] == "optirunner::done"
    labels = world.api.state.issues[7]["labels"]
    assert "optirunner::done" in labels
    assert "optirunner::running" not in labels

    (mr,) = world.api.state.mrs
    assert mr["draft"] is True
    assert mr["state"] == "opened"
    assert mr["target_branch"] == "main"
    branch = mr["source_branch"]
    assert branch.startswith("optirunner/7-")
    assert "#7" in mr["description"]
    assert f"!{mr['iid']}" in body

    # The branch holds exactly one commit on main, and that commit is patch.diff.
    assert git("rev-list", "--count", f"main..{branch}", cwd=world.bare).strip() == "1"
    assert git("rev-parse", f"{branch}~1", cwd=world.bare) == git(
        "rev-parse", "main", cwd=world.bare
    )
    patch = (serve.settings.state_dir / "jobs" / job_id / "patch.diff").read_bytes()
    assert patch.strip()
    check = world.tmp / f"check-{job_id}"
    git("clone", "-q", str(world.bare), str(check), cwd=world.tmp)
    git("apply", "--index", "-", cwd=check, input_bytes=patch)
    expected = git("write-tree", cwd=check).strip()
    assert git("rev-parse", f"{branch}^{{tree}}", cwd=world.bare).strip() == expected
    assert (check / "shop.py").read_text() != SLOW_MODULE
    # The clone really came over HTTP with the token (and the push went back that way).
    methods = {(m, p.partition("?")[0].rsplit("/", 1)[-1]) for m, p, _ in world.git_server.requests}
    assert ("POST", "git-upload-pack") in methods
    assert ("POST", "git-receive-pack") in methods


def test_optimize_comment_comes_back_to_the_issue(world: World, serves: list[Serve]) -> None:
    serve = start_serve(world, serves)
    job_id = deliver_note(serve, world)
    wait_done(serve, world, job_id)
    check_delivery(serve, world, job_id)
    assert len(world.requests("POST", "/issues/7/notes")) == 1
    assert len(world.requests("POST", "/merge_requests")) == 1
    # The dashboard's view of the real job: its candidates, the report back, the log.
    view = serve.get(f"/api/dashboard/jobs/{job_id}").json()
    assert view["job"]["state"] == "succeeded"
    assert view["candidates"], view
    assert all(c["status"] for c in view["candidates"])
    assert view["reporting"]["state"] == "posted"
    assert view["log_tail"]


def outage(seconds: float, hits: list[str]) -> Callable[[Recorded], str | None]:
    """From the job's merge request creation on, GitLab answers 502 for `seconds`.

    That creation does happen but its answer is lost on the way back: the retry must find
    the merge request instead of opening a second one. `hits` records every fault.
    """
    since: list[float] = []

    def fault(request: Recorded) -> str | None:
        creating = request.method == "POST" and request.path.endswith("/merge_requests")
        if not since and creating:
            since.append(time.monotonic())
            hits.append("after")
            return "after"
        if not since or time.monotonic() - since[0] > seconds:
            return None
        hits.append("before")
        return "before"

    return fault


def test_a_forge_outage_still_ends_with_one_note_and_one_mr(
    world: World, serves: list[Serve]
) -> None:
    serve = start_serve(world, serves)
    hits: list[str] = []
    # Long enough that serve's first retry (due in 1-2 s, found within 2 s, one process
    # started for it) still meets it.
    world.api.state.fault = outage(8.0, hits)
    job_id = deliver_note(serve, world)
    wait_done(serve, world, job_id)
    assert hits[0] == "after"
    assert "before" in hits  # the retry met the outage at least once
    check_delivery(serve, world, job_id)
    assert len(world.requests("POST", "/issues/7/notes")) == 1
    statuses = worker_log(serve, job_id)
    assert "reported on the issue" in statuses, statuses
    assert "report retry started" in serve.log.read_text()  # serve retried it


def switchable(
    down: list[bool], hits: list[str], slow_s: float
) -> Callable[[Recorded], str | None]:
    """The job's merge request is created but its answer lost; then 502 while `down[0]`.

    Each refused request takes `slow_s`, so a try at the report lasts a while.
    """

    def fault(request: Recorded) -> str | None:
        if not hits and request.method == "POST" and request.path.endswith("/merge_requests"):
            hits.append("after")
            return "after"
        if not hits or not down[0]:
            return None
        hits.append("before")
        time.sleep(slow_s)
        return "before"

    return fault


def trying_now(serve: Serve, job_id: str) -> bool:
    """A report retry process is posting right now (its pid is in forge.json and alive)."""
    data = json.loads((serve.settings.state_dir / "jobs" / job_id / "forge.json").read_text())
    pid = data.get("reporter_pid")
    if not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def check_posted_once(serve: Serve, world: World, job_id: str) -> dict[str, Any]:
    """A report that was pending: one note and one MR (posted exactly once), and `jobs show`
    says posted, without an error; its `reporting` section."""
    check_delivery(serve, world, job_id)
    assert len(world.requests("POST", "/issues/7/notes")) == 1
    assert len(world.requests("POST", "/merge_requests")) == 1
    wait_for(lambda: shown(serve, job_id)["reporting"]["state"] == "posted", timeout=10)
    final = shown(serve, job_id)["reporting"]
    assert final["last_error"] is None
    assert final["delivery"]["merge_request"] == "1"
    return final


def test_a_pending_report_survives_a_restart_of_serve(world: World, serves: list[Serve]) -> None:
    """Forge down as the job ends: succeeded, report pending, retried by serve. serve is
    stopped (SIGTERM) in the middle of a retry: it stops the retry, exits 0, and nothing
    retries while it is gone. The forge comes back, serve starts again and posts the
    report exactly once (one note, one merge request)."""
    serve = start_serve(world, serves, forge="report_backoff_max_s = 2\n")
    hits: list[str] = []
    down = [True]
    world.api.state.fault = switchable(down, hits, slow_s=4.0)
    job_id = deliver_note(serve, world)

    def succeeded_pending() -> bool:
        return job_state(serve, job_id)["state"] == "succeeded" and bool(hits)

    wait_for(succeeded_pending, timeout=300, what="the job to succeed during the outage")
    report = shown(serve, job_id)["reporting"]
    assert report["state"] == "pending", report
    assert report["retrying"].startswith("yes")
    assert report["gives_up"]
    assert "502" in report["last_error"]

    # SIGTERM while a retry is posting (each refused request takes `slow_s`).
    wait_for(lambda: trying_now(serve, job_id), timeout=30, what="serve to retry the report")
    stopped_at = time.monotonic()
    serve.signal(signal.SIGTERM)
    assert serve.wait(30) == 0
    assert time.monotonic() - stopped_at < 15  # the retry was stopped, not waited for
    log = serve.log.read_text()
    assert "report retry started" in log
    assert "report retry exit 130 -> pending" in log, log
    assert "report try stopped" in worker_log(serve, job_id)

    # serve is gone: the report stays pending, and no process is left trying it.
    report = shown(serve, job_id)["reporting"]
    assert report["state"] == "pending", report
    assert not trying_now(serve, job_id)
    assert "optirunner serve" in report["retrying"]
    seen = len(world.api.state.requests)
    time.sleep(4)
    assert len(world.api.state.requests) == seen  # nobody retries while serve is down
    assert "optirunner::done" not in world.api.state.issues[7]["labels"]

    down[0] = False
    again = Serve(serve.config, env={"OPTIRUNNER_GITLAB_TOKEN": TOKEN})
    serves.append(again)
    again.wait_ready()
    wait_done(again, world, job_id, timeout=300)
    assert "report retry started" in again.log.read_text()
    assert hits.count("after") == 1
    final = check_posted_once(again, world, job_id)
    assert "retrying" not in final


def test_replay_through_serve_posts_nothing_new(world: World, serves: list[Serve]) -> None:
    """`optirunner jobs replay ID` runs the job again; the note and MR are edited, not new."""
    serve = start_serve(world, serves)
    job_id = deliver_note(serve, world)
    wait_done(serve, world, job_id)
    first = shown(serve, job_id)
    assert first["reporting"]["state"] == "posted"
    delivery = first["reporting"]["delivery"]
    (note,) = world.api.state.notes[7]
    assert delivery["note_id"] == str(note["id"])
    assert delivery["merge_request"] == "1"
    posts = len(world.requests("POST", "/issues/7/notes")), len(world.api.state.mrs)
    edits = len(world.requests("PUT", f"/issues/7/notes/{note['id']}"))
    world.api.state.issues[7]["labels"] = ["optimize"]  # so the second report is seen

    assert cli(serve, "jobs", "replay", job_id).strip() == f"job {job_id}: queued"
    wait_for(
        lambda: job_state(serve, job_id)["started_at"] != first["started_at"],
        timeout=30,
        what="the replayed job to start",
    )
    wait_done(serve, world, job_id)
    wait_for(lambda: shown(serve, job_id)["reporting"]["state"] == "posted", timeout=30)

    # Nothing new on the forge: the same note and merge request, edited in place.
    assert (len(world.requests("POST", "/issues/7/notes")), len(world.api.state.mrs)) == posts
    assert len(world.requests("POST", "/merge_requests")) == 1
    assert [n["id"] for n in world.api.state.notes[7]] == [note["id"]]
    assert len(world.requests("PUT", f"/issues/7/notes/{note['id']}")) > edits
    assert len(world.api.state.mrs) == 1
    assert world.requests("PUT", "/merge_requests/1")  # the MR was updated
    again = shown(serve, job_id)["reporting"]["delivery"]
    assert (again["note_id"], again["merge_request"]) == (str(note["id"]), "1")
    assert again["branch"] == delivery["branch"]
    check_delivery(serve, world, job_id)


@pytest.mark.slow
def test_a_minute_long_502_loses_nothing(world: World, serves: list[Serve]) -> None:
    """The forge answers 502 to everything for a minute as the job ends: the job succeeds,
    `jobs show` shows the report pending, and it is posted once when the forge is back."""
    serve = start_serve(world, serves, forge="report_backoff_max_s = 8\n")
    hits: list[str] = []
    world.api.state.fault = outage(60.0, hits)
    job_id = deliver_note(serve, world)

    def succeeded_pending() -> bool:
        return job_state(serve, job_id)["state"] == "succeeded" and bool(hits)

    wait_for(succeeded_pending, timeout=300, what="the job to succeed during the outage")
    started = time.monotonic()
    assert "optirunner::done" not in world.api.state.issues[7]["labels"]
    wait_for(lambda: "before" in hits, timeout=20, what="a retry that met the outage")
    pending = shown(serve, job_id)
    assert pending["state"] == "succeeded"
    report = pending["reporting"]
    assert report["state"] == "pending", report
    assert report["attempts"] >= 2
    assert report["next_retry"]
    assert "502" in report["last_error"]
    assert report["retrying"].startswith("yes")
    assert time.monotonic() - started < 60  # all of this while the forge is still down

    wait_done(serve, world, job_id, timeout=300)
    assert hits.count("after") == 1
    assert hits.count("before") >= 3  # retried through the outage, not once and given up
    final = check_posted_once(serve, world, job_id)
    assert final["next_retry"] is None
