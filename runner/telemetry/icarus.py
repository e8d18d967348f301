"""Ships spooled events to an Icarus receiver over a websocket (protocol: docs/telemetry.md).

Transport only: the events in the spool are already redacted. One batch is in flight
at a time; the spool cursor advances (and rows are deleted) only when the receiver
acknowledges the batch with its id. After a disconnect the shipper reconnects with
capped exponential backoff and full jitter and resends from the last acknowledged
event; batch and event ids are stable, so the receiver deduplicates redeliveries.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import random
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from runner.errors import OptirunnerError, TelemetryAuthError
from runner.telemetry.spool import Spool, Spooled

log = logging.getLogger("optirunner.telemetry.icarus")

PROTOCOL_VERSION = 1
SINK_NAME = "icarus"


class TelemetryUnreachable(OptirunnerError):
    """A telemetry sink (Icarus, OTLP collector) could not be reached."""


@dataclass(frozen=True)
class IcarusConfig:
    """Where and how to ship (built from `IcarusSettings`)."""

    url: str
    token: str
    runner_id: str
    batch_size: int = 500
    ack_timeout_s: float = 30.0
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 60.0
    ca_file: str | None = None
    idle_poll_s: float = 0.2


def backoff_delay(
    attempt: int, initial: float, cap: float, rand: Callable[[], float] = random.random
) -> float:
    """Full-jitter exponential backoff: uniform in [0, min(cap, initial * 2**attempt)]."""
    return float(rand() * min(cap, initial * 2.0 ** min(attempt, 32)))


def batch_id(runner_id: str, batch: list[Spooled]) -> str:
    """A stable id for a batch: the same events always give the same id."""
    digest = hashlib.sha256(runner_id.encode())
    for item in batch:
        digest.update(str(item.event.get("event_id", item.id)).encode())
    return f"{batch[0].id}-{batch[-1].id}-{digest.hexdigest()[:16]}"


def events_frame(bid: str, seq: int, batch: list[Spooled]) -> str:
    """The `events` frame of a batch."""
    frame = {"type": "events", "batch_id": bid, "seq": seq, "events": [b.event for b in batch]}
    return json.dumps(frame, separators=(",", ":"), default=str)


def ssl_context(url: str, ca_file: str | None) -> ssl.SSLContext | None:
    """TLS (certificate and host name verified) for wss://; None for ws://."""
    if not url.startswith("wss://"):
        return None
    return ssl.create_default_context(cafile=ca_file)


class IcarusShipper:
    """Reads the spool with its own cursor and streams it to one receiver."""

    def __init__(self, spool: Spool, config: IcarusConfig, sink: str = SINK_NAME) -> None:
        self.spool = spool
        self.config = config
        self.sink = sink
        self.sent_batches = 0
        self.acked_events = 0
        self.reconnects = 0
        self._seq = 0
        spool.register(sink)

    async def run(
        self,
        stop: asyncio.Event | None = None,
        *,
        drain: bool = False,
        max_failures: int | None = None,
    ) -> None:
        """Ship until `stop` is set (or, with `drain`, until the spool is empty).

        Raises `TelemetryAuthError` when the receiver refuses the token (no retry); with
        `max_failures`, `TelemetryUnreachable` after that many failed connections in a row.
        """
        stop = stop or asyncio.Event()
        attempt = 0
        while not stop.is_set():
            try:
                async with self._connect() as ws:
                    await self._hello(ws)
                    attempt = 0
                    if await self._ship(ws, stop, drain):
                        return
            except InvalidStatus as exc:
                if exc.response.status_code in (401, 403):
                    raise TelemetryAuthError(
                        f"Icarus receiver {self.config.url} refused the runner's token "
                        f"(HTTP {exc.response.status_code}); check telemetry.icarus.token"
                    ) from None
                log.warning("Icarus receiver answered HTTP %d", exc.response.status_code)
            except (OSError, ConnectionClosed, TimeoutError) as exc:
                log.warning("Icarus connection lost (%s); retrying", type(exc).__name__)
                if max_failures is not None and attempt + 1 >= max_failures:
                    raise TelemetryUnreachable(
                        f"Icarus receiver {self.config.url} unreachable "
                        f"({type(exc).__name__}: {exc})"
                    ) from None
            self.reconnects += 1
            delay = backoff_delay(attempt, self.config.backoff_initial_s, self.config.backoff_max_s)
            attempt += 1
            await sleep_or_stop(stop, delay)

    def _connect(self) -> Any:
        headers = {
            "Authorization": f"Bearer {self.config.token}",
            "X-Icarus-Runner": self.config.runner_id,
            "X-Icarus-Protocol": str(PROTOCOL_VERSION),
        }
        return connect(
            self.config.url,
            additional_headers=headers,
            ssl=ssl_context(self.config.url, self.config.ca_file),
            open_timeout=10,
            ping_interval=20,
            ping_timeout=20,
            max_size=64 << 20,
        )

    async def _hello(self, ws: ClientConnection) -> None:
        hello = {"type": "hello", "protocol": PROTOCOL_VERSION, "runner_id": self.config.runner_id}
        await ws.send(json.dumps(hello))
        reply = await self._receive(ws)
        if reply.get("type") != "welcome":
            raise ConnectionError(f"unexpected reply to hello: {reply.get('type')!r}")

    async def _receive(self, ws: ClientConnection) -> dict[str, Any]:
        raw = await asyncio.wait_for(ws.recv(), timeout=self.config.ack_timeout_s)
        message: dict[str, Any] = json.loads(raw)
        if message.get("type") == "error":
            code = message.get("code")
            if code == "unauthorized":
                raise TelemetryAuthError(f"Icarus receiver refused the token: {message}")
            raise ConnectionError(f"Icarus receiver error {code}: {message.get('message')}")
        return message

    async def _ship(self, ws: ClientConnection, stop: asyncio.Event, drain: bool) -> bool:
        """Send batches until stopped; True when `drain` found the spool empty."""
        while not stop.is_set():
            batch = await asyncio.to_thread(self.spool.read, self.sink, self.config.batch_size)
            if not batch:
                if drain:
                    return True
                await sleep_or_stop(stop, self.config.idle_poll_s)
                continue
            await self._send_batch(ws, batch)
        return False

    async def _send_batch(self, ws: ClientConnection, batch: list[Spooled]) -> None:
        bid = batch_id(self.config.runner_id, batch)
        self._seq += 1
        await ws.send(events_frame(bid, self._seq, batch))
        self.sent_batches += 1
        while True:
            reply = await self._receive(ws)
            if reply.get("type") == "ack" and reply.get("batch_id") == bid:
                break
        await asyncio.to_thread(self.spool.ack, self.sink, batch[-1].id)
        self.acked_events += len(batch)


async def sleep_or_stop(stop: asyncio.Event, delay: float) -> None:
    """Wait `delay` seconds, or less when `stop` is set meanwhile (both shippers use it)."""
    try:
        await asyncio.wait_for(stop.wait(), timeout=delay)
    except TimeoutError:
        return
