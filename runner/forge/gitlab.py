"""GitLab: workspace from the project, one note per job, scoped labels, branch and MR.

Uses python-gitlab with the token as `PRIVATE-TOKEN` for the REST API and the same token
as a scoped `http.extraHeader` for git (see `gitrepo`). Every write is idempotent: the
note is found again by its hidden marker, the branch is pushed only when it changed, and
an open merge request of the branch is updated instead of a second one being opened.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import gitlab
import requests
from gitlab.v4.objects import Project, ProjectIssue

from runner.errors import ForgeError
from runner.forge import texts
from runner.forge.base import (
    Delivery,
    ForgeJob,
    IssueWriter,
    ProgressHandle,
    marker,
    new_handle,
)
from runner.forge.gitremote import GitRepository, Improvement
from runner.forge.gitrepo import GitAuth, GitRunner
from runner.forge.settings import ForgeSettings
from runner.paths import PATCH, PLOTS
from runner.result import JobOutcome, JobResult

log = logging.getLogger(__name__)


@contextmanager
def api_call(what: str) -> Iterator[None]:
    """Turn python-gitlab and transport errors into `ForgeError` (retryable on outages)."""
    try:
        yield
    except gitlab.exceptions.GitlabError as exc:
        code = exc.response_code
        retryable = code is None or code >= 500 or code == 429
        raise ForgeError(
            f"GitLab {what} failed: {code} {exc.error_message}", retryable=retryable
        ) from None
    except requests.RequestException as exc:
        raise ForgeError(f"GitLab {what} failed: {type(exc).__name__}", retryable=True) from None


def make_client(settings: ForgeSettings, token: str) -> gitlab.Gitlab:
    """A python-gitlab client for the configured instance."""
    if not settings.gitlab.url:
        raise ForgeError("forge.gitlab.url is not set: the runner sends its token only there")
    return gitlab.Gitlab(
        settings.gitlab.url,
        private_token=token,
        timeout=settings.gitlab.timeout_s,
        ssl_verify=settings.gitlab.ssl_verify,
    )


class GitLabProject(GitRepository):
    """One GitLab project: cached clone, worktrees, uploads, the result branch and its MR."""

    def __init__(
        self,
        client: gitlab.Gitlab,
        settings: ForgeSettings,
        project_ref: str,
        state_dir: Path,
        token: str,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        base = settings.gitlab.git_url or settings.gitlab.url or ""
        self.git_base = base.rstrip("/") + "/"
        auth = GitAuth.basic(self.git_base, settings.gitlab.git_username, token)
        git = GitRunner(state_dir / "repos" / "home", auth, environ=environ)
        super().__init__(settings, state_dir, git)
        self.client = client
        self.project_ref = project_ref
        self._project: Project | None = None

    @property
    def project(self) -> Project:
        """The project (one GET, cached)."""
        if self._project is None:
            with api_call(f"project {self.project_ref}"):
                self._project = self.client.projects.get(self.project_ref)
        return self._project

    def clone_url(self) -> str:
        """The project's clone URL; it must lie under the git base the token is scoped to."""
        url = str(self.project.http_url_to_repo)
        if not url.startswith(self.git_base):
            raise ForgeError(
                f"the project's clone URL {url} is not under {self.git_base}: "
                "set forge.gitlab.git_url (the token is only sent there)"
            )
        return url

    def cache_key(self, url: str) -> str:
        """`<host>-<project id>`."""
        return f"{urlsplit(url).hostname}-{self.project.id}"

    def default_ref(self) -> str:
        """The project's default branch."""
        return str(self.project.default_branch)

    def label(self) -> str:
        """The project path or id."""
        return self.project_ref

    def upload_plots(self, result: JobResult, job_dir: Path) -> dict[str, str]:
        """Upload the plot of each best candidate; candidate id -> URL usable in markdown."""
        images = {}
        for cid in result.best:
            path = job_dir / PLOTS / f"{cid}.png"
            if not path.is_file():
                continue
            with api_call("upload"):
                data = self.project.upload(path.name, filedata=path.read_bytes())
            images[cid] = str(data["url"])
        return images

    def target_branch(self, job: ForgeJob) -> str:
        """The spec's ref when it is a branch of the project, else the default branch."""
        ref = job.spec.get("ref")
        if ref and self.repo.remote_tip(str(ref)) is not None:
            return str(ref)
        return str(self.project.default_branch)

    def merge_request(
        self, job: ForgeJob, result: JobResult, branch: str, title: str, description: str
    ) -> tuple[str, str]:
        """Update the open MR of `branch`, or open one (draft by default); (iid, web URL)."""
        mrs = self.project.mergerequests
        with api_call("merge request lookup"):
            existing = mrs.list(source_branch=branch, get_all=True)
        opened = [m for m in existing if m.state == "opened"]
        if opened:
            mr = opened[0]
            with api_call("merge request update"):
                mrs.update(mr.iid, {"title": title, "description": description})
            return str(mr.iid), str(mr.web_url)
        ours = [m for m in existing if marker(result.job_id) in (m.description or "")]
        if ours:  # merged or closed by a person: leave it, do not open another
            return str(ours[0].iid), str(ours[0].web_url)
        payload = {
            "source_branch": branch,
            "target_branch": self.target_branch(job),
            "title": title,
            "description": description,
            "remove_source_branch": True,
        }
        with api_call("merge request create"):
            mr = mrs.create(payload)
        return str(mr.iid), str(mr.web_url)

    def deliver_improvement(
        self, job: ForgeJob, result: JobResult, job_dir: Path, issue_ref: str
    ) -> Improvement:
        """Branch, commit, plots, merge request; (branch, commit, MR iid, MR URL)."""
        best = [c.target for c in result.candidates if c.id in result.best]
        branch = self.result_branch(job, result)
        commit = self.push_result(job, result, (job_dir / PATCH).read_bytes(), branch)
        images = self.upload_plots(result, job_dir)
        names = ", ".join(t.partition("::")[2] or t for t in best)
        draft = "Draft: " if self.settings.draft else ""
        title = f"{draft}optirunner: faster {names} ({issue_ref})"
        description = texts.merge_request_description(result, issue_ref, images, branch)
        iid, url = self.merge_request(job, result, branch, title, description)
        return branch, commit, iid, url


