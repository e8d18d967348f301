"""The supervisor owns pending reports: found at start-up, claimed once, retried, released.

Real supervisors and real retry processes (a tiny script stands in for
`optirunner worker --report-only`) against one SQLite store and state directory.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from runner.config import load_settings
from runner.forge import reporting
from runner.metrics import Metrics
from runner.service.supervisor import Supervisor
from runner.store.factory import open_store
from runner.store.models import JobEvent
from runner.store.queue import JobStore

from ..store.conftest import pg_url  # noqa: F401 - the fresh-database fixture
from .conftest import enqueue, tiny_repo, write_config

# Stands in for `optirunner worker --report-only`: one try that posts (or, with "stop" in
# its job's folder, waits to be stopped), each start counted in `tries`.
RETRY = """
import json, pathlib, signal, sys, time
job_dir = pathlib.Path(sys.argv[1])
with open(job_dir / "tries", "a") as out:
    out.write("try\\n")
if (job_dir / "stop").exists():
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(130))
    time.sleep(60)
time.sleep(0.3)
data = json.loads((job_dir / "forge.json").read_text())
data.update(state="posted", next_retry_at=None)
(job_dir / "forge.json").write_text(json.dumps(data))
"""


def finished_job(store: JobStore, key: str) -> str:
    job_id = enqueue(store, key, "true")
    assert store.claim("old-serve", 30) is not None
    assert store.finish(job_id, "old-serve", JobEvent.SUCCEED) is not None
    return job_id


def supervisor(config: Path, store: JobStore, owner: str) -> Supervisor:
    settings = load_settings(config)
    jobs = settings.state_dir / "jobs"

    def retry_argv(job_id: str) -> list[str]:
        return [sys.executable, "-c", RETRY, str(jobs / job_id)]

    return Supervisor(
        settings, store, Metrics(), owner, lambda _: ["false"], report_argv_for=retry_argv
    )


def pending(job_dir: Path, due: float) -> None:
    job_dir.mkdir(parents=True, exist_ok=True)
    reporting.update(job_dir, state=reporting.PENDING, attempts=1, next_retry_at=due)


async def until_idle(*sups: Supervisor, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while any(s.reporters for s in sups):
        assert time.monotonic() < deadline, "report retries did not end"
        await asyncio.sleep(0.05)


@pytest.fixture(params=["sqlite", "postgresql"])
def setup(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, JobStore]:
    """A config and its migrated, empty store on each database."""
    url = request.getfixturevalue("pg_url") if request.param == "postgresql" else None
    config = write_config(tmp_path, tiny_repo(tmp_path / "repo"), url)
    store = open_store(load_settings(config), migrate=True)
    if url:
        with store.engine.begin() as conn:
            conn.execute(text("TRUNCATE jobs, reports"))
    return config, store


def test_two_listeners_retry_each_due_report_once(setup: tuple[Path, JobStore]) -> None:
    config, store = setup
    jobs = load_settings(config).state_dir / "jobs"
    due = [finished_job(store, f"due-{n}") for n in range(3)]
    later = finished_job(store, "later")
    for job_id in due:
        pending(jobs / job_id, time.time() - 1)
    pending(jobs / later, time.time() + 3600)

    async def scenario() -> None:
        one = supervisor(config, store, "serve-1")
        two = supervisor(config, store, "serve-2")
        # At start-up both find the reports on disk; each is recorded once.
        found = [await one.recover_reports(), await two.recover_reports()]
        assert sorted(found) == [0, 4]
        for _ in range(3):  # both tick at once, a few times, while the tries run
            await asyncio.gather(one.tick(), two.tick())
            one._report_scan_at = two._report_scan_at = 0.0
            await asyncio.sleep(0.1)
        assert len(one.reporters) + len(two.reporters) <= 4  # at most 2 each
        await until_idle(one, two)
        for _ in range(3):
            await asyncio.gather(one.tick(), two.tick())
            one._report_scan_at = two._report_scan_at = 0.0
            await until_idle(one, two)

    asyncio.run(scenario())
    for job_id in due:
        assert (jobs / job_id / "tries").read_text() == "try\n"  # exactly one try each
        row = store.get_report(job_id)
        assert row is not None
        assert (row["state"], row["owner"]) == ("posted", None)
    assert not (jobs / later / "tries").exists()  # not due: left alone
    row = store.get_report(later)
    assert row is not None
    assert row["state"] == "pending"
    store.engine.dispose()


def test_drain_stops_a_retry_and_leaves_it_pending(sqlite_setup: tuple[Path, JobStore]) -> None:
    config, store = sqlite_setup
    jobs = load_settings(config).state_dir / "jobs"
    job_id = finished_job(store, "a")
    pending(jobs / job_id, time.time() - 1)
    (jobs / job_id / "stop").touch()

    async def scenario() -> None:
        sup = supervisor(config, store, "serve-1")
        await sup.recover_reports()
        await sup.tick()
        assert list(sup.reporters) == [job_id]
        deadline = time.monotonic() + 10
        while not (jobs / job_id / "tries").exists():
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        started = time.monotonic()
        assert await sup.drain(600, asyncio.Event())  # no job: only the retry to stop
        assert time.monotonic() - started < 5

    asyncio.run(scenario())
    assert reporting.load(jobs / job_id)["state"] == "pending"
    row = store.get_report(job_id)
    assert row is not None
    assert (row["state"], row["owner"]) == ("pending", None)  # claim released
    home = supervisor(config, store, "next-serve").home
    assert store.due_reports(home, 5) == [job_id]  # due for the next start


def test_a_crashing_retry_is_pushed_back(sqlite_setup: tuple[Path, JobStore]) -> None:
    config, store = sqlite_setup
    jobs = load_settings(config).state_dir / "jobs"
    job_id = finished_job(store, "a")
    pending(jobs / job_id, time.time() - 1)
    (jobs / job_id / "forge.json").write_text(
        json.dumps({**reporting.load(jobs / job_id), "gives_up_at": time.time() + 3600})
    )

    async def scenario() -> None:
        sup = supervisor(config, store, "serve-1")
        sup.report_argv_for = lambda _: [sys.executable, "-c", "raise SystemExit(3)"]
        await sup.recover_reports()
        await sup.tick()
        await until_idle(sup)

    asyncio.run(scenario())
    data = reporting.load(jobs / job_id)
    assert data["state"] == "pending"
    assert "ended with 3" in data["last_error"]
    row = store.get_report(job_id)
    assert row is not None
    assert row["due_at"] == data["next_retry_at"] > time.time() + 30  # not due again at once
