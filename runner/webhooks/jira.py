"""Jira (Cloud and Data Center) deliveries: authenticate, then decide (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runner.config import ServiceSettings
from runner.errors import SpecError
from runner.webhooks import specsource
from runner.webhooks.decision import Decision, Ignored, JobRequest, Source
from runner.webhooks.verify import Rejected, check_hub_signature

ISSUE_EVENTS = ("jira:issue_created", "jira:issue_updated")


def authenticate(settings: ServiceSettings, headers: Mapping[str, str], body: bytes) -> None:
    """401 unless `X-Hub-Signature` proves the configured secret."""
    if settings.jira.secret is None:
        raise Rejected(401, "Jira webhooks are not configured (no secret)")
    check_hub_signature(headers, body, settings.jira.secret.get_secret_value())


def decide(
    settings: ServiceSettings, headers: Mapping[str, str], payload: dict[str, Any]
) -> Decision:
    """The decision for one authenticated Jira event (headers in lower case)."""
    gate = _gate(settings, payload)
    if isinstance(gate, Ignored):
        return gate
    if payload.get("comment"):
        # A comment also arrives as jira:issue_updated (issue_commented): both carry it.
        return _comment(settings, headers, payload, gate)
    if payload.get("webhookEvent") == "jira:issue_updated":
        return _label_update(settings, headers, payload, gate)
    fields = _dict(_dict(payload.get("issue")).get("fields"))
    if settings.trigger_label not in _labels(fields.get("labels")):
        return Ignored(f"issue created without the {settings.trigger_label!r} label")
    return _label_job(settings, headers, payload, gate)


def _gate(settings: ServiceSettings, payload: dict[str, Any]) -> Ignored | str:
    """Ignore events by the bot, of other kinds, unmapped or confidential; else the repository."""
    event = payload.get("webhookEvent")
    comment = _dict(payload.get("comment"))
    actor = _dict(comment.get("author")) if comment else _dict(payload.get("user"))
    if _is_bot(settings, actor):
        return Ignored("event caused by the runner's own account")
    if event not in (*ISSUE_EVENTS, "comment_created"):
        return Ignored(f"event {event or 'unknown'!r} does not request a job")
    fields = _dict(_dict(payload.get("issue")).get("fields"))
    project_key = str(_dict(fields.get("project")).get("key", ""))
    repository = settings.jira.projects.get(project_key)
    if repository is None:
        return Ignored(f"Jira project {project_key or '?'!r} is not mapped to a repository")
    if _confidential(fields) and not settings.allow_confidential:
        return Ignored("issue has a security level (service.allow_confidential is off)")
    return repository


def _label_update(
    settings: ServiceSettings, headers: Mapping[str, str], payload: dict[str, Any], repo: str
) -> Decision:
    label = settings.trigger_label
    changelog = _dict(payload.get("changelog"))
    for item in changelog.get("items") or []:
        if not isinstance(item, dict) or item.get("field") != "labels":
            continue
        # Jira writes labels space-separated in fromString/toString.
        before = str(item.get("fromString") or "").split()
        after = str(item.get("toString") or "").split()
        if label in after and label not in before:
            return _label_job(settings, headers, payload, repo)
    return Ignored(f"issue update does not add the {label!r} label")


def _label_job(
    settings: ServiceSettings, headers: Mapping[str, str], payload: dict[str, Any], repo: str
) -> Decision:
    issue = _dict(payload.get("issue"))
    try:
        spec = specsource.fenced_block(_dict(issue.get("fields")).get("description"))
    except SpecError as exc:
        return Ignored(f"no job: {exc}", invalid_spec=True)
    delivery = headers.get("x-atlassian-webhook-identifier")
    site = _site(issue)
    if delivery:
        dedupe = f"jira:delivery:{delivery}"
    elif _dict(payload.get("changelog")).get("id"):
        dedupe = f"jira:{site}:changelog:{_dict(payload.get('changelog'))['id']}"
    else:
        dedupe = f"jira:{site}:{payload.get('webhookEvent')}:{issue.get('id')}"
    return JobRequest(
        _source(payload, repo, _dict(payload.get("user")), "label"), dedupe, spec, delivery
    )


def _comment(
    settings: ServiceSettings, headers: Mapping[str, str], payload: dict[str, Any], repo: str
) -> Decision:
    comment = _dict(payload.get("comment"))
    body = comment.get("body")
    args = specsource.command_line(body if isinstance(body, str) else "", settings.command)
    if args is None:
        return Ignored(f"comment does not start with {settings.command}")
    issue = _dict(payload.get("issue"))
    try:
        spec = specsource.merge_layers(
            specsource.parse_command(args),
            specsource.fenced_block(_dict(issue.get("fields")).get("description")),
        )
    except SpecError as exc:
        return Ignored(f"no job: {exc}", invalid_spec=True)
    # Keyed on the comment, so comment_created and its issue_updated twin make one job.
    dedupe = f"jira:{_site(issue)}:comment:{comment.get('id')}"
    source = _source(payload, repo, _dict(comment.get("author")), "comment")
    return JobRequest(source, dedupe, spec, headers.get("x-atlassian-webhook-identifier"))


def _source(payload: dict[str, Any], repo: str, actor: dict[str, Any], trigger: str) -> Source:
    issue = _dict(payload.get("issue"))
    project = _dict(_dict(issue.get("fields")).get("project"))
    site = _site(issue)
    key = str(issue.get("key", ""))
    return Source(
        forge="jira",
        instance=site,
        project_id=str(project.get("id", "")),
        project_path=repo,
        issue=key,
        web_url=f"{site}/browse/{key}",
        author=_account(actor),
        trigger=trigger,
        jira_project=str(project.get("key", "")) or None,
    )


def _site(issue: dict[str, Any]) -> str:
    """The site's base URL, from the issue's REST `self` link."""
    link = str(issue.get("self", ""))
    return link.split("/rest/", 1)[0] if "/rest/" in link else link


def _account(user: dict[str, Any]) -> str:
    # Cloud users have accountId; Data Center users have name/key.
    return str(user.get("accountId") or user.get("name") or user.get("key") or "")


def _is_bot(settings: ServiceSettings, user: dict[str, Any]) -> bool:
    bot = settings.jira.bot_account
    return bool(bot) and bot in {user.get("accountId"), user.get("name"), user.get("key")}


def _confidential(fields: dict[str, Any]) -> bool:
    return bool(fields.get("security"))


def _labels(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
