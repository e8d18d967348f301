"""Every shared webhook fixture, and the decision the runner takes on it."""

from __future__ import annotations

import pytest

from runner.config import ServiceSettings
from runner.webhooks.decision import Ignored, JobRequest
from runner.webhooks.receive import receive

from .conftest import FIXTURES, load_delivery

NOW = 1741084200.0
PARSE_ROWS = "src/widgets/csvparse.py::parse_rows"


def decide(settings: ServiceSettings, forge: str, name: str) -> JobRequest | Ignored:
    headers, body = load_delivery(forge, name)
    return receive(forge, settings, headers, body, NOW)


def test_every_fixture_is_covered() -> None:
    names = {f"{p.parent.name}/{p.name}" for p in FIXTURES.glob("*/*.json")}
    payloads = {n.removesuffix(".json") for n in names if not n.endswith(".headers.json")}
    assert payloads == set(EXPECTED)


# forge/name -> expected (trigger, dedupe key) for jobs, or a fragment of the ignore reason.
EXPECTED: dict[str, tuple[str, str] | str] = {
    "gitlab/issue_open": ("label", "gitlab:delivery:6f1c3a52-2b0e-4c55-9d8e-0c1f6a7b9e01"),
    "gitlab/issue_update_label_added": (
        "label",
        "gitlab:delivery:1d2e3f40-5a6b-4c7d-8e9f-a0b1c2d3e4f2",
    ),
    "gitlab/note_issue_optimize_command": (
        "comment",
        "gitlab:https://gitlab.example.com:note:1241",
    ),
    "gitlab/note_merge_request": "comment on a MergeRequest",
    "gitlab/merge_request_open": "runner's own account",
    "jira/cloud_issue_created": ("label", "jira:delivery:7d1f0c8e-3b9a-4f2e-a6d5-1c0b9e8f7a61"),
    "jira/cloud_issue_updated_label_added": (
        "label",
        "jira:delivery:8e2a1d9f-4cab-4a3f-b7e6-2d1ca0f9e872",
    ),
    "jira/cloud_comment_created": ("comment", "jira:https://acme.atlassian.net:comment:10107"),
    "jira/dc_issue_updated_label_added": ("label", "jira:https://jira.example.com:changelog:30117"),
}


@pytest.mark.parametrize("fixture", sorted(EXPECTED))
def test_fixture_decision(settings: ServiceSettings, fixture: str) -> None:
    forge, name = fixture.split("/")
    decision = decide(settings, forge, name)
    expected = EXPECTED[fixture]
    if isinstance(expected, str):
        assert isinstance(decision, Ignored)
        assert expected in decision.reason
        assert not decision.invalid_spec
    else:
        assert isinstance(decision, JobRequest), decision
        assert (decision.source.trigger, decision.dedupe_key) == expected


def test_gitlab_comment_source_and_spec(settings: ServiceSettings) -> None:
    decision = decide(settings, "gitlab", "note_issue_optimize_command")
    assert isinstance(decision, JobRequest)
    assert decision.spec == {"targets": [PARSE_ROWS]}
    src = decision.source
    assert (src.forge, src.project_id, src.project_path, src.issue, src.author) == (
        "gitlab",
        "14",
        "acme/widgets",
        "23",
        "jdoe",
    )
    assert src.web_url == "https://gitlab.example.com/acme/widgets/-/issues/23#note_1241"


def test_gitlab_label_job_has_a_partial_spec(settings: ServiceSettings) -> None:
    # No ```optirunner block: targets come later from the repository's .optirunner.toml.
    decision = decide(settings, "gitlab", "issue_open")
    assert isinstance(decision, JobRequest)
    assert decision.spec == {}
    assert decision.source.issue == "23"
    assert decision.source.web_url == "https://gitlab.example.com/acme/widgets/-/issues/23"


def test_jira_comment_source(settings: ServiceSettings) -> None:
    decision = decide(settings, "jira", "cloud_comment_created")
    assert isinstance(decision, JobRequest)
    assert decision.spec == {"targets": [PARSE_ROWS]}
    src = decision.source
    assert (src.forge, src.project_path, src.issue, src.jira_project) == (
        "jira",
        "acme/widgets",
        "OPT-42",
        "OPT",
    )
    assert src.web_url == "https://acme.atlassian.net/browse/OPT-42"
    assert src.author == "5b10ac8d82e05b22cc7d4ef5"


def test_jira_dc_author_is_the_user_name(settings: ServiceSettings) -> None:
    decision = decide(settings, "jira", "dc_issue_updated_label_added")
    assert isinstance(decision, JobRequest)
    assert decision.source.author == "jdoe"
    assert decision.delivery_id is None


def test_unmapped_jira_project_is_ignored() -> None:
    from .conftest import hook_settings

    settings = hook_settings(jira={"secret": "test-jira-webhook-secret", "projects": {}})
    decision = decide(settings, "jira", "cloud_issue_created")
    assert isinstance(decision, Ignored)
    assert "not mapped" in decision.reason


def test_other_trigger_label_ignores_fixture() -> None:
    from .conftest import hook_settings

    decision = decide(hook_settings(trigger_label="perf-run"), "gitlab", "issue_update_label_added")
    assert isinstance(decision, Ignored)
    assert "does not add" in decision.reason
