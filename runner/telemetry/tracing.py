"""Spans for every stage of a job, on the OpenTelemetry SDK, handed to sinks when they end.

`Tracer.span()` opens an OpenTelemetry SDK span (one trace per job, nested by our own
stack so that the job's spans never adopt a foreign parent). Attributes and events are
collected in our `Span` while it runs; the OTel span holds nothing but ids and times.
When the span ends, the event is built (name, ids, start and end in Unix seconds, status
`ok`, `error` or `cancelled`, attributes, events), the `processor` (the redactor, see
`policy.EventRedactor`) turns it into what sinks may see, and only then are the redacted
name, attributes, events and status written onto the OTel span and the span ended. The
span processors registered on the job's `TracerProvider` (one per sink: events.jsonl,
the spool for Icarus and OTLP, any `SpanExporter`) therefore only ever see redacted data.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace import Span as OtelSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import ALWAYS_ON
from opentelemetry.trace import Status, StatusCode, format_span_id, format_trace_id
from opentelemetry.trace import Tracer as OtelTracer
from opentelemetry.trace.propagation import set_span_in_context
from opentelemetry.util.types import AttributeValue

from runner import __version__
from runner.errors import JobCancelled

Event = dict[str, Any]
Sink = Callable[[Event], None]
Processor = Callable[[Event], Event]

SCOPE = "optirunner"
JOB_ID_KEY = "optirunner.job_id"
STATUS_KEY = "optirunner.status"  # only "cancelled": OTel has no such status code
_MAX_INT = (1 << 63) - 1
_LIMITS = SpanLimits(
    max_span_attributes=1024,
    max_events=1024,
    max_event_attributes=256,
    max_attributes=1024,
)


def to_ns(seconds: float) -> int:
    """Unix seconds (float) to OTel nanoseconds."""
    return round(seconds * 1e9)


def otel_value(value: Any) -> AttributeValue | None:
    """An attribute value OTel accepts: scalars and homogeneous lists pass, None is
    dropped, dicts and mixed lists become JSON text, other objects `str()`."""
    converted: AttributeValue | None
    if value is None or isinstance(value, bool | str | float):
        converted = value
    elif isinstance(value, int):
        converted = value if -_MAX_INT <= value <= _MAX_INT else str(value)
    elif isinstance(value, list | tuple) and len({type(v) for v in value}) <= 1:
        kinds = {type(v) for v in value}
        if kinds <= {bool, str, float, int}:
            converted = list(value)
        else:
            converted = json.dumps(value, default=str, sort_keys=True)
    elif isinstance(value, list | tuple | dict):
        converted = json.dumps(value, default=str, sort_keys=True)
    else:
        converted = str(value)
    return converted


def otel_attributes(attributes: Mapping[str, Any]) -> dict[str, AttributeValue]:
    """`attributes` as OTel attributes (see `otel_value`)."""
    out: dict[str, AttributeValue] = {}
    for key, value in attributes.items():
        converted = otel_value(value)
        if converted is not None:
            out[str(key)] = converted
    return out


def plain(value: Any) -> Any:
    """An OTel attribute value as JSON data (tuples become lists)."""
    return list(value) if isinstance(value, tuple) else value


def span_event(span: ReadableSpan) -> Event:
    """A finished (already redacted) OTel span as the event sinks store."""
    context = span.context
    attributes = {k: plain(v) for k, v in (span.attributes or {}).items()}
    cancelled = attributes.pop(STATUS_KEY, None) == "cancelled"
    if span.status.status_code is StatusCode.ERROR:
        status = "error"
    else:
        status = "cancelled" if cancelled else "ok"
    resource = span.resource.attributes if span.resource is not None else {}
    event: Event = {
        "job_id": resource.get(JOB_ID_KEY),
        "trace_id": format_trace_id(context.trace_id) if context else None,
        "name": span.name,
        "span_id": format_span_id(context.span_id) if context else None,
        "parent_id": format_span_id(span.parent.span_id) if span.parent else None,
        "start": (span.start_time or 0) / 1e9,
        "end": (span.end_time or 0) / 1e9,
        "status": status,
        "attributes": attributes,
    }
    if span.events:
        event["events"] = [
            {
                "name": e.name,
                "time": e.timestamp / 1e9,
                "attributes": {k: plain(v) for k, v in (e.attributes or {}).items()},
            }
            for e in span.events
        ]
    return event


class EventExporter(SpanExporter):
    """Hands each finished span, as an event dict, to plain sinks (JSONL file, spool)."""

    def __init__(self, sinks: Sequence[Sink]) -> None:
        self.sinks = list(sinks)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        for span in spans:
            event = span_event(span)
            for sink in self.sinks:
                sink(event)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        for sink in self.sinks:
            close = getattr(sink, "close", None)
            if callable(close):
                close()


class ExportProcessor(SpanProcessor):
    """Exports each span synchronously as it ends; errors reach the caller (no silent loss)."""

    def __init__(self, exporter: SpanExporter) -> None:
        self.exporter = exporter

    def on_end(self, span: ReadableSpan) -> None:
        self.exporter.export([span])

    def shutdown(self) -> None:
        self.exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


@dataclass
class Span:
    """An open span; set attributes and add events while it runs."""

    name: str
    span_id: str
    parent_id: str | None
    start: float
    attributes: dict[str, Any] = field(default_factory=dict)
    status: str = "ok"
    events: list[Event] = field(default_factory=list)
    trace_id: str = ""
    otel: OtelSpan | None = field(default=None, repr=False)

    def set(self, **attributes: Any) -> None:
        self.attributes.update(attributes)

    def event(self, name: str, when: float, **attributes: Any) -> None:
        """Record a point in time inside the span (an OTel span event)."""
        self.events.append({"name": name, "time": when, "attributes": attributes})


class Tracer:
    """Creates nested spans for one job; finished ones go, redacted, to every sink.

    `sinks` are plain callables taking an event dict (events.jsonl, the spool, a list in
    tests); `exporters` are OpenTelemetry `SpanExporter`s. Each gets its own processor on
    the job's `TracerProvider`, behind the redaction done in `_finish`.
    """

    def __init__(
        self,
        job_id: str,
        sinks: list[Sink],
        clock: Callable[[], float] = time.time,
        *,
        processor: Processor | None = None,
        exporters: Sequence[SpanExporter] = (),
    ) -> None:
        self.job_id = job_id
        self._sinks = sinks
        self._clock = clock
        self._processor = processor
        self._stack: list[Span] = []
        self._lock = threading.Lock()
        resource = Resource(
            {"service.name": "optirunner", "service.version": __version__, JOB_ID_KEY: job_id}
        )
        self.provider = TracerProvider(
            sampler=ALWAYS_ON, resource=resource, span_limits=_LIMITS, shutdown_on_exit=False
        )
        if sinks:
            self.provider.add_span_processor(ExportProcessor(EventExporter(sinks)))
        for exporter in exporters:
            self.provider.add_span_processor(ExportProcessor(exporter))
        self._otel: OtelTracer = self.provider.get_tracer(SCOPE, __version__)

    def add_secrets(self, secrets: Iterable[str]) -> None:
        """Mask these values too in every span that ends from now on (e.g. the values of
        a sandbox command's environment); a no-op without a redacting processor."""
        add = getattr(self._processor, "add_secrets", None)
        if callable(add):
            add(list(secrets))

    @contextmanager
    def span(self, name: str, **attributes: Any) -> Iterator[Span]:
        parent = self._stack[-1] if self._stack else None
        context = set_span_in_context(parent.otel) if parent and parent.otel else Context()
        start = self._clock()
        otel = self._otel.start_span(name, context=context, start_time=to_ns(start))
        assert isinstance(otel, OtelSpan)  # noqa: S101 - the SDK tracer makes SDK spans
        ids = otel.get_span_context()
        current = Span(
            name,
            format_span_id(ids.span_id),
            parent.span_id if parent else None,
            start,
            dict(attributes),
            trace_id=format_trace_id(ids.trace_id),
            otel=otel,
        )
        self._stack.append(current)
        try:
            yield current
        except (KeyboardInterrupt, JobCancelled):
            current.status = "cancelled"
            raise
        except BaseException as exc:
            current.status = "error"
            current.attributes.setdefault("error", f"{type(exc).__name__}: {exc}")
            raise
        finally:
            self._stack.pop()
            self._finish(current)

    def _finish(self, span: Span) -> None:
        event: Event = {
            "job_id": self.job_id,
            "name": span.name,
            "span_id": span.span_id,
            "parent_id": span.parent_id,
            "start": span.start,
            "end": self._clock(),
            "status": span.status,
            "attributes": span.attributes,
            "events": span.events,
        }
        if self._processor is not None:
            event = self._processor(event)
        otel = span.otel
        assert otel is not None  # noqa: S101 - set in span()
        otel.update_name(str(event.get("name", span.name)))
        attributes = otel_attributes(event.get("attributes") or {})
        if span.status == "cancelled":
            attributes[STATUS_KEY] = "cancelled"
        otel.set_attributes(attributes)
        for item in event.get("events") or ():
            otel.add_event(
                str(item.get("name", "")),
                otel_attributes(item.get("attributes") or {}),
                timestamp=to_ns(float(item.get("time", span.start))),
            )
        if span.status == "error":
            error = (event.get("attributes") or {}).get("error")
            otel.set_status(Status(StatusCode.ERROR, error if isinstance(error, str) else None))
        elif span.status == "ok":
            otel.set_status(Status(StatusCode.OK))
        with self._lock:
            otel.end(end_time=to_ns(float(event.get("end") or self._clock())))

    def close(self) -> None:
        """Shut the provider down: every sink and exporter is closed."""
        self.provider.shutdown()


class JsonlSink:
    """Appends one JSON line per event to a 0600 file, flushed to disk as it goes."""

    def __init__(self, path: Path) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._file = os.fdopen(fd, "a", encoding="utf-8")

    def __call__(self, event: Event) -> None:
        self._file.write(json.dumps(event, default=str, sort_keys=True) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()
