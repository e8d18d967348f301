"""Ships spooled (already redacted) spans to an OpenTelemetry collector over OTLP/HTTP.

The OTLP sink reads the spool with its own cursor (`otlp`), so it runs next to the Icarus
sink and neither waits for the other; a row leaves the spool once both acknowledged it.
Each batch becomes SDK `ReadableSpan`s and is sent by `OTLPSpanExporter` (protobuf over
HTTP); the cursor advances only when the collector answered 2xx. Failures are retried
with capped, full-jitter backoff; nothing is lost while the collector is away (the spool
keeps the events, within its bounds).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event as OtelEvent
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, Status, StatusCode, TraceFlags

from runner import __version__
from runner.telemetry.icarus import TelemetryUnreachable, backoff_delay, sleep_or_stop
from runner.telemetry.spool import Spool, Spooled
from runner.telemetry.tracing import JOB_ID_KEY, SCOPE, STATUS_KEY, otel_attributes, to_ns

log = logging.getLogger("optirunner.telemetry.otlp")

SINK_NAME = "otlp"
EVENT_ID_KEY = "optirunner.event_id"


@dataclass(frozen=True)
class OtlpConfig:
    """Where and how to export (built from `OtlpSettings`)."""

    endpoint: str
    headers: Mapping[str, str] = field(default_factory=dict)
    runner_id: str = ""
    batch_size: int = 500
    timeout_s: float = 10.0
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 60.0
    ca_file: str | None = None
    idle_poll_s: float = 0.5


def _id(value: Any, size: int, fallback: str) -> int:
    """A hex id from the event, or one derived from `fallback` (events spooled by old
    versions have no trace id); never 0, which OTLP treats as invalid."""
    if isinstance(value, str) and len(value) == size * 2:
        try:
            number = int(value, 16)
        except ValueError:
            number = 0
        if number:
            return number
    digest = hashlib.sha256(fallback.encode()).digest()[:size]
    return int.from_bytes(digest, "big") or 1


def event_span(event: Mapping[str, Any], runner_id: str = "") -> ReadableSpan:
    """A spooled event (see `tracing.span_event`) as an SDK span the OTLP encoder takes."""
    job_id = str(event.get("job_id") or "")
    event_id = str(event.get("event_id") or "")
    trace_id = _id(event.get("trace_id"), 16, f"trace:{job_id}")
    span_id = _id(event.get("span_id"), 8, f"span:{event_id}")
    flags = TraceFlags(TraceFlags.SAMPLED)
    context = SpanContext(trace_id, span_id, is_remote=False, trace_flags=flags)
    parent = None
    if event.get("parent_id"):
        parent_id = _id(event.get("parent_id"), 8, f"parent:{event_id}")
        parent = SpanContext(trace_id, parent_id, is_remote=False, trace_flags=flags)
    attributes = otel_attributes(event.get("attributes") or {})
    attributes[EVENT_ID_KEY] = event_id
    status = Status(StatusCode.OK)
    if event.get("status") == "error":
        error = (event.get("attributes") or {}).get("error")
        status = Status(StatusCode.ERROR, error if isinstance(error, str) else None)
    elif event.get("status") == "cancelled":
        status = Status(StatusCode.UNSET)
        attributes[STATUS_KEY] = "cancelled"
    resource: dict[str, Any] = {"service.name": "optirunner", "service.version": __version__}
    resource[JOB_ID_KEY] = job_id
    if runner_id:
        resource["service.instance.id"] = runner_id
    events = [
        OtelEvent(
            str(item.get("name", "")),
            otel_attributes(item.get("attributes") or {}),
            to_ns(float(item.get("time") or 0)),
        )
        for item in event.get("events") or ()
    ]
    return ReadableSpan(
        name=str(event.get("name", "")),
        context=context,
        parent=parent,
        resource=Resource(resource),
        attributes=attributes,
        events=events,
        status=status,
        start_time=to_ns(float(event.get("start") or 0)),
        end_time=to_ns(float(event.get("end") or 0)),
        instrumentation_scope=InstrumentationScope(SCOPE, __version__),
    )


class OtlpShipper:
    """Reads the spool with its own cursor and exports it to one OTLP/HTTP collector."""

    def __init__(self, spool: Spool, config: OtlpConfig, sink: str = SINK_NAME) -> None:
        self.spool = spool
        self.config = config
        self.sink = sink
        self.sent_batches = 0
        self.acked_events = 0
        self.failures = 0
        self.exporter = OTLPSpanExporter(
            endpoint=config.endpoint,
            headers=dict(config.headers),
            timeout=config.timeout_s,
            certificate_file=config.ca_file,
        )
        spool.register(sink)

    def ship_batch(self) -> int:
        """Export the next batch; return how many events were acknowledged (0: none left).

        Raises `TelemetryUnreachable` when the collector did not accept the batch.
        """
        batch: list[Spooled] = self.spool.read(self.sink, self.config.batch_size)
        if not batch:
            return 0
        spans = [event_span(item.event, self.config.runner_id) for item in batch]
        self.sent_batches += 1
        if self.exporter.export(spans) is not SpanExportResult.SUCCESS:
            self.failures += 1
            raise TelemetryUnreachable(
                f"OTLP collector {self.config.endpoint} did not accept {len(batch)} spans"
            )
        self.spool.ack(self.sink, batch[-1].id)
        self.acked_events += len(batch)
        return len(batch)

    def drain(self) -> int:
        """Export until the spool is empty for this sink; one failure raises."""
        total = 0
        while sent := self.ship_batch():
            total += sent
        return total

    async def run(
        self,
        stop: asyncio.Event | None = None,
        *,
        drain: bool = False,
        max_failures: int | None = None,
    ) -> None:
        """Export until `stop` is set (or, with `drain`, until nothing is left).

        Retries with capped full-jitter backoff; with `max_failures`, gives up after that
        many consecutive failures by raising `TelemetryUnreachable`.
        """
        stop = stop or asyncio.Event()
        attempt = 0
        while not stop.is_set():
            try:
                sent = await asyncio.to_thread(self.ship_batch)
            except TelemetryUnreachable as exc:
                attempt += 1
                if max_failures is not None and attempt >= max_failures:
                    raise
                log.warning("%s; retrying", exc)
                delay = backoff_delay(
                    attempt - 1, self.config.backoff_initial_s, self.config.backoff_max_s
                )
                await sleep_or_stop(stop, delay)
                continue
            attempt = 0
            if sent == 0:
                if drain:
                    return
                await sleep_or_stop(stop, self.config.idle_poll_s)

    def close(self) -> None:
        """Release the exporter's HTTP session."""
        self.exporter.shutdown()  # type: ignore[no-untyped-call]
