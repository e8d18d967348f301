"""Job states: every legal move, every illegal one, and the retry backoff."""

from __future__ import annotations

import random

import pytest

from runner.store.models import IllegalTransition, JobEvent, JobState, backoff_s, transition

LEGAL = {
    (JobState.QUEUED, JobEvent.CLAIM): JobState.RUNNING,
    (JobState.QUEUED, JobEvent.CANCEL): JobState.CANCELLED,
    (JobState.RUNNING, JobEvent.SUCCEED): JobState.SUCCEEDED,
    (JobState.RUNNING, JobEvent.FAIL): JobState.FAILED,
    (JobState.RUNNING, JobEvent.CANCEL): JobState.CANCELLED,
    (JobState.RUNNING, JobEvent.RELEASE): JobState.QUEUED,
    (JobState.RUNNING, JobEvent.RETRY): JobState.QUEUED,
    (JobState.SUCCEEDED, JobEvent.REPLAY): JobState.QUEUED,
    (JobState.FAILED, JobEvent.REPLAY): JobState.QUEUED,
    (JobState.CANCELLED, JobEvent.REPLAY): JobState.QUEUED,
    (JobState.DEAD, JobEvent.REPLAY): JobState.QUEUED,
}


@pytest.mark.parametrize("state", list(JobState))
@pytest.mark.parametrize("event", list(JobEvent))
def test_transition_table(state: JobState, event: JobEvent) -> None:
    if (state, event) in LEGAL:
        assert transition(state, event, attempts=1, max_attempts=3) is LEGAL[(state, event)]
    else:
        with pytest.raises(IllegalTransition):
            transition(state, event, attempts=1, max_attempts=3)


def test_retry_after_the_last_attempt_is_dead() -> None:
    assert transition(JobState.RUNNING, JobEvent.RETRY, attempts=2, max_attempts=3) is (
        JobState.QUEUED
    )
    assert transition(JobState.RUNNING, JobEvent.RETRY, attempts=3, max_attempts=3) is (
        JobState.DEAD
    )


def test_backoff_grows_is_capped_and_jittered() -> None:
    rng = random.Random(7)
    delays = [backoff_s(n, 10.0, 100.0, rng) for n in range(1, 8)]
    for n, delay in enumerate(delays, 1):
        full = min(100.0, 10.0 * 2 ** (n - 1))
        assert full / 2 <= delay <= full
    assert len({round(backoff_s(3, 10.0, 100.0, rng), 6) for _ in range(20)}) > 1
