"""A real browser on the dashboard: headless Chromium (Debian's package), driven over the
DevTools protocol (websockets), signs in with a token through the login form, then loads
the jobs list and the page of a real `examples/inventory` run (the runner's own optimize,
rules provider, short budget), checks the candidates table, that the round-time plot loads
and that the stylesheet applies under the pages' Content-Security-Policy, and that the list
fits a phone's width. Screenshots go to $DASHBOARD_SCREENSHOTS when set (docs/images)."""

from __future__ import annotations

import base64
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from websockets.sync.client import ClientConnection, connect

from runner.api.state import AppState
from runner.auth import Role
from runner.config import ServiceSettings
from runner.metrics import Metrics
from runner.store.db import make_engine, upgrade
from runner.store.models import JobEvent
from runner.store.queue import JobStore
from runner.webhooks.app import create_app

EXAMPLE = Path(__file__).parents[2] / "examples" / "inventory"
TARGET = "inventory/stock.py::missing_skus"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.slow


class DevTools:
    """One page of a headless Chromium, over its DevTools websocket (flat sessions)."""

    def __init__(self, ws: ClientConnection, session: str) -> None:
        self.ws = ws
        self.session = session
        self.ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, params: dict[str, Any] | None = None, timeout: float = 30) -> Any:
        number = next(self.ids)
        message = {"id": number, "method": method, "params": params or {}}
        self.ws.send(json.dumps({**message, "sessionId": self.session}))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            answer = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if answer.get("id") == number:
                assert "error" not in answer, (method, answer["error"])
                return answer.get("result", {})
            self.events.append(answer)
        raise AssertionError(f"no answer to {method}")

    def wait_event(self, name: str, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.events:
                if event.get("method") == name:
                    self.events.remove(event)
                    return event
            message = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            self.events.append(message)
        raise AssertionError(f"no {name} event")

    def load(self, url: str) -> None:
        self.events.clear()
        self.send("Page.navigate", {"url": url})
        self.wait_event("Page.loadEventFired")

    def js(self, expression: str) -> Any:
        result = self.send(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
        )
        assert "exceptionDetails" not in result, result
        return result["result"].get("value")

    def screenshot(self, name: str) -> None:
        folder = os.environ.get("DASHBOARD_SCREENSHOTS")
        data = self.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
        png = base64.b64decode(data["data"])
        assert png.startswith(b"\x89PNG")
        if folder:
            Path(folder).mkdir(parents=True, exist_ok=True)
            (Path(folder) / name).write_bytes(png)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[DevTools]:
    if CHROMIUM is None:
        pytest.fail("chromium is not installed (.ci/bootstrap.sh installs it)")
    proc = subprocess.Popen(
        [
            CHROMIUM,
            "--headless=new",
            "--no-sandbox",  # root in CI; the page is our own
            "--disable-gpu",
            "--no-first-run",
            "--remote-debugging-port=0",
            f"--user-data-dir={tmp_path / 'chromium'}",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        url = None
        deadline = time.monotonic() + 60
        while url is None and time.monotonic() < deadline:
            line = proc.stderr.readline()
            assert line or proc.poll() is None, "chromium exited"
            found = re.search(r"DevTools listening on (ws://\S+)", line)
            url = found.group(1) if found else None
        assert url is not None, "chromium did not open its DevTools port"
        threading.Thread(target=proc.stderr.read, daemon=True).start()  # keep it drained
        with connect(url, max_size=64 << 20) as ws:
            ws.send(
                json.dumps(
                    {"id": 1, "method": "Target.createTarget", "params": {"url": "about:blank"}}
                )
            )
            target = _answer(ws, 1)["targetId"]
            ws.send(
                json.dumps(
                    {
                        "id": 2,
                        "method": "Target.attachToTarget",
                        "params": {"targetId": target, "flatten": True},
                    }
                )
            )
            page = DevTools(ws, _answer(ws, 2)["sessionId"])
            page.send("Page.enable")
            page.send(
                "Emulation.setDeviceMetricsOverride",
                {"width": 1400, "height": 900, "deviceScaleFactor": 1, "mobile": False},
            )
            yield page
    finally:
        proc.kill()
        proc.wait(10)
        if proc.stderr is not None:
            proc.stderr.close()


def _answer(ws: ClientConnection, number: int) -> dict[str, Any]:
    while True:
        message = json.loads(ws.recv(timeout=30))
        if message.get("id") == number:
            result: dict[str, Any] = message["result"]
            return result


def inventory_run(tmp_path: Path) -> Path:
    """The job directory of a real optimize run on the example (one candidate, 10 s)."""
    project = tmp_path / "inventory"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns(".venv", "__pycache__"))
    state = tmp_path / "xdg"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("OPTIRUNNER_")},
        "XDG_STATE_HOME": str(state),
        "OPTIRUNNER_MAX_CANDIDATES": "1",
        "OPTIRUNNER_MEASURE__BUDGET_S": "20",
        "OPTIRUNNER_MEASURE__INSTRUCTIONS": "never",
        "OPTIRUNNER_MEASURE__NOISE_CHECK": "false",
        "OPTIRUNNER_INPUTS__GENERATED": "50",
    }
    argv = [sys.executable, "-m", "runner", "optimize", str(project), "-t", TARGET, "--json"]
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    job_id = json.loads(proc.stdout)["job_id"]
    return state / "optirunner" / "jobs" / job_id


