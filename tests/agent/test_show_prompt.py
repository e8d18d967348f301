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

LEXER = """class Token:
    def __init__(self, value):
        self.value = value
        self.note = "INIT_CANARY"

    def match(self, depth=0):
        return self._flatten(depth) == self.value

    def _flatten(self, depth=0):
        return "FLATTEN_CANARY"

    def unrelated(self):
        return "UNRELATED_CANARY"
"""
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


def show(repo: Path, target: str, out: Path, cfg: Path, provider: str) -> int:
    """`optirunner bundle create REPO -t TARGET --show-prompt --provider PROVIDER`."""
    return command.create(
        repo=repo,
        targets=[target],
        as_json=False,
        out=out,
        config=cfg,
        show_prompt=True,
        provider=provider,
    )


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_show_prompt_prints_the_exact_body(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], provider: str
) -> None:
    cfg = config(tmp_path, '[ai]\nmodel = "m-1"\nmax_tokens = 321\n')
    code = show(repo, "shop.py::price", tmp_path / "out", cfg, provider)
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


def test_show_prompt_shows_a_method_as_the_loop_sends_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = tmp_path / "lexer"
    repo.mkdir()
    (repo / "lexer.py").write_text(LEXER)
    code = show(
        repo,
        "lexer.py::Token.match",
        tmp_path / "out",
        config(tmp_path, '[ai]\nmodel = "m-1"\n'),
        "openai",
    )
    assert code == 0
    prompt = json.loads(capsys.readouterr().out)[0]["messages"][1]["content"]
    assert "    def _flatten(self, depth=0): ...\n" in prompt
    assert "CANARY" not in prompt
    assert "lexer.py class outline Token" in prompt


def test_show_prompt_needs_an_ai_provider_and_a_model(repo: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"ai\.model"):
        show(repo, "shop.py::price", tmp_path / "a", config(tmp_path, ""), "openai")
    with pytest.raises(ConfigError, match="does not call a model"):
        show(
            repo, "shop.py::price", tmp_path / "b", config(tmp_path, '[ai]\nmodel = "m"\n'), "rules"
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
