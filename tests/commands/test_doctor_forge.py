"""`optirunner doctor`: the GitLab token's scopes and the webhook URLs (issue 11, point 6).

The token is checked against a local GitLab API (`GET /personal_access_tokens/self`), the
webhook URLs against a real `optirunner serve`.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from runner.commands import doctor
from runner.config import load_settings

sys.path.insert(0, str(Path(__file__).parents[1] / "forge"))

from fake_gitlab import FakeGitLab

TOKEN = "glpat-doctor-0123456789"  # noqa: S105 - a test token


@pytest.fixture
def gitlab(tmp_path: Path) -> Iterator[FakeGitLab]:
    with FakeGitLab(TOKEN, "http://127.0.0.1:9", tmp_path / "bare.git") as server:
        yield server


def config_with(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(f'state_dir = "{tmp_path / "state"}"\n{text}')
    return path


def test_gitlab_token_scopes(tmp_path: Path, gitlab: FakeGitLab) -> None:
    settings = load_settings(config_with(tmp_path, f'[forge.gitlab]\nurl = "{gitlab.url}"\n'))
    env = {"OPTIRUNNER_GITLAB_TOKEN": TOKEN}

    check = doctor.check_gitlab_token(settings, env)
    assert (check.status, check.failed) == ("OK", False)
    assert "api, write_repository" in check.detail
    assert gitlab.state.requests[-1].path == "/api/v4/personal_access_tokens/self"

    gitlab.state.scopes = ["read_api", "write_repository"]
    check = doctor.check_gitlab_token(settings, env)
    assert check.failed
    assert "missing scopes api" in check.detail
    assert "api, write_repository" in check.fix

    gitlab.state.scopes = ["api", "write_repository", "sudo"]
    check = doctor.check_gitlab_token(settings, env)
    assert check.status == "FAIL"
    assert not check.failed  # a warning: it works, but it may do more than it needs
    assert "sudo" in check.detail

    assert doctor.check_gitlab_token(settings, {"OPTIRUNNER_GITLAB_TOKEN": "wrong"}).failed
    missing = doctor.check_gitlab_token(settings, {})
    assert not missing.failed
    assert "OPTIRUNNER_GITLAB_TOKEN" in missing.detail
    assert TOKEN not in missing.detail

    off = load_settings(config_with(tmp_path, ""))
    assert doctor.check_gitlab_token(off, env).status == "SKIP"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def serve_config(tmp_path: Path) -> Path:
    """A config whose listener has both webhooks on; the listener is started by the test."""
    text = (
        f"[service]\nport = {free_port()}\n"
        '[service.gitlab]\ntoken = "t"\n[service.jira]\nsecret = "s"\n'
    )
    return config_with(tmp_path, text)


def test_webhook_urls_answer(tmp_path: Path, serve_config: Path) -> None:
    settings = load_settings(serve_config)
    down = doctor.check_webhooks(settings, timeout=2)
    assert [c.name for c in down] == ["gitlab webhook", "jira webhook"]
    assert all(c.status == "FAIL" and not c.failed for c in down)  # serve not running: warn

    argv = [sys.executable, "-m", "runner", "serve", "--config", str(serve_config)]
    proc = subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        url = f"http://127.0.0.1:{settings.service.port}/readyz"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(url, timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        up = doctor.check_webhooks(settings)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
    assert [c.status for c in up] == ["OK", "OK"], up
    assert f":{settings.service.port}/webhooks/jira" in up[1].detail

    no_jira = load_settings(config_with(tmp_path, '[service.gitlab]\ntoken = "t"\n'))
    assert [c.status for c in doctor.check_webhooks(no_jira, timeout=2)][1] == "SKIP"
