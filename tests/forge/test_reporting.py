"""Pending reports: when the next try is due, when retrying gives up (pure functions)."""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path

import pytest

from runner.forge import reporting
from runner.result import CandidateResult, CandidateStatus, JobOutcome, JobResult, Measurement
from runner.service.supervisor import report_row

NOW = 1_750_000_000.0


@pytest.mark.parametrize(
    ("attempt", "cap", "jitter", "delay"),
    [
        (1, 60, 1.0, 2.0),
        (2, 60, 1.0, 4.0),
        (3, 60, 0.5, 4.0),
        (6, 60, 1.0, 60.0),  # 64 s capped
        (30, 60, 0.5, 30.0),
        (0, 60, 1.0, 2.0),  # never less than the first pause
    ],
)
def test_retry_delay_doubles_up_to_the_cap(
    attempt: int, cap: float, jitter: float, delay: float
) -> None:
    assert reporting.retry_delay(attempt, cap, jitter) == delay


def test_next_retry_within_the_window_then_give_up() -> None:
    since = NOW
    window = 100.0

    def at(attempt: int, now: float) -> float | None:
        return reporting.next_retry_at(attempt, since, now, window=window, cap=60, jitter=1.0)

    assert at(1, NOW) == NOW + 2
    assert at(3, NOW + 10) == NOW + 18
    assert at(7, NOW + 30) == NOW + 90  # capped at 60 s
    assert at(7, NOW + 70) == NOW + 100  # the last try is moved to the end of the window
    assert at(8, NOW + 100) is None  # the window is over: give up
    assert at(8, NOW + 500) is None


def test_backoff_schedule_gives_up_after_the_window() -> None:
    """Tries that all fail: spaced 2, 4, 8... s (capped), the last at the window's end."""
    now, attempt, tries = NOW, 1, [NOW]
    while nxt := reporting.next_retry_at(attempt, NOW, now, window=300, cap=60, jitter=1):
        assert nxt > now
        now, attempt = nxt, attempt + 1
        tries.append(now)
    gaps = [b - a for a, b in itertools.pairwise(tries)]
    assert gaps[:5] == [2, 4, 8, 16, 32]
    assert max(gaps) == 60
    assert tries[-1] == NOW + 300
    assert len(tries) == 10


@pytest.mark.parametrize(
    ("data", "due"),
    [
        ({"state": "pending", "next_retry_at": NOW - 1}, True),
        ({"state": "pending", "next_retry_at": NOW}, True),
        ({"state": "pending", "next_retry_at": NOW + 1}, False),
        ({"state": "pending"}, True),  # no time recorded: try now
        ({"state": "posted", "next_retry_at": NOW - 1}, False),
        ({"state": "failed"}, False),
        ({"state": "started"}, False),  # a newer run of the job reports for itself
        ({}, False),
    ],
)
def test_is_due(data: dict[str, object], due: bool) -> None:
    assert reporting.is_due(data, NOW) is due


@pytest.mark.parametrize(
    ("data", "row"),
    [
        ({"state": "pending", "next_retry_at": NOW + 8}, ("pending", NOW + 8)),
        ({"state": "pending"}, ("pending", NOW)),
        ({"state": "posted"}, ("posted", NOW)),
        ({"state": "failed", "next_retry_at": None}, ("failed", NOW)),
        ({"state": "started"}, (None, NOW)),  # superseded by a replay: forget the row
        ({}, (None, NOW)),
    ],
)
def test_report_row_mirrors_forge_json(
    data: dict[str, object], row: tuple[str | None, float]
) -> None:
    assert report_row(data, NOW) == row


def test_result_round_trip() -> None:
    measured = Measurement("wall time", [1.0, 1.1], [0.5, 0.6], 0.5, 0.4, 0.6, "faster", "ok")
    result = JobResult(
        "job-1",
        JobOutcome.SUCCEEDED,
        {"targets": ["a.py::f"]},
        NOW,
        NOW + 5,
        message="1 verified improvement",
        candidates=[
            CandidateResult(
                "c1",
                "a.py::f",
                "rule",
                "desc",
                CandidateStatus.VERIFIED,
                measurement=measured,
                diff="--- a\n+++ b\n",
            ),
            CandidateResult("c2", "a.py::f", "rule", "desc", CandidateStatus.TESTS_FAILED),
        ],
        best=["c1"],
    )
    again = reporting.result_from_dict(result.to_dict())
    assert again == result
    assert again.candidates[0].measurement is not None
    assert again.candidates[0].measurement.speedup == 2.0


def test_pending_result_falls_back_to_report_json(tmp_path: Path) -> None:
    result = JobResult("job-1", JobOutcome.FAILED, {}, NOW, NOW, message="bad spec")
    assert reporting.pending_result(tmp_path) is None
    (tmp_path / "report.json").write_text(json.dumps(result.to_dict()))
    assert reporting.pending_result(tmp_path) == result  # a report left by an older version
    other = JobResult("job-1", JobOutcome.SUCCEEDED, {}, NOW, NOW, message="kept")
    reporting.update(tmp_path, state=reporting.PENDING, result=other.to_dict())
    assert reporting.pending_result(tmp_path) == other


def test_a_crashed_retry_is_pushed_back_then_given_up(tmp_path: Path) -> None:
    now = time.time()
    reporting.update(tmp_path, state=reporting.PENDING, next_retry_at=now - 1, gives_up_at=now + 30)
    reporting.after_crash(tmp_path, now, 3, pause=10)
    data = reporting.load(tmp_path)
    assert (data["state"], data["next_retry_at"]) == ("pending", now + 10)
    assert "ended with 3" in data["last_error"]
    reporting.after_crash(tmp_path, now, 3, pause=10)  # recorded its try: not due, untouched
    assert reporting.load(tmp_path)["next_retry_at"] == now + 10
    reporting.after_crash(tmp_path, now + 25, 3, pause=10)
    assert reporting.load(tmp_path)["state"] == "failed"
