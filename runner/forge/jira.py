"""Jira (Cloud and Data Center): progress and report as one comment, labels, remote link.

The code lives in a GitLab project or at a plain git URL (`forge.jira.projects`, else
`service.jira.projects`, maps the Jira project key to it): workspace, branch and merge
request go through `GitLabProject` (a git URL: `GitRemote`, a pushed branch and no merge
request); the issue side goes through the `jira` library: ADF bodies on REST v3 for Cloud,
wiki markup on REST v2 for Data Center. The comment is found again by its marker text, the
remote link by its URL: a replayed job updates the comment and adds no second link.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests
from jira import JIRA, JIRAError

from runner.errors import ForgeError
from runner.forge import markup, texts
from runner.forge.base import MARKER_PREFIX, Delivery, ForgeJob, ProgressHandle, new_handle
from runner.forge.gitlab import GitLabProject, deliver, make_client
from runner.forge.gitremote import GitRemote, GitRepository, is_git_url
from runner.forge.secrets import find_token, forge_token
from runner.forge.settings import ForgeSettings
from runner.result import JobResult

log = logging.getLogger(__name__)


@contextmanager
def jira_call(what: str) -> Iterator[None]:
    """Turn jira and transport errors into `ForgeError` (retryable on outages)."""
    try:
        yield
    except JIRAError as exc:
        code = exc.status_code
        retryable = code is None or code >= 500 or code == 429
        raise ForgeError(f"Jira {what} failed: {code} {exc.text}", retryable=retryable) from None
    except requests.RequestException as exc:
        raise ForgeError(f"Jira {what} failed: {type(exc).__name__}", retryable=True) from None


def make_jira(settings: ForgeSettings, token: str) -> JIRA:
    """A `jira` client: basic auth (e-mail + API token) on Cloud, a PAT on Data Center."""
    cfg = settings.jira
    if not cfg.url:
        raise ForgeError("forge.jira.url is not set")
    cloud = cfg.deployment == "cloud"
    options: dict[str, str | bool | Any] = {"rest_api_version": "3" if cloud else "2"}
    auth: dict[str, Any] = {"token_auth": token}
    if cloud:
        if not cfg.email:
            raise ForgeError("forge.jira.email is required on Jira Cloud (basic auth)")
        auth = {"basic_auth": (cfg.email, token)}
    with jira_call("connection"):
        return JIRA(server=cfg.url, options=options, timeout=cfg.timeout_s, max_retries=0, **auth)


def mapped_repository(
    settings: ForgeSettings, state_dir: Path, job: ForgeJob, environ: Mapping[str, str]
) -> GitRepository:
    """The repository a Jira project maps to: a GitLab project, or a plain git URL."""
    key = str(job.source.get("jira_project") or job.issue.split("-")[0])
    project = settings.jira.projects.get(key) or str(job.source.get("project_path") or "")
    if not project:
        raise ForgeError(f"Jira project {key} is not mapped to a repository (forge.jira.projects)")
    if is_git_url(project):
        token = find_token(settings.jira.git_credential, environ)
        return GitRemote(settings, state_dir, project, token, environ)
    gitlab_token = forge_token(settings.gitlab.credential, environ)
    gl = make_client(settings, gitlab_token)
    return GitLabProject(gl, settings, project, state_dir, gitlab_token, environ)


def has_marker(body: Any, job_id: str) -> bool:
    """Whether a comment body (ADF dict or wiki text) carries the job's marker line."""
    text = json.dumps(body) if not isinstance(body, str) else body
    tag = f"{MARKER_PREFIX}{job_id}"
    return f'"{tag}"' in text or f"~{tag}~" in text


