"""The reference receiver's read-only web pages: the traces it stored, and each trace's events.

`GET /` lists traces (runner, job id, trace id, first and last event time, event count),
newest first; `GET /trace/<trace id>` lists that trace's events in start order (name,
start, duration, status, attributes, span events). Plain HTML, no JavaScript, every value
HTML-escaped (events come from runners and are only as trustworthy as they are), a
Content-Security-Policy that forbids scripts, and only GET. Served by a thread of the
receiver process on its own address (127.0.0.1 by default); each request reads the
SQLite file through its own read-only connection. On a loopback address, requests whose
`Host` is not a loopback name are refused (DNS rebinding).
"""

from __future__ import annotations

import html
import ipaddress
import json
import socket
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from runner.errors import OptirunnerError

MAX_TRACES = 500  # rows of the list page
MAX_EVENTS = 5000  # rows of a trace page
HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
STYLE = (
    "body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse}"
    "td,th{border:1px solid #ccc;padding:.25em .5em;vertical-align:top;text-align:left}"
    "pre{margin:0;white-space:pre-wrap;word-break:break-all;max-width:80em}"
    ".error{color:#b00}.cancelled{color:#a60}"
)
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def esc(value: Any) -> str:
    """Any value as HTML text (quotes escaped too)."""
    return html.escape(value if isinstance(value, str) else str(value), quote=True)


def when(seconds: Any) -> str:
    """Unix seconds as UTC `YYYY-mm-dd HH:MM:SS.mmm`, or `-`."""
    try:
        moment = datetime.fromtimestamp(float(seconds), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return "-"
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


def _connect(db_path: Path) -> sqlite3.Connection:
    uri = db_path.resolve().as_uri() + "?mode=ro"
    conn = sqlite3.connect(uri, uri=True, timeout=10)
    conn.execute("PRAGMA busy_timeout = 10000")
    return conn


def list_traces(db_path: Path, limit: int = MAX_TRACES) -> list[dict[str, Any]]:
    """Traces stored, newest last event first: runner, job, trace, first, last, events."""
    with _connect(db_path) as conn:
        rows = conn.execute(
            "SELECT runner_id, job_id, trace_id, MIN(t_start), MAX(t_end), COUNT(*) "
            "FROM events GROUP BY runner_id, job_id, trace_id "
            "ORDER BY MAX(t_end) DESC LIMIT ?",
            (limit,),
        ).fetchall()
    keys = ("runner_id", "job_id", "trace_id", "first", "last", "events")
    return [dict(zip(keys, row, strict=True)) for row in rows]


def trace_events(db_path: Path, trace_id: str, limit: int = MAX_EVENTS) -> list[dict[str, Any]]:
    """The stored events of one trace, in start order."""
    with _connect(db_path) as conn:
        rows = conn.execute(
            "SELECT payload FROM events WHERE trace_id = ? ORDER BY t_start, event_id LIMIT ?",
            (trace_id, limit),
        ).fetchall()
    events = []
    for (payload,) in rows:
        try:
            event = json.loads(payload)
        except ValueError:
            continue
        if isinstance(event, dict):
            events.append(event)
    return events


def _page(title: str, body: str) -> bytes:
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{esc(title)}</title><style>{STYLE}</style></head>"
        f"<body>{body}</body></html>"
    ).encode()


def index_page(db_path: Path) -> bytes:
    """`GET /`: the traces table."""
    rows = []
    for trace in list_traces(db_path):
        trace_id = trace["trace_id"]
        link = (
            f'<a href="/trace/{esc(quote(str(trace_id), safe=""))}">{esc(trace_id)}</a>'
            if trace_id
            else "-"
        )
        rows.append(
            f"<tr><td>{esc(trace['runner_id'] or '-')}</td><td>{esc(trace['job_id'])}</td>"
            f"<td><code>{link}</code></td><td>{when(trace['first'])}</td>"
            f"<td>{when(trace['last'])}</td><td>{int(trace['events'])}</td></tr>"
        )
    table = (
        "<table><tr><th>runner</th><th>job</th><th>trace</th><th>first event (UTC)</th>"
        "<th>last event (UTC)</th><th>events</th></tr>" + "".join(rows) + "</table>"
        if rows
        else "<p>No traces stored yet.</p>"
    )
    note = f"<p>Newest {MAX_TRACES} traces at most. Read-only.</p>"
    return _page("Icarus receiver: traces", f"<h1>Traces</h1>{note}{table}")


