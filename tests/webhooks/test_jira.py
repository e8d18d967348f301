"""Jira triggers beyond the fixtures: the comment twin, bots, security levels, blocks."""

from __future__ import annotations

import copy
import json
from typing import Any

from runner.config import ServiceSettings
from runner.webhooks import jira
from runner.webhooks.decision import Ignored, JobRequest

from .conftest import hook_settings, load_delivery


def payload(name: str) -> tuple[dict[str, str], dict[str, Any]]:
    headers, body = load_delivery("jira", name)
    return {k.lower(): v for k, v in headers.items()}, json.loads(body)


def issue_commented_twin() -> tuple[dict[str, str], dict[str, Any]]:
    """The jira:issue_updated delivery Jira also sends for the fixture's comment."""
    headers, comment = payload("cloud_comment_created")
    _, updated = payload("cloud_issue_updated_label_added")
    twin = copy.deepcopy(updated)
    twin["issue_event_type_name"] = "issue_commented"
    twin["comment"] = comment["comment"]
    del twin["changelog"]
    headers["x-atlassian-webhook-identifier"] = "another-delivery-id"
    return headers, twin


def test_comment_and_its_issue_updated_twin_share_one_key(settings: ServiceSettings) -> None:
    first = jira.decide(settings, *payload("cloud_comment_created"))
    second = jira.decide(settings, *issue_commented_twin())
    assert isinstance(first, JobRequest)
    assert isinstance(second, JobRequest)
    assert first.dedupe_key == second.dedupe_key
    assert first.delivery_id != second.delivery_id


def test_plain_comment_is_ignored(settings: ServiceSettings) -> None:
    headers, data = payload("cloud_comment_created")
    data["comment"]["body"] = "Any news?"
    decision = jira.decide(settings, headers, data)
    assert isinstance(decision, Ignored)
    assert "does not start with /optimize" in decision.reason


def test_bot_comment_is_ignored() -> None:
    settings = hook_settings(
        jira={
            "secret": "s",
            "projects": {"OPT": "acme/widgets"},
            "bot_account": "5b10ac8d82e05b22cc7d4ef5",
        }
    )
    decision = jira.decide(settings, *payload("cloud_comment_created"))
    assert isinstance(decision, Ignored)
    assert "own account" in decision.reason


def test_dc_bot_by_name_is_ignored() -> None:
    settings = hook_settings(jira={"secret": "s", "projects": {"OPT": "r"}, "bot_account": "jdoe"})
    assert isinstance(jira.decide(settings, *payload("dc_issue_updated_label_added")), Ignored)


def test_issue_with_security_level_is_ignored(settings: ServiceSettings) -> None:
    headers, data = payload("cloud_issue_created")
    data["issue"]["fields"]["security"] = {"id": "10001", "name": "Internal"}
    decision = jira.decide(settings, headers, data)
    assert isinstance(decision, Ignored)
    assert "security level" in decision.reason


def test_label_removed_or_other_field_is_ignored(settings: ServiceSettings) -> None:
    headers, data = payload("cloud_issue_updated_label_added")
    data["changelog"]["items"][0].update(fromString="backend optimize", toString="backend")
    assert isinstance(jira.decide(settings, headers, data), Ignored)
    data["changelog"]["items"] = [{"field": "summary", "fromString": "a", "toString": "b"}]
    assert isinstance(jira.decide(settings, headers, data), Ignored)


def test_created_without_label_is_ignored(settings: ServiceSettings) -> None:
    headers, data = payload("cloud_issue_created")
    data["issue"]["fields"]["labels"] = ["backend"]
    assert isinstance(jira.decide(settings, headers, data), Ignored)


def test_jira_code_block_gives_the_spec(settings: ServiceSettings) -> None:
    headers, data = payload("cloud_issue_created")
    data["issue"]["fields"]["description"] = (
        'Slow.\n{code:optirunner}\ntargets = ["src/w.py::f"]\n{code}\n'
    )
    decision = jira.decide(settings, headers, data)
    assert isinstance(decision, JobRequest)
    assert decision.spec == {"targets": ["src/w.py::f"]}


def test_label_event_with_bad_block_makes_no_job(settings: ServiceSettings) -> None:
    headers, data = payload("cloud_issue_created")
    data["issue"]["fields"]["description"] = '```optirunner\ntargets = ["../etc/x.py::f"]\n```'
    decision = jira.decide(settings, headers, data)
    assert isinstance(decision, Ignored)
    assert decision.invalid_spec


def test_other_events_are_ignored(settings: ServiceSettings) -> None:
    headers, data = payload("cloud_issue_created")
    data["webhookEvent"] = "jira:issue_deleted"
    assert isinstance(jira.decide(settings, headers, data), Ignored)


def test_created_without_delivery_header_keys_on_the_issue(settings: ServiceSettings) -> None:
    headers, data = payload("cloud_issue_created")
    del headers["x-atlassian-webhook-identifier"]
    decision = jira.decide(settings, headers, data)
    assert isinstance(decision, JobRequest)
    assert decision.dedupe_key == "jira:https://acme.atlassian.net:jira:issue_created:10042"


def test_rich_text_description_holds_no_block(settings: ServiceSettings) -> None:
    # Found by the schemathesis/mutation fuzz (was a 500): Jira can send a document object.
    headers, data = payload("cloud_issue_created")
    data["issue"]["fields"]["description"] = {"type": "doc", "version": 1, "content": []}
    decision = jira.decide(settings, headers, data)
    assert isinstance(decision, JobRequest)
    assert decision.spec == {}
