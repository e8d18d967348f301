"""A minimal Icarus receiver: authenticates, acknowledges batches, dedupes by event id.

In memory; used by the tests and the streaming benchmark, and a starting point for a
client hosting its own receiver. Protocol: docs/telemetry.md.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

PROTOCOL_VERSION = 1


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


def _authorized(state: ReceiverState, request: Request) -> bool:
    header = request.headers.get("Authorization", "")
    return header.startswith("Bearer ") and header[len("Bearer ") :] in state.tokens


def _store(state: ReceiverState, events: list[dict[str, Any]]) -> None:
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
    async for raw in ws:
        frame = json.loads(raw)
        if frame.get("type") != "events":
            continue
        bid = str(frame["batch_id"])
        state.batches_seen.append(bid)
        _store(state, frame["events"])
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
