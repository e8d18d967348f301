"""A local GitLab REST v4 server: the endpoints the runner uses, with documented shapes.

Checks `PRIVATE-TOKEN` on every request, validates request bodies (400 with GitLab's
message shape otherwise) and records every request for the tests to inspect (the server
and recording part is `fake_http`).
"""

from __future__ import annotations

import re
import secrets
import subprocess
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from fake_http import FakeAPI, FakeError, Recorded, Recording

__all__ = ["FakeGitLab", "GitLabState", "Recorded"]

NOW = "2024-05-01T12:00:00.000Z"
USER = {"id": 99, "username": "optirunner-bot", "name": "optirunner", "state": "active"}


@dataclass
class GitLabState(Recording):
    token: str
    git_url: str
    bare: Path  # the bare repository behind http_url_to_repo (to check branches)
    project: dict[str, Any] = field(default_factory=dict)
    issues: dict[int, dict[str, Any]] = field(default_factory=dict)
    notes: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    mrs: list[dict[str, Any]] = field(default_factory=list)
    uploads: list[dict[str, Any]] = field(default_factory=list)
    # What `GET /personal_access_tokens/self` says about the token (doctor's scope check).
    scopes: list[str] = field(default_factory=lambda: ["api", "write_repository"])
    next_id: int = 1000

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id


