"""The `Forge` Protocol the worker talks to, and the small types it passes around."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from runner.result import JobResult

MARKER_PREFIX = "optirunner:job="


def marker(job_id: str) -> str:
    """The hidden HTML comment that identifies the note of one job (GitLab)."""
    return f"<!-- {MARKER_PREFIX}{job_id} -->"


@dataclass(frozen=True)
class ForgeJob:
    """What a forge needs to know about a job: its id, where it came from, what it asks.

    `source` is `runner.webhooks.decision.Source.to_dict()` (forge, instance, project_id,
    project_path, issue, web_url, jira_project, ...); `spec` is the job's partial spec
    (targets, optional `ref`, budget keys such as `max_candidates`).
    """

    job_id: str
    source: Mapping[str, Any]
    spec: Mapping[str, Any] = field(default_factory=dict)

    @property
    def forge(self) -> str:
        """`gitlab` or `jira`."""
        return str(self.source.get("forge", ""))

    @property
    def issue(self) -> str:
        """GitLab issue iid or Jira issue key."""
        return str(self.source.get("issue", ""))

    @property
    def targets(self) -> list[str]:
        """The targets as asked (`path.py::name`)."""
        return [str(t) for t in self.spec.get("targets", [])]


@dataclass
class ProgressHandle:
    """The note (or comment) that shows a job's progress; serialisable to store with the job."""

    job_id: str
    forge: str
    issue: str
    note_id: str
    header: str
    stages: list[str] = field(default_factory=list)
    issue_url: str = ""
    ref: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ProgressHandle:
        """The inverse of `to_dict`."""
        return cls(
            job_id=str(data["job_id"]),
            forge=str(data["forge"]),
            issue=str(data["issue"]),
            note_id=str(data["note_id"]),
            header=str(data["header"]),
            stages=[str(s) for s in data.get("stages", [])],
            issue_url=str(data.get("issue_url", "")),
            ref=str(data["ref"]) if data.get("ref") else None,
        )

    def job(self, spec: Mapping[str, Any]) -> ForgeJob:
        """The job again, from the handle and the result's spec (for `finish`)."""
        source = {"forge": self.forge, "issue": self.issue, "web_url": self.issue_url}
        return ForgeJob(self.job_id, source, {**spec, "ref": self.ref})


def new_handle(job: ForgeJob, forge: str, note_id: str, header: str) -> ProgressHandle:
    """The handle of a job's note (`note_id` may be filled in once it is posted)."""
    ref = job.spec.get("ref")
    return ProgressHandle(
        job.job_id,
        forge,
        job.issue,
        note_id,
        header,
        issue_url=str(job.source.get("web_url", "")),
        ref=str(ref) if ref else None,
    )


@dataclass(frozen=True)
class Delivery:
    """What `finish()` left on the forge; stored with the job so a replay updates it."""

    note_id: str
    label: str
    branch: str | None = None
    commit: str | None = None
    merge_request: str | None = None  # iid (GitLab)
    merge_request_url: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


class IssueWriter(Protocol):
    """The issue side of a forge: the job's note and its labels."""

    def write_note(self, handle: ProgressHandle, body: str) -> None:
        """Replace the job's note with `body` (markdown; converted to the forge's markup)."""
        ...

    def set_label(self, issue: str, label: str) -> None:
        """Set `label`, removing the runner's other state labels."""
        ...

    def final_labels(self) -> tuple[str, str]:
        """The (done, failed) labels."""
        ...


class Forge(Protocol):
    """One forge: workspace from its repository, progress and results on its issue."""

    def prepare_workspace(self, job: ForgeJob) -> Path:
        """A worktree of the job's repository at the spec's `ref` (default branch if none)."""
        ...

    def release_workspace(self, job: ForgeJob) -> None:
        """Remove the job's worktree (the cached clone stays)."""
        ...

    def start(self, job: ForgeJob) -> ProgressHandle:
        """Post (or find again) the job's one note and set the running label."""
        ...

    def progress(self, handle: ProgressHandle, stage_text: str) -> None:
        """Add a finished stage to the note, edited in place."""
        ...

    def finish(self, handle: ProgressHandle, result: JobResult, job_dir: Path) -> Delivery:
        """Replace the note with the report; label; branch and merge request if improved."""
        ...


def target_slug(target: str) -> str:
    """`pkg/inventory.py::Cache.lookup` -> `inventory-cache-lookup` (branch-name safe)."""
    path, _, name = target.partition("::")
    stem = Path(path).stem
    raw = f"{stem}-{name}" if name else stem
    return re.sub(r"[^a-z0-9]+", "-", raw.lower()).strip("-") or "target"


def branch_name(prefix: str, issue: str, targets: list[str]) -> str:
    """`optirunner/<issue>-<target-slug>`; several targets share one branch (slug + hash)."""
    issue_part = re.sub(r"[^A-Za-z0-9]+", "-", issue).strip("-") or "issue"
    if not targets:
        return f"{prefix}{issue_part}"
    slug = target_slug(targets[0])[:48]
    if len(targets) > 1:
        digest = hashlib.sha256("\n".join(sorted(targets)).encode()).hexdigest()[:8]
        slug = f"{slug}-and-{len(targets) - 1}-more-{digest}"
    return f"{prefix}{issue_part}-{slug}"
