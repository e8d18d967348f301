from __future__ import annotations

import stat
from datetime import UTC, datetime
from pathlib import Path

from runner.paths import JobDir, new_job_id, write_atomic


def test_job_dir_is_private(tmp_path: Path) -> None:
    job = JobDir.create(tmp_path, "job-1")
    job.write("spec.json", "{}")
    assert stat.S_IMODE(job.root.stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "jobs").stat().st_mode) == 0o700
    assert stat.S_IMODE(job.path("spec.json").stat().st_mode) == 0o600
    assert job.job_id == "job-1"


def test_write_atomic_replaces_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "report.md"
    write_atomic(target, "one")
    write_atomic(target, b"two")
    assert target.read_text() == "two"
    assert [p.name for p in tmp_path.iterdir()] == ["report.md"]


def test_job_ids_sort_by_time() -> None:
    early = new_job_id(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), "aaaaaa")
    late = new_job_id(datetime(2026, 1, 2, 3, 4, 6, tzinfo=UTC), "000000")
    assert early == "20260102-030405-aaaaaa"
    assert early < late
