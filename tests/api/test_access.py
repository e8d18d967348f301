"""Who may call what: without a valid token, 401 and never data; a weak role, 403."""

from __future__ import annotations

import pytest

from runner.auth import SESSION_COOKIE, Role
from runner.store.models import JobState

from .conftest import Site


def as_header(site: Site, set_cookie: str) -> dict[str, str]:
    """The session as a Cookie header, the client's own jar emptied (each call says it)."""
    site.client.cookies.clear()
    return {"Cookie": set_cookie.split(";", maxsplit=1)[0]}


GUARDED_GETS = [
    "/api/jobs",
    "/api/jobs/20260101-000000-abcdef",
    "/metrics",
    "/api/dashboard/jobs",
    "/api/dashboard/jobs.csv",
    "/api/dashboard/queue",
    "/api/dashboard/jobs/20260101-000000-abcdef",
]


@pytest.mark.parametrize("path", GUARDED_GETS)
def test_no_token_is_401_without_data(site: Site, path: str) -> None:
    job_id = site.job()
    answer = site.client.get(path.replace("20260101-000000-abcdef", job_id))
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == 'Bearer realm="optirunner"'
    assert answer.json() == {
        "error": "authentication required: send 'Authorization: Bearer <token>' "
        "(optirunner tokens add)"
    }
    assert job_id not in answer.text


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ("Bearer opr_000000000000_" + "A" * 43, "invalid, revoked or expired credentials"),
        ("Bearer nonsense", "invalid, revoked or expired credentials"),
        ("Basic dXNlcjpwYXNz", "the Authorization header must be 'Bearer <token>'"),
        ("Bearer", "the Authorization header must be 'Bearer <token>'"),
    ],
)
def test_wrong_tokens_are_401(site: Site, header: str, reason: str) -> None:
    answer = site.client.get("/api/jobs", headers={"Authorization": header})
    assert (answer.status_code, answer.json()) == (401, {"error": reason})


def test_a_revoked_token_is_401(site: Site) -> None:
    assert site.client.get("/api/jobs", headers=site.auth()).status_code == 200
    site.state.token_store.revoke("t-viewer")
    answer = site.client.get("/api/jobs", headers=site.auth())
    assert answer.status_code == 401


def test_a_metrics_token_scrapes_but_reads_no_jobs(site: Site) -> None:
    assert site.client.get("/metrics", headers=site.auth(Role.METRICS)).status_code == 200
    answer = site.client.get("/api/jobs", headers=site.auth(Role.METRICS))
    assert answer.status_code == 403
    assert answer.json() == {"error": "the metrics role may not do this (viewer may)"}


def test_a_viewer_may_not_cancel_or_replay(site: Site) -> None:
    job_id = site.job()
    for action in ("cancel", "replay"):
        answer = site.client.post(f"/api/jobs/{job_id}/{action}", headers=site.auth())
        assert answer.status_code == 403, action
    assert site.store.get(job_id).state is JobState.QUEUED


def test_an_operator_cancels_and_replays(site: Site) -> None:
    job_id = site.job()
    op = site.auth(Role.OPERATOR)
    answer = site.client.post(f"/api/jobs/{job_id}/cancel", headers=op)
    assert answer.json() == {"job_id": job_id, "state": "cancelled"}
    again = site.client.post(f"/api/jobs/{job_id}/cancel", headers=op)
    assert again.status_code == 409
    assert again.json() == {"error": "a cancelled job cannot cancel"}
    replayed = site.client.post(f"/api/jobs/{job_id}/replay", headers=op)
    assert replayed.json() == {"job_id": job_id, "state": "queued"}
    missing = site.client.post("/api/jobs/nope/replay", headers=op)
    assert (missing.status_code, missing.json()) == (404, {"error": "no job 'nope'"})


def test_a_session_cookie_reads_but_never_changes_jobs(site: Site) -> None:
    job_id = site.job()
    opened = site.client.post("/api/session", headers=site.auth(Role.OPERATOR))
    assert opened.status_code == 200
    cookie = opened.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    for attribute in ("HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"):
        assert attribute in cookie
    assert "Secure" not in cookie  # plain HTTP here; over TLS it is set (test_auth)
    cookies = as_header(site, cookie)
    assert site.client.get("/api/jobs", headers=cookies).status_code == 200
    # Operator calls take a bearer token: a page (or a cross-site form) cannot make them.
    answer = site.client.post(f"/api/jobs/{job_id}/cancel", headers=cookies)
    assert answer.status_code == 401
    assert answer.json() == {"error": "this call takes a bearer token, not a session cookie"}
    assert site.store.get(job_id).state is JobState.QUEUED
    closed = site.client.delete("/api/session", headers=cookies)
    assert closed.status_code == 204
    assert "Max-Age=0" in closed.headers["set-cookie"]
    assert site.client.get("/api/jobs", headers=cookies).status_code == 401


def test_a_session_ends_when_its_token_is_revoked(site: Site) -> None:
    opened = site.client.post("/api/session", headers=site.auth())
    cookies = as_header(site, opened.headers["set-cookie"])
    assert site.client.get("/api/jobs", headers=cookies).status_code == 200
    site.state.token_store.revoke("t-viewer")
    assert site.client.get("/api/jobs", headers=cookies).status_code == 401


def test_a_session_is_opened_with_a_bearer_token_only(site: Site) -> None:
    assert site.client.post("/api/session").status_code == 401
    metrics = site.client.post("/api/session", headers=site.auth(Role.METRICS))
    assert metrics.status_code == 403  # a scraper's token opens no browser session
    assert "set-cookie" not in metrics.headers


def test_webhooks_and_health_stay_open(site: Site) -> None:
    assert site.client.get("/healthz").status_code == 200
    assert site.client.get("/readyz").status_code == 200
    # A webhook without its secret is refused by the webhook's own check, not by a token.
    answer = site.client.post("/webhooks/gitlab", content=b"{}")
    assert answer.status_code in {401, 415}


def test_the_openapi_document_states_the_401s(site: Site) -> None:
    schema = site.client.get("/openapi.json").json()
    for path in ("/api/jobs", "/api/jobs/{job_id}", "/metrics", "/api/dashboard/jobs"):
        assert "401" in schema["paths"][path]["get"]["responses"], path
