"""Which formatter a project configures, and the command that runs it."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.bundle.formatting import configured_formatter, formatter_argv


@pytest.mark.parametrize(
    ("pyproject", "expected"),
    [
        ("[tool.ruff]\nline-length = 100\n", "ruff"),
        ("[tool.ruff.format]\nquote-style = 'single'\n", "ruff"),
        ("[tool.black]\nline-length = 88\n", "black"),
        ("[tool.black]\n[tool.ruff]\n", "ruff"),
        ("[project]\nname = 'x'\n", None),
        ("this is [not toml", None),
    ],
)
def test_configured_formatter(pyproject: str, expected: str | None) -> None:
    assert configured_formatter(pyproject) == expected


def test_formatter_argv_uses_the_projects_interpreter() -> None:
    assert formatter_argv("ruff", Path("a.py"))[:4] == ["python", "-m", "ruff", "format"]
    assert formatter_argv("black", Path("a.py"))[:3] == ["python", "-m", "black"]