class FakeGitLab(FakeAPI):
    state: GitLabState

    def __init__(self, token: str, git_url: str, bare: Path) -> None:
        super().__init__()
        self.state = GitLabState(token, git_url, bare)
        self._seed()

    def __enter__(self) -> FakeGitLab:
        super().__enter__()
        return self

    def authorized(self, headers: Message) -> bool:
        return headers.get("PRIVATE-TOKEN") == self.state.token

    def error_body(self, status: int, message: Any) -> Any:
        return message if isinstance(message, dict) else {"message": message}

    def _seed(self) -> None:
        path = "acme/widgets"
        self.state.project = {
            "id": 42,
            "name": "widgets",
            "path": "widgets",
            "path_with_namespace": path,
            "name_with_namespace": "Acme / widgets",
            "default_branch": "main",
            "visibility": "private",
            "http_url_to_repo": f"{self.state.git_url}/{path}.git",
            "ssh_url_to_repo": f"git@127.0.0.1:{path}.git",
            "web_url": f"{self.url}/{path}",
            "created_at": NOW,
            "last_activity_at": NOW,
            "namespace": {"id": 7, "name": "acme", "path": "acme", "kind": "group"},
        }
        self.state.issues[7] = {
            "id": 5007,
            "iid": 7,
            "project_id": 42,
            "title": "inventory lookups are slow",
            "description": "/optimize",
            "state": "opened",
            "labels": ["optimize"],
            "author": USER,
            "created_at": NOW,
            "updated_at": NOW,
            "web_url": f"{self.url}/{path}/-/issues/7",
            "confidential": False,
        }
        self.state.notes[7] = []

    def route(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> Any:  # noqa: PLR0911
        if path == "/api/v4/personal_access_tokens/self" and method == "GET":
            return 200, self._token_info()
        m = re.fullmatch(r"/api/v4/projects/([^/]+)(/.*)?", path)
        if m is None:
            raise FakeError(404, "404 Not Found")
        state = self.state
        pid = unquote(m.group(1))
        if pid not in {str(state.project["id"]), state.project["path_with_namespace"]}:
            raise FakeError(404, "404 Project Not Found")
        rest = m.group(2) or ""
        if rest == "" and method == "GET":
            return 200, state.project
        if rest == "/uploads" and method == "POST":
            return self._upload(body)
        if rest == "/merge_requests":
            return self._mrs(method, query, body)
        mr = re.fullmatch(r"/merge_requests/(\d+)", rest)
        if mr and method == "PUT":
            return self._mr_update(int(mr.group(1)), body)
        issue = re.fullmatch(r"/issues/(\d+)(/notes(?:/(\d+))?)?", rest)
        if issue is None:
            raise FakeError(404, "404 Not Found")
        iid = int(issue.group(1))
        if iid not in state.issues:
            raise FakeError(404, "404 Issue Not Found")
        if issue.group(2):
            note_id = int(issue.group(3)) if issue.group(3) else None
            return self._notes(method, iid, note_id, body)
        if method == "GET":
            return 200, state.issues[iid]
        if method == "PUT":
            return self._issue_update(iid, body)
        raise FakeError(405, "405 Method Not Allowed")

    def _token_info(self) -> dict[str, Any]:
        return {
            "id": 4242,
            "name": "optirunner",
            "revoked": False,
            "created_at": NOW,
            "scopes": list(self.state.scopes),
            "user_id": USER["id"],
            "last_used_at": NOW,
            "active": True,
            "expires_at": "2099-01-01",
        }

    def _issue_update(self, iid: int, body: Any) -> Any:
        issue = self.state.issues[iid]
        allowed = {"labels", "add_labels", "remove_labels", "title", "description", "state_event"}
        if not isinstance(body, dict) or not body or set(body) - allowed:
            raise FakeError(400, {"error": "invalid issue update"})
        labels = list(issue["labels"])
        if "labels" in body:
            labels = _labels(body["labels"])
        labels = [x for x in labels if x not in _labels(body.get("remove_labels"))]
        for label in _labels(body.get("add_labels")):
            if "::" in label:  # scoped labels: one per scope
                scope = label.rsplit("::", 1)[0]
                labels = [x for x in labels if x.rsplit("::", 1)[0] != scope or "::" not in x]
            if label not in labels:
                labels.append(label)
        issue["labels"] = labels
        return 200, issue

    def _notes(self, method: str, iid: int, note_id: int | None, body: Any) -> Any:
        state = self.state
        notes = state.notes[iid]
        if method == "GET" and note_id is None:
            return 200, notes
        if method == "POST" and note_id is None:
            note = {
                "id": state.new_id(),
                "type": None,
                "body": _need(body, "body"),
                "author": USER,
                "created_at": NOW,
                "updated_at": NOW,
                "system": False,
                "noteable_id": state.issues[iid]["id"],
                "noteable_type": "Issue",
                "noteable_iid": iid,
                "resolvable": False,
                "confidential": False,
                "internal": False,
            }
            notes.append(note)
            return 201, note
        found = [n for n in notes if n["id"] == note_id]
        if not found:
            raise FakeError(404, "404 Note Not Found")
        if method == "PUT":
            found[0]["body"] = _need(body, "body")
            found[0]["updated_at"] = "2024-05-01T12:05:00.000Z"
            return 200, found[0]
        if method == "GET":
            return 200, found[0]
        raise FakeError(405, "405 Method Not Allowed")

    def _upload(self, body: Any) -> Any:
        if not isinstance(body, dict) or "file" not in body or not body["file"][0]:
            raise FakeError(400, {"error": "file is missing"})
        name, content = body["file"]
        secret = secrets.token_hex(16)
        pid = self.state.project["id"]
        upload = {
            "id": self.state.new_id(),
            "alt": name.rsplit(".", 1)[0],
            "url": f"/uploads/{secret}/{name}",
            "full_path": f"/-/project/{pid}/uploads/{secret}/{name}",
            "markdown": f"![{name.rsplit('.', 1)[0]}](/uploads/{secret}/{name})",
        }
        self.state.uploads.append({**upload, "content": content})
        return 201, upload

    def _branch_exists(self, branch: str) -> bool:
        proc = subprocess.run(
            ["git", "--git-dir", str(self.state.bare), "rev-parse", "--verify", "-q",
             f"refs/heads/{branch}"],
            capture_output=True, check=False,
        )  # fmt: skip
        return proc.returncode == 0

    def _mrs(self, method: str, query: dict[str, list[str]], body: Any) -> Any:
        state = self.state
        if method == "GET":
            found = state.mrs
            for key in ("source_branch", "state", "target_branch"):
                if key in query:
                    found = [mr for mr in found if mr[key] == query[key][0]]
            return 200, found
        if method != "POST":
            raise FakeError(405, "405 Method Not Allowed")
        source = _need(body, "source_branch")
        target = _need(body, "target_branch")
        title = _need(body, "title")
        if not self._branch_exists(source) or not self._branch_exists(target):
            raise FakeError(400, {"message": ["Source branch does not exist"]})
        if any(
            mr["source_branch"] == source and mr["target_branch"] == target
            and mr["state"] == "opened" for mr in state.mrs
        ):  # fmt: skip
            raise FakeError(409, {"message": ["Another open merge request already exists"]})
        iid = len(state.mrs) + 1
        mr = {
            "id": state.new_id(),
            "iid": iid,
            "project_id": state.project["id"],
            "title": title,
            "description": body.get("description", ""),
            "state": "opened",
            "draft": title.startswith(("Draft:", "[Draft]", "(Draft)")),
            "work_in_progress": title.startswith("Draft:"),
            "source_branch": source,
            "target_branch": target,
            "force_remove_source_branch": bool(body.get("remove_source_branch")),
            "author": USER,
            "created_at": NOW,
            "updated_at": NOW,
            "web_url": f"{state.project['web_url']}/-/merge_requests/{iid}",
        }
        state.mrs.append(mr)
        return 201, mr

    def _mr_update(self, iid: int, body: Any) -> Any:
        found = [mr for mr in self.state.mrs if mr["iid"] == iid]
        if not found:
            raise FakeError(404, "404 Not found")
        if not isinstance(body, dict) or set(body) - {"title", "description", "state_event"}:
            raise FakeError(400, {"error": "invalid merge request update"})
        found[0].update(body)
        found[0]["draft"] = found[0]["title"].startswith("Draft:")
        return 200, found[0]


def _need(body: Any, key: str, kind: type = str) -> Any:
    if not isinstance(body, dict) or not isinstance(body.get(key), kind) or body[key] == "":
        raise FakeError(400, {"error": f"{key} is missing"})
    return body[key]


def _labels(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v) for v in value]
    if not isinstance(value, str):
        raise FakeError(400, {"error": "labels is invalid"})
    return [x.strip() for x in value.split(",") if x.strip()]
