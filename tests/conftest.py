"""Shared fixtures: every test gets its own state directory and never touches /etc or /var."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _isolated_state(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = tmp_path_factory.mktemp("xdg-state")
    monkeypatch.setenv("XDG_STATE_HOME", str(state))
    monkeypatch.delenv("STATE_DIRECTORY", raising=False)
    for name in list(__import__("os").environ):
        if name.startswith("OPTIRUNNER_"):
            monkeypatch.delenv(name)


@pytest.fixture
def repo_root() -> Path:
    return Path(__file__).resolve().parents[1]
