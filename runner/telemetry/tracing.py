"""Spans for every stage of a job, written to one or more sinks as JSON objects.

A span is recorded when it ends: name, ids, start and end (Unix seconds), status
(`ok`, `error`, `cancelled`) and attributes. Sinks only receive finished spans, so a sink
never sees a half-written event. An optional `processor` (the redactor, see
`policy.EventRedactor`) turns each event into what the sinks may see; it runs before
any sink.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner.errors import JobCancelled

Event = dict[str, Any]
Sink = Callable[[Event], None]
Processor = Callable[[Event], Event]


@dataclass
class Span:
    """An open span; set attributes while it runs."""

    name: str
    span_id: str
    parent_id: str | None
    start: float
    attributes: dict[str, Any] = field(default_factory=dict)
    status: str = "ok"

    def set(self, **attributes: Any) -> None:
        self.attributes.update(attributes)


class Tracer:
    """Creates nested spans for one job and hands finished ones to the sinks."""

    def __init__(
        self,
        job_id: str,
        sinks: list[Sink],
        clock: Callable[[], float] = time.time,
        *,
        processor: Processor | None = None,
    ) -> None:
        self.job_id = job_id
        self._sinks = sinks
        self._clock = clock
        self._processor = processor
        self._stack: list[Span] = []
        self._lock = threading.Lock()

    @contextmanager
    def span(self, name: str, **attributes: Any) -> Iterator[Span]:
        parent = self._stack[-1].span_id if self._stack else None
        current = Span(name, secrets.token_hex(8), parent, self._clock(), dict(attributes))
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
            self._emit(current)

    def _emit(self, span: Span) -> None:
        event: Event = {
            "job_id": self.job_id,
            "name": span.name,
            "span_id": span.span_id,
            "parent_id": span.parent_id,
            "start": span.start,
            "end": self._clock(),
            "status": span.status,
            "attributes": span.attributes,
        }
        if self._processor is not None:
            event = self._processor(event)
        with self._lock:
            for sink in self._sinks:
                sink(event)

    def close(self) -> None:
        """Close every sink that can be closed."""
        for sink in self._sinks:
            close = getattr(sink, "close", None)
            if callable(close):
                close()


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
