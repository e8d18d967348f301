"""The dashboard's pages and their JSON twins: sign-in, data, escaping, redaction, bad input."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest

from runner.auth import Role
from runner.store.models import JobState, jobs

from .conftest import PLANTED_SECRET, Site

HOSTILE = "<script>alert(1)</script>"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def signed_in(site: Site, role: Role = Role.VIEWER) -> None:
    """Sign in through the login form, as a browser does (the cookie stays in the jar)."""
    answer = site.client.post(
        "/login",
        content=f"token={site.tokens[role]}&next=%2Fqueue",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/queue"
    assert "HttpOnly" in answer.headers["set-cookie"]


def report(candidate_id: str = "c1", **changes: object) -> dict[str, object]:
    candidate = {
        "id": candidate_id,
        "target": "pkg/mod.py::total",
        "rule": "builtin-sum",
        "description": "sum() instead of the loop",
        "status": "verified",
        "tests": "passed",
        "behaviour": "identical",
        "calls_compared": 12,
        "detail": "",
        "measurement": {
            "instrument": "replay",
            "ratio": 0.5,
            "low": 0.4,
            "high": 0.625,
            "verdict": "faster",
            "reason": "the interval excludes 1",
            "decided_by": "wall time",
            "instruction_speedups": [1.9],
            "min_detectable": 1.03,
            "speedup": 2.0,
        },
        **changes,
    }
    return {
        "outcome": "succeeded",
        "message": "1 faster candidate",
        "candidates": [candidate],
        "best": [candidate_id],
    }


def test_without_a_session_a_page_sends_to_the_sign_in(site: Site) -> None:
    answer = site.client.get("/jobs?state=queued")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=%2Fjobs%3Fstate%3Dqueued"
    form = site.client.get("/login?next=%2Fjobs")
    assert form.status_code == 200
    assert 'name="token" type="password"' in form.text
    assert form.headers["content-security-policy"].startswith("default-src 'none'")


def test_sign_in_then_every_page(site: Site) -> None:
    job_id = site.job()
    site.files(
        job_id,
        **{
            "report.json": report(),
            "patch.diff": "+return sum(values)\n",
            "plots__c1.png": PNG,
            "worker.log": "stage baseline\nstage verify\n",
        },
    )
    signed_in(site)
    jobs = site.client.get("/jobs")
    assert jobs.status_code == 200
    assert f'href="/jobs/{job_id}"' in jobs.text
    assert "acme/widgets" in jobs.text
    page = site.client.get(f"/jobs/{job_id}")
    assert page.status_code == 200
    assert "2.00×" in page.text  # the speedup
    assert "(1.60× – 2.50×)" in page.text  # its interval, from the time ratio's
    assert f'src="/jobs/{job_id}/plots/c1.png"' in page.text
    assert "+return sum(values)" in page.text
    assert "stage verify" in page.text
    assert "&#34;test_cmd&#34;: &#34;pytest -q&#34;" in page.text  # the spec
    assert f"optirunner jobs replay {job_id}" in page.text  # the UI shows the command
    plot = site.client.get(f"/jobs/{job_id}/plots/c1.png")
    assert (plot.status_code, plot.headers["content-type"], plot.content) == (200, "image/png", PNG)
    queue = site.client.get("/queue")
    assert queue.status_code == 200
    assert "queued" in queue.text
    assert site.client.get("/static/dashboard.css").status_code == 200


def test_each_page_has_a_json_twin(site: Site) -> None:
    job_id = site.job()
    site.files(job_id, **{"report.json": report()})
    jobs = site.client.get("/api/dashboard/jobs", headers=site.auth()).json()
    assert [row["id"] for row in jobs["jobs"]] == [job_id]
    assert jobs["jobs"][0]["trigger"]["url"] == "https://gitlab.example.com/acme/widgets/-/issues/7"
    one = site.client.get(f"/api/dashboard/jobs/{job_id}", headers=site.auth()).json()
    assert one["candidates"][0]["speedup"] == 2.0
    assert one["candidates"][0]["winner"] is True
    queue = site.client.get("/api/dashboard/queue", headers=site.auth()).json()
    assert queue["counts"]["queued"] == 1


def test_filters_and_paging(site: Site) -> None:
    for n in range(55):
        site.job(f"a{n}")
    site.job("b", project_path="other/repo")
    page1 = site.client.get("/api/dashboard/jobs?repository=acme/widgets", headers=site.auth())
    body = page1.json()
    assert (len(body["jobs"]), body["has_next"]) == (50, True)
    page2 = site.client.get(
        "/api/dashboard/jobs?repository=acme/widgets&page=2", headers=site.auth()
    ).json()
    assert (len(page2["jobs"]), page2["has_next"]) == (5, False)
    assert body["repositories"] == ["acme/widgets", "other/repo"]
    other = site.client.get("/api/dashboard/jobs?repository=other/repo", headers=site.auth())
    assert [row["repository"] for row in other.json()["jobs"]] == ["other/repo"]
    none = site.client.get("/api/dashboard/jobs?state=dead", headers=site.auth()).json()
    assert none["jobs"] == []


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("state=bogus", "unknown state 'bogus'"),
        ("page=0", "page must be a whole number from 1, not '0'"),
        ("page=-1", "page must be a whole number from 1, not '-1'"),
        ("page=²", "page must be a whole number from 1, not '²'"),
        ("page=99999999", "page must be a whole number from 1, not '99999999'"),
        ("colour=red", "unknown query parameter 'colour'"),
    ],
)
def test_malformed_queries_are_400_with_a_message(site: Site, query: str, message: str) -> None:
    answer = site.client.get(f"/api/dashboard/jobs?{query}", headers=site.auth())
    assert answer.status_code == 400
    assert answer.json()["error"].startswith(message)
    signed_in(site)
    page = site.client.get(f"/jobs?{query}")
    assert page.status_code == 400
    assert message.replace("'", "&#39;") in page.text


def test_an_unknown_job_is_a_404_page(site: Site) -> None:
    signed_in(site)
    page = site.client.get("/jobs/20990101-000000-ffffff")
    assert page.status_code == 404
    assert "no job" in page.text
    assert site.client.get("/jobs/20990101-000000-ffffff/plots/c1.png").status_code == 404
    answer = site.client.get("/api/dashboard/jobs/nope", headers=site.auth())
    assert (answer.status_code, answer.json()) == (404, {"error": "no job 'nope'"})


def test_plots_are_names_never_paths(site: Site) -> None:
    job_id = site.job()
    folder = site.files(job_id, **{"plots__c1.png": PNG, "secret.png": PNG})
    assert (folder / "secret.png").is_file()
    signed_in(site)
    for name in ("..%2Fsecret.png", "%2E%2E%2Fsecret.png", "c1.txt", ".png"):
        assert site.client.get(f"/jobs/{job_id}/plots/{name}").status_code == 404, name


def test_hostile_names_render_as_text(site: Site) -> None:
    job_id = site.job(
        project_path=f"evil/{HOSTILE}", issue=HOSTILE, web_url="javascript:alert(1)", author=HOSTILE
    )
    site.files(
        job_id,
        **{
            "report.json": report(
                target=f"pkg/mod.py::{HOSTILE}",
                description=HOSTILE,
                detail=f"first differing call: f({HOSTILE})",
            ),
            "worker.log": f"line {HOSTILE}\n",
            "patch.diff": f"+def {HOSTILE}(): pass\n",
        },
    )
    signed_in(site)
    for path in ("/jobs", f"/jobs/{job_id}", "/queue"):
        text = site.client.get(path).text
        assert "<script>" not in text, path
        assert "javascript:" not in text, path
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in site.client.get(f"/jobs/{job_id}").text


def test_no_page_shows_a_planted_secret(site: Site) -> None:
    """Secrets planted in a job's commands, output, settings and report: every page and
    every JSON twin is searched for them (known values, and shapes the rules know)."""
    other = "AKIAZ7VRSQ5TIXLQRK2M"  # an AWS key id: masked by shape, never configured
    job_id = site.job(author=f"dev {other}")
    with site.store.engine.begin() as conn:  # a secret in the job's own command
        conn.execute(
            jobs.update()
            .where(jobs.c.id == job_id)
            .values(spec={"targets": ["m.py::f"], "test_cmd": f"TOKEN={PLANTED_SECRET} pytest"})
        )
    site.store.cancel(job_id)  # a failure message shows on the queue page too
    site.files(
        job_id,
        **{
            "report.json": report(
                detail=f"env TOKEN={PLANTED_SECRET}", description=f"uses {other}"
            ),
            "worker.log": f"$ git clone https://oauth2:{PLANTED_SECRET}@gitlab.example.com/x.git\n",
            "patch.diff": f"+API_KEY = '{PLANTED_SECRET}'\n",
        },
    )
    signed_in(site)
    pages = ["/jobs", f"/jobs/{job_id}", "/queue"]
    twins = [
        "/api/dashboard/jobs",
        f"/api/dashboard/jobs/{job_id}",
        "/api/dashboard/queue",
        "/api/dashboard/jobs.csv",
    ]
    for path in pages + twins:
        answer = site.client.get(path, headers=site.auth() if path.startswith("/api") else {})
        assert answer.status_code == 200, path
        assert PLANTED_SECRET not in answer.text, path
        assert other not in answer.text, path
    assert "[REDACTED" in site.client.get(f"/jobs/{job_id}").text


def test_csv_export_quotes_formulas(site: Site) -> None:
    site.job(project_path='=HYPERLINK("http://x")')
    answer = site.client.get("/api/dashboard/jobs.csv", headers=site.auth())
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"
    rows = list(csv.reader(io.StringIO(answer.text)))
    assert rows[0][:3] == ["id", "state", "repository"]
    assert rows[1][2].startswith("'=")


def test_sign_in_refusals(site: Site) -> None:
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    wrong = site.client.post("/login", content="token=opr_nope", headers=form)
    assert wrong.status_code == 401
    assert "invalid, revoked or metrics-only token" in wrong.text
    metrics = site.client.post("/login", content=f"token={site.tokens[Role.METRICS]}", headers=form)
    assert metrics.status_code == 401
    cross = site.client.post(
        "/login",
        content=f"token={site.tokens[Role.VIEWER]}",
        headers={**form, "Origin": "https://evil.example"},
    )
    assert cross.status_code == 403
    assert "set-cookie" not in cross.headers
    for fetch_site in ("cross-site", "same-site"):
        refused = site.client.post(
            "/login",
            content=f"token={site.tokens[Role.VIEWER]}",
            headers={**form, "Sec-Fetch-Site": fetch_site, "Origin": "null"},
        )
        assert refused.status_code == 403, fetch_site
    same = site.client.post(
        "/login",
        content=f"token={site.tokens[Role.VIEWER]}",
        headers={**form, "Sec-Fetch-Site": "same-origin", "Origin": "null"},
    )
    assert same.status_code == 303
    big = site.client.post("/login", content="token=" + "x" * 10000, headers=form)
    assert big.status_code == 413
    away = site.client.post(
        "/login", content=f"token={site.tokens[Role.VIEWER]}&next=//evil.example/", headers=form
    )
    assert away.headers["location"] == "/jobs"  # only paths of this site


def test_sign_out_ends_the_session(site: Site) -> None:
    signed_in(site)
    assert site.client.get("/jobs").status_code == 200
    out = site.client.post("/logout")
    assert out.status_code == 303
    assert site.client.get("/jobs").status_code == 303


def test_a_running_job_refreshes_its_page(site: Site) -> None:
    job_id = site.job()
    claimed = site.store.claim("owner", 60)
    assert claimed is not None
    assert claimed.state is JobState.RUNNING
    signed_in(site)
    assert re.search(r'http-equiv="refresh" content="10"', site.client.get(f"/jobs/{job_id}").text)
    lease = site.client.get("/api/dashboard/queue", headers=site.auth()).json()["leases"]
    assert lease[0]["job"] == job_id
    assert lease[0]["owner"] == "owner"


def span(
    name: str,
    start: float,
    end: float,
    span_id: str,
    parent: str | None = None,
    **attributes: object,
) -> str:
    return json.dumps(
        {
            "name": name,
            "start": start,
            "end": end,
            "span_id": span_id,
            "parent_id": parent,
            "status": "ok",
            "attributes": attributes,
        }
    )


def test_the_trace_waterfall(site: Site) -> None:
    job_id = site.job()
    events = [
        span("job", 100.0, 110.0, "a"),
        span(
            "agent.turn",
            101.0,
            103.0,
            "b",
            "a",
            **{
                "gen_ai.usage.input_tokens": 1200,
                "gen_ai.usage.output_tokens": 300,
                "optirunner.cost_usd": 0.0125,
            },
        ),
        span(
            "agent.turn",
            103.0,
            104.0,
            "c",
            "a",
            **{
                "gen_ai.usage.input_tokens": 800,
                "gen_ai.usage.output_tokens": 100,
                "optirunner.cost_usd": 0.0075,
            },
        ),
        span(
            f"sandbox.run {HOSTILE}",
            104.0,
            109.0,
            "d",
            "a",
            argv=["git", "clone", f"https://oauth2:{PLANTED_SECRET}@h/x.git"],
        ),
    ]
    site.files(job_id, **{"events.jsonl": "\n".join(events) + "\n{torn"})
    view = site.client.get(f"/api/dashboard/jobs/{job_id}/trace", headers=site.auth()).json()
    assert [s["name"] for s in view["spans"]][:3] == ["job", "agent.turn", "agent.turn"]
    assert view["agent"] == {
        "turns": 2,
        "input_tokens": 2000,
        "output_tokens": 400,
        "cost_usd": 0.02,
    }
    job, first_turn = view["spans"][0], view["spans"][1]
    assert (job["bar_x"], job["bar_w"]) == (0.0, 400.0)
    assert (first_turn["bar_x"], first_turn["bar_w"], first_turn["depth"]) == (40.0, 80.0, 1)
    signed_in(site)
    page = site.client.get(f"/jobs/{job_id}/trace")
    assert page.status_code == 200
    assert '<rect x="40.0" y="1" width="80.0"' in page.text
    assert "<script>" not in page.text
    for text in (page.text, json.dumps(view)):
        assert PLANTED_SECRET not in text
    assert "2 turns, 2000 tokens in, 400 out, $0.0200" in page.text
    stages = site.client.get(f"/api/dashboard/jobs/{job_id}", headers=site.auth()).json()
    assert [s["name"] for s in stages["stages"]][:2] == ["agent.turn", "agent.turn"]
    assert stages["stages"][0]["duration_s"] == 2.0
    empty = site.job("k2")
    assert "No trace yet" in site.client.get(f"/jobs/{empty}/trace").text
