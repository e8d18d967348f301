from __future__ import annotations

from pathlib import Path

import pytest

from runner.config import default_state_dir, load_settings
from runner.errors import ConfigError


def test_defaults_put_state_under_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    settings = load_settings()
    assert settings.state_dir == tmp_path / "optirunner"
    assert settings.provider == "rules"
    assert settings.test_cmd == "python -m pytest -x -q"


def test_state_dir_prefers_systemd() -> None:
    assert default_state_dir({"STATE_DIRECTORY": "/var/lib/optirunner"}) == Path(
        "/var/lib/optirunner"
    )
    assert default_state_dir({"HOME": "/home/u"}) == Path("/home/u/.local/state/optirunner")


def test_precedence_file_env_flags(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config.toml"
    config.write_text('max_candidates = 7\nprovider = "rules"\n[sandbox]\nmemory_mb = 512\n')
    assert load_settings(config).max_candidates == 7
    assert load_settings(config).sandbox.memory_mb == 512
    monkeypatch.setenv("OPTIRUNNER_MAX_CANDIDATES", "4")
    monkeypatch.setenv("OPTIRUNNER_SANDBOX__MEMORY_MB", "256")
    assert load_settings(config).max_candidates == 4
    assert load_settings(config).sandbox.memory_mb == 256
    assert load_settings(config, max_candidates=2).max_candidates == 2
    assert load_settings(config, max_candidates=None).max_candidates == 4


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("max_candidatez = 1\n", "invalid setting max_candidatez"),
        ("max_candidates = 0\n", "invalid setting max_candidates"),
        ("max_candidates = \n", "cannot read configuration"),
        ("[sandbox]\nbackend = 'docker'\n", "invalid setting sandbox.backend"),
    ],
)
def test_bad_config_is_one_clear_error(tmp_path: Path, text: str, message: str) -> None:
    config = tmp_path / "config.toml"
    config.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_settings(config)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "absent.toml")
