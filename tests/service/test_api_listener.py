"""`optirunner serve` over real HTTP: the API answers 401 without a token, and with
`service.api_port` the API and the dashboard listen apart from the webhooks."""

from __future__ import annotations

from pathlib import Path

import httpx

from runner.store.queue import JobStore

from .conftest import Serve, enqueue, free_port, tiny_repo, write_config


def test_the_api_is_401_without_a_token(
    sqlite_setup: tuple[Path, JobStore], serves: list[Serve]
) -> None:
    config, store = sqlite_setup
    job_id = enqueue(store, "k", "python -c pass")
    serve = Serve(config)
    serves.append(serve)
    serve.wait_ready()
    for path in ("/api/jobs", f"/api/jobs/{job_id}", "/metrics", "/api/dashboard/jobs"):
        answer = httpx.get(f"{serve.url}{path}", timeout=5)
        assert answer.status_code == 401, path
        assert job_id not in answer.text
    assert serve.get(f"/api/jobs/{job_id}").json()["id"] == job_id
    page = httpx.get(f"{serve.url}/jobs", timeout=5)
    assert (page.status_code, page.headers["location"]) == (303, "/login?next=%2Fjobs")


def test_a_separate_api_address(tmp_path: Path, serves: list[Serve]) -> None:
    api_port = free_port()
    config = write_config(tmp_path, tiny_repo(tmp_path / "repo"), api_port=api_port)
    serve = Serve(config)
    serves.append(serve)
    serve.wait_ready()
    api = f"http://127.0.0.1:{api_port}"
    # The forge-facing address: webhooks and health, no API, no pages, no metrics.
    for path in ("/api/jobs", "/metrics", "/jobs", "/login"):
        assert httpx.get(f"{serve.url}{path}", timeout=5).status_code == 404, path
    hook = httpx.post(f"{serve.url}/webhooks/gitlab", content=b"{}", timeout=5)
    assert hook.status_code == 415  # the webhook route is here (it wants JSON)
    # The internal address: API and dashboard (with a token), no webhooks.
    assert httpx.get(f"{api}/healthz", timeout=5).status_code == 200
    assert httpx.get(f"{api}/api/jobs", timeout=5).status_code == 401
    serve.url = api
    assert serve.get("/api/jobs").json() == {"jobs": []}
    assert httpx.post(f"{api}/webhooks/gitlab", content=b"{}", timeout=5).status_code in {404, 405}
    assert "API listening on http://127.0.0.1:" in serve.log.read_text()
