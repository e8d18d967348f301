"""`optirunner jobs ...` and `optirunner db upgrade` through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from runner.cli import app
from runner.config import load_settings
from runner.store.factory import open_store
from runner.store.models import JobEvent

runner = CliRunner()


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(f'state_dir = "{tmp_path / "state"}"\n')
    return path


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_not_set_up_says_what_to_do(config: Path) -> None:
    code, out = invoke("jobs", "list", "-c", str(config))
    assert code == 1
    assert "optirunner db upgrade" in out


def test_upgrade_list_show_cancel_replay_logs(config: Path) -> None:
    code, out = invoke("db", "upgrade", "-c", str(config))
    assert (code, out.strip()) == (0, "job database at revision 0004")
    store = open_store(load_settings(config))
    a = store.enqueue("a", {"targets": ["x.py::f"]}, {"forge": "gitlab", "issue": "1"}).job_id
    b = store.enqueue("b", {}, {}).job_id
    code, out = invoke("jobs", "list", "--json", "-c", str(config))
    assert code == 0
    assert {j["id"] for j in json.loads(out)} == {a, b}
    code, out = invoke("jobs", "list", "--state", "queued", "-c", str(config))
    assert code == 0
    assert "queued" in out
    assert invoke("jobs", "list", "--state", "bogus", "-c", str(config))[0] == 1
    code, out = invoke("jobs", "show", a, "-c", str(config))
    assert json.loads(out)["spec"] == {"targets": ["x.py::f"]}
    assert invoke("jobs", "cancel", b, "-c", str(config)) == (0, f"job {b}: cancelled\n")
    assert invoke("jobs", "replay", b, "-c", str(config)) == (0, f"job {b}: queued\n")
    code, out = invoke("jobs", "replay", a, "-c", str(config))
    assert code == 1
    assert "cannot replay" in out
    code, out = invoke("jobs", "logs", a, "-c", str(config))
    assert code == 1
    assert "no worker log" in out
    log = load_settings(config).state_dir / "jobs" / a / "worker.log"
    log.parent.mkdir(parents=True)
    log.write_text("attempt 1\n")
    assert invoke("jobs", "logs", a, "-c", str(config)) == (0, "attempt 1\n")
    assert invoke("jobs", "show", "nope", "-c", str(config))[0] == 1
    claimed = store.claim("me", 30)
    assert claimed is not None
    code, out = invoke("jobs", "cancel", claimed.id, "-c", str(config))
    assert "cancel requested" in out
    assert store.finish(claimed.id, "me", JobEvent.CANCEL) is not None
    store.engine.dispose()
