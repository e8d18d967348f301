"""Partial specs from commands and issue blocks (pure parsing)."""

from __future__ import annotations

import pytest

from runner.errors import SpecError
from runner.webhooks import specsource


def test_command_line_needs_a_whole_word() -> None:
    assert specsource.command_line("  /optimize a.py::f\nmore", "/optimize") == "a.py::f"
    assert specsource.command_line("/optimize", "/optimize") == ""
    assert specsource.command_line("/optimizer", "/optimize") is None
    assert specsource.command_line("hi\n/optimize", "/optimize") is None


def test_parse_command_options() -> None:
    spec = specsource.parse_command("a.py::f --bench-cmd 'python b.py' --max-candidates 4")
    assert spec == {"targets": ["a.py::f"], "bench_cmd": "python b.py", "max_candidates": 4}


@pytest.mark.parametrize(
    "args",
    ["--test-cmd", "--max-candidates 0", "--max-candidates 101", "--test-cmd ''", "/abs.py::f"],
)
def test_parse_command_errors(args: str) -> None:
    with pytest.raises(SpecError):
        specsource.parse_command(args)


def test_block_refuses_repo_and_unknown_keys() -> None:
    with pytest.raises(SpecError, match="unknown key"):
        specsource.fenced_block('```optirunner\nrepo = "/etc"\n```')


def test_block_types_are_checked() -> None:
    bad = ["targets = 3", "test_cmd = 1", "max_candidates = true", "float_tolerance = 2"]
    for line in bad:
        with pytest.raises(SpecError):
            specsource.fenced_block(f"```optirunner\n{line}\n```")


def test_block_absent_is_empty() -> None:
    assert specsource.fenced_block(None) == {}
    assert specsource.fenced_block("```python\nx = 1\n```") == {}


def test_block_single_target_string_and_tolerance() -> None:
    text = '```optirunner\ntargets = "a.py::f"\nfloat_tolerance = 0.001\n```'
    assert specsource.fenced_block(text) == {"targets": ["a.py::f"], "float_tolerance": 0.001}


def test_merge_layers_earlier_wins() -> None:
    merged = specsource.merge_layers({"a": 1}, {"a": 2, "b": 2}, {"b": 3, "c": 3})
    assert merged == {"a": 1, "b": 2, "c": 3}


# -- found by tests/webhooks/test_openapi_fuzz.py: each was a 500 ----------------------------
@pytest.mark.parametrize("value", ["inf", "-inf", "1e999", "nan"])
def test_block_max_candidates_infinite_is_a_spec_error(value: str) -> None:
    with pytest.raises(SpecError, match="max_candidates"):  # int(inf) raised OverflowError
        specsource.fenced_block(f"```optirunner\nmax_candidates = {value}\n```")


@pytest.mark.parametrize("description", [True, 3, ["```optirunner"], {"type": "doc"}])
def test_block_in_a_description_that_is_not_text_is_none(description: object) -> None:
    # e.g. Jira's rich-text (ADF) document; re.search() raised TypeError.
    assert specsource.fenced_block(description) == {}
