"""A local Jira speaking REST v2 (Data Center: wiki bodies) and v3 (Cloud: ADF bodies).

One issue (`key`, `issue_id`, both configurable): comments (list, create, get, edit), the
issue's labels (`GET` and `PUT issue/{key}` with `update.labels` operations) and remote
links. Request bodies are checked against the documented shapes (400 with Jira's
`errorMessages` otherwise); the server and recording part is `fake_http`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email.message import Message
from typing import Any

from fake_http import FakeAPI, FakeError, Recorded, Recording

__all__ = ["FakeJira", "JiraState", "Recorded"]

NOW = "2024-05-01T12:00:00.000+0000"
# https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-remote-links/
LINK_KEYS = {"globalId", "application", "relationship", "object"}
LINK_OBJECT_KEYS = {"url", "title", "summary", "icon", "status"}
EDIT_KEYS = {"fields", "update", "historyMetadata", "properties", "transition"}
LABEL_OPS = {"add", "remove", "set"}


@dataclass
class JiraState(Recording):
    auth: str  # the expected Authorization header
    deployment: str  # cloud | datacenter
    key: str = "OPT-12"
    issue_id: str = "10012"
    labels: list[str] = field(default_factory=lambda: ["optimize"])
    comments: list[dict[str, Any]] = field(default_factory=list)
    links: list[dict[str, Any]] = field(default_factory=list)


class FakeJira(FakeAPI):
    content_type = "application/json;charset=UTF-8"
    state: JiraState

    def __init__(
        self, auth: str, deployment: str, key: str = "OPT-12", issue_id: str = "10012"
    ) -> None:
        super().__init__()
        self.state = JiraState(auth, deployment, key, issue_id)

    def __enter__(self) -> FakeJira:
        super().__enter__()
        return self

    def authorized(self, headers: Message) -> bool:
        return headers.get("Authorization") == self.state.auth

    def error_body(self, status: int, message: Any) -> Any:
        return {"errorMessages": [str(message)], "errors": {}}

    def comment_requests(self, method: str) -> list[Recorded]:
        """Comment creations (POST) or edits (PUT) seen so far."""
        return [r for r in self.state.requests if r.method == method and "/comment" in r.path]

    def route(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> Any:
        m = re.fullmatch(r"/rest/api/(2|3)/(.*)", path)
        if m is None:
            raise FakeError(404, "not found")
        version, rest = m.groups()
        if rest == "serverInfo" and method == "GET":
            return 200, self._server_info()
        ids = "|".join(re.escape(x) for x in (self.state.key, self.state.issue_id))
        issue = re.fullmatch(rf"issue/({ids})(?:/(comment|remotelink)(?:/(\d+))?)?", rest)
        if issue is None:
            raise FakeError(404, "Issue does not exist or you do not have permission to see it.")
        _, sub, item = issue.groups()
        if sub is None:
            return self._issue(method, version, body)
        if sub == "remotelink":
            return self._remotelink(method, version, body)
        return self._comment(method, version, item, body)

    def _server_info(self) -> dict[str, Any]:
        cloud = self.state.deployment == "cloud"
        return {
            "baseUrl": self.url,
            "version": "1001.0.0-SNAPSHOT" if cloud else "9.12.2",
            "versionNumbers": [1001, 0, 0] if cloud else [9, 12, 2],
            "deploymentType": "Cloud" if cloud else "Server",
            "buildNumber": 100250 if cloud else 9120002,
            "serverTitle": "Jira",
        }

    def _issue(self, method: str, version: str, body: Any) -> tuple[int, Any]:
        state = self.state
        if method == "GET":
            return 200, {
                "id": state.issue_id,
                "key": state.key,
                "self": f"{self.url}/rest/api/{version}/issue/{state.issue_id}",
                "fields": {"labels": state.labels},
            }
        if method != "PUT":
            raise FakeError(405, "method not allowed")
        _check_edit(body)
        for op in body.get("update", {}).get("labels", []):
            if "add" in op and op["add"] not in state.labels:
                state.labels.append(op["add"])
            if "remove" in op and op["remove"] in state.labels:
                state.labels.remove(op["remove"])
            if "set" in op:
                state.labels = list(op["set"])
        if "labels" in body.get("fields", {}):
            state.labels = list(body["fields"]["labels"])
        return 204, None

    def _comment_json(self, version: str, comment: dict[str, Any]) -> dict[str, Any]:
        issue_id = self.state.issue_id
        url = f"{self.url}/rest/api/{version}/issue/{issue_id}/comment/{comment['id']}"
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

    def _comment(self, method: str, version: str, item: str | None, body: Any) -> tuple[int, Any]:
        state = self.state
        if item is None and method == "GET":
            comments = [self._comment_json(version, c) for c in state.comments]
            total = len(comments)
            return 200, {"startAt": 0, "maxResults": 50, "total": total, "comments": comments}
        if item is None and method == "POST":
            _check_body(version, body)
            comment = {"id": str(10000 + len(state.comments)), "body": body["body"]}
            state.comments.append(comment)
            return 201, self._comment_json(version, comment)
        found = [c for c in state.comments if c["id"] == item]
        if not found:
            raise FakeError(404, "comment not found")
        if method == "PUT":
            _check_body(version, body)
            found[0]["body"] = body["body"]
        elif method != "GET":
            raise FakeError(405, "method not allowed")
        return 200, self._comment_json(version, found[0])

    def _remotelink(self, method: str, version: str, body: Any) -> tuple[int, Any]:
        state = self.state
        if method == "GET":
            return 200, state.links
        if method != "POST":
            raise FakeError(405, "method not allowed")
        _check_link(body)
        for link in state.links:
            if body.get("globalId") and link.get("globalId") == body["globalId"]:
                link.update(body)
                return 200, {"id": link["id"], "self": "x"}
        link = {"id": len(state.links) + 1, **body}
        state.links.append(link)
        url = f"{self.url}/rest/api/{version}/issue/{state.key}/remotelink/{link['id']}"
        return 201, {"id": link["id"], "self": url}


def _check_body(version: str, body: Any) -> None:
    """v3 wants an ADF document, v2 a string (documented shapes); nothing else is sent."""
    if not isinstance(body, dict) or set(body) - {"body", "visibility", "properties"}:
        raise FakeError(400, "a comment is an object with a body")
    text = body.get("body")
    if version == "3":
        ok = isinstance(text, dict) and text.get("type") == "doc" and text.get("version") == 1
        ok = ok and isinstance(text.get("content"), list) and _adf_ok(text)
    else:
        ok = isinstance(text, str) and bool(text)
    if not ok:
        raise FakeError(400, f"comment body is not valid for REST v{version}")


def _adf_ok(node: Any) -> bool:
    if not isinstance(node, dict) or not isinstance(node.get("type"), str):
        return False
    if node["type"] == "text" and not node.get("text"):
        return False  # ADF rejects empty text nodes
    return all(_adf_ok(child) for child in node.get("content", []))


def _check_edit(body: Any) -> None:
    """`PUT issue/{key}`: `fields` and/or `update` (labels: add/remove/set operations)."""
    if not isinstance(body, dict) or not body or set(body) - EDIT_KEYS:
        raise FakeError(400, "an issue edit has fields and/or update")
    for op in body.get("update", {}).get("labels", []):
        if not isinstance(op, dict) or len(op) != 1 or set(op) - LABEL_OPS:
            raise FakeError(400, "bad labels operation")
        value = next(iter(op.values()))
        values = value if isinstance(value, list) else [value]
        if any(not isinstance(v, str) or not v or " " in v for v in values):
            raise FakeError(400, "labels cannot contain spaces")


def _check_link(body: Any) -> None:
    """`POST issue/{key}/remotelink`: an object with url and title (documented keys only)."""
    if not isinstance(body, dict) or set(body) - LINK_KEYS:
        raise FakeError(400, "a remote link has globalId, application, relationship, object")
    obj = body.get("object")
    if not isinstance(obj, dict) or set(obj) - LINK_OBJECT_KEYS:
        raise FakeError(400, "object has url, title, summary, icon, status")
    if not isinstance(obj.get("url"), str) or not obj["url"].startswith(("http://", "https://")):
        raise FakeError(400, "object.url is required")
    if not isinstance(obj.get("title"), str) or not obj["title"]:
        raise FakeError(400, "object.title is required")
