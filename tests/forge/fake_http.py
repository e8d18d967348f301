"""What the fake forges share: a threaded loopback JSON server that records every request.

A subclass says who is authorised, how errors look and how to route; this module reads
bodies (JSON, form or multipart), records them, injects outages and writes the answer.

Outages, for the retry tests:

* `fail`: statuses answered to the next requests, one each, without acting;
* `fault(request)`: per request, `"before"` answers 502 without acting, `"after"` acts and
  then answers 502 (the response is lost on the way back), None serves normally;
* `down_for(seconds)`: every request answers 502 for that long, starting now.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Recorded:
    method: str
    path: str  # without the query
    query: dict[str, list[str]]
    body: Any


Fault = Callable[[Recorded], str | None]


@dataclass(kw_only=True)
class Recording:
    """The part of a fake's state every fake has: requests seen and outages to inject."""

    requests: list[Recorded] = field(default_factory=list)
    fail: list[int] = field(default_factory=list)
    fault: Fault | None = None
    down_until: float = 0.0  # time.monotonic() until which everything answers 502
    outage_hits: int = 0  # requests answered 502 by an outage

    def down_for(self, seconds: float) -> None:
        self.down_until = time.monotonic() + seconds


class FakeError(Exception):
    """An answer other than success: `status` and a message (str or a ready body)."""

    def __init__(self, status: int, message: Any) -> None:
        self.status = status
        self.message = message


class FakeAPI(ThreadingHTTPServer):
    """A loopback API server; subclasses set `state` and implement the hooks below."""

    daemon_threads = True
    content_type = "application/json"
    state: Recording

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def __enter__(self) -> FakeAPI:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()

    # -- hooks ------------------------------------------------------------------------------
    def authorized(self, headers: Message) -> bool:
        raise NotImplementedError

    def route(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> Any:
        """(status, payload); payload None means an empty body. Raise FakeError to refuse."""
        raise NotImplementedError

    def error_body(self, status: int, message: Any) -> Any:
        raise NotImplementedError

    # -- the request cycle ------------------------------------------------------------------
    def handle_request_data(
        self, method: str, target: str, headers: Message, raw: bytes
    ) -> tuple[int, Any]:
        split = urlsplit(target)
        query = parse_qs(split.query)
        body = parse_body(raw, headers.get("Content-Type", "")) if raw else None
        state = self.state
        with self.lock:
            request = Recorded(method, split.path, query, body)
            state.requests.append(request)
            try:
                if not self.authorized(headers):
                    raise FakeError(401, "401 Unauthorized")  # noqa: TRY301
                if state.fail:
                    raise FakeError(state.fail.pop(0), "502 Bad Gateway")  # noqa: TRY301
                if time.monotonic() < state.down_until:
                    state.outage_hits += 1
                    raise FakeError(502, "502 Bad Gateway")  # noqa: TRY301
                fault = state.fault(request) if state.fault else None
                if fault == "before":
                    raise FakeError(502, "502 Bad Gateway")  # noqa: TRY301
                status, payload = self.route(method, split.path, query, body)
                if fault == "after":
                    raise FakeError(502, "502 Bad Gateway")  # noqa: TRY301
            except FakeError as err:
                return err.status, self.error_body(err.status, err.message)
        return status, payload


def parse_body(raw: bytes, ctype: str) -> Any:
    """JSON, multipart form (name -> (filename, bytes)) or a urlencoded form."""
    if ctype.startswith("multipart/form-data"):
        msg = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {ctype}\r\n\r\n".encode() + raw)
        return {
            part.get_param("name", header="content-disposition"): (
                part.get_filename(),
                part.get_payload(decode=True),
            )
            for part in msg.iter_parts()
        }
    if ctype.startswith("application/json"):
        try:
            return json.loads(raw)
        except ValueError:
            return _Unparsable(raw)
    return {k: v[0] for k, v in parse_qs(raw.decode()).items()}


@dataclass(frozen=True)
class _Unparsable:
    raw: bytes


class _Handler(BaseHTTPRequestHandler):
    server: FakeAPI

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _serve(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status, payload = self.server.handle_request_data(
            self.command, self.path, self.headers, raw
        )
        data = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", self.server.content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
