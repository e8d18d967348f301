"""Webhook fixtures (byte-exact copies of ../shared/fixtures/webhooks) and settings for them."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from runner.config import ServiceSettings

FIXTURES = Path(__file__).parent / "fixtures"
GITLAB_TOKEN = "test-gitlab-webhook-token"  # noqa: S105 - the fixtures' test token
JIRA_SECRET = "test-jira-webhook-secret"  # noqa: S105 - the fixtures' test secret

Delivery = tuple[dict[str, str], bytes]


def load_delivery(forge: str, name: str) -> Delivery:
    """The headers and the exact body bytes of one fixture."""
    headers = json.loads((FIXTURES / forge / f"{name}.headers.json").read_text())
    return headers, (FIXTURES / forge / f"{name}.json").read_bytes()


def hook_settings(**changes: object) -> ServiceSettings:
    """Service settings that accept the fixtures' secrets; the bot is `optimizer-bot`."""
    base: dict[str, object] = {
        "gitlab": {"token": GITLAB_TOKEN, "bot_username": "optimizer-bot"},
        "jira": {"secret": JIRA_SECRET, "projects": {"OPT": "acme/widgets"}},
    }
    base.update(changes)
    return ServiceSettings.model_validate(base)


@pytest.fixture
def delivery() -> Callable[[str, str], Delivery]:
    return load_delivery


@pytest.fixture
def settings() -> ServiceSettings:
    return hook_settings()
