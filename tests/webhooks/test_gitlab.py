"""GitLab triggers beyond the fixtures: commands, options, confidential issues, bad specs."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from runner.config import ServiceSettings
from runner.webhooks import gitlab
from runner.webhooks.decision import Ignored, JobRequest

from .conftest import hook_settings, load_delivery


def payload(name: str) -> tuple[dict[str, str], dict[str, Any]]:
    headers, body = load_delivery("gitlab", name)
    return {k.lower(): v for k, v in headers.items()}, json.loads(body)


def note(text: str, **issue: Any) -> tuple[dict[str, str], dict[str, Any]]:
    headers, data = payload("note_issue_optimize_command")
    data = copy.deepcopy(data)
    data["object_attributes"]["note"] = text
    data["issue"].update(issue)
    return headers, data


def test_command_with_options(settings: ServiceSettings) -> None:
    headers, data = note(
        "/optimize a.py::f b.py::C.m --test-cmd 'pytest -q tests' --max-candidates=2\nthanks!"
    )
    decision = gitlab.decide(settings, headers, data)
    assert isinstance(decision, JobRequest)
    assert decision.spec == {
        "targets": ["a.py::f", "b.py::C.m"],
        "test_cmd": "pytest -q tests",
        "max_candidates": 2,
    }


def test_command_beats_the_issue_block(settings: ServiceSettings) -> None:
    block = '```optirunner\ntargets = ["x.py::g"]\nbench_cmd = "python bench.py"\n```'
    headers, data = note("/optimize a.py::f", description=f"Please.\n\n{block}\n")
    decision = gitlab.decide(settings, headers, data)
    assert isinstance(decision, JobRequest)
    assert decision.spec == {"targets": ["a.py::f"], "bench_cmd": "python bench.py"}


def test_bare_command_is_a_job_with_targets_from_elsewhere(settings: ServiceSettings) -> None:
    decision = gitlab.decide(settings, *note("/optimize"))
    assert isinstance(decision, JobRequest)
    assert decision.spec == {}


def test_other_comments_are_ignored(settings: ServiceSettings) -> None:
    for text in ("LGTM", "/optimizer a.py::f", "please /optimize a.py::f"):
        decision = gitlab.decide(settings, *note(text))
        assert isinstance(decision, Ignored), text
        assert not decision.invalid_spec


def test_bad_command_is_an_invalid_spec(settings: ServiceSettings) -> None:
    for text in (
        "/optimize --frobnicate",
        "/optimize a.py",
        "/optimize --max-candidates x",
        "/optimize 'a",
    ):
        decision = gitlab.decide(settings, *note(text))
        assert isinstance(decision, Ignored), text
        assert decision.invalid_spec
        assert decision.reason.startswith("no job:")


@pytest.mark.parametrize(
    ("fixture", "description", "reason"),
    [
        ("issue_update_label_added", "```optirunner\ntargets = [\n```\n", "not valid TOML"),
        # Found by the fuzz test (was a 500): int(inf) raised OverflowError.
        (
            "issue_open",
            "```optirunner\nmax_candidates = inf\n```",
            "max_candidates must be an integer",
        ),
    ],
)
def test_issue_event_with_a_bad_block_makes_no_job(
    settings: ServiceSettings, fixture: str, description: str, reason: str
) -> None:
    headers, data = payload(fixture)
    data["object_attributes"]["description"] = description
    decision = gitlab.decide(settings, headers, data)
    assert isinstance(decision, Ignored)
    assert decision.invalid_spec
    assert reason in decision.reason


def test_label_event_with_block(settings: ServiceSettings) -> None:
    headers, data = payload("issue_open")
    data["object_attributes"]["description"] = (
        '```optirunner\ntargets = ["src/w.py::f"]\nmax_candidates = 3\n```'
    )
    decision = gitlab.decide(settings, headers, data)
    assert isinstance(decision, JobRequest)
    assert decision.spec == {"targets": ["src/w.py::f"], "max_candidates": 3}


def test_label_already_present_is_ignored(settings: ServiceSettings) -> None:
    headers, data = payload("issue_update_label_added")
    data["changes"]["labels"]["previous"] = data["changes"]["labels"]["current"]
    assert isinstance(gitlab.decide(settings, headers, data), Ignored)
    del data["changes"]["labels"]
    assert isinstance(gitlab.decide(settings, headers, data), Ignored)


def test_close_action_is_ignored(settings: ServiceSettings) -> None:
    headers, data = payload("issue_open")
    data["object_attributes"]["action"] = "close"
    assert isinstance(gitlab.decide(settings, headers, data), Ignored)


def test_confidential_issue_is_ignored_unless_allowed(settings: ServiceSettings) -> None:
    headers, data = payload("issue_open")
    headers["x-gitlab-event"] = "Confidential Issue Hook"
    decision = gitlab.decide(settings, headers, data)
    assert isinstance(decision, Ignored)
    assert "confidential" in decision.reason
    allowed = hook_settings(allow_confidential=True)
    assert isinstance(gitlab.decide(allowed, headers, data), JobRequest)
    c_headers, c_data = note("/optimize a.py::f", confidential=True)
    assert isinstance(gitlab.decide(settings, c_headers, c_data), Ignored)


def test_bot_comment_is_ignored(settings: ServiceSettings) -> None:
    headers, data = note("/optimize a.py::f")
    data["user"]["username"] = "optimizer-bot"
    decision = gitlab.decide(settings, headers, data)
    assert isinstance(decision, Ignored)
    assert "own account" in decision.reason


def test_label_event_without_idempotency_key_uses_the_event(settings: ServiceSettings) -> None:
    headers, data = payload("issue_update_label_added")
    del headers["idempotency-key"]
    decision = gitlab.decide(settings, headers, data)
    assert isinstance(decision, JobRequest)
    assert decision.dedupe_key == (
        "gitlab:https://gitlab.example.com:issue:301:update:2025-03-04T10:20:00Z"
    )


def test_unknown_event_is_ignored(settings: ServiceSettings) -> None:
    decision = gitlab.decide(settings, {}, {"object_kind": "pipeline", "user": {}})
    assert isinstance(decision, Ignored)
    assert "pipeline" in decision.reason
