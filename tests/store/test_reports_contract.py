"""Pending reports in the store, on SQLite and PostgreSQL: which are due, one claim at a time."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from runner.store.models import JobEvent
from runner.store.queue import JobStore

from .conftest import Clock

SPEC = {"targets": ["a.py::f"]}
SOURCE = {"forge": "gitlab", "issue": "7"}
HOME = "host-a:/var/lib/optirunner"


def finished_job(store: JobStore, key: str) -> str:
    job_id = store.enqueue(key, SPEC, SOURCE).job_id
    assert store.claim("runner", 30) is not None
    assert store.finish(job_id, "runner", JobEvent.SUCCEED) is not None
    return job_id


def test_due_reports_are_pending_past_due_here_and_unclaimed(store: JobStore, clock: Clock) -> None:
    due = finished_job(store, "due")
    later = finished_job(store, "later")
    elsewhere = finished_job(store, "elsewhere")
    posted = finished_job(store, "posted")
    running = store.enqueue("running", SPEC, SOURCE).job_id
    assert store.claim("runner", 30) is not None
    assert store.record_report(due, HOME, "pending", clock.now - 1)
    assert store.record_report(later, HOME, "pending", clock.now + 60)
    assert store.record_report(elsewhere, "host-b:/srv", "pending", clock.now - 1)
    assert store.record_report(posted, HOME, "posted", clock.now - 1)
    assert store.record_report(running, HOME, "pending", clock.now - 1)  # a replay runs it
    assert store.due_reports(HOME, 10) == [due]
    clock.advance(61)
    assert store.due_reports(HOME, 10) == [due, later]
    assert store.due_reports(HOME, 1) == [due]
    assert store.due_reports("host-b:/srv", 10) == [elsewhere]


def test_one_claim_at_a_time_until_released_or_expired(store: JobStore, clock: Clock) -> None:
    job_id = finished_job(store, "a")
    store.record_report(job_id, HOME, "pending", clock.now)
    assert store.claim_report(job_id, HOME, "serve-1", lease_s=30)
    assert not store.claim_report(job_id, HOME, "serve-2", lease_s=30)
    assert store.due_reports(HOME, 10) == []
    assert store.renew_report(job_id, "serve-1", 30)
    assert not store.renew_report(job_id, "serve-2", 30)
    clock.advance(20)
    assert not store.claim_report(job_id, HOME, "serve-2", lease_s=30)  # renewed: still held
    clock.advance(11)
    assert store.claim_report(job_id, HOME, "serve-2", lease_s=30)  # expired: taken over
    assert not store.release_report(job_id, "serve-1", "pending", clock.now)  # lost it
    assert store.release_report(job_id, "serve-2", "pending", clock.now + 8)
    row = store.get_report(job_id)
    assert row is not None
    assert (row["state"], row["due_at"], row["owner"]) == ("pending", clock.now + 8, None)
    assert not store.claim_report(job_id, HOME, "serve-1", lease_s=30)  # not due yet
    clock.advance(8)
    assert store.claim_report(job_id, HOME, "serve-1", lease_s=30)
    assert store.release_report(job_id, "serve-1", "posted", clock.now)
    assert store.due_reports(HOME, 10) == []
    assert not store.claim_report(job_id, HOME, "serve-2", lease_s=30)


def test_concurrent_claims_have_one_winner(store: JobStore, clock: Clock) -> None:
    job_id = finished_job(store, "a")
    store.record_report(job_id, HOME, "pending", clock.now)
    with ThreadPoolExecutor(8) as pool:
        won = list(pool.map(lambda n: store.claim_report(job_id, HOME, f"s{n}", 30), range(16)))
    assert won.count(True) == 1


def test_replay_forgets_the_pending_report(store: JobStore, clock: Clock) -> None:
    job_id = finished_job(store, "a")
    store.record_report(job_id, HOME, "pending", clock.now)
    assert store.claim_report(job_id, HOME, "serve-1", lease_s=30)
    store.replay(job_id)
    assert store.get_report(job_id) is None
    assert not store.release_report(job_id, "serve-1", "posted", clock.now)  # the old claim
    assert store.get_report(job_id) is None


def test_record_only_new_keeps_a_known_report(store: JobStore, clock: Clock) -> None:
    job_id = finished_job(store, "a")
    assert store.record_report(job_id, HOME, "posted", clock.now)
    assert not store.record_report(job_id, HOME, "pending", clock.now, only_new=True)
    row = store.get_report(job_id)
    assert row is not None
    assert row["state"] == "posted"
    assert store.record_report(job_id, HOME, "pending", clock.now + 5)  # a new run's report
    row = store.get_report(job_id)
    assert row is not None
    assert (row["state"], row["due_at"]) == ("pending", clock.now + 5)