def test_a_browser_signs_in_and_sees_a_real_job(tmp_path: Path, browser: DevTools) -> None:
    run_dir = inventory_run(tmp_path)
    report = json.loads((run_dir / "report.json").read_text())
    [candidate] = report["candidates"]
    assert (run_dir / "plots" / f"{candidate['id']}.png").is_file(), "the run made no plot"

    engine = make_engine(f"sqlite:///{tmp_path / 'optirunner.db'}")
    upgrade(engine)
    store = JobStore(engine)
    source = {
        "forge": "gitlab",
        "project_path": "acme/inventory",
        "issue": "12",
        "web_url": "https://gitlab.example.com/acme/inventory/-/issues/12",
        "trigger": "label",
        "author": "dev",
    }
    job_id = store.enqueue("inventory-1", {"targets": [TARGET]}, source).job_id
    claimed = store.claim("browser-test", 60)
    assert claimed is not None
    store.finish(claimed.id, "browser-test", JobEvent.SUCCEED, report["message"])
    jobs_dir = tmp_path / "jobs"
    shutil.copytree(run_dir, jobs_dir / job_id, ignore=shutil.ignore_patterns("worktrees"))
    state = AppState(ServiceSettings(), store, Metrics(store.counts), jobs_dir=jobs_dir)
    _, token = state.token_store.add("browser", Role.VIEWER)

    server = uvicorn.Server(
        uvicorn.Config(create_app(state), host="127.0.0.1", port=0, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    base = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    try:
        browser.load(f"{base}/jobs")  # no session: the sign-in page
        assert browser.js("location.pathname") == "/login"
        browser.screenshot("dashboard-login.png")
        browser.js(
            f"document.getElementById('token').value = {json.dumps(token)};"
            "document.querySelector('form.login').submit()"
        )
        browser.wait_event("Page.loadEventFired")
        assert browser.js("location.pathname") == "/jobs", browser.js("document.body.innerText")
        assert browser.js("document.cookie") == ""  # HttpOnly: no script can read it
        rows = browser.js("[...document.querySelectorAll('table.jobs tbody tr')].length")
        assert rows == 1
        header = browser.js("getComputedStyle(document.querySelector('header')).backgroundColor")
        assert header == "rgb(29, 53, 87)", "the stylesheet did not apply under the CSP"
        browser.screenshot("dashboard-jobs.png")

        browser.load(f"{base}/jobs/{job_id}")
        cells = browser.js(
            "[...document.querySelectorAll('table.candidates tbody tr:not(.plot) td')]"
            ".map(td => td.innerText)"
        )
        assert candidate["id"] in cells[0]
        assert "verified" in cells[2]
        assert "×" in cells[5]  # the speedup and its interval
        plot = browser.js(
            "(async () => { const img = document.querySelector('tr.plot img');"
            " img.loading = 'eager'; await img.decode();"
            " return [img.naturalWidth, img.naturalHeight]; })()"
        )
        assert plot[0] > 100
        assert plot[1] > 100
        browser.screenshot("dashboard-job.png")

        browser.load(f"{base}/jobs/{job_id}/trace")
        assert browser.js("document.querySelectorAll('table.trace rect.bar').length") > 3
        browser.screenshot("dashboard-trace.png")

        browser.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True},
        )
        browser.load(f"{base}/jobs")
        wide = browser.js("document.documentElement.scrollWidth")
        assert wide <= 390, f"the jobs page is {wide} px wide on a 390 px phone"
        browser.screenshot("dashboard-phone.png")
    finally:
        server.should_exit = True
        thread.join(10)
        engine.dispose()
