"""The HTTP surface on a real uvicorn server (port 0) with real HTTP requests."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest
import uvicorn
from starlette.requests import Request

from runner.auth import Role
from runner.metrics import Metrics
from runner.store.db import make_engine, upgrade
from runner.store.queue import JobStore
from runner.webhooks.app import REASON_CHARS, AppState, _read_body, create_app
from runner.webhooks.verify import Rejected

from .conftest import hook_settings, load_delivery

NOW = 1741084200.0


class Running:
    def __init__(self, base_url: str, store: JobStore, state: AppState) -> None:
        self.base_url = base_url
        self.store = store
        self.state = state
        _, token = state.token_store.add("tests", Role.VIEWER)
        self.headers = {"Authorization": f"Bearer {token}"}

    def get(self, path: str) -> httpx.Response:
        """GET with a viewer token (the API and /metrics answer 401 without one)."""
        return httpx.get(f"{self.base_url}{path}", headers=self.headers)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Running]:
    engine = make_engine(f"sqlite:///{tmp_path / 'optirunner.db'}")
    upgrade(engine)
    store = JobStore(engine)
    state = AppState(hook_settings(), store, Metrics(store.counts), clock=lambda: NOW)
    config = uvicorn.Config(create_app(state), host="127.0.0.1", port=0, log_level="warning")
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not uv.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    port = uv.servers[0].sockets[0].getsockname()[1]
    yield Running(f"http://127.0.0.1:{port}", store, state)
    uv.should_exit = True
    thread.join(10)
    engine.dispose()


def post_fixture(server: Running, forge: str, name: str) -> httpx.Response:
    headers, body = load_delivery(forge, name)
    return httpx.post(f"{server.base_url}/webhooks/{forge}", content=body, headers=headers)


def test_fixture_queues_one_job_and_resend_returns_it(server: Running) -> None:
    first = post_fixture(server, "gitlab", "note_issue_optimize_command")
    assert first.status_code == 202
    assert first.json()["status"] == "queued"
    again = post_fixture(server, "gitlab", "note_issue_optimize_command")
    assert again.status_code == 200
    assert again.json() == {"status": "duplicate", "job_id": first.json()["job_id"]}
    jobs = server.get("/api/jobs").json()["jobs"]
    assert [j["id"] for j in jobs] == [first.json()["job_id"]]
    job = server.get(f"/api/jobs/{first.json()['job_id']}").json()
    assert job["spec"] == {"targets": ["src/widgets/csvparse.py::parse_rows"]}
    assert job["source"]["issue"] == "23"


def test_every_fixture_over_http(server: Running) -> None:
    expected = {
        ("gitlab", "issue_open"): 202,
        ("gitlab", "issue_update_label_added"): 202,
        ("gitlab", "note_issue_optimize_command"): 202,
        ("gitlab", "note_merge_request"): 200,
        ("gitlab", "merge_request_open"): 200,
        ("jira", "cloud_issue_created"): 202,
        ("jira", "cloud_issue_updated_label_added"): 202,
        ("jira", "cloud_comment_created"): 202,
        ("jira", "dc_issue_updated_label_added"): 202,
    }
    for (forge, name), status in expected.items():
        response = post_fixture(server, forge, name)
        assert response.status_code == status, (name, response.text)
    assert len(server.store.list()) == 7


def test_bad_requests(server: Running) -> None:
    url = f"{server.base_url}/webhooks/gitlab"
    good = {"Content-Type": "application/json", "X-Gitlab-Token": "test-gitlab-webhook-token"}
    assert httpx.post(url, content=b"{", headers=good).status_code == 400
    assert (
        httpx.post(url, content=b"{}", headers={**good, "X-Gitlab-Token": "x"}).status_code == 401
    )
    assert (
        httpx.post(url, content=b"{}", headers={**good, "Content-Type": "text/plain"}).status_code
        == 415
    )
    big = b"{" + b" " * (1 << 20) + b"}"
    assert httpx.post(url, content=big, headers=good).status_code == 413
    assert (
        httpx.post(f"{server.base_url}/webhooks/github", content=b"{}", headers=good).status_code
        == 404
    )
    assert server.store.list() == []


def test_invalid_spec_is_answered_200_and_counted(server: Running) -> None:
    url = f"{server.base_url}/webhooks/gitlab"
    headers, body = load_delivery("gitlab", "note_issue_optimize_command")
    body = body.replace(b"/optimize src/widgets/csvparse.py::parse_rows", b"/optimize --nope")
    response = httpx.post(url, content=body, headers=headers)
    assert response.status_code == 200
    assert response.json()["reason"].startswith("no job:")
    metrics = server.get("/metrics").text
    assert 'optirunner_webhooks_total{forge="gitlab",result="invalid_spec"} 1.0' in metrics


def test_health_ready_metrics(server: Running) -> None:
    assert httpx.get(f"{server.base_url}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{server.base_url}/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": True, "migrations": True, "workers": True}
    post_fixture(server, "jira", "cloud_comment_created")
    text = server.get("/metrics").text
    assert 'optirunner_jobs{state="queued"} 1.0' in text
    assert "optirunner_queue_depth 1.0" in text
    assert 'optirunner_webhooks_total{forge="jira",result="queued"} 1.0' in text
    assert "optirunner_webhook_duration_seconds_bucket" in text
    assert "optirunner_worker_restarts_total 0.0" in text


def test_not_ready_when_workers_refuse(server: Running) -> None:
    server.state.accepting = lambda: False
    response = httpx.get(f"{server.base_url}/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["workers"] is False


def test_job_api_errors(server: Running) -> None:
    assert server.get("/api/jobs/nope").status_code == 404
    assert server.get("/api/jobs?state=bogus").status_code == 400
    assert server.get("/api/jobs?state=queued").json() == {"jobs": []}


# -- found by tests/webhooks/test_openapi_fuzz.py ---------------------------------------------
def broken_store(tmp_path: Path) -> JobStore:
    """A store whose database cannot be opened: its folder became a file."""
    folder = tmp_path / "gone"
    engine = make_engine(f"sqlite:///{folder / 'optirunner.db'}")
    folder.rmdir()
    folder.write_text("not a folder")
    return JobStore(engine)


def test_job_api_says_503_when_the_store_is_down(server: Running, tmp_path: Path) -> None:
    # Listing raised StoreError (500); showing said 404 "no job" for any id.
    server.state.store = broken_store(tmp_path)
    for path in ("/api/jobs", "/api/jobs/20260101-000000-0000000000"):
        response = server.get(path)
        assert response.status_code == 503, path
        assert response.json() == {"error": "job store unavailable"}


def test_empty_state_filter_is_400(server: Running) -> None:
    response = server.get("/api/jobs?state=")
    assert response.status_code == 400
    assert response.json() == {"error": "unknown state ''"}


def test_reasons_quoting_the_sender_are_short(server: Running) -> None:
    headers, body = load_delivery("gitlab", "note_issue_optimize_command")
    body = body.replace(b"/optimize src/", b"/optimize --" + b"x" * 5000 + b" src/")
    answer = httpx.post(f"{server.base_url}/webhooks/gitlab", content=body, headers=headers)
    assert answer.status_code == 200
    assert answer.json()["reason"].startswith("no job: unknown option '--xxx")
    assert len(answer.json()["reason"]) == REASON_CHARS


@pytest.mark.parametrize(
    ("declared", "status"),
    [("²", None), ("9" * 5000, 413), ("1" + "0" * 19, 413), ("2", None), ("0" * 30 + "2", None)],
    ids=["superscript-digit", "5000-digits", "20-digits", "plain", "leading-zeros"],
)
def test_odd_content_length_is_not_a_500(declared: str, status: int | None) -> None:
    # "²".isdigit() holds and int("²") raised ValueError; int() refuses 5000 digits.
    async def read() -> bytes:
        async def receive() -> dict[str, object]:
            return {"type": "http.request", "body": b"{}", "more_body": False}

        headers = [(b"content-length", declared.encode("latin-1"))]
        request = Request({"type": "http", "method": "POST", "headers": headers}, receive)
        return await _read_body(request, 1 << 20)

    if status is None:
        assert anyio.run(read) == b"{}"
    else:
        with pytest.raises(Rejected) as info:
            anyio.run(read)
        assert info.value.status == status
