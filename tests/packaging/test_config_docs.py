"""docs/configuration.md documents every setting: its key, default and environment variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.packaging.generators import load

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "configuration.md"


GEN = load("gen_config_docs")


def _rows() -> list[tuple[str, object]]:
    from runner.config import Settings

    return list(GEN.rows(Settings))


def _table_lines() -> dict[str, str]:
    """Setting key -> its table line in the document."""
    lines = {}
    text = DOC.read_text(encoding="utf-8")
    assert GEN.BEGIN in text, "docs/configuration.md has no generated settings tables"
    generated = text.split(GEN.BEGIN, 1)[1].split(GEN.END, 1)[0]
    for line in generated.splitlines():
        if line.startswith("| `"):
            lines[line.split("`", 2)[1]] = line
    return lines


def test_the_models_have_settings() -> None:
    keys = {row.key for _, row in _rows()}  # type: ignore[attr-defined]
    assert {"state_dir", "service.port", "sandbox.memory_mb", "ai.model"} <= keys
    assert len(keys) > 50


@pytest.mark.parametrize("row", [row for _, row in _rows()], ids=lambda row: row.key)
def test_every_setting_is_documented(row: object) -> None:
    lines = _table_lines()
    key, env, default = row.key, row.env, row.default  # type: ignore[attr-defined]
    assert key in lines, (
        f"docs/configuration.md misses the setting {key!r}: "
        "run `python packaging/gen_config_docs.py`"
    )
    assert f"`{env}`" in lines[key], f"{key}: environment variable {env} not documented"
    assert default in lines[key], f"{key}: default {default} not documented"


def test_env_names_follow_pydantic_settings() -> None:
    """OPTIRUNNER_ + the dotted key, upper case, with `__` between the levels."""
    from runner.config import Settings

    prefix = Settings.model_config.get("env_prefix")
    delimiter = Settings.model_config.get("env_nested_delimiter")
    assert (prefix, delimiter) == (GEN.ENV_PREFIX, "__")
    for _, row in _rows():
        assert row.env == prefix + row.key.replace(".", delimiter).upper()  # type: ignore[attr-defined]


def test_documented_env_name_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """A nested variable as the document names it reaches the setting."""
    from runner.config import load_settings

    monkeypatch.setenv("OPTIRUNNER_SERVICE__PORT", "9123")
    monkeypatch.setenv("OPTIRUNNER_SANDBOX__MEMORY_MB", "2048")
    settings = load_settings(None)
    assert settings.service.port == 9123
    assert settings.sandbox.memory_mb == 2048


def test_no_stale_rows() -> None:
    """Every documented key is still a setting (a removed one is not left in the tables)."""
    keys = {row.key for _, row in _rows()}  # type: ignore[attr-defined]
    stale = set(_table_lines()) - keys
    assert not stale, f"documented but not settings: {sorted(stale)}"
