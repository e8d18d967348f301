"""Loopback endpoints for the telemetry tests: an OTLP/HTTP collector and a Sentry ingest.

Both are plain `http.server`s on port 0 in a thread; they keep every request body so a
test can look for secrets in exactly what left the process.
"""

from __future__ import annotations

import gzip
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)


@dataclass
class Captured:
    """Requests one loopback server received."""

    url: str = ""
    bodies: list[bytes] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    status: int = 200  # what the server answers (a test may set 503)

    def requests(self) -> list[ExportTraceServiceRequest]:
        """The OTLP bodies, parsed with opentelemetry-proto's classes."""
        parsed = []
        for body in self.bodies:
            request = ExportTraceServiceRequest()
            request.ParseFromString(body)
            parsed.append(request)
        return parsed

    def spans(self) -> list[Any]:
        return [
            span
            for request in self.requests()
            for resource in request.resource_spans
            for scope in resource.scope_spans
            for span in scope.spans
        ]


def _decode(body: bytes, encoding: str) -> bytes:
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "deflate":
        return zlib.decompress(body)
    return body


def _serve(captured: Captured, reply: bytes, content_type: str) -> Iterator[Captured]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = _decode(self.rfile.read(length), self.headers.get("Content-Encoding", ""))
            captured.bodies.append(body)
            captured.headers.append({k.lower(): v for k, v in self.headers.items()})
            captured.paths.append(self.path)
            self.send_response(captured.status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    captured.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield captured
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def otlp_collector() -> Iterator[Captured]:
    """An OTLP/HTTP collector on loopback: `captured.url + "/v1/traces"`."""
    reply = ExportTraceServiceResponse().SerializeToString()
    yield from _serve(Captured(), reply, "application/x-protobuf")


@pytest.fixture
def sentry_ingest() -> Iterator[Captured]:
    """A Sentry ingest endpoint on loopback (envelopes land in `bodies`)."""
    yield from _serve(Captured(), b'{"id": "0"}', "application/json")
