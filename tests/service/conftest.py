"""Real `optirunner serve` processes against a tiny, fast project; helpers to drive them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from runner.auth import Role
from runner.config import load_settings
from runner.store.factory import open_store
from runner.store.models import Job, JobState
from runner.store.queue import JobStore
from runner.store.tokens import TokenStore

REPO_KEY = "tiny/repo"
TARGET = "tiny/core.py::ident"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tiny_repo(root: Path) -> Path:
    """A project whose job is cheap: one function the rules provider leaves alone."""
    (root / "tiny").mkdir(parents=True)
    (root / "tiny" / "__init__.py").write_text("")
    (root / "tiny" / "core.py").write_text("def ident(x):\n    return x\n")
    return root


def sleep_cmd(seconds: float) -> str:
    """A test command that takes `seconds` (so a job is still running when signalled)."""
    return f"python -c 'import time, tiny.core; time.sleep({seconds})'"


def write_config(tmp: Path, repo: Path, database_url: str | None = None, **service: Any) -> Path:
    lines = [
        f'state_dir = "{tmp / "state"}"',
        "[sandbox]",
        'backend = "auto"',
        "[service]",
        f"port = {service.pop('port', free_port())}",
        "poll_interval_s = 0.1",
        "lease_s = 2.0",
        "backoff_base_s = 0.1",
        "backoff_max_s = 0.5",
        f'repositories = {{"{REPO_KEY}" = "{repo}"}}',
    ]
    if database_url:
        lines.append(f'database_url = "{database_url}"')
    lines += [f"{key} = {value!r}" for key, value in service.items()]
    lines += ["[service.gitlab]", 'token = "test-gitlab-webhook-token"']
    path = tmp / "config.toml"
    path.write_text("\n".join(lines).replace("'", '"') + "\n")
    return path


class Serve:
    """One `optirunner serve` process in its own process group."""

    def __init__(self, config: Path, env: dict[str, str] | None = None) -> None:
        self.config = config
        self.settings = load_settings(config)
        self.url = f"http://127.0.0.1:{self.settings.service.port}"
        self.log = config.parent / f"serve-{time.monotonic_ns()}.log"
        self._token: str | None = None
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "runner", "serve", "--config", str(config)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
                start_new_session=True,
            )

    def get(self, path: str, timeout: float = 5) -> httpx.Response:
        """GET from the API with a viewer token (made on first use, in the job database)."""
        if self._token is None:
            store = open_store(self.settings)
            try:
                self._token = TokenStore(store.engine).add("tests", Role.VIEWER)[1]
            finally:
                store.engine.dispose()
        headers = {"Authorization": f"Bearer {self._token}"}
        return httpx.get(f"{self.url}{path}", headers=headers, timeout=timeout)

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"serve not ready:\n{self.log.read_text()}")

    def signal(self, signum: signal.Signals) -> None:
        self.proc.send_signal(signum)

    def wait(self, timeout: float = 30) -> int:
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


def wait_for(check: Callable[[], bool], timeout: float = 30, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def enqueue(store: JobStore, key: str, test_cmd: str) -> str:
    spec = {"targets": [TARGET], "test_cmd": test_cmd}
    return store.enqueue(key, spec, {"forge": "gitlab", "project_path": REPO_KEY}).job_id


def state_of(store: JobStore, job_id: str) -> Job:
    return store.get(job_id)


def in_state(store: JobStore, job_id: str, state: JobState) -> Callable[[], bool]:
    return lambda: store.get(job_id).state is state


@pytest.fixture
def serves() -> Iterator[list[Serve]]:
    """Serve processes a test started; killed (with their workers) at the end."""
    started: list[Serve] = []
    yield started
    for serve in started:
        serve.stop()


@pytest.fixture
def sqlite_setup(tmp_path: Path) -> tuple[Path, JobStore]:
    config = write_config(tmp_path, tiny_repo(tmp_path / "repo"))
    store = open_store(load_settings(config), migrate=True)
    return config, store
