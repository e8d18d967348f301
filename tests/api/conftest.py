"""A listener's app on a migrated SQLite database, with a token of each role."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from runner.api.state import AppState
from runner.auth import Role
from runner.config import ServiceSettings
from runner.metrics import Metrics
from runner.store.db import make_engine, upgrade
from runner.store.queue import JobStore
from runner.telemetry.redact import Redactor
from runner.webhooks.app import create_app

NOW = 1_765_000_000.0
PLANTED_SECRET = "glpat-Zq8vT3kLmN5pR7sW2xYb"  # noqa: S105 - a GitLab token shape, planted


@dataclass
class Site:
    client: TestClient
    state: AppState
    store: JobStore
    tokens: dict[Role, str]
    jobs_dir: Path

    def auth(self, role: Role = Role.VIEWER) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    def job(self, key: str = "k1", **source: Any) -> str:
        spec = {"targets": ["pkg/mod.py::total"], "test_cmd": "pytest -q"}
        src = {
            "forge": "gitlab",
            "project_path": "acme/widgets",
            "issue": "7",
            "web_url": "https://gitlab.example.com/acme/widgets/-/issues/7",
            "trigger": "comment",
            "author": "dev",
            **source,
        }
        job_id = self.store.enqueue(key, spec, src).job_id
        (self.jobs_dir / job_id).mkdir(parents=True)
        return job_id

    def files(self, job_id: str, **files: Any) -> Path:
        """Write files into the job's directory (dicts as JSON)."""
        folder = self.jobs_dir / job_id
        for name, content in files.items():
            path = folder / name.replace("__", "/")
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content if isinstance(content, str) else json.dumps(content))
        return folder


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    engine = make_engine(f"sqlite:///{tmp_path / 'optirunner.db'}")
    upgrade(engine)
    store = JobStore(engine, clock=lambda: NOW)
    state = AppState(
        ServiceSettings(),
        store,
        Metrics(store.counts),
        clock=lambda: NOW,
        jobs_dir=tmp_path / "jobs",
        redactor=Redactor([PLANTED_SECRET]),
    )
    tokens = {role: state.token_store.add(f"t-{role.value}", role)[1] for role in Role}
    with TestClient(create_app(state), follow_redirects=False) as client:
        yield Site(client, state, store, tokens, tmp_path / "jobs")
    engine.dispose()
