"""A real job on a project whose values do not compare naively (issue 23): a module-level
sentinel returned for a missing key (jsonpointer's shape), a fresh id in every result, and
an object holding a lock. The unchanged body of each target, proposed as a candidate, is
never "behaviour changed"; a rewrite that changes a reproducible value still is."""

from __future__ import annotations

import pytest

from runner.result import CandidateResult, CandidateStatus, JobOutcome, JobResult
from runner.spec import Target
from tests.verify.jobs import ScriptedProvider, run_fixture_job

pytestmark = pytest.mark.slow

RESOLVE = '''def resolve(doc, parts, default=_nothing):
    """The value at `parts` in `doc`, or `default`."""
    for part in parts:
        if not isinstance(doc, dict) or part not in doc:
            return default
        doc = doc[part]
    return doc
'''
TAGGED = '''def tagged(name):
    """A record for `name`, with a fresh id."""
    return {"name": name.lower(), "id": uuid.uuid4().hex, "guard": Guarded(name)}
'''
FILES = {
    "pointer.py": f"""import threading
import uuid

_nothing = object()


class Guarded:
    def __init__(self, name):
        self.name = name
        self.lock = threading.Lock()


{RESOLVE}

{TAGGED}""",
    "tests/test_pointer.py": """from pointer import _nothing, resolve, tagged


def test_resolve():
    assert resolve({"a": {"b": 1}}, ["a", "b"]) == 1
    assert resolve({"a": {}}, ["a", "b"]) is _nothing
    assert resolve({"a": 1}, ["a", "b"], None) is None


def test_tagged():
    assert len(tagged("Alice")["id"]) == 32
    assert tagged("bob")["guard"].name == "bob"
""",
}
WRONG_TAGGED = TAGGED.replace("name.lower()", "name")
CANDIDATES = {
    "resolve": [("identical", RESOLVE)],
    "tagged": [("identical", TAGGED), ("not lowered", WRONG_TAGGED)],
}


class FixtureProvider(ScriptedProvider):
    """The baseline's own bodies, and one rewrite that changes a reproducible value."""

    candidates = CANDIDATES


@pytest.fixture(scope="module")
def job(tmp_path_factory: pytest.TempPathFactory) -> JobResult:
    result = run_fixture_job(
        tmp_path_factory.mktemp("aa"),
        FILES,
        f"{__name__}:FixtureProvider",
        (Target("pointer.py", "resolve"), Target("pointer.py", "tagged")),
        budget_s=2,
        inputs={"generated": 40, "class_pairs": 2, "shrink_rounds": 4},
    )
    assert result.outcome is JobOutcome.SUCCEEDED, result.message
    return result


def _candidate(job: JobResult, target: str, rule: str) -> CandidateResult:
    return next(c for c in job.candidates if c.target.endswith(target) and c.rule == rule)


def test_the_a_a_pass_is_in_the_report(job: JobResult) -> None:
    assert job.baseline["aa_tests"] == (
        "two baseline runs differ in 2 values in 2 calls: those are not compared"
    )


@pytest.mark.parametrize("target", ["resolve", "tagged"])
def test_an_identical_rewrite_is_never_behaviour_changed(job: JobResult, target: str) -> None:
    identical = _candidate(job, target, "identical")
    assert identical.status is CandidateStatus.VERIFIED, identical.detail
    assert identical.tests == "passed"


def test_the_sentinel_is_compared_and_the_fresh_id_and_lock_are_counted(job: JobResult) -> None:
    resolve = _candidate(job, "resolve", "identical")
    assert "values of type `object`" not in resolve.behaviour  # the sentinel is its name
    tagged = _candidate(job, "tagged", "identical")
    assert "2 values of type `str`: differ between two baseline runs" in tagged.behaviour
    assert "values of type `_thread.lock`: no faithful recording" in tagged.behaviour


def test_a_change_to_a_reproducible_value_is_still_rejected(job: JobResult) -> None:
    wrong = _candidate(job, "tagged", "not lowered")
    assert wrong.tests == "passed"
    assert wrong.status is CandidateStatus.BEHAVIOUR_CHANGED
    assert "'alice'" in wrong.detail
