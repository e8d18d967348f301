"""`open_forge()`: the `Forge` for a job's source, with its tokens looked up once."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from runner.errors import ForgeError
from runner.forge.base import Forge, ForgeJob
from runner.forge.gitlab import GitLabForge
from runner.forge.jira import JiraForge
from runner.forge.secrets import forge_token
from runner.forge.settings import ForgeSettings


def open_forge(
    settings: ForgeSettings, state_dir: Path, job: ForgeJob, environ: Mapping[str, str]
) -> Forge:
    """GitLab or Jira, by `job.source["forge"]`; `environ` is what the caller read
    (`runner.config.read_environ`): the tokens, and the proxy variables git may see."""
    if job.forge == "gitlab":
        token = forge_token(settings.gitlab.credential, environ)
        return GitLabForge.for_job(settings, state_dir, token, job, environ)
    if job.forge == "jira":
        return JiraForge.for_job(settings, state_dir, job, environ)
    raise ForgeError(f"job {job.job_id} comes from an unknown forge {job.forge!r}")
