"""A local fake of the OpenAI and Anthropic HTTP APIs, scripted per test.

The official SDKs talk to it unmodified (only `base_url` differs). Each POST is recorded
(path, headers, JSON body) and answered with the next scripted `Reply` for its path.
The fake checks the headers each API documents: `Authorization: Bearer` for OpenAI,
`x-api-key` and `anthropic-version` for Anthropic.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

OPENAI_PATH = "/v1/chat/completions"
ANTHROPIC_PATH = "/v1/messages"
KEY = "sk-test-key"


@dataclass
class Reply:
    """One scripted answer: status, JSON (dict) or raw (str) body, headers, delay."""

    status: int = 200
    body: dict[str, Any] | str = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    raw: bytes

    @property
    def body(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.raw)
        return data


class FakeLLM:
    """The server; `script(path, *replies)` queues answers, `requests` records every call."""

    def __init__(self) -> None:
        self.replies: dict[str, deque[Reply]] = {}
        self.requests: list[Recorded] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._server.block_on_close = False  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def script(self, path: str, *replies: Reply) -> None:
        self.replies.setdefault(path, deque()).extend(replies)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def answer(self, path: str, headers: dict[str, str]) -> Reply:
        problem = _auth_problem(path, headers)
        if problem is not None:
            return problem
        queue = self.replies.get(path)
        if not queue:
            return Reply(500, {"error": {"message": "no scripted reply", "type": "test"}})
        return queue.popleft()


def _auth_problem(path: str, headers: dict[str, str]) -> Reply | None:
    lowered = {k.lower(): v for k, v in headers.items()}
    if path == ANTHROPIC_PATH:
        if lowered.get("x-api-key") != KEY or not lowered.get("anthropic-version"):
            return Reply(401, anthropic_error_body("authentication_error", "bad headers"))
    elif path == OPENAI_PATH and lowered.get("authorization") != f"Bearer {KEY}":
        return Reply(401, openai_error_body("bad key", "invalid_request_error", "invalid_api_key"))
    return None


def _handler(fake: FakeLLM) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length)
            headers = dict(self.headers.items())
            fake.requests.append(Recorded(self.path, headers, raw))
            reply = fake.answer(self.path, headers)
            time.sleep(reply.delay_s)
            body = reply.body if isinstance(reply.body, str) else json.dumps(reply.body)
            kind = "text/html" if isinstance(reply.body, str) else "application/json"
            try:
                self.send_response(reply.status)
                self.send_header("content-type", kind)
                self.send_header("content-length", str(len(body.encode())))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body.encode())
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout tests)

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


# --- documented response bodies -----------------------------------------------------------


def openai_body(
    text: str | None, finish: str = "stop", prompt: int = 100, completion: int = 50
) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "gpt-test",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": finish,
            }
        ],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        },
    }


def openai_error_body(message: str, kind: str, code: str | None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "code": code}}


def anthropic_body(
    text: str, stop: str = "end_turn", prompt: int = 100, completion: int = 50
) -> dict[str, Any]:
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "content": [{"type": "text", "text": text}],
        "model": "claude-test",
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": {"input_tokens": prompt, "output_tokens": completion},
    }


def anthropic_error_body(kind: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": message}}


@dataclass(frozen=True)
class Dialect:
    """One vendor's API as the tests script it: success, truncation and error replies."""

    name: str
    path: str

    def ok(self, text: str, prompt: int = 100, completion: int = 50) -> Reply:
        if self.name == "openai":
            return Reply(200, openai_body(text, "stop", prompt, completion))
        return Reply(200, anthropic_body(text, "end_turn", prompt, completion))

    def truncated(self, text: str) -> Reply:
        if self.name == "openai":
            return Reply(200, openai_body(text, "length"))
        return Reply(200, anthropic_body(text, "max_tokens"))

    def error(self, status: int, message: str, headers: dict[str, str] | None = None) -> Reply:
        kinds = {429: "rate_limit_error", 401: "authentication_error", 500: "api_error"}
        kind = kinds.get(status, "api_error")
        if self.name == "openai":
            body = openai_error_body(message, kind, None)
        else:
            body = anthropic_error_body(kind, message)
        return Reply(status, body, headers or {})

    def base_url(self, fake: FakeLLM) -> str:
        return f"{fake.url}/v1" if self.name == "openai" else fake.url

    def sent_text(self, recorded: Recorded) -> str:
        """Every message text of a recorded request, system prompt included."""
        body = recorded.body
        texts = [m["content"] for m in body["messages"]]
        return "\n".join([body.get("system", ""), *texts])


OPENAI = Dialect("openai", OPENAI_PATH)
ANTHROPIC = Dialect("anthropic", ANTHROPIC_PATH)


@pytest.fixture
def fake_llm() -> Iterator[FakeLLM]:
    fake = FakeLLM()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture(params=[OPENAI, ANTHROPIC], ids=lambda d: d.name)
def dialect(request: pytest.FixtureRequest) -> Dialect:
    found: Dialect = request.param
    return found
