"""The stored webhook secret fills the unset GitLab token and Jira secret."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from runner.config import Settings
from runner.webhooks.secrets import WEBHOOK_CREDENTIAL, apply_webhook_secret


def _settings(tmp_path: Path) -> Settings:
    return Settings(state_dir=tmp_path / "state")


def test_credential_fills_both_checks(tmp_path: Path) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / WEBHOOK_CREDENTIAL).write_text("s3cret-from-configure\n", encoding="utf-8")
    settings = _settings(tmp_path)
    filled = apply_webhook_secret(settings, {"CREDENTIALS_DIRECTORY": str(creds)})
    assert filled == ["service.gitlab.token", "service.jira.secret"]
    assert settings.service.gitlab.token is not None
    assert settings.service.gitlab.token.get_secret_value() == "s3cret-from-configure"
    assert settings.service.jira.secret is not None
    assert settings.service.jira.secret.get_secret_value() == "s3cret-from-configure"


def test_explicit_settings_win_over_the_credential(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    settings.service.gitlab.token = SecretStr("explicit")
    filled = apply_webhook_secret(settings, {"OPTIRUNNER_WEBHOOK_SECRET": "stored"})
    assert filled == ["service.jira.secret"]
    assert settings.service.gitlab.token.get_secret_value() == "explicit"


def test_nothing_stored_changes_nothing(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    assert apply_webhook_secret(settings, {}) == []
    assert settings.service.gitlab.token is None
    assert settings.service.jira.secret is None
