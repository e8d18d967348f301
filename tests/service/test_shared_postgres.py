"""Three `serve` processes sharing one PostgreSQL queue run 30 jobs, each exactly once."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.config import load_settings
from runner.store.factory import open_store
from runner.store.models import JobState

from ..store.conftest import pg_url  # noqa: F401 - the fresh-database fixture
from .conftest import Serve, enqueue, free_port, sleep_cmd, tiny_repo, wait_for, write_config

pytestmark = pytest.mark.slow
JOBS = 30


def test_three_listeners_process_thirty_jobs_exactly_once(
    tmp_path: Path,
    pg_url: str,  # noqa: F811 - the imported fixture
    serves: list[Serve],
) -> None:
    repo = tiny_repo(tmp_path / "repo")
    configs = []
    for n in range(3):
        home = tmp_path / f"host{n}"
        home.mkdir()
        configs.append(write_config(home, repo, pg_url, port=free_port(), concurrency=2))
    store = open_store(load_settings(configs[0]), migrate=True)
    ids = [enqueue(store, f"job-{i}", sleep_cmd(0)) for i in range(JOBS)]
    for config in configs:
        serves.append(Serve(config))
    for serve in serves:
        serve.wait_ready()

    def all_done() -> bool:
        return store.counts()[JobState.SUCCEEDED] == JOBS

    wait_for(all_done, 150, "30 jobs to succeed")
    jobs = [store.get(job_id) for job_id in ids]
    assert all(job.attempts == 1 for job in jobs)
    starts = [s.log.read_text().count("attempt 1 started") for s in serves]
    assert sum(starts) == JOBS  # each job started once, in one of the listeners
    assert sum(1 for n in starts if n > 0) >= 2  # the work was actually shared
    store.engine.dispose()
