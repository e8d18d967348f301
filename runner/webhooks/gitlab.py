"""GitLab deliveries: authenticate, then decide whether an event asks for a job (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runner.config import ServiceSettings
from runner.errors import SpecError
from runner.webhooks import specsource
from runner.webhooks.decision import Decision, Ignored, JobRequest, Source
from runner.webhooks.verify import Rejected, check_standard_signature, check_token


def authenticate(
    settings: ServiceSettings, headers: Mapping[str, str], body: bytes, now: float
) -> None:
    """401 unless the configured token (and signing key, when set) are proven."""
    cfg = settings.gitlab
    if cfg.token is None and cfg.signing_key is None:
        raise Rejected(401, "GitLab webhooks are not configured (no token or signing key)")
    if cfg.token is not None:
        check_token(headers.get("x-gitlab-token"), cfg.token.get_secret_value())
    if cfg.signing_key is not None:
        check_standard_signature(
            headers, body, cfg.signing_key.get_secret_value(), now, settings.timestamp_tolerance_s
        )


def decide(
    settings: ServiceSettings, headers: Mapping[str, str], payload: dict[str, Any]
) -> Decision:
    """The decision for one authenticated GitLab event (headers in lower case)."""
    kind = payload.get("object_kind")
    user = _dict(payload.get("user"))
    if settings.gitlab.bot_username and user.get("username") == settings.gitlab.bot_username:
        return Ignored("event caused by the runner's own account")
    if kind == "issue":
        return _issue(settings, headers, payload)
    if kind == "note":
        return _note(settings, headers, payload)
    return Ignored(f"event {kind or 'unknown'!r} does not request a job")


def _issue(
    settings: ServiceSettings, headers: Mapping[str, str], payload: dict[str, Any]
) -> Decision:
    attrs = _dict(payload.get("object_attributes"))
    if _confidential(headers, attrs) and not settings.allow_confidential:
        return Ignored("confidential issue (service.allow_confidential is off)")
    label = settings.trigger_label
    action = attrs.get("action")
    current = _titles(attrs.get("labels", payload.get("labels")))
    if action == "open":
        if label not in current:
            return Ignored(f"issue opened without the {label!r} label")
    elif action == "update":
        change = _dict(_dict(payload.get("changes")).get("labels"))
        if (
            not change
            or label in _titles(change.get("previous"))
            or label not in _titles(change.get("current"))
        ):
            return Ignored(f"issue update does not add the {label!r} label")
    else:
        return Ignored(f"issue action {action!r} does not request a job")
    try:
        spec = specsource.fenced_block(attrs.get("description"))
    except SpecError as exc:
        return Ignored(f"no job: {exc}", invalid_spec=True)
    key = headers.get("idempotency-key")
    instance = _instance(headers, payload)
    dedupe = (
        f"gitlab:delivery:{key}"
        if key
        else f"gitlab:{instance}:issue:{attrs.get('id')}:{action}:{attrs.get('updated_at')}"
    )
    source = _source(payload, instance, attrs, "label", str(attrs.get("url") or ""))
    return JobRequest(source, dedupe, spec, key)


def _note(
    settings: ServiceSettings, headers: Mapping[str, str], payload: dict[str, Any]
) -> Decision:
    attrs = _dict(payload.get("object_attributes"))
    if attrs.get("noteable_type") != "Issue":
        return Ignored(f"comment on a {attrs.get('noteable_type') or 'unknown'}, not an issue")
    issue = _dict(payload.get("issue"))
    if _confidential(headers, issue) and not settings.allow_confidential:
        return Ignored("comment on a confidential issue (service.allow_confidential is off)")
    args = specsource.command_line(str(attrs.get("note") or ""), settings.command)
    if args is None:
        return Ignored(f"comment does not start with {settings.command}")
    try:
        spec = specsource.merge_layers(
            specsource.parse_command(args), specsource.fenced_block(issue.get("description"))
        )
    except SpecError as exc:
        return Ignored(f"no job: {exc}", invalid_spec=True)
    instance = _instance(headers, payload)
    # The comment id, not the delivery id: the same comment must never make two jobs.
    dedupe = f"gitlab:{instance}:note:{attrs.get('id')}"
    source = _source(payload, instance, issue, "comment", str(attrs.get("url") or ""))
    return JobRequest(source, dedupe, spec, headers.get("idempotency-key"))


def _source(
    payload: dict[str, Any], instance: str, issue: dict[str, Any], trigger: str, url: str
) -> Source:
    project = _dict(payload.get("project"))
    return Source(
        forge="gitlab",
        instance=instance,
        project_id=str(project.get("id", issue.get("project_id", ""))),
        project_path=str(project.get("path_with_namespace", "")),
        issue=str(issue.get("iid", "")),
        web_url=url,
        author=str(_dict(payload.get("user")).get("username", "")),
        trigger=trigger,
    )


def _confidential(headers: Mapping[str, str], issue: dict[str, Any]) -> bool:
    return bool(issue.get("confidential")) or headers.get("x-gitlab-event", "").startswith(
        "Confidential"
    )


def _instance(headers: Mapping[str, str], payload: dict[str, Any]) -> str:
    if headers.get("x-gitlab-instance"):
        return headers["x-gitlab-instance"].rstrip("/")
    web = str(_dict(payload.get("project")).get("web_url", ""))
    path = str(_dict(payload.get("project")).get("path_with_namespace", ""))
    return web.removesuffix("/" + path) if path else web


def _titles(labels: Any) -> set[str]:
    if not isinstance(labels, list):
        return set()
    return {str(item.get("title")) for item in labels if isinstance(item, dict)}


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
