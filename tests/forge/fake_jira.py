"""A local Jira speaking REST v2 (Data Center: wiki bodies) and v3 (Cloud: ADF bodies)."""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

NOW = "2024-05-01T12:00:00.000+0000"


@dataclass
class JiraState:
    auth: str  # the expected Authorization header
    deployment: str  # cloud | datacenter
    labels: list[str] = field(default_factory=lambda: ["optimize"])
    comments: list[dict[str, Any]] = field(default_factory=list)
    links: list[dict[str, Any]] = field(default_factory=list)
    requests: list[tuple[str, str, Any]] = field(default_factory=list)


class FakeJira(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, auth: str, deployment: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = JiraState(auth, deployment)
        self.lock = threading.Lock()
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def __enter__(self) -> FakeJira:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()


class _Bad(Exception):
    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message


def _check_body(version: str, body: Any) -> None:
    """v3 wants an ADF document, v2 a string (documented shapes)."""
    if version == "3":
        ok = isinstance(body, dict) and body.get("type") == "doc" and body.get("version") == 1
        ok = ok and isinstance(body.get("content"), list) and _adf_ok(body)
    else:
        ok = isinstance(body, str) and bool(body)
    if not ok:
        raise _Bad(400, f"comment body is not valid for REST v{version}")


def _adf_ok(node: Any) -> bool:
    if not isinstance(node, dict) or not isinstance(node.get("type"), str):
        return False
    if node["type"] == "text" and not node.get("text"):
        return False  # ADF rejects empty text nodes
    return all(_adf_ok(child) for child in node.get("content", []))


class _Handler(BaseHTTPRequestHandler):
    server: FakeJira

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def _serve(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.loads(raw) if raw else None
        path = self.path.split("?")[0]
        state = self.server.state
        with self.server.lock:
            state.requests.append((self.command, self.path, body))
            try:
                if self.headers.get("Authorization") != state.auth:
                    raise _Bad(401, "unauthorized")  # noqa: TRY301
                status, payload = self._route(path, body)
            except _Bad as bad:
                status, payload = bad.status, {"errorMessages": [bad.message], "errors": {}}
        data = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _route(self, path: str, body: Any) -> tuple[int, Any]:
        m = re.fullmatch(r"/rest/api/(2|3)/(.*)", path)
        if m is None:
            raise _Bad(404, "not found")
        version, rest = m.groups()
        if rest == "serverInfo" and self.command == "GET":
            return 200, self._server_info()
        issue = re.fullmatch(r"issue/(OPT-12|10012)(?:/(comment|remotelink)(?:/(\d+))?)?", rest)
        if issue is None:
            raise _Bad(404, "Issue does not exist or you do not have permission to see it.")
        _, sub, item = issue.groups()
        if sub is None:
            return self._issue(version, body)
        if sub == "remotelink":
            return self._remotelink(version, body)
        return self._comment(version, item, body)

    def _server_info(self) -> dict[str, Any]:
        cloud = self.server.state.deployment == "cloud"
        return {
            "baseUrl": self.server.url,
            "version": "1001.0.0-SNAPSHOT" if cloud else "9.12.2",
            "versionNumbers": [1001, 0, 0] if cloud else [9, 12, 2],
            "deploymentType": "Cloud" if cloud else "Server",
            "buildNumber": 100250 if cloud else 9120002,
            "serverTitle": "Jira",
        }

    def _issue(self, version: str, body: Any) -> tuple[int, Any]:
        state = self.server.state
        if self.command == "GET":
            return 200, {
                "id": "10012",
                "key": "OPT-12",
                "self": f"{self.server.url}/rest/api/{version}/issue/10012",
                "fields": {"labels": state.labels},
            }
        if self.command != "PUT" or not isinstance(body, dict):
            raise _Bad(405, "method not allowed")
        for op in body.get("update", {}).get("labels", []):
            if set(op) - {"add", "remove", "set"}:
                raise _Bad(400, "bad labels operation")
            if " " in op.get("add", ""):
                raise _Bad(400, "labels cannot contain spaces")
            if "add" in op and op["add"] not in state.labels:
                state.labels.append(op["add"])
            if "remove" in op and op["remove"] in state.labels:
                state.labels.remove(op["remove"])
        if "labels" in body.get("fields", {}):
            state.labels = list(body["fields"]["labels"])
        return 204, None

    def _comment_json(self, version: str, comment: dict[str, Any]) -> dict[str, Any]:
        url = f"{self.server.url}/rest/api/{version}/issue/10012/comment/{comment['id']}"
        author = {"accountId": "5b10a2844c20165700ede21g", "displayName": "optirunner"}
        return {
            "self": url,
            "id": comment["id"],
            "author": author,
            "body": comment["body"],
            "updateAuthor": author,
            "created": NOW,
            "updated": NOW,
        }

    def _comment(self, version: str, item: str | None, body: Any) -> tuple[int, Any]:
        state = self.server.state
        if item is None and self.command == "GET":
            comments = [self._comment_json(version, c) for c in state.comments]
            total = len(comments)
            return 200, {"startAt": 0, "maxResults": 50, "total": total, "comments": comments}
        if item is None and self.command == "POST":
            _check_body(version, (body or {}).get("body"))
            comment = {"id": str(10000 + len(state.comments)), "body": body["body"]}
            state.comments.append(comment)
            return 201, self._comment_json(version, comment)
        found = [c for c in state.comments if c["id"] == item]
        if not found:
            raise _Bad(404, "comment not found")
        if self.command == "PUT":
            _check_body(version, (body or {}).get("body"))
            found[0]["body"] = body["body"]
        return 200, self._comment_json(version, found[0])

    def _remotelink(self, version: str, body: Any) -> tuple[int, Any]:
        state = self.server.state
        if self.command == "GET":
            return 200, state.links
        obj = (body or {}).get("object", {})
        if not obj.get("url") or not obj.get("title"):
            raise _Bad(400, "object.url and object.title are required")
        for link in state.links:
            if body.get("globalId") and link.get("globalId") == body["globalId"]:
                link.update(body)
                return 200, {"id": link["id"], "self": "x"}
        link = {"id": len(state.links) + 1, **body}
        state.links.append(link)
        url = f"{self.server.url}/rest/api/{version}/issue/OPT-12/remotelink/{link['id']}"
        return 201, {"id": link["id"], "self": url}
