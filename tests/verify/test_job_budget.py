"""A real job's candidate test runs: a failing suite stops at its first failure, a hanging
candidate is killed at a limit scaled from the baseline's test time (not the 600 s cap),
and the baseline's own run keeps its command and `sandbox.test_timeout_s`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from runner.agent import providers
from runner.agent.providers.base import Candidate, TargetSource
from runner.config import Settings
from runner.job import OptimizeJob
from runner.result import CandidateResult, CandidateStatus, JobOutcome, JobResult
from runner.sandbox import make_sandbox
from runner.spec import JobSpec, Target
from tests.projects import write_files

pytestmark = pytest.mark.slow

FILES = {
    "calc.py": "def double(x):\n    return x + x\n",
    "tests/test_calc.py": "".join(
        f"from calc import double\n\n\ndef test_{n}():\n    assert double({n}) == {2 * n}\n\n\n"
        if n == 1
        else f"def test_{n}():\n    assert double({n}) == {2 * n}\n\n\n"
        for n in range(1, 6)
    ),
}
TARGET = Target("calc.py", "double")
CANDIDATES = [
    ("broken", "def double(x):\n    return x * 3\n"),  # every one of the 5 tests fails
    ("hangs", "def double(x):\n    import time\n    time.sleep(60)\n    return x + x\n"),
    ("correct", "def double(x):\n    return 2 * x\n"),
]


class FixtureProvider:
    """Hand-written candidates, as an AI would propose them."""

    name = "fixture"

    def propose(self, source: TargetSource, limit: int) -> list[Candidate]:
        return [Candidate(source.target, rule, code, rule) for rule, code in CANDIDATES][:limit]


@pytest.fixture(scope="module")
def job(tmp_path_factory: pytest.TempPathFactory) -> tuple[JobResult, Path]:
    root = tmp_path_factory.mktemp("budget")
    project = write_files(root / "project", FILES)
    patch = pytest.MonkeyPatch()
    patch.setitem(providers.PROVIDERS, "fixture", f"{__name__}:FixtureProvider")
    settings = Settings(
        state_dir=root / "state",
        # The hanging candidate is killed 3 s after the baseline's test time, not at 600 s.
        sandbox={"backend": "auto", "candidate_test_factor": 1.0, "candidate_test_margin_s": 3},
        measure={"budget_s": 3, "instructions": "never", "noise_check": False},
        inputs={"generated": 0, "class_pairs": 0},
    )
    spec = JobSpec(
        repo=str(project),
        targets=(TARGET,),
        test_cmd=f"{sys.executable} -m pytest -q -p no:cacheprovider tests",
        provider="fixture",
    )
    try:
        result = OptimizeJob(settings, spec, make_sandbox(settings), job_id="budget").run()
    finally:
        patch.undo()
    assert result.outcome is JobOutcome.SUCCEEDED, result.message
    return result, root / "state" / "jobs" / "budget"


def _results(job: tuple[JobResult, Path]) -> dict[str, CandidateResult]:
    return {c.rule: c for c in job[0].candidates}


def _test_runs(job_dir: Path) -> list[dict[str, Any]]:
    """The `sandbox.run` spans of pytest runs, in order: the baseline's first."""
    events = [json.loads(line) for line in (job_dir / "events.jsonl").read_text().splitlines()]
    runs = [e["attributes"] for e in events if e["name"] == "sandbox.run"]
    return [run for run in runs if " -m pytest " in run["argv"]]


def test_a_failing_candidate_stops_at_its_first_failure(job: tuple[JobResult, Path]) -> None:
    broken = _results(job)["broken"]
    assert broken.status is CandidateStatus.TESTS_FAILED
    assert "1 failed" in broken.detail
    assert "5 failed" not in broken.detail


def test_a_hanging_candidate_is_killed_at_the_scaled_limit(job: tuple[JobResult, Path]) -> None:
    result, _ = job
    hangs = _results(job)["hangs"]
    assert hangs.status is CandidateStatus.TIMEOUT
    baseline_s = result.baseline["duration_s"]
    assert f"a candidate's limit: max(1 × the baseline's {baseline_s:.1f} s" in hangs.detail
    assert f"{baseline_s:.1f} s + 3 s) = " in hangs.detail
    assert "ran past its" in hangs.detail


def test_only_candidate_runs_get_the_scaled_limit_and_maxfail(
    job: tuple[JobResult, Path],
) -> None:
    result, job_dir = job
    runs = _test_runs(job_dir)
    baselines = [run for run in runs if run["cwd"] == "baseline"]
    candidates = [run for run in runs if run["cwd"] != "baseline"]
    assert len(baselines) == 2  # the recording and the A/A pass's second one
    for baseline in baselines:
        assert baseline["timeout_s"] == 600.0
        assert "--maxfail=1" not in baseline["argv"]
    assert len(candidates) == 3
    limit = result.baseline["duration_s"] + 3
    for run in candidates:
        assert run["timeout_s"] == pytest.approx(limit)
        assert "-m pytest --maxfail=1 " in run["argv"]
    assert _results(job)["correct"].status is CandidateStatus.VERIFIED
