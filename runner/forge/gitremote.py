"""A repository the runner clones and pushes its result branch to: the part with no API.

`GitRepository` is what every forge's repository does with git alone (cached clone,
worktree per job, the one result commit and its push); `GitLabProject` adds the GitLab API
(merge request, uploads). `GitRemote` is a Jira project mapped to a plain git URL: the
result is a pushed branch and no merge request.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from runner.errors import ForgeError
from runner.forge import texts
from runner.forge.base import ForgeJob, branch_name
from runner.forge.gitrepo import Author, GitAuth, GitRunner, RepoCache
from runner.forge.settings import ForgeSettings
from runner.paths import PATCH
from runner.result import JobResult

log = logging.getLogger(__name__)

# (branch, commit, merge request iid, merge request URL); no merge request: both None.
Improvement = tuple[str, str, str | None, str | None]


def is_git_url(value: str) -> bool:
    """A mapping value that names a git remote rather than a GitLab project."""
    return value.startswith(("https://", "http://"))


class GitRepository:
    """Cached clone, job worktrees and the result branch of one remote repository."""

    def __init__(self, settings: ForgeSettings, state_dir: Path, git: GitRunner) -> None:
        self.settings = settings
        self.state_dir = state_dir
        self.git = git
        self._repo: RepoCache | None = None

    # -- what a subclass says about its remote ------------------------------------------------
    def clone_url(self) -> str:
        """The URL git fetches from and pushes to."""
        raise NotImplementedError

    def cache_key(self, url: str) -> str:
        """The name of the cached clone under `<state_dir>/repos/`."""
        digest = hashlib.sha256(url.encode()).hexdigest()[:12]
        return f"{urlsplit(url).hostname}-{digest}"

    def default_ref(self) -> str:
        """What a job without a `ref` runs on."""
        return "HEAD"

    def label(self) -> str:
        """How log lines name the repository."""
        return self.clone_url()

    # -- git ---------------------------------------------------------------------------------
    @property
    def repo(self) -> RepoCache:
        """The cached clone."""
        if self._repo is None:
            url = self.clone_url()
            self._repo = RepoCache(self.state_dir / "repos", self.cache_key(url), url, self.git)
        return self._repo

    def worktree_path(self, job: ForgeJob) -> Path:
        """Where the job's worktree lives."""
        return self.state_dir / "worktrees" / job.job_id

    def prepare_workspace(self, job: ForgeJob) -> Path:
        """Fetch the spec's ref (or the default branch) and make the job's worktree."""
        ref = str(job.spec.get("ref") or self.default_ref())
        commit = self.repo.fetch(ref)
        log.info("job %s: %s at %s (%s)", job.job_id, self.label(), ref, commit[:12])
        dest = self.worktree_path(job)
        return self.repo.add_worktree(dest, commit, f"refs/optirunner/jobs/{job.job_id}")

    def release_workspace(self, job: ForgeJob) -> None:
        """Remove the job's worktree."""
        self.repo.remove_worktree(self.worktree_path(job))

    def base_commit(self, job: ForgeJob, result: JobResult) -> str:
        """The commit the job ran on (kept by `prepare_workspace`, else from the spec)."""
        ref = f"refs/optirunner/jobs/{job.job_id}"
        try:
            return self.git("rev-parse", "--verify", ref, cwd=self.repo.path).strip()
        except ForgeError:
            commit = result.spec.get("commit") or job.spec.get("ref")
            return self.repo.fetch(str(commit or self.default_ref()))

    def push_result(self, job: ForgeJob, result: JobResult, patch: bytes, branch: str) -> str:
        """One commit with the patch on the base, pushed to `branch` unless already there."""
        author = Author(self.settings.author_name, self.settings.author_email, int(result.finished))
        message = texts.commit_message(result, str(job.source.get("web_url", "")))
        commit = self.repo.commit_patch(self.base_commit(job, result), patch, message, author)
        tip = self.repo.remote_tip(branch)
        if tip == commit:
            return commit
        if tip is not None and self.repo.author_of(branch) != author.email:
            raise ForgeError(
                f"branch {branch} exists with commits not made by optirunner; "
                "delete or rename it and run the job again"
            )
        self.repo.push(commit, branch, replace=tip)
        return commit

    def result_branch(self, job: ForgeJob, result: JobResult) -> str:
        """`optirunner/<issue>-<target-slug>` of the improved targets."""
        best = [c.target for c in result.candidates if c.id in result.best]
        return branch_name(self.settings.branch_prefix, job.issue, best)

    def deliver_improvement(
        self, job: ForgeJob, result: JobResult, job_dir: Path, issue_ref: str
    ) -> Improvement:
        """The result branch, pushed; a subclass with an API adds the merge request."""
        branch = self.result_branch(job, result)
        commit = self.push_result(job, result, (job_dir / PATCH).read_bytes(), branch)
        return branch, commit, None, None


class GitRemote(GitRepository):
    """A Jira project's code at a plain git URL: clone, worktree, pushed result branch.

    The token (`forge.jira.git_credential`, optional) is sent only to that URL.
    """

    def __init__(
        self,
        settings: ForgeSettings,
        state_dir: Path,
        url: str,
        token: str | None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        auth = None
        if token:
            # Scoped to the repository itself (git matches the remote URL, not a prefix of it).
            header = GitAuth.basic(url, settings.jira.git_username, token).header
            auth = GitAuth(scope=url.rstrip("/"), header=header)
        git = GitRunner(state_dir / "repos" / "home", auth, environ=environ)
        super().__init__(settings, state_dir, git)
        self.url = url

    def clone_url(self) -> str:
        """See `GitRepository.clone_url`."""
        return self.url
