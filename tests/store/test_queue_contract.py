"""The queue contract, run on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Engine

from runner.store.db import StoreError, current_revision, head_revision
from runner.store.models import IllegalTransition, JobEvent, JobState
from runner.store.queue import JobStore, RetryPolicy

from .conftest import Clock

SPEC = {"targets": ["a.py::f"]}
SOURCE = {"forge": "gitlab", "issue": "23"}


def test_migrated_to_head(engine: Engine) -> None:
    assert current_revision(engine) == head_revision()


def test_enqueue_then_duplicate_returns_the_same_job(store: JobStore) -> None:
    first = store.enqueue("k1", SPEC, SOURCE, "delivery-1")
    again = store.enqueue("k1", {"other": 1}, SOURCE, "delivery-2")
    assert first.created
    assert not again.created
    assert again.job_id == first.job_id
    job = store.get(first.job_id)
    assert (job.state, job.spec, job.delivery_id) == (JobState.QUEUED, SPEC, "delivery-1")
    assert len(store.list()) == 1


def test_claim_leases_the_oldest_due_job(store: JobStore, clock: Clock) -> None:
    a = store.enqueue("a", SPEC, SOURCE).job_id
    clock.advance(1)
    store.enqueue("b", SPEC, SOURCE)
    job = store.claim("owner-1", lease_s=30)
    assert job is not None
    assert (job.id, job.state, job.attempts, job.lease_owner) == (a, JobState.RUNNING, 1, "owner-1")
    assert job.lease_expires == clock.now + 30
    second = store.claim("owner-2", lease_s=30)
    assert second is not None
    assert second.id != a
    assert store.claim("owner-3", lease_s=30) is None


def test_finish_needs_the_lease(store: JobStore) -> None:
    job_id = store.enqueue("a", SPEC, SOURCE).job_id
    assert store.claim("me", 30) is not None
    assert store.finish(job_id, "someone-else", JobEvent.SUCCEED) is None
    assert store.finish(job_id, "me", JobEvent.SUCCEED, "done") is JobState.SUCCEEDED
    job = store.get(job_id)
    assert (job.state, job.message, job.lease_owner) == (JobState.SUCCEEDED, "done", None)
    assert job.finished_at is not None


def test_renew_extends_only_the_holders_lease(store: JobStore, clock: Clock) -> None:
    job_id = store.enqueue("a", SPEC, SOURCE).job_id
    store.claim("me", 30)
    clock.advance(20)
    renewed = store.renew(job_id, "me", 30)
    assert renewed is not None
    assert renewed.lease_expires == clock.now + 30
    assert store.renew(job_id, "thief", 30) is None


def test_expired_lease_returns_the_job_with_backoff(store: JobStore, clock: Clock) -> None:
    job_id = store.enqueue("a", SPEC, SOURCE).job_id
    store.claim("gone", 30)
    clock.advance(29)
    assert store.reap() == []
    clock.advance(2)
    assert store.reap() == [job_id]
    job = store.get(job_id)
    assert job.state is JobState.QUEUED
    assert clock.now + 5 <= job.available_at <= clock.now + 10  # base 10 s, half jittered
    assert store.claim("new", 30) is None  # not due yet
    clock.advance(10)
    claimed = store.claim("new", 30)
    assert claimed is not None
    assert claimed.attempts == 2
    # The old holder cannot finish what it no longer owns.
    assert store.finish(job_id, "gone", JobEvent.SUCCEED) is None


def test_last_failed_attempt_is_dead_and_replay_requeues(store: JobStore, clock: Clock) -> None:
    job_id = store.enqueue("a", SPEC, SOURCE).job_id
    states = []
    for _ in range(3):
        clock.advance(1000)
        assert store.claim("me", 30) is not None
        states.append(store.finish(job_id, "me", JobEvent.RETRY, "crashed"))
    assert states == [JobState.QUEUED, JobState.QUEUED, JobState.DEAD]
    assert store.replay(job_id) is JobState.QUEUED
    job = store.get(job_id)
    assert (job.state, job.attempts, job.available_at) == (JobState.QUEUED, 0, clock.now)


def test_release_gives_the_attempt_back(store: JobStore) -> None:
    job_id = store.enqueue("a", SPEC, SOURCE).job_id
    store.claim("me", 30)
    assert store.finish(job_id, "me", JobEvent.RELEASE, "shutdown") is JobState.QUEUED
    job = store.get(job_id)
    assert (job.attempts, job.lease_owner) == (0, None)
    assert store.claim("me", 30) is not None


def test_cancel_queued_and_running(store: JobStore) -> None:
    queued = store.enqueue("q", SPEC, SOURCE).job_id
    assert store.cancel(queued) is JobState.CANCELLED
    running = store.enqueue("r", SPEC, SOURCE).job_id
    store.claim("me", 30)
    assert store.cancel(running) is JobState.RUNNING
    renewed = store.renew(running, "me", 30)
    assert renewed is not None
    assert renewed.cancel_requested
    assert store.finish(running, "me", JobEvent.CANCEL) is JobState.CANCELLED
    with pytest.raises(IllegalTransition):
        store.cancel(running)


def test_replay_of_a_queued_job_is_illegal(store: JobStore) -> None:
    job_id = store.enqueue("q", SPEC, SOURCE).job_id
    with pytest.raises(IllegalTransition):
        store.replay(job_id)


def test_unknown_job(store: JobStore) -> None:
    with pytest.raises(StoreError, match="no job"):
        store.get("nope")


def test_list_and_counts(store: JobStore, clock: Clock) -> None:
    ids = []
    for key in "abc":
        clock.advance(1)
        ids.append(store.enqueue(key, SPEC, SOURCE).job_id)
    store.claim("me", 30)
    assert [j.id for j in store.list()] == ids[::-1]
    assert [j.id for j in store.list(JobState.RUNNING)] == [ids[0]]
    counts = store.counts()
    assert counts[JobState.QUEUED] == 2
    assert counts[JobState.RUNNING] == 1
    assert counts[JobState.DEAD] == 0


def test_hundred_concurrent_deliveries_make_one_job(engine: Engine) -> None:
    store = JobStore(engine, policy=RetryPolicy())
    barrier = threading.Barrier(100)

    def deliver(i: int) -> tuple[str, bool]:
        barrier.wait()
        result = store.enqueue("same-event", SPEC, SOURCE, f"delivery-{i}")
        return result.job_id, result.created

    with ThreadPoolExecutor(max_workers=100) as pool:
        results = list(pool.map(deliver, range(100)))
    assert len({job_id for job_id, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    assert len(store.list()) == 1


def test_concurrent_claimers_never_share_a_job(engine: Engine) -> None:
    store = JobStore(engine, policy=RetryPolicy())
    for i in range(40):
        store.enqueue(f"k{i}", SPEC, SOURCE)
    claimed: list[str] = []
    lock = threading.Lock()

    def claimer(n: int) -> None:
        while (job := store.claim(f"owner-{n}", 30)) is not None:
            with lock:
                claimed.append(job.id)

    threads = [threading.Thread(target=claimer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(claimed) == 40
    assert len(set(claimed)) == 40
