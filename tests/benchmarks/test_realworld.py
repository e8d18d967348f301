"""A CI-sized subset of the real-library evaluation (`benchmarks/realworld.py`).

Each case downloads a pinned sdist (cached in ~/.cache/optirunner-eval-sdists), checks the
candidate independently (the project's suite with it applied, a probe, A/B timing) and then
runs `optirunner optimize` against a local fake OpenAI server that answers with it.
Markers `xfail(strict=True, reason="issue 17: ...")` name what the verification work in
issue 17 must fix; they flip to failures (XPASS) when it lands, and are then removed.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).parents[2] / "benchmarks" / "realworld.py"


def _realworld() -> Any:
    name = "benchmarks_realworld"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, SCRIPT)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture(scope="module")
def realworld() -> Any:
    return _realworld()


@pytest.fixture(scope="module")
def python(realworld: Any) -> Path:
    try:
        for name in ("tabulate", "sqlparse", "text-unidecode", "parse", "jsonpointer"):
            realworld.source_tree(realworld.PROJECTS[name])
        found: Path = realworld.eval_python()
    except realworld.EvalError as exc:
        pytest.skip(f"the real libraries are not available: {exc}")
    return found


def _case(realworld: Any, python: Path, name: str) -> dict[str, Any]:
    pool = [*realworld.CANDIDATES, *realworld.IDENTICAL]
    candidate = next(c for c in pool if c.name == name)
    row: dict[str, Any] = realworld.run_case(candidate, python, budget=8.0, pairs=15)
    return row


def _trap(realworld: Any, python: Path, name: str) -> dict[str, Any]:
    row = _case(realworld, python, name)
    # The trap is a trap: the project's own suite passes, and it differs on the probe.
    assert row["suite"]["passed"], row["suite"]
    assert row["independent"]["probe"]["differs"], row["independent"]
    assert "error" not in row["runner"], row["runner"]
    return row


def test_the_isdigit_trap_is_caught(realworld: Any, python: Path) -> None:
    """tabulate's _isint (in tabulate/__init__.py) with str.isdigit(): '²', ' 42', '0\\n'."""
    row = _trap(realworld, python, "tabulate_isint_isdigit_trap")
    assert not row["accepted"], row["runner"]
    assert row["caught"] == "yes", row["runner"]


def test_the_case_insensitive_trap_in_a_method_is_caught(realworld: Any, python: Path) -> None:
    """sqlparse's Token.match upper-casing names too: 'users' matches 'USERS'. No recorded
    call asks a name token about its own ttype; a generated one does (the ttype linked to
    the token's own), with the token's text re-cased as the values."""
    row = _trap(realworld, python, "sqlparse_match_upper_trap")
    assert row["runner"]["status"] == "behaviour changed", row["runner"]
    assert row["caught"] == "yes", row["runner"]
    detail = row["runner"]["detail"]
    assert "argument 1 = argument 0.ttype" in detail, detail
    assert "is_keyword=False" in detail, detail
    assert "return: baseline False, candidate True" in detail, detail


def test_a_correct_rewrite_is_verified_faster(realworld: Any, python: Path) -> None:
    """text-unidecode's unidecode (in the package __init__.py) with an ASCII fast path."""
    row = _case(realworld, python, "unidecode_ascii_fastpath")
    assert row["correct_valid"], row
    assert row["independent"]["timing"]["speedup"] > 1.2, row["independent"]
    assert row["runner"]["status"] == "verified", row["runner"]
    assert row["accepted"], row["runner"]


def test_the_isdigit_trap_in_a_method_with_a_match_argument_is_caught(
    realworld: Any, python: Path
) -> None:
    """parse's int_convert.__call__(string, match) with a str.isdigit() fast path: '٣٤'.
    The re.Match argument is recorded (pattern, string, spans) and pickled for the
    generated calls, which give the recorded numbers in other scripts' digits."""
    row = _trap(realworld, python, "parse_int_convert_isdigit_trap")
    assert row["caught"] == "yes", row["runner"]  # for the right reason, not a refusal
    assert "generated input" in row["runner"]["detail"], row["runner"]


def test_an_identical_rewrite_with_a_module_sentinel_is_not_behaviour_changed(
    realworld: Any, python: Path
) -> None:
    """jsonpointer's JsonPointer.resolve returns the module-level `_nothing = object()`
    for a missing part: compared by its name, the unchanged method is never rejected."""
    row = _case(realworld, python, "jsonpointer_JsonPointer_resolve_identical")
    assert row["runner"]["status"] == "verified", row["runner"]
    assert row["identical_ok"], row["runner"]
