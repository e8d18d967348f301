"""Settings of the forges the runner reports to (`[forge]` in config.toml).

Tokens are never settings: they come from systemd credentials or one variable per forge
(see `runner.forge.secrets`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class GitLabForgeSettings(BaseModel):
    """The GitLab instance: its API and the git remote the token may be sent to."""

    url: str | None = Field(None, description="base URL of the instance, https://gitlab.example")
    git_url: str | None = Field(
        None, description="base URL of git over HTTPS when it differs from url (proxies)"
    )
    credential: str = Field(
        "optirunner-gitlab-token",
        description="credential name of the access token (env OPTIRUNNER_GITLAB_TOKEN)",
    )
    git_username: str = Field("oauth2", description="user name sent with the token to git")
    ssl_verify: bool = Field(True, description="verify the instance's TLS certificate")
    timeout_s: float = Field(30.0, gt=0, description="timeout of one API request")


class JiraForgeSettings(BaseModel):
    """The Jira site and which GitLab project holds the code of each Jira project."""

    url: str | None = Field(None, description="base URL of the site, https://acme.atlassian.net")
    deployment: Literal["cloud", "datacenter"] = Field(
        "cloud", description="cloud: ADF comments (REST v3); datacenter: wiki markup (REST v2)"
    )
    email: str | None = Field(None, description="Cloud: the account's e-mail (basic auth)")
    credential: str = Field(
        "optirunner-jira-token",
        description="credential name: API token or PAT (env OPTIRUNNER_JIRA_TOKEN)",
    )
    projects: dict[str, str] = Field(
        default_factory=dict,
        description="Jira project key -> GitLab project path or id, or a git URL "
        '(https://...): {"OPT": "acme/widgets"}; default: service.jira.projects',
    )
    git_credential: str = Field(
        "optirunner-git-token",
        description="token for projects mapped to a git URL (env OPTIRUNNER_GIT_TOKEN); "
        "sent only to that URL; none: anonymous",
    )
    git_username: str = Field("oauth2", description="user name sent with that token to git")
    label_running: str = Field("optirunner-running", description="label while a job runs")
    label_done: str = Field("optirunner-done", description="label when a job succeeded")
    label_failed: str = Field("optirunner-failed", description="label when a job failed")
    timeout_s: float = Field(30.0, gt=0, description="timeout of one API request")


class ForgeSettings(BaseModel):
    """How results go back to the issue: labels, branch, merge request, commit author."""

    label_running: str = Field("optirunner::running", description="scoped label while running")
    label_done: str = Field("optirunner::done", description="scoped label when succeeded")
    label_failed: str = Field("optirunner::failed", description="scoped label when failed")
    branch_prefix: str = Field("optirunner/", description="prefix of result branches")
    draft: bool = Field(True, description="open merge requests as drafts")
    author_name: str = Field("optirunner", description="author of the result commit")
    author_email: str = Field("optirunner@localhost", description="its e-mail")
    report_retry_s: float = Field(
        3600.0, gt=0, description="a report the forge refused (outage) is retried this long"
    )
    report_backoff_max_s: float = Field(
        60.0, gt=0, description="longest pause between two tries of posting a report"
    )
    gitlab: GitLabForgeSettings = Field(default_factory=GitLabForgeSettings)
    jira: JiraForgeSettings = Field(default_factory=JiraForgeSettings)
