"""`optirunner traces list|show|flush`, run through the CLI app in-process."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from runner.cli import app
from runner.config import Settings
from runner.telemetry.setup import job_tracer
from runner.telemetry.spool import Spool

from .conftest import Captured

GHP = "ghp_" + "aB3dE5fG7hJ9kL1mN2pQ4rS6tU8vW0xY2zA4"


class Clock:
    def __init__(self) -> None:
        self.now = 1_760_000_000.0

    def __call__(self) -> float:
        self.now += 0.5
        return self.now


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    state = tmp_path / "state"
    monkeypatch.setenv("OPTIRUNNER_STATE_DIR", str(state))
    monkeypatch.setenv("COLUMNS", "200")
    return state


def _job(state: Path, job_id: str) -> None:
    job_dir = state / "jobs" / job_id
    job_dir.mkdir(parents=True)
    tracer = job_tracer(Settings(state_dir=state), job_id, job_dir / "events.jsonl", clock=Clock())
    with tracer.span("job", job_id=job_id):
        with tracer.span("agent.turn", **{"gen_ai.request.model": "gpt-x"}) as turn:
            turn.set(**{"gen_ai.usage.input_tokens": 12, "optirunner.prompt": GHP})
        with pytest.raises(RuntimeError), tracer.span("sandbox.run", argv="pytest -q"):
            raise RuntimeError("exit 1")
    tracer.close()


def test_list_and_show_a_timeline(state: Path) -> None:
    _job(state, "20260101-000000-aaaaaa")
    _job(state, "20260102-000000-bbbbbb")
    runner = CliRunner()
    listed = runner.invoke(app, ["traces", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)
    assert [r["job_id"] for r in rows] == ["20260102-000000-bbbbbb", "20260101-000000-aaaaaa"]
    assert rows[0]["spans"] == 3
    assert rows[0]["errors"] == 1
    assert rows[0]["status"] == "ok"
    table = runner.invoke(app, ["traces", "list"])
    assert "20260101-000000-aaaaaa" in table.stdout

    shown = runner.invoke(app, ["traces", "show", "20260101-000000-aaaaaa"])
    assert shown.exit_code == 0, shown.output
    out = shown.stdout
    assert out.index("job") < out.index("agent.turn") < out.index("sandbox.run")
    assert "gen_ai.request.model=gpt-x" in out
    assert "argv=pytest -q" in out
    assert "error" in out
    assert GHP not in out
    timeline = json.loads(
        runner.invoke(app, ["traces", "show", "20260101-000000-aaaaaa", "--json"]).stdout
    )
    assert [(r["name"], r["depth"]) for r in timeline] == [
        ("job", 0),
        ("agent.turn", 1),
        ("sandbox.run", 1),
    ]
    assert timeline[0]["offset_s"] == 0
    assert timeline[1]["duration_s"] == 0.5

    missing = runner.invoke(app, ["traces", "show", "nope"])
    assert missing.exit_code == 1
    assert "no trace for job nope" in missing.output


def _dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_flush_reports_counts_and_fails_clearly_when_unreachable(
    state: Path, monkeypatch: pytest.MonkeyPatch, otlp_collector: Captured
) -> None:
    runner = CliRunner()
    nothing = runner.invoke(app, ["traces", "flush"])
    assert nothing.exit_code == 1
    assert "no telemetry sink is configured" in nothing.output

    spool = Spool(state / "telemetry" / "spool.db")
    spool.append_many([{"name": "s", "n": i} for i in range(30)])
    monkeypatch.setenv("OPTIRUNNER_TELEMETRY__ICARUS__URL", f"ws://127.0.0.1:{_dead_port()}")
    monkeypatch.setenv("OPTIRUNNER_TELEMETRY__ICARUS__TOKEN", "t0ken-for-flush")
    monkeypatch.setenv("OPTIRUNNER_TELEMETRY__ICARUS__BACKOFF_INITIAL_S", "0.01")
    monkeypatch.setenv("OPTIRUNNER_TELEMETRY__OTLP__ENDPOINT", otlp_collector.url + "/v1/traces")
    failed = runner.invoke(app, ["traces", "flush", "--attempts", "2"])
    assert failed.exit_code == 1
    assert "otlp: shipped 30 of 30 pending events, 0 left: ok" in failed.output
    assert "icarus: shipped 0 of 30 pending events, 30 left: FAILED" in failed.output
    assert "unreachable" in failed.output
    assert "telemetry flush failed: icarus" in failed.output
    assert spool.stats().count == 30  # kept for Icarus

    monkeypatch.delenv("OPTIRUNNER_TELEMETRY__ICARUS__URL")
    done = runner.invoke(app, ["traces", "flush"])
    assert done.exit_code == 0, done.output
    assert spool.stats().count == 0  # Icarus is no longer configured: its cursor went
    spool.close()
