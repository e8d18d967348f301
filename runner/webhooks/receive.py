"""One delivery from bytes to a decision: size, content type, authentication, JSON, triggers."""

from __future__ import annotations

from collections.abc import Mapping

from runner.config import ServiceSettings
from runner.webhooks import gitlab, jira
from runner.webhooks.decision import Decision
from runner.webhooks.verify import (
    Rejected,
    check_content_type,
    check_size,
    lower_headers,
    parse_json,
)

FORGES = ("gitlab", "jira")


def receive(
    forge: str, settings: ServiceSettings, headers: Mapping[str, str], body: bytes, now: float
) -> Decision:
    """Decide what a delivery means, or raise `Rejected` with the HTTP status to answer."""
    if forge not in FORGES:
        raise Rejected(404, f"unknown forge {forge!r}")
    lower = lower_headers(headers)
    check_size(body, settings.max_body_bytes)
    check_content_type(lower)
    if forge == "gitlab":
        gitlab.authenticate(settings, lower, body, now)
        return gitlab.decide(settings, lower, parse_json(body))
    jira.authenticate(settings, lower, body)
    return jira.decide(settings, lower, parse_json(body))
