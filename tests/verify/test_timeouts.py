"""A candidate's test run: its time limit, scaled from the baseline's, and stopping at the
first failure."""

from __future__ import annotations

import pytest

from runner.verify.recording import with_first_failure
from runner.verify.timeouts import candidate_timeout

RULE = {"factor": 3.0, "margin_s": 60.0, "cap_s": 600.0}


@pytest.mark.parametrize(
    ("baseline_s", "limit"),
    [
        (5.0, 65.0),  # short suites: the margin decides
        (30.0, 90.0),  # the two agree at 30 s
        (100.0, 300.0),  # long suites: the factor decides
        (490.0, 600.0),  # never above the cap
        (0.0, 60.0),
    ],
)
def test_the_limit_is_the_larger_of_factor_and_margin_under_the_cap(
    baseline_s: float, limit: float
) -> None:
    assert candidate_timeout(baseline_s, **RULE)[0] == pytest.approx(limit)


def test_the_rule_says_how_the_limit_was_reached() -> None:
    assert candidate_timeout(21.0, **RULE)[1] == (
        "max(3 × the baseline's 21.0 s, 21.0 s + 60 s) = 81 s"
    )
    capped = candidate_timeout(490.0, **RULE)[1]
    assert capped.startswith("sandbox.test_timeout_s, 600 s, which is under max(3 × ")
    assert candidate_timeout(None, **RULE) == (
        600.0,
        "sandbox.test_timeout_s, 600 s, as the baseline's time is unknown",
    )


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["pytest", "-q"], ["pytest", "--maxfail=1", "-q"]),
        (
            ["python", "-m", "pytest", "-p", "optirunner_record", "tests"],
            ["python", "-m", "pytest", "--maxfail=1", "-p", "optirunner_record", "tests"],
        ),
        (["uv", "run", "pytest", "-x"], ["uv", "run", "pytest", "--maxfail=1", "-x"]),
        # the command's own --maxfail comes later, so it still wins
        (["pytest", "--maxfail=5"], ["pytest", "--maxfail=1", "--maxfail=5"]),
        (["pytest", "--maxfail=1"], ["pytest", "--maxfail=1"]),
        # not pytest: unchanged (a unittest suite, a workload script)
        (["python", "-m", "unittest"], ["python", "-m", "unittest"]),
        (
            ["python", ".optirunner/workload_boot.py", "bench.py"],
            ["python", ".optirunner/workload_boot.py", "bench.py"],
        ),
    ],
)
def test_a_pytest_command_stops_at_its_first_failure(argv: list[str], expected: list[str]) -> None:
    assert with_first_failure(argv) == expected
