"""Retry schedule, Retry-After parsing, API key lookup, the [ai] settings."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path

import pytest

from runner.agent.errors import RateLimited, RequestRejected, ServerError
from runner.agent.providers.sdk import retry_after
from runner.agent.retry import Attempts, RetryPolicy, with_retries
from runner.agent.secrets import NO_KEY_NEEDED, api_key
from runner.agent.settings import AISettings, key_environ
from runner.config import load_settings
from runner.errors import ConfigError

NOW = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)


def test_retry_after_forms() -> None:
    assert retry_after({"Retry-After": "7"}, NOW) == 7.0
    assert retry_after({"retry-after-ms": "250", "retry-after": "9"}, NOW) == 0.25
    assert retry_after({"retry-after": "Wed, 01 Jan 2025 12:00:30 GMT"}, NOW) == 30.0
    assert retry_after({"retry-after": "soon"}, NOW) is None
    assert retry_after({}, NOW) is None


def test_backoff_is_capped_exponential_with_jitter() -> None:
    policy = RetryPolicy(max_retries=6, backoff_s=1.0, backoff_cap_s=5.0)
    rng = random.Random(1)
    delays = [policy.delay(n, ServerError("x"), rng) for n in range(1, 7)]
    ceilings = [1, 2, 4, 5, 5, 5]
    for delay, ceiling in zip(delays, ceilings, strict=True):
        assert delay is not None
        assert ceiling / 2 <= delay <= ceiling
    assert policy.delay(7, ServerError("x"), rng) is None
    assert policy.delay(1, RequestRejected("401"), rng) is None


def test_retry_after_is_honoured_unless_too_long() -> None:
    policy = RetryPolicy(max_retry_after_s=60)
    rng = random.Random(0)
    assert policy.delay(1, RateLimited("429", retry_after=12), rng) == 12
    assert policy.delay(1, RateLimited("429", retry_after=600), rng) is None


def test_with_retries_sleeps_then_succeeds_or_reraises() -> None:
    outcomes: list[Exception | str] = [RateLimited("429", retry_after=3), ServerError("503"), "ok"]
    slept: list[float] = []

    def call() -> str:
        item = outcomes.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    attempts = Attempts()
    result = with_retries(
        call, RetryPolicy(backoff_s=2), sleep=slept.append, rng=random.Random(0), attempts=attempts
    )
    assert result == "ok"
    assert slept[0] == 3
    assert 2 <= slept[1] <= 4  # second attempt: ceiling 2 · 2¹
    assert len(attempts.failures) == 2

    def always() -> str:
        raise ServerError("down")

    with pytest.raises(ServerError):
        with_retries(always, RetryPolicy(max_retries=2), sleep=slept.append)
    with pytest.raises(ServerError):  # a wait longer than the budget left is not taken
        with_retries(always, RetryPolicy(), sleep=slept.append, deadline_left=lambda: 0.1)


def test_key_from_systemd_credentials_first(tmp_path: Path) -> None:
    (tmp_path / "optirunner-ai-api-key").write_text("sk-cred\n")
    environ = {"CREDENTIALS_DIRECTORY": str(tmp_path), "OPTIRUNNER_AI_API_KEY": "sk-env"}
    assert api_key("openai", AISettings(), environ, lambda s, u: "sk-ring") == "sk-cred"


def test_key_from_keyring_then_variable() -> None:
    calls: list[tuple[str, str]] = []

    def ring(service: str, user: str) -> str | None:
        calls.append((service, user))
        return "sk-ring"

    assert api_key("openai", AISettings(), {}, ring) == "sk-ring"
    assert calls == [("optirunner", "optirunner-ai-api-key")]
    env = {"OPTIRUNNER_AI_API_KEY": "sk-env"}
    assert api_key("openai", AISettings(), env, lambda s, u: None) == "sk-env"


def test_missing_key_names_every_place() -> None:
    with pytest.raises(ConfigError) as info:
        api_key("anthropic", AISettings(), {}, lambda s, u: None)
    message = str(info.value)
    for where in ("CREDENTIALS_DIRECTORY", "keyring", "OPTIRUNNER_AI_API_KEY", "anthropic"):
        assert where in message


def test_local_servers_need_no_key() -> None:
    local = AISettings(base_url="http://127.0.0.1:11434/v1")
    assert api_key("openai", local, {}, lambda s, u: None) == NO_KEY_NEEDED


def test_bound_environ_keeps_only_key_variables() -> None:
    ai = AISettings()
    ai.bind_environ({"OPTIRUNNER_AI_API_KEY": "sk", "HOME": "/root", "PATH": "/bin"})
    assert ai.environ == {"OPTIRUNNER_AI_API_KEY": "sk"}
    assert api_key("openai", ai, keyring_get=lambda s, u: None) == "sk"
    assert key_environ({"CREDENTIALS_DIRECTORY": ""}) == {}


def test_ai_settings_from_toml(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        """
provider = "openai"
[ai]
model = "gpt-4o-mini"
base_url = "http://gpu-box:8000/v1"
effort = 4
[ai.budgets]
max_turns = 3
[ai.prices."gpt-4o-mini"]
input_per_mtok = 0.15
output_per_mtok = 0.6
"""
    )
    settings = load_settings(config)
    assert settings.ai.model == "gpt-4o-mini"
    assert settings.ai.budgets.max_turns == 3
    price = settings.ai.price("gpt-4o-mini")
    assert price is not None
    assert price.cost(1_000_000, 1_000_000) == pytest.approx(0.75)
    config.write_text('[ai]\napi_key = "sk-in-a-file"\n')
    with pytest.raises(ConfigError, match=r"ai\.api_key"):
        load_settings(config)
