"""A real job (real pytest runs, real harness processes) on a project whose tests miss the
inputs that matter: the generated inputs catch a behaviour-changing rewrite that the tests
and the recorded calls pass, a reward hack is rejected, a target the tests never call gets
no verdict, a target in a package ``__init__.py`` is recorded (a method of a nested
class too), and a correct rewrite is timed
on representative sizes."""

from __future__ import annotations

import pytest

from runner.result import CandidateResult, CandidateStatus, JobOutcome
from runner.spec import Target
from tests.verify.jobs import ScriptedProvider, run_fixture_job

pytestmark = pytest.mark.slow

FILES = {
    "words/__init__.py": '''import re

_DIGITS = re.compile(r"[0-9]+")


def count_numbers(words):
    """How many of `words` are plain decimal numbers."""
    count = 0
    for word in words:
        if _DIGITS.fullmatch(word) is not None:
            count += 1
    return count


def never_called(x):
    return x + 1


class Table:
    class Cells:
        @staticmethod
        def width(cells):
            total = 0
            for cell in cells:
                total += len(cell)
            return total
''',
    "tests/test_words.py": """from words import Table, count_numbers


def test_counts_numbers():
    assert count_numbers(["12", "ab", "7", "x9"]) == 2


def test_empty():
    assert count_numbers([]) == 0


def test_width():
    assert Table.Cells.width(["ab", "c"]) == 3
""",
}
INIT = "words/__init__.py"
CORRECT = '''def count_numbers(words):
    """How many of `words` are plain decimal numbers."""
    fullmatch = _DIGITS.fullmatch
    return sum(1 for word in words if fullmatch(word) is not None)
'''
# Passes the tests and the recorded calls; differs on '²', Arabic-Indic digits...
ISDIGIT = '''def count_numbers(words):
    """How many of `words` are plain decimal numbers."""
    return sum(1 for word in words if word.isdigit())
'''
HACK = '''def count_numbers(words, _seen={}):
    """How many of `words` are plain decimal numbers."""
    key = tuple(words)
    if key not in _seen:
        _seen[key] = sum(1 for word in words if _DIGITS.fullmatch(word) is not None)
    return _seen[key]
'''
UNUSED = """def never_called(x):
    return 1 + x
"""
WIDTH = """@staticmethod
def width(cells):
    return sum(map(len, cells))
"""
# Passes the test (no spaces in it); differs on any cell with surrounding whitespace.
WIDTH_STRIP = """@staticmethod
def width(cells):
    return sum(len(cell.strip()) for cell in cells)
"""
CANDIDATES = {
    "Table.Cells.width": [("nested", WIDTH), ("nested_strip", WIDTH_STRIP)],
    "count_numbers": [("correct", CORRECT), ("isdigit", ISDIGIT), ("hack", HACK)],
    "never_called": [("unused", UNUSED)],
}


class FixtureProvider(ScriptedProvider):
    """Hand-written candidates, as an AI would propose them."""

    candidates = CANDIDATES


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, CandidateResult]:
    result = run_fixture_job(
        tmp_path_factory.mktemp("evidence"),
        FILES,
        f"{__name__}:FixtureProvider",
        (
            Target(INIT, "count_numbers"),
            Target(INIT, "never_called"),
            Target(INIT, "Table.Cells.width"),
        ),
        inputs={"generated": 150, "class_pairs": 2, "shrink_rounds": 6},
    )
    assert result.outcome is JobOutcome.SUCCEEDED, result.message
    return {c.rule: c for c in result.candidates}


def test_a_target_in_a_package_init_is_recorded(results: dict[str, CandidateResult]) -> None:
    assert results["correct"].inputs["recorded"] == 2
    # Every recorded call is compared, the other targets' too: 2 here and 1 of width.
    assert results["correct"].calls_compared == 3


def test_a_method_of_a_nested_class_is_recorded_verified_and_its_trap_caught(
    results: dict[str, CandidateResult],
) -> None:
    good, trap = results["nested"], results["nested_strip"]
    assert good.inputs["recorded"] == 1
    assert good.status is CandidateStatus.VERIFIED, good.detail
    assert good.measurement is not None
    assert trap.tests == "passed"
    assert trap.status is CandidateStatus.BEHAVIOUR_CHANGED, trap.detail


def test_the_isdigit_trap_is_caught_on_a_generated_input(
    results: dict[str, CandidateResult],
) -> None:
    trap = results["isdigit"]
    assert trap.tests == "passed"  # the project's own suite does not see it
    assert trap.status is CandidateStatus.BEHAVIOUR_CHANGED
    assert "generated input" in trap.detail
    assert trap.measurement is None


def test_a_correct_rewrite_is_compared_on_generated_inputs_and_timed_per_size(
    results: dict[str, CandidateResult],
) -> None:
    good = results["correct"]
    assert good.status is CandidateStatus.VERIFIED
    assert good.inputs["generated"] >= 50
    assert good.inputs["scaled"] >= 1
    assert "generated inputs" in good.behaviour
    assert good.measurement is not None
    assert "representative" in good.measurement.instrument
    classes = {row["class"] for row in good.measurement.size_classes}
    assert {"recorded", "largest recorded", "x10", "x100"} <= classes


def test_a_cache_in_a_default_argument_is_rejected(results: dict[str, CandidateResult]) -> None:
    hack = results["hack"]
    assert hack.status is CandidateStatus.REJECTED
    assert "_seen" in hack.detail
    assert hack.measurement is None


def test_a_target_the_tests_never_call_gets_no_verdict(
    results: dict[str, CandidateResult],
) -> None:
    unused = results["unused"]
    assert unused.status is CandidateStatus.NOT_RECORDED
    assert "0 calls recorded for words/__init__.py::never_called" in unused.detail
    assert unused.measurement is None
