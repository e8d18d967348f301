"""Schemathesis against the app's own OpenAPI document: no 5xx, every answer as documented.

The app is built as `serve` builds it (settings, a migrated SQLite store, metrics) and
driven in-process through ASGI. Webhook cases are sent twice: as generated (the fuzzer does
not know the secrets, so mostly 401/415) and authenticated, with the token or an HMAC
signature over the exact bytes, so the bodies reach the JSON parser and the decisions.
A second, narrower test mutates the real fixture deliveries (signed) to push odd values into
the fields the decisions read. Derandomized, no deadline: stable on a loaded 2-core host.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import Case, GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core import NotSet
from starlette.testclient import TestClient

from runner.auth import Role
from runner.config import Settings
from runner.metrics import Metrics
from runner.store.factory import open_store
from runner.webhooks.app import AppState, create_app

from .conftest import FIXTURES, GITLAB_TOKEN, JIRA_SECRET, load_delivery

OPERATIONS = [
    ("POST", "/webhooks/gitlab"),
    ("POST", "/webhooks/jira"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("GET", "/api/jobs"),
    ("GET", "/api/jobs/{job_id}"),
    ("POST", "/api/jobs/{job_id}/cancel"),
    ("POST", "/api/jobs/{job_id}/replay"),
    ("POST", "/api/session"),
    ("DELETE", "/api/session"),
    ("GET", "/api/dashboard/jobs"),
    ("GET", "/api/dashboard/jobs.csv"),
    ("GET", "/api/dashboard/jobs/{job_id}"),
    ("GET", "/api/dashboard/jobs/{job_id}/trace"),
    ("GET", "/api/dashboard/queue"),
]
# The guarded routes are fuzzed without a token (401) and with an operator's.
OPERATOR: dict[str, str] = {}
# What an authenticated case is held to: its body may break the documented shape on
# purpose (negative mode), and a webhook tolerates unknown shapes with 200 "ignored".
CONTRACT = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
FUZZ = settings(
    max_examples=60,
    derandomize=True,
    deadline=None,
    database=None,
    # One app and store for all examples is the point; generated bodies can be large.
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
DELIVERIES = sorted(
    (path.parent.name, path.name.removesuffix(".headers.json"))
    for path in FIXTURES.glob("*/*.headers.json")
)


@pytest.fixture
def app(tmp_path: Path) -> Iterator[FastAPI]:
    """The app as `serve` builds it, with every fixture delivery already queued or ignored."""
    config = Settings.model_validate(
        {
            "state_dir": tmp_path / "state",
            "service": {
                "gitlab": {"token": GITLAB_TOKEN, "bot_username": "optimizer-bot"},
                "jira": {"secret": JIRA_SECRET, "projects": {"OPT": "acme/widgets"}},
                "repositories": {"acme/widgets": str(tmp_path / "repo")},
            },
        }
    )
    store = open_store(config, migrate=True)
    state = AppState(config.service, store, Metrics(store.counts))
    OPERATOR["Authorization"] = "Bearer " + state.token_store.add("fuzz", Role.OPERATOR)[1]
    app = create_app(state)
    with TestClient(app) as client:
        for forge, name in DELIVERIES:
            headers, body = load_delivery(forge, name)
            # No signing key is set: the fixtures' old webhook-timestamp headers are not read.
            assert client.post(f"/webhooks/{forge}", content=body, headers=headers).is_success
    assert store.list(), "the fixtures queued no job"
    yield app
    store.engine.dispose()


def authentic(path: str, case: Case) -> tuple[bytes, dict[str, str]] | None:
    """The case's body as bytes and the headers that authenticate them, if it has a JSON body."""
    if isinstance(case.body, NotSet) or case.media_type != "application/json":
        return None
    # Negative cases may carry raw bytes (not UTF-8, not JSON): sent as they are.
    raw = case.body if isinstance(case.body, bytes) else json.dumps(case.body).encode()
    if path == "/webhooks/gitlab":
        return raw, {"X-Gitlab-Token": GITLAB_TOKEN}
    digest = hmac.new(JIRA_SECRET.encode(), raw, hashlib.sha256).hexdigest()
    return raw, {"X-Hub-Signature": f"sha256={digest}"}


def counted(app: FastAPI, forge: str, result: str) -> float:
    """`optirunner_webhooks_total{forge, result}` as /metrics says it (0 when absent)."""
    series = f'optirunner_webhooks_total{{forge="{forge}",result="{result}"}} '
    for line in TestClient(app).get("/metrics", headers=OPERATOR).text.splitlines():
        if line.startswith(series):
            return float(line.removeprefix(series))
    return 0.0


