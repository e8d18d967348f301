"""A minimal Icarus receiver: authenticates, acknowledges batches, dedupes by event id.

In memory by default (tests, the streaming benchmark); with a `ReceiverDB` it stores
events in SQLite (`synchronous=FULL`, `event_id` as primary key) and acknowledges a batch
only after its transaction is committed, so a receiver killed and restarted loses nothing
it acknowledged and stores a redelivered event once. `serve_forever` runs it as a
process (`optirunner icarus-receiver`), with the read-only trace pages of
`receiver_pages.py` on a second, loopback-only port by default. Protocol:
docs/icarus-protocol.md.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from runner.errors import OptirunnerError
from runner.telemetry.receiver_pages import start_pages

PROTOCOL_VERSION = 1


# Columns added for the trace pages (name: SQL type).
_PAGE_COLUMNS = {"runner_id": "TEXT", "trace_id": "TEXT", "t_start": "REAL", "t_end": "REAL"}


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


class ReceiverDB:
    """The receiver's SQLite store: one row per event id, duplicates ignored and counted."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA busy_timeout = 30000")
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = FULL")
        self._db.executescript(
            "CREATE TABLE IF NOT EXISTS events (event_id TEXT PRIMARY KEY, job_id TEXT, "
            "name TEXT, received REAL NOT NULL, payload TEXT NOT NULL);"
            "CREATE INDEX IF NOT EXISTS events_job ON events(job_id);"
            "CREATE TABLE IF NOT EXISTS counters (k TEXT PRIMARY KEY, v INTEGER NOT NULL);"
            "INSERT OR IGNORE INTO counters VALUES ('duplicates', 0), ('batches', 0);"
        )
        self._add_columns()

    def _add_columns(self) -> None:
        """The columns the trace pages read (added to files of older receivers, filled
        from the stored events)."""
        have = {row[1] for row in self._db.execute("PRAGMA table_info(events)")}
        missing = [name for name in _PAGE_COLUMNS if name not in have]
        if not missing:
            return
        self._db.execute("BEGIN IMMEDIATE")
        try:
            for name in missing:
                self._db.execute(f"ALTER TABLE events ADD COLUMN {name} {_PAGE_COLUMNS[name]}")
            self._db.execute(
                "UPDATE events SET trace_id = json_extract(payload, '$.trace_id'), "
                "t_start = json_extract(payload, '$.start'), "
                "t_end = json_extract(payload, '$.end') WHERE trace_id IS NULL"
            )
            self._db.execute("CREATE INDEX IF NOT EXISTS events_trace ON events(trace_id)")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def store(self, events: list[dict[str, Any]], runner_id: str = "") -> int:
        """Store a batch in one committed transaction; return how many were duplicates."""
        now = time.time()
        rows = [
            (
                str(e.get("event_id")),
                str(e.get("job_id")),
                str(e.get("name")),
                now,
                json.dumps(e, sort_keys=True, default=str),
                runner_id,
                _text(e.get("trace_id")),
                _number(e.get("start")),
                _number(e.get("end")),
            )
            for e in events
        ]
        self._db.execute("BEGIN IMMEDIATE")
        try:
            before = self._db.total_changes
            self._db.executemany(
                "INSERT OR IGNORE INTO events (event_id, job_id, name, received, payload, "
                "runner_id, trace_id, t_start, t_end) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            duplicates = len(rows) - (self._db.total_changes - before)
            self._db.execute("UPDATE counters SET v = v + ? WHERE k = 'duplicates'", (duplicates,))
            self._db.execute("UPDATE counters SET v = v + 1 WHERE k = 'batches'")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
        return duplicates

    def count(self) -> int:
        """Events stored."""
        return int(self._db.execute("SELECT COUNT(*) FROM events").fetchone()[0])

    def duplicates(self) -> int:
        """Redelivered events that were ignored."""
        row = self._db.execute("SELECT v FROM counters WHERE k = 'duplicates'").fetchone()
        return int(row[0])

    def close(self) -> None:
        self._db.close()


@dataclass
class ReceiverState:
    """What a receiver stored: events by id, plus counters for tests."""

    tokens: frozenset[str]
    events: dict[str, dict[str, Any]] = field(default_factory=dict)
    batches_seen: list[str] = field(default_factory=list)
    duplicates: int = 0
    # Test hook: called with the batch id before acking; return False to drop the
    # connection instead of acknowledging (the events are stored first).
    before_ack: Callable[[str], bool] | None = None
    # Durable storage; None keeps the events in `events` (memory).
    db: ReceiverDB | None = None


def _authorized(state: ReceiverState, request: Request) -> bool:
    header = request.headers.get("Authorization", "")
    return header.startswith("Bearer ") and header[len("Bearer ") :] in state.tokens


async def _store(state: ReceiverState, events: list[dict[str, Any]], runner_id: str) -> None:
    if state.db is not None:
        state.duplicates += await asyncio.to_thread(state.db.store, events, runner_id)
        return
    for event in events:
        key = str(event.get("event_id"))
        if key in state.events:
            state.duplicates += 1
        else:
            state.events[key] = event


async def _session(state: ReceiverState, ws: ServerConnection) -> None:
    hello = json.loads(await ws.recv())
    if hello.get("type") != "hello" or hello.get("protocol") != PROTOCOL_VERSION:
        await ws.send(json.dumps({"type": "error", "code": "protocol", "message": "bad hello"}))
        return
    await ws.send(json.dumps({"type": "welcome", "protocol": PROTOCOL_VERSION}))
    headers = ws.request.headers if ws.request is not None else Headers()
    runner_id = str(hello.get("runner_id") or headers.get("X-Icarus-Runner", ""))
    async for raw in ws:
        frame = json.loads(raw)
        if frame.get("type") != "events":
            continue
        bid = str(frame["batch_id"])
        state.batches_seen.append(bid)
        await _store(state, frame["events"], runner_id)
        if state.before_ack is not None and not state.before_ack(bid):
            await ws.close(1011, "dropped before ack (test)")
            return
        await ws.send(json.dumps({"type": "ack", "batch_id": bid}))


async def start_receiver(state: ReceiverState, host: str = "127.0.0.1", port: int = 0) -> Server:
    """Listen on host:port (0: any free port); the caller closes the returned server."""

    def check_auth(ws: ServerConnection, request: Request) -> Response | None:
        if _authorized(state, request):
            return None
        body = b"unauthorized\n"
        return Response(HTTPStatus.UNAUTHORIZED, "Unauthorized", Headers(), body)

    async def handler(ws: ServerConnection) -> None:
        try:
            await _session(state, ws)
        except ConnectionClosed:
            return

    return await serve(handler, host, port, process_request=check_auth, max_size=64 << 20)


async def serve_forever(
    db_path: Path,
    tokens: frozenset[str],
    host: str = "127.0.0.1",
    port: int = 8765,
    ready: Callable[[int], None] | None = None,
    *,
    pages: tuple[str, int] | None = None,
    pages_ready: Callable[[int], None] | None = None,
) -> None:
    """Run a durable receiver until SIGTERM or SIGINT; `ready(port)` once listening.

    `pages`: (host, port) of the read-only trace pages (`receiver_pages.py`), served by
    a thread of this process; `pages_ready(port)` once they listen. None: no pages.
    """
    db = ReceiverDB(db_path)
    state = ReceiverState(tokens, db=db)
    web = start_pages(db_path, *pages) if pages is not None else None
    server = await start_receiver(state, host, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    if ready is not None:
        ready(int(server.sockets[0].getsockname()[1]))
    if web is not None and pages_ready is not None:
        pages_ready(web.port)
    try:
        await stop.wait()
    finally:
        server.close()
        await server.wait_closed()
        if web is not None:
            await asyncio.to_thread(web.close)
        db.close()


RECEIVER_TOKENS_ENV = "OPTIRUNNER_ICARUS_RECEIVER_TOKENS"


def run_command(
    *,
    db: Path,
    host: str,
    port: int,
    token_file: Path | None,
    environ: Mapping[str, str],
    web_host: str = "127.0.0.1",
    web_port: int | None = 8766,
) -> int:
    """`optirunner icarus-receiver`: the durable receiver and its trace pages, until SIGTERM.

    `web_port` None: no pages. Tokens: `token_file` (one a line) or the variable
    `OPTIRUNNER_ICARUS_RECEIVER_TOKENS` (comma-separated) of `environ`, which the CLI read.
    """
    raw = token_file.read_text() if token_file else environ.get(RECEIVER_TOKENS_ENV, "")
    tokens = frozenset(t.strip() for t in raw.replace(",", "\n").splitlines() if t.strip())
    if not tokens:
        raise OptirunnerError(
            f"no runner token: set {RECEIVER_TOKENS_ENV} (comma-separated) or --token-file"
        )

    def ready(bound: int) -> None:
        sys.stdout.write(f"icarus-receiver: listening on ws://{host}:{bound}, storing in {db}\n")
        sys.stdout.flush()

    def pages_ready(bound: int) -> None:
        shown = f"[{web_host}]" if ":" in web_host else web_host
        sys.stdout.write(f"icarus-receiver: trace pages on http://{shown}:{bound}/\n")
        sys.stdout.flush()

    pages = (web_host, web_port) if web_port is not None else None
    asyncio.run(serve_forever(db, tokens, host, port, ready, pages=pages, pages_ready=pages_ready))
    return 0
