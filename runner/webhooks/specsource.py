"""The partial job spec an issue asks for: `/optimize` arguments and a fenced ```optirunner block.

Precedence, highest first: command arguments, the issue's fenced block, the repository's
`.optirunner.toml` (read later by the worker, see `merge_layers`). Everything here is pure.
"""

from __future__ import annotations

import re
import shlex
import tomllib
from collections.abc import Mapping
from typing import Any

from runner.errors import SpecError
from runner.spec import Target, split_command, workload_argv

# Keys an issue may set. `repo` is deliberately absent: an issue author must not be able
# to point the runner at an arbitrary folder of its host.
ALLOWED_KEYS = (
    "targets",
    "test_cmd",
    "bench_cmd",
    "workload_cmd",
    "max_candidates",
    "float_tolerance",
)
OPTIONS = {
    "--test-cmd": "test_cmd",
    "--bench-cmd": "bench_cmd",
    "--workload": "workload_cmd",
    "--max-candidates": "max_candidates",
}
MAX_CANDIDATES = 100

_FENCE = re.compile(r"^```[ \t]*optirunner[ \t]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
_JIRA_CODE = re.compile(r"\{code:optirunner\}\n?(.*?)\{code\}", re.DOTALL)


def command_line(text: str, command: str) -> str | None:
    """The first line of `text` when the text starts with `command` (a whole word), else None."""
    first = text.strip().split("\n", 1)[0].strip()
    if first == command or first.startswith(command + " "):
        return first[len(command) :].strip()
    return None


def parse_command(args: str) -> dict[str, Any]:
    """`targets... --test-cmd CMD --bench-cmd CMD --max-candidates N` into a partial spec."""
    try:
        tokens = shlex.split(args)
    except ValueError as exc:
        raise SpecError(f"cannot parse the command arguments: {exc}") from None
    spec: dict[str, Any] = {}
    targets: list[str] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token.startswith("--"):
            name, eq, value = token.partition("=")
            if name not in OPTIONS:
                raise SpecError(f"unknown option {name!r} (known: {', '.join(OPTIONS)})")
            if not eq:
                i += 1
                if i >= len(tokens):
                    raise SpecError(f"option {name} needs a value")
                value = tokens[i]
            spec[OPTIONS[name]] = value
        else:
            targets.append(token)
        i += 1
    if targets:
        spec["targets"] = targets
    return validate(spec, "the command")


def fenced_block(description: object) -> dict[str, Any]:
    """The TOML of the first ```optirunner (or Jira {code:optirunner}) block, validated.

    A description that is not text (null, or Jira's rich-text document) holds no block.
    """
    if not description or not isinstance(description, str):
        return {}
    match = _FENCE.search(description) or _JIRA_CODE.search(description)
    if match is None:
        return {}
    try:
        data = tomllib.loads(match.group(1))
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"the optirunner block is not valid TOML: {exc}") from None
    return validate(data, "the optirunner block")


def validate(data: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Check keys and values of a partial spec; raise SpecError naming `where`."""
    unknown = sorted(set(data) - set(ALLOWED_KEYS))
    if unknown:
        raise SpecError(f"{where}: unknown key(s) {', '.join(unknown)}")
    spec: dict[str, Any] = {}
    if "targets" in data:
        spec["targets"] = _targets(data["targets"], where)
    for key, option in (("test_cmd", "--test-cmd"), ("bench_cmd", "--bench-cmd")):
        if key in data:
            if not isinstance(data[key], str):
                raise SpecError(f"{where}: {key} must be a string")
            split_command(data[key], option)
            spec[key] = data[key]
    if "workload_cmd" in data:
        if not isinstance(data["workload_cmd"], str):
            raise SpecError(f"{where}: workload_cmd must be a string")
        try:
            workload_argv(data["workload_cmd"])
        except SpecError as exc:
            raise SpecError(f"{where}: {exc}") from None
        spec["workload_cmd"] = data["workload_cmd"]
    if "max_candidates" in data:
        spec["max_candidates"] = _max_candidates(data["max_candidates"], where)
    if "float_tolerance" in data:
        spec["float_tolerance"] = _tolerance(data["float_tolerance"], where)
    return spec


def _targets(value: Any, where: str) -> list[str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(t, str) for t in items):
        raise SpecError(f"{where}: targets must be a list of strings")
    return [str(Target.parse(t)) for t in items]


def _max_candidates(value: Any, where: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: TOML's inf
        raise SpecError(f"{where}: max_candidates must be an integer, not {value!r}") from None
    if isinstance(value, bool) or not 1 <= number <= MAX_CANDIDATES:
        raise SpecError(f"{where}: max_candidates must be between 1 and {MAX_CANDIDATES}")
    return number


def _tolerance(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1:
        raise SpecError(f"{where}: float_tolerance must be a number in [0, 1)")
    return float(value)


def merge_layers(*layers: Mapping[str, Any]) -> dict[str, Any]:
    """Merge partial specs; earlier layers win (command > issue block > repository file)."""
    merged: dict[str, Any] = {}
    for layer in reversed(layers):
        merged.update(layer)
    return merged
