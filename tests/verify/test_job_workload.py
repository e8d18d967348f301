"""A real job with `--workload`: the workload's calls of the target are recorded on the
baseline, compared for every candidate, and the verdict is timed on them; a workload that
fails is a clear job or candidate failure, never a verdict."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from runner.agent.providers.base import Candidate, TargetSource
from runner.result import CandidateResult, CandidateStatus, JobOutcome, JobResult
from runner.spec import Target
from tests.verify.jobs import run_fixture_job

pytestmark = pytest.mark.slow

FILES = {
    "lib/__init__.py": "",
    "lib/words.py": '''import re

_WORD = re.compile(r"[a-z]+")


def count_words(words):
    """How many of `words` are lower-case ASCII words."""
    count = 0
    for word in words:
        if _WORD.fullmatch(word) is not None:
            count += 1
    return count
''',
    "tests/test_words.py": """from lib.words import count_words


def test_counts_words():
    assert count_words(["ab", "12", "cd", "E"]) == 2


def test_empty():
    assert count_words([]) == 0
""",
    # What production calls look like: long lists (the tests only pass four words).
    "bench/workload.py": """from lib.words import count_words

WORDS = [("word%d" % i) if i % 3 else "plain" for i in range(5000)]
for _ in range(20):
    count_words(WORDS)
""",
    "bench/broken.py": "raise SystemExit('no data file')\n",
}
TARGET = Target("lib/words.py", "count_words")
CORRECT = '''def count_words(words):
    """How many of `words` are lower-case ASCII words."""
    fullmatch = _WORD.fullmatch
    return sum(1 for word in words if fullmatch(word) is not None)
'''
# Right on everything the tests and the scaled-up recorded calls (4 x 100 words) pass.
LARGE_LISTS_WRONG = '''def count_words(words):
    """How many of `words` are lower-case ASCII words."""
    if len(words) > 2000:
        return len(words) // 3
    return sum(1 for word in words if _WORD.fullmatch(word) is not None)
'''
LARGE_LISTS_RAISE = '''def count_words(words):
    """How many of `words` are lower-case ASCII words."""
    if len(words) > 2000:
        raise OverflowError("too many words")
    return sum(1 for word in words if _WORD.fullmatch(word) is not None)
'''
CANDIDATES = [("correct", CORRECT), ("wrong", LARGE_LISTS_WRONG), ("raise", LARGE_LISTS_RAISE)]


class FixtureProvider:
    """Hand-written candidates, as an AI would propose them."""

    name = "fixture"

    def propose(self, source: TargetSource, limit: int) -> list[Candidate]:
        return [Candidate(source.target, rule, code, rule) for rule, code in CANDIDATES][:limit]


def _job(root: Path, workload: str) -> JobResult:
    return run_fixture_job(
        root,
        FILES,
        f"{__name__}:FixtureProvider",
        (TARGET,),
        budget_s=8,  # a pair of workload rounds takes ~0.9 s: 5 pairs and the classes fit
        inputs={"generated": 60, "class_pairs": 2, "shrink_rounds": 4},
        workload_cmd=f"{sys.executable} bench/{workload}",
    )


@pytest.fixture(scope="module")
def job(tmp_path_factory: pytest.TempPathFactory) -> JobResult:
    result = _job(tmp_path_factory.mktemp("workload"), "workload.py")
    assert result.outcome is JobOutcome.SUCCEEDED, result.message
    return result


@pytest.fixture(scope="module")
def results(job: JobResult) -> dict[str, CandidateResult]:
    return {c.rule: c for c in job.candidates}


def test_the_baseline_records_the_workload(job: JobResult) -> None:
    assert job.baseline["workload"]["returncode"] == 0
    assert job.baseline["workload"]["calls"] == 20


def test_a_correct_rewrite_is_compared_and_timed_on_the_workload(
    results: dict[str, CandidateResult],
) -> None:
    good = results["correct"]
    assert good.status is CandidateStatus.VERIFIED, good.detail
    assert good.inputs["workload"] == 20
    assert "identical on 20 workload calls" in good.behaviour
    assert good.measurement is not None
    assert "workload" in good.measurement.instrument
    sizes = {row["class"]: row["sizes"] for row in good.measurement.size_classes}
    assert sizes["workload"] == [5000, 5000]
    assert sizes["recorded"] == [0, 4]


def test_a_rewrite_wrong_only_on_large_lists_is_caught_on_the_workload(
    results: dict[str, CandidateResult],
) -> None:
    wrong = results["wrong"]
    assert wrong.tests == "passed"
    assert wrong.status is CandidateStatus.BEHAVIOUR_CHANGED
    assert wrong.detail.startswith("behaviour differs on the workload: ")
    assert "return: expected 1667, got 1666" in wrong.detail
    assert wrong.measurement is None


def test_a_rewrite_that_breaks_the_workload_is_caught(
    results: dict[str, CandidateResult],
) -> None:
    broken = results["raise"]
    assert broken.status is CandidateStatus.BEHAVIOUR_CHANGED
    assert "it exits 1 with the candidate" in broken.detail
    assert "OverflowError: too many words" in broken.detail


def test_the_report_names_the_workload(job: JobResult) -> None:
    report = (Path(job.spec["apply_dir"]).parent / "state").glob("jobs/*/report.md")
    text = next(report).read_text()
    assert "workload: `" in text
    assert "- Workload: 20 calls of the targets recorded" in text
    assert "20 workload inputs compared" in text


def test_a_workload_failing_on_the_baseline_ends_the_job(tmp_path: Path) -> None:
    result = _job(tmp_path, "broken.py")
    assert result.outcome is JobOutcome.BASELINE_FAILING
    assert "fails before any change (exit 1)" in result.message
    assert "no data file" in result.message
    assert result.candidates == []
