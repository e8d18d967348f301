"""`bundle create --show-prompt` and the provider registry with settings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runner.agent.providers import load_provider
from runner.agent.providers.llm import LLMProvider, request_payload
from runner.agent.providers.rules import RulesProvider
from runner.commands import bundle as command
from runner.config import load_settings
from runner.errors import ConfigError

MODULE = """RATE = 3


def price(items):
    return sum(x * RATE for x in items)


def unrelated():
    return "not in the prompt"
"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "shop"
    root.mkdir()
    (root / "shop.py").write_text(MODULE)
    return root


def config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_show_prompt_prints_the_exact_body(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], provider: str
) -> None:
    cfg = config(tmp_path, '[ai]\nmodel = "m-1"\nmax_tokens = 321\n')
    code = command.create(
        repo=repo,
        targets=["shop.py::price"],
        as_json=False,
        out=tmp_path / "out",
        config=cfg,
        show_prompt=True,
        provider=provider,
    )
    assert code == 0
    bodies = json.loads(capsys.readouterr().out)
    assert len(bodies) == 1
    body = bodies[0]
    assert body["model"] == "m-1"
    assert body["max_tokens"] == 321
    text = json.dumps(body)
    assert "def price(items):" in text
    assert "not in the prompt" not in text
    assert ("system" in body) == (provider == "anthropic")


def test_show_prompt_needs_an_ai_provider_and_a_model(repo: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"ai\.model"):
        command.create(
            repo=repo,
            targets=["shop.py::price"],
            as_json=False,
            out=tmp_path / "a",
            config=config(tmp_path, ""),
            show_prompt=True,
            provider="openai",
        )
    with pytest.raises(ConfigError, match="does not call a model"):
        command.create(
            repo=repo,
            targets=["shop.py::price"],
            as_json=False,
            out=tmp_path / "b",
            config=config(tmp_path, '[ai]\nmodel = "m"\n'),
            show_prompt=True,
            provider="rules",
        )


def test_registry_passes_settings_to_ai_providers(tmp_path: Path) -> None:
    settings = load_settings(
        config(tmp_path, '[ai]\nmodel = "m"\nbase_url = "http://127.0.0.1:9/v1"\n')
    )
    assert isinstance(load_provider("rules", settings), RulesProvider)
    assert isinstance(load_provider("rules"), RulesProvider)
    provider = load_provider("openai", settings)  # a local server needs no key
    assert isinstance(provider, LLMProvider)
    assert provider.name == "openai"
    remote = settings.model_copy(
        update={"ai": settings.ai.model_copy(update={"base_url": "https://api.example.com"})}
    )
    with pytest.raises(ConfigError, match="no API key"):
        load_provider("anthropic", remote)
    remote.ai.bind_environ({"OPTIRUNNER_AI_API_KEY": "sk-x"})
    assert load_provider("anthropic", remote).name == "anthropic"
    with pytest.raises(ConfigError, match="needs the settings"):
        load_provider("openai")


def test_request_payload_rejects_unknown_providers() -> None:
    with pytest.raises(ConfigError):
        request_payload("rules", load_settings().ai, None)  # type: ignore[arg-type]