class JiraForge:
    """The `Forge` for jobs asked for on Jira issues."""

    def __init__(
        self,
        settings: ForgeSettings,
        repository: GitRepository,
        client: JIRA,
    ) -> None:
        self.settings = settings
        self.repository = repository
        self.client = client
        self.cloud = settings.jira.deployment == "cloud"

    @classmethod
    def for_job(
        cls,
        settings: ForgeSettings,
        state_dir: Path,
        job: ForgeJob,
        environ: Mapping[str, str],
    ) -> JiraForge:
        """The forge for a Jira job; tokens are looked up in `environ` (see `secrets`)."""
        repository = mapped_repository(settings, state_dir, job, environ)
        jira_token = forge_token(settings.jira.credential, environ)
        return cls(settings, repository, make_jira(settings, jira_token))

    def body(self, markdown: str) -> Any:
        """The comment body in this deployment's format."""
        return markup.to_adf(markdown) if self.cloud else markup.to_wiki(markdown)

    def prepare_workspace(self, job: ForgeJob) -> Path:
        """See `Forge.prepare_workspace`."""
        return self.repository.prepare_workspace(job)

    def release_workspace(self, job: ForgeJob) -> None:
        """See `Forge.release_workspace`."""
        self.repository.release_workspace(job)

    def _find_comment(self, key: str, job_id: str) -> str | None:
        with jira_call("comments"):
            for comment in self.client.comments(key):
                if has_marker(comment.raw.get("body"), job_id):
                    return str(comment.id)
        return None

    def write_note(self, handle: ProgressHandle, body: str) -> None:
        """See `IssueWriter.write_note`."""
        with jira_call("comment update"):
            comment = self.client.comment(handle.issue, handle.note_id)
            comment.update(body=self.body(body))

    def final_labels(self) -> tuple[str, str]:
        """See `IssueWriter.final_labels`."""
        return self.settings.jira.label_done, self.settings.jira.label_failed

    def set_label(self, issue: str, label: str) -> None:
        """See `IssueWriter.set_label`."""
        cfg = self.settings.jira
        others = [x for x in (cfg.label_running, cfg.label_done, cfg.label_failed) if x != label]
        ops = [{"add": label}, *({"remove": x} for x in others)]
        with jira_call("labels"):
            self.client.issue(issue, fields="labels").update(update={"labels": ops})

    def start(self, job: ForgeJob) -> ProgressHandle:
        """See `Forge.start`."""
        header = texts.start_header(job)
        body = texts.progress_body(job.job_id, header, [])
        found = self._find_comment(job.issue, job.job_id)
        handle = new_handle(job, "jira", found or "", header)
        if found is None:
            with jira_call("comment create"):
                handle.note_id = str(self.client.add_comment(job.issue, self.body(body)).id)
        else:
            self.write_note(handle, body)
        self.set_label(job.issue, self.settings.jira.label_running)
        return handle

    def progress(self, handle: ProgressHandle, stage_text: str) -> None:
        """See `Forge.progress`."""
        handle.stages.append(stage_text)
        self.write_note(handle, texts.progress_body(handle.job_id, handle.header, handle.stages))

    def finish(self, handle: ProgressHandle, result: JobResult, job_dir: Path) -> Delivery:
        """See `Forge.finish`; a merge request is also linked from the issue."""
        ref = f"[{handle.issue}]({handle.issue_url})" if handle.issue_url else handle.issue
        delivery = deliver(self, self.repository, handle, result, job_dir, ref)
        if delivery.merge_request_url:
            self._link(handle, delivery)
        return delivery

    def _link(self, handle: ProgressHandle, delivery: Delivery) -> None:
        """A remote link from the issue to the merge request, once."""
        url = str(delivery.merge_request_url)
        with jira_call("remote link"):
            existing = self.client.remote_links(handle.issue)
            if any(link.raw.get("object", {}).get("url") == url for link in existing):
                return
            link = {
                "url": url,
                "title": f"optirunner merge request !{delivery.merge_request}",
                "summary": f"verified improvement of job {handle.job_id}",
            }
            self.client.add_simple_link(handle.issue, link)
