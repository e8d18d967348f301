"""What a webhook delivery means: a job request, or a reason to ignore it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Source:
    """Where a job request came from; kept with the job and used to report back."""

    forge: str  # "gitlab" | "jira"
    instance: str  # base URL of the GitLab instance or Jira site
    project_id: str
    project_path: str  # GitLab path_with_namespace; for Jira the mapped repository
    issue: str  # GitLab issue iid, Jira issue key
    web_url: str
    author: str
    trigger: str  # "label" | "comment"
    jira_project: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class JobRequest:
    """A delivery that asks for a job: the partial spec and the key that deduplicates it."""

    source: Source
    dedupe_key: str
    spec: dict[str, Any] = field(default_factory=dict)
    delivery_id: str | None = None


@dataclass(frozen=True)
class Ignored:
    """A delivery the runner does not act on; answered 200 with the reason."""

    reason: str
    invalid_spec: bool = False  # a trigger whose spec could not be parsed (counted apart)


Decision = JobRequest | Ignored