def test_every_route_is_fuzzed(app: FastAPI) -> None:
    documented = {
        (method.upper(), path) for path, item in app.openapi()["paths"].items() for method in item
    }
    assert documented == set(OPERATIONS)


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_openapi_contract(app: FastAPI, method: str, path: str) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operation = schema[path][method]
    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )

    forge = path.removeprefix("/webhooks/")
    before = {result: counted(app, forge, result) for result in ("ignored", "rejected_400")}

    @FUZZ
    @given(case=cases)
    def fuzz(case: Case) -> None:
        case.call_and_validate()
        if path.startswith(("/api/", "/metrics")):
            response = case.call(headers=OPERATOR)
            case.validate_response(response, checks=CONTRACT)
        signed = authentic(path, case) if path.startswith("/webhooks/") else None
        if signed is not None:
            raw, headers = signed
            response = case.call(headers=headers, data=raw)
            case.validate_response(response, checks=CONTRACT)

    fuzz()

    if path.startswith("/webhooks/"):  # authenticated cases reached the parser and decisions
        for result, count in before.items():
            assert counted(app, forge, result) > count, result
    if path == "/api/jobs/{job_id}":  # the generated ids hit no job; the seeded ones do
        client = TestClient(app)
        for job in client.get("/api/jobs", headers=OPERATOR).json()["jobs"]:
            case = operation.Case(path_parameters={"job_id": job["id"]})
            response = case.call(headers=OPERATOR)
            assert response.status_code == 200
            case.validate_response(response, checks=CONTRACT)


# -- mutated fixture deliveries ---------------------------------------------------------------
# Values json.dumps cannot write are sentinels, replaced in the text after dumping.
RAW = {
    "<huge-int>": "9" * 5000,
    "<deep>": "[" * 5000 + "]" * 5000,
    "<lone-surrogate>": '"\\ud800"',
}
SPECS = [
    "```optirunner\nmax_candidates = inf\n```",
    "```optirunner\nmax_candidates = nan\n```",
    "```optirunner\nfloat_tolerance = -inf\n```",
    "```optirunner\ntargets = [1]\n```",
    "{code:optirunner}\ntargets = 'a.py::f'\nmax_candidates = 1e999\n{code}",
    "/optimize a.py::f --max-candidates 99999999999999999999999",
    "/optimize a.py::f --test-cmd '",
    "/optimize ../x.py::f",
    "optimize",
    "x" * 5000,
]
# Where the decisions read free text (fenced blocks, commands), and what keys a job.
TEXTS = [
    ("object_attributes", "description"),
    ("object_attributes", "note"),
    ("issue", "description"),
    ("issue", "fields", "description"),
    ("comment", "body"),
]
KEYS = [
    ("object_attributes", "id"),
    ("object_attributes", "updated_at"),
    ("comment", "id"),
    ("changelog", "id"),
    ("issue", "self"),
]
_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from([*RAW, *SPECS]),
)
_json = st.recursive(
    _leaves,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def _slots(value: Any, at: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place in a payload that can take another value."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield (*at, key)
            yield from _slots(item, (*at, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield (*at, index)
            yield from _slots(item, (*at, index))


def _has(payload: Any, at: tuple[Any, ...]) -> bool:
    for step in at[:-1]:
        payload = payload.get(step) if isinstance(payload, dict) else None
    return isinstance(payload, dict)


def _put(payload: Any, at: tuple[Any, ...], value: Any) -> None:
    for step in at[:-1]:
        payload = payload[step]
    payload[at[-1]] = value


def signed(forge: str, headers: dict[str, str], payload: dict[str, Any]) -> bytes:
    """The payload's bytes (sentinels written out); `headers` made to authenticate them."""
    raw = json.dumps(payload)
    for sentinel, text in RAW.items():
        raw = raw.replace(json.dumps(sentinel), text)
    data = raw.encode()
    for name in [k for k in headers if k.lower().startswith("webhook-")]:
        del headers[name]
    if forge == "jira":
        digest = hmac.new(JIRA_SECRET.encode(), data, hashlib.sha256).hexdigest()
        headers["X-Hub-Signature"] = f"sha256={digest}"
    return data


def assert_answered(response: httpx.Response) -> None:
    """A 2xx or a 400, in the documented shape, with a short reason; never a 5xx."""
    assert response.status_code in {200, 202, 400}, response.text
    answer = response.json()
    assert answer["status"] in {"queued", "duplicate", "ignored", "rejected"}
    assert len(answer.get("reason", "")) <= 300, "a reason is short"


def test_odd_values_where_the_decisions_look(app: FastAPI) -> None:
    """Every odd text where a spec or command is read, every odd value in what keys a job."""
    client = TestClient(app)
    for forge, name in DELIVERIES:
        headers, body = load_delivery(forge, name)
        for places, values in ((TEXTS, SPECS), (KEYS, list(RAW))):
            for at in (at for at in places if _has(json.loads(body), at)):
                for value in values:
                    payload = json.loads(body)
                    _put(payload, at, value)
                    data = signed(forge, headers, payload)
                    response = client.post(f"/webhooks/{forge}", content=data, headers=headers)
                    assert_answered(response)


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, dict[str, str], bytes]:
    """A fixture delivery with one to three values anywhere replaced by random JSON."""
    forge, name = draw(st.sampled_from(DELIVERIES))
    headers, body = load_delivery(forge, name)
    payload = json.loads(body)
    for _ in range(draw(st.integers(1, 3))):
        _put(payload, draw(st.sampled_from(list(_slots(payload)))), draw(_json))
    return forge, headers, signed(forge, headers, payload)


def test_mutated_deliveries_never_fail_the_server(app: FastAPI) -> None:
    client = TestClient(app)

    @settings(FUZZ, max_examples=150)
    @given(delivery=mutated())
    def fuzz(delivery: tuple[str, dict[str, str], bytes]) -> None:
        forge, headers, data = delivery
        assert_answered(client.post(f"/webhooks/{forge}", content=data, headers=headers))

    fuzz()
