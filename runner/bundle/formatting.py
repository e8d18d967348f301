"""The project's own formatter, applied to a candidate's code before it is written back.

Only the candidate's definition is formatted (never the rest of the file), so every other
byte of the module stays as it was. The formatter is the one the project configures in
its `pyproject.toml` (`[tool.ruff]` / `[tool.ruff.format]`, else `[tool.black]`), run with
the project's interpreter inside the sandbox; a project that configures none gets none.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

#: Where the candidate's code is written for the formatter, inside the checkout (so that the
#: formatter finds the project's configuration by walking up from it).
SCRATCH = Path(".optirunner") / "format" / "candidate.py"


def configured_formatter(pyproject: str) -> str | None:
    """`ruff` or `black` when the project's pyproject.toml configures it, else None."""
    try:
        tools = tomllib.loads(pyproject).get("tool", {})
    except tomllib.TOMLDecodeError:
        return None
    if "ruff" in tools:
        return "ruff"
    if "black" in tools:
        return "black"
    return None


def formatter_argv(formatter: str, path: Path) -> list[str]:
    """The command that formats `path` in place with the project's interpreter."""
    if formatter == "ruff":
        return ["python", "-m", "ruff", "format", "--quiet", str(path)]
    return ["python", "-m", "black", "--quiet", str(path)]