def improved(result: JobResult, job_dir: Path) -> bool:
    """A verified improvement with a non-empty patch: something to push."""
    patch = job_dir / PATCH
    return (
        result.outcome is JobOutcome.SUCCEEDED
        and bool(result.best)
        and patch.is_file()
        and bool(patch.read_bytes().strip())
    )


class GitLabForge:
    """The `Forge` for jobs asked for on GitLab issues."""

    def __init__(
        self,
        settings: ForgeSettings,
        state_dir: Path,
        token: str,
        project_ref: str,
        client: gitlab.Gitlab | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.settings = settings
        self.client = client or make_client(settings, token)
        self.repository = GitLabProject(
            self.client, settings, project_ref, state_dir, token, environ
        )

    @classmethod
    def for_job(
        cls,
        settings: ForgeSettings,
        state_dir: Path,
        token: str,
        job: ForgeJob,
        environ: Mapping[str, str],
    ) -> GitLabForge:
        """The forge for a GitLab job (its project from the job's source); git sees the
        proxy and CA variables of `environ` (what the caller read)."""
        ref = str(job.source.get("project_id") or job.source.get("project_path") or "")
        if not ref:
            raise ForgeError(f"job {job.job_id} names no GitLab project")
        return cls(settings, state_dir, token, ref, environ=environ)

    def _issue(self, iid: str) -> ProjectIssue:
        return self.repository.project.issues.get(iid, lazy=True)

    def prepare_workspace(self, job: ForgeJob) -> Path:
        """See `Forge.prepare_workspace`."""
        return self.repository.prepare_workspace(job)

    def release_workspace(self, job: ForgeJob) -> None:
        """See `Forge.release_workspace`."""
        self.repository.release_workspace(job)

    def _find_note(self, issue: ProjectIssue, job_id: str) -> str | None:
        with api_call("notes list"):
            for note in issue.notes.list(iterator=True):
                if marker(job_id) in (note.body or ""):
                    return str(note.id)
        return None

    def write_note(self, handle: ProgressHandle, body: str) -> None:
        """See `IssueWriter.write_note`."""
        issue = self._issue(handle.issue)
        try:
            with api_call("note update"):
                issue.notes.update(handle.note_id, {"body": body})
        except ForgeError as exc:
            if "404" not in str(exc):
                raise
            with api_call("note create"):  # the note was deleted: post it again
                handle.note_id = str(issue.notes.create({"body": body}).id)

    def final_labels(self) -> tuple[str, str]:
        """See `IssueWriter.final_labels`."""
        return self.settings.label_done, self.settings.label_failed

    def set_label(self, iid: str, label: str) -> None:
        """See `IssueWriter.set_label`: add `label`, remove the other state labels."""
        s = self.settings
        others = [x for x in (s.label_running, s.label_done, s.label_failed) if x != label]
        with api_call("labels"):
            self.repository.project.issues.update(
                iid, {"add_labels": label, "remove_labels": ",".join(others)}
            )

    def start(self, job: ForgeJob) -> ProgressHandle:
        """See `Forge.start`: one note per job (found again on a re-run), running label."""
        issue = self._issue(job.issue)
        header = texts.start_header(job)
        body = texts.progress_body(job.job_id, header, [])
        note_id = self._find_note(issue, job.job_id)
        handle = new_handle(job, "gitlab", note_id or "", header)
        if note_id is None:
            with api_call("note create"):
                handle.note_id = str(issue.notes.create({"body": body}).id)
        else:
            self.write_note(handle, body)
        self.set_label(job.issue, self.settings.label_running)
        return handle

    def progress(self, handle: ProgressHandle, stage_text: str) -> None:
        """See `Forge.progress`."""
        handle.stages.append(stage_text)
        self.write_note(handle, texts.progress_body(handle.job_id, handle.header, handle.stages))

    def finish(self, handle: ProgressHandle, result: JobResult, job_dir: Path) -> Delivery:
        """See `Forge.finish`: push and MR first, then the note, then the label."""
        return deliver(self, self.repository, handle, result, job_dir, f"#{handle.issue}")


def deliver(
    writer: IssueWriter,
    repository: GitRepository,
    handle: ProgressHandle,
    result: JobResult,
    job_dir: Path,
    issue_ref: str,
) -> Delivery:
    """The end of a job on any issue tracker: branch and MR first, then note, then label."""
    done, failed = writer.final_labels()
    job = handle.job(result.spec)
    if improved(result, job_dir):
        branch, commit, iid, url = repository.deliver_improvement(job, result, job_dir, issue_ref)
        if iid is not None and url is not None:
            note = texts.improvement_note(result, f"!{iid}", url)
        else:
            note = texts.branch_note(result, branch, repository.clone_url())
        writer.write_note(handle, note)
        writer.set_label(handle.issue, done)
        return Delivery(handle.note_id, done, branch, commit, iid, url)
    if result.outcome is JobOutcome.SUCCEEDED:
        writer.write_note(handle, texts.no_improvement_note(result))
        writer.set_label(handle.issue, done)
        return Delivery(handle.note_id, done)
    writer.write_note(handle, texts.failure_note(result))
    writer.set_label(handle.issue, failed)
    return Delivery(handle.note_id, failed)
