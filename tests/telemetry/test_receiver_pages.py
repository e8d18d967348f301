"""The reference receiver's read-only trace pages, over real HTTP against
`optirunner icarus-receiver` (ports 0), fed by a real websocket client."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from websockets.sync.client import connect

from runner.telemetry.receiver import ReceiverDB
from runner.telemetry.receiver_pages import list_traces, trace_events

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "pages-runner-token-0123456789"  # noqa: S105 - test credential
TRACE_A = "a" * 32
TRACE_B = "b" * 32
HOSTILE = '<script>alert("x")</script>"><img src=x onerror=alert(1)>'


@dataclass
class Receiver:
    proc: subprocess.Popen[str]
    ws_port: int
    web_port: int

    def get(
        self, path: str, host: str | None = None, method: str = "GET"
    ) -> tuple[int, dict[str, str], str]:
        conn = http.client.HTTPConnection("127.0.0.1", self.web_port, timeout=10)
        try:
            headers = {"Host": host} if host is not None else {}
            conn.request(method, path, headers=headers)
            response = conn.getresponse()
            body = response.read().decode()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, body
        finally:
            conn.close()


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[Receiver]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OPTIRUNNER_ICARUS_RECEIVER_TOKENS": TOKEN}
    argv = [sys.executable, "-m", "runner", "icarus-receiver", "--db", str(tmp_path / "r.db")]
    argv += ["--port", "0", "--web-port", "0"]
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
    )
    try:
        assert proc.stdout is not None
        first, second = proc.stdout.readline(), proc.stdout.readline()
        ws = re.search(r"listening on ws://127\.0\.0\.1:(\d+)", first)
        web = re.search(r"trace pages on http://127\.0\.0\.1:(\d+)/", second)
        assert ws, first
        assert web, second
        yield Receiver(proc, int(ws.group(1)), int(web.group(1)))
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        if proc.stdout is not None:
            proc.stdout.close()


def _event(n: int, trace: str, job: str, **attributes: object) -> dict[str, object]:
    return {
        "event_id": f"e{n}",
        "job_id": job,
        "trace_id": trace,
        "span_id": f"{n:016x}",
        "parent_id": None,
        "name": "sandbox.run" if n != 3 else f"span {HOSTILE}",
        "start": 1_760_000_000.0 + n,
        "end": 1_760_000_000.5 + n,
        "status": "error" if n == 3 else "ok",
        "attributes": attributes,
    }


def _ship(port: int, events: list[dict[str, object]]) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}", "X-Icarus-Runner": "runner-1"}
    with connect(f"ws://127.0.0.1:{port}", additional_headers=headers) as ws:
        ws.send(json.dumps({"type": "hello", "protocol": 1, "runner_id": "runner-1"}))
        assert json.loads(ws.recv(timeout=10))["type"] == "welcome"
        ws.send(json.dumps({"type": "events", "batch_id": "b1", "seq": 1, "events": events}))
        assert json.loads(ws.recv(timeout=10)) == {"type": "ack", "batch_id": "b1"}


def test_pages_list_traces_and_escape_every_value(receiver: Receiver) -> None:
    hostile_event = _event(3, TRACE_B, f"job-{HOSTILE}", note=HOSTILE, returncode=1)
    hostile_event["events"] = [
        {"name": HOSTILE, "time": 1_760_000_003.2, "attributes": {"x": HOSTILE}}
    ]
    _ship(
        receiver.ws_port,
        [_event(1, TRACE_A, "job-1", argv="pytest -q"), _event(2, TRACE_A, "job-1"), hostile_event],
    )

    status, headers, index = receiver.get("/")
    assert status == 200
    assert headers["content-type"] == "text/html; charset=utf-8"
    assert "script-src" not in headers["content-security-policy"]  # default-src 'none'
    assert headers["content-security-policy"].startswith("default-src 'none'")
    assert f'href="/trace/{TRACE_A}"' in index
    row_a = index[index.index(TRACE_A + "</a>") :].split("</tr>", 1)[0]
    assert "2025-10-09 08:53:21.000" in row_a  # first event (start of e1), UTC
    assert "2025-10-09 08:53:22.500" in row_a  # last event (end of e2)
    assert "<td>2</td>" in row_a
    assert "runner-1" in index
    assert "job-1" in index
    assert "<script" not in index
    assert "<img" not in index
    assert "job-&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in index

    status, _, page = receiver.get(f"/trace/{TRACE_B}")
    assert status == 200
    assert "<script" not in page
    assert "<img" not in page
    escaped = "&lt;script&gt;alert(\\&quot;x\\&quot;)&lt;/script&gt;"  # JSON, then HTML
    assert escaped in page  # the attribute value
    assert "span &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page  # the span name
    # span name, job id, attribute, span event name and its attribute
    assert page.count("&lt;img src=x onerror=alert(1)&gt;") == 5
    assert "class='error'" in page

    status, _, page = receiver.get(f"/trace/{TRACE_A}")
    assert status == 200
    assert page.index("sandbox.run") < page.index("&quot;argv&quot;")
    assert "pytest -q" in page
    assert page.count("<tr>") == 3  # header + 2 events


def test_pages_are_read_only_and_loopback_only(receiver: Receiver) -> None:
    assert receiver.get("/trace/" + "c" * 32)[0] == 404
    assert receiver.get("/nothing")[0] == 404
    assert receiver.get("/", method="POST")[0] == 501
    assert receiver.get("/", method="DELETE")[0] == 501
    assert receiver.get("/", host="evil.example:80")[0] == 421  # DNS rebinding
    assert receiver.get("/", host=f"localhost:{receiver.web_port}")[0] == 200
    assert "No traces stored yet" in receiver.get("/")[2]


def test_a_database_of_an_older_receiver_gets_the_page_columns(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:  # the schema before the pages existed
        db.execute(
            "CREATE TABLE events (event_id TEXT PRIMARY KEY, job_id TEXT, name TEXT, "
            "received REAL NOT NULL, payload TEXT NOT NULL)"
        )
        db.execute(
            "INSERT INTO events VALUES (?, ?, ?, ?, ?)",
            ("e1", "job-1", "job", 0.0, json.dumps(_event(1, TRACE_A, "job-1"))),
        )
    db = ReceiverDB(path)
    db.store([_event(2, TRACE_A, "job-1")], runner_id="runner-2")
    db.close()
    new, old = list_traces(path)  # per runner (unknown for the older rows), newest first
    assert (new["runner_id"], new["trace_id"], new["events"]) == ("runner-2", TRACE_A, 1)
    assert (old["runner_id"], old["trace_id"], old["events"]) == (None, TRACE_A, 1)
    assert old["first"] == 1_760_000_001.0
    assert new["last"] == 1_760_000_002.5
    assert [e["event_id"] for e in trace_events(path, TRACE_A)] == ["e1", "e2"]
