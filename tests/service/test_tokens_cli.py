"""`optirunner tokens add|list|revoke` through the real CLI, and the tokens on the API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from runner.api.state import AppState
from runner.cli import app
from runner.config import load_settings
from runner.metrics import Metrics
from runner.store.factory import open_store
from runner.webhooks.app import create_app

from .conftest import write_config

runner = CliRunner()


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write_config(tmp_path, tmp_path)  # a state folder, no database yet


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_not_set_up_says_what_to_do(config: Path) -> None:
    code, _, err = invoke("tokens", "list", "-c", str(config))
    assert code == 1
    assert "optirunner db upgrade" in err


def test_add_list_use_revoke(config: Path) -> None:
    assert invoke("db", "upgrade", "-c", str(config))[0] == 0
    code, value, err = invoke(
        "tokens", "add", "--name", "alice", "--role", "operator", "-c", str(config)
    )
    assert code == 0
    value = value.strip()
    assert value.startswith("opr_")
    assert "shown once" in err
    assert value not in err
    code, out, _ = invoke("tokens", "list", "--json", "-c", str(config))
    [listed] = json.loads(out)
    assert (listed["name"], listed["role"], listed["revoked_at"]) == ("alice", "operator", None)
    assert value not in out  # never the value, nor its secret part
    assert value.split("_", 2)[2] not in out
    code, table, _ = invoke("tokens", "list", "-c", str(config))
    assert code == 0
    assert "alice" in table

    store = open_store(load_settings(config))
    client = TestClient(
        create_app(AppState(load_settings(config).service, store, Metrics(store.counts)))
    )
    auth = {"Authorization": f"Bearer {value}"}
    assert client.get("/api/jobs", headers=auth).status_code == 200

    code, out, _ = invoke("tokens", "revoke", "alice", "-c", str(config))
    assert (code, out.strip()) == (0, f"token {listed['token_id']} (alice) revoked")
    assert client.get("/api/jobs", headers=auth).status_code == 401
    store.engine.dispose()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("add", "--name", "x", "--role", "admin"),
            "unknown role 'admin' (one of metrics, viewer, operator)",
        ),
        (("add", "--name", "<b>"), "bad token name '<b>'"),
        (("revoke", "nobody"), "no token 'nobody' (see `optirunner tokens list`)"),
    ],
)
def test_bad_input_is_one_line_and_exit_1(
    config: Path, args: tuple[str, ...], message: str
) -> None:
    assert invoke("db", "upgrade", "-c", str(config))[0] == 0
    code, out, err = invoke("tokens", *args, "-c", str(config))
    assert code == 1
    assert out == ""
    assert message in err
    assert "Traceback" not in err