def _attributes(attributes: Any) -> str:
    if not attributes:
        return ""
    text = json.dumps(attributes, indent=1, sort_keys=True, default=str, ensure_ascii=False)
    return f"<pre>{esc(text)}</pre>"


def _span_events(items: Any) -> str:
    if not isinstance(items, list) or not items:
        return ""
    parts = []
    for item in items:
        if not isinstance(item, dict):
            continue
        parts.append(
            f"<li>{esc(item.get('name', ''))} at {when(item.get('time'))}"
            f"{_attributes(item.get('attributes'))}</li>"
        )
    return f"<ul>{''.join(parts)}</ul>"


def _duration(event: dict[str, Any]) -> str:
    try:
        return f"{float(event['end']) - float(event['start']):.3f} s"
    except (KeyError, TypeError, ValueError):
        return "-"


def trace_page(db_path: Path, trace_id: str) -> bytes | None:
    """`GET /trace/<id>`: one trace's events (None: no such trace)."""
    events = trace_events(db_path, trace_id)
    if not events:
        return None
    rows = []
    for event in events:
        status = str(event.get("status", ""))
        css = status if status in ("error", "cancelled") else "ok"
        rows.append(
            f"<tr><td>{esc(event.get('name', ''))}</td><td>{when(event.get('start'))}</td>"
            f"<td>{_duration(event)}</td><td class='{css}'>{esc(status)}</td>"
            f"<td>{_attributes(event.get('attributes'))}"
            f"{_span_events(event.get('events'))}</td></tr>"
        )
    first = events[0]
    head = (
        f'<h1>Trace <code>{esc(trace_id)}</code></h1><p><a href="/">all traces</a> · '
        f"job {esc(first.get('job_id', '-'))} · {len(events)} events</p>"
    )
    table = (
        "<table><tr><th>event</th><th>start (UTC)</th><th>duration</th><th>status</th>"
        "<th>attributes</th></tr>" + "".join(rows) + "</table>"
    )
    return _page(f"Trace {trace_id}", head + table)


def _is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _host_name(header: str) -> str:
    """The name in a `Host` header, without port or IPv6 brackets."""
    try:
        return (urlsplit(f"//{header}").hostname or "").lower()
    except ValueError:
        return ""


def _handler(db_path: Path, loopback_only: bool) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "icarus-receiver"
        sys_version = ""

        def do_GET(self) -> None:
            if loopback_only and not _is_loopback(_host_name(self.headers.get("Host", ""))):
                self._send(HTTPStatus.MISDIRECTED_REQUEST, _page("Refused", "<p>Refused.</p>"))
                return
            path = urlsplit(self.path).path
            try:
                if path == "/":
                    self._send(HTTPStatus.OK, index_page(db_path))
                    return
                if path.startswith("/trace/"):
                    body = trace_page(db_path, unquote(path[len("/trace/") :]))
                    if body is not None:
                        self._send(HTTPStatus.OK, body)
                        return
            except sqlite3.Error as exc:
                self._send(HTTPStatus.SERVICE_UNAVAILABLE, _page("Error", f"<p>{esc(exc)}</p>"))
                return
            self._send(HTTPStatus.NOT_FOUND, _page("Not found", "<p>Not found.</p>"))

        def _send(self, status: HTTPStatus, body: bytes) -> None:
            self.send_response(status)
            for name, value in HEADERS.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


@dataclass
class Pages:
    """The running pages server (a thread); `close()` stops it."""

    server: ThreadingHTTPServer
    thread: threading.Thread

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


class _Server(ThreadingHTTPServer):
    daemon_threads = True


class _Server6(_Server):
    address_family = socket.AF_INET6


def start_pages(db_path: Path, host: str = "127.0.0.1", port: int = 8766) -> Pages:
    """Serve the pages of the receiver database `db_path` on host:port (0: any free port)."""
    handler = _handler(db_path, loopback_only=_is_loopback(host))
    try:
        ipv6 = ipaddress.ip_address(host).version == 6
    except ValueError:
        ipv6 = False
    try:
        server = (_Server6 if ipv6 else _Server)((host, port), handler)
    except OSError as exc:
        raise OptirunnerError(f"trace pages: cannot listen on {host}:{port}: {exc}") from None
    thread = threading.Thread(target=server.serve_forever, name="trace-pages", daemon=True)
    thread.start()
    return Pages(server, thread)
