"""Real `serve` processes against damaged files, a full disk and a bubblewrap that fails."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from runner.config import load_settings
from runner.store import db
from runner.store.factory import open_store
from runner.store.models import JobState
from runner.store.queue import JobStore
from runner.telemetry import damage
from runner.telemetry.spool import Spool

from .conftest import Serve, enqueue, free_port, in_state, tiny_repo, wait_for, write_config

PAGE = 4096


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`optirunner ARGS` in a process of its own, to its end."""
    return subprocess.run(
        [sys.executable, "-m", "runner", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def _spool_of(config: Path, events: int) -> Path:
    """The state directory's spool with `events` events, all in the main file."""
    path = load_settings(config).state_dir / "telemetry" / "spool.db"
    spool = Spool(path)
    spool.register("icarus")
    spool.append_many([{"n": i, "pad": "p" * 300} for i in range(events)])
    spool._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    spool.close()
    return path


def _truncate_mid_page(path: Path) -> None:
    size = path.stat().st_size
    with path.open("r+b") as fh:
        fh.truncate(size // 2 // PAGE * PAGE + PAGE // 2)


def test_serve_keeps_serving_with_a_truncated_spool(
    sqlite_setup: tuple[Path, JobStore], serves: list[Serve]
) -> None:
    config, store = sqlite_setup
    with config.open("a") as out:  # an Icarus that is down: events stay in the spool
        out.write(f'[telemetry.icarus]\nurl = "ws://127.0.0.1:{free_port()}"\ntoken = "t0k3n-x"\n')
    spool = _spool_of(config, 2000)
    _truncate_mid_page(spool)
    serve = Serve(config)
    serves.append(serve)
    serve.wait_ready()
    job_id = enqueue(store, "after-damage", "python -c 'import tiny.core'")
    wait_for(in_state(store, job_id, JobState.SUCCEEDED), 90, "a job after the damage")
    [salvage] = damage.history(spool.parent)
    assert Path(salvage.quarantined).exists()
    assert Path(salvage.quarantined).name.startswith("spool.db.corrupt-")
    assert 0 < salvage.salvaged < 2000
    assert salvage.salvaged + (salvage.lost or 0) == 2000
    metrics = serve.get("/metrics").text
    assert "optirunner_spool_quarantined_total 1.0" in metrics
    assert (
        f'optirunner_spool_damaged_events_total{{result="salvaged"}} {salvage.salvaged}.0'
        in metrics
    )
    assert f'optirunner_spool_damaged_events_total{{result="lost"}} {salvage.lost}.0' in metrics
    assert "TELEMETRY SPOOL DAMAGED" in serve.log.read_text()
    doctor = _cli("doctor", "--config", str(config))
    line = next(x for x in doctor.stdout.splitlines() if "telemetry spool" in x)
    assert line.startswith("WARN")
    assert Path(salvage.quarantined).name in line
    assert f"{salvage.salvaged} events salvaged, {salvage.lost} lost" in line


def test_a_damaged_job_database_stops_serve_with_one_line(tmp_path: Path) -> None:
    config = write_config(tmp_path, tiny_repo(tmp_path / "repo"))
    settings = load_settings(config)
    store_path = settings.state_dir / db.DB_FILE
    store = open_store(settings, migrate=True)
    for i in range(300):
        enqueue(store, f"k{i}", "true")
    store.engine.dispose()
    _truncate_mid_page(store_path)
    done = _cli("serve", "--config", str(config))
    assert done.returncode == 4, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("optirunner:")]
    assert len(errors) == 1
    assert f"the job database {store_path} is damaged" in errors[0]
    assert "operations.md" in errors[0]
    assert "Traceback" not in done.stderr
    assert "internal error" not in done.stderr


def test_a_full_disk_refuses_a_job_clearly_and_keeps_the_queue(small_disk: Path) -> None:
    engine = db.make_engine(f"sqlite:///{small_disk / 'jobs.db'}")
    db.upgrade(engine)
    store = JobStore(engine)
    queued, error = 0, None
    while error is None and queued < 10_000:
        try:
            store.enqueue(f"k{queued}", {"targets": ["a.py::f"], "pad": "q" * 20_000}, {})
            queued += 1
        except db.StoreError as exc:
            error = str(exc)
    assert error is not None
    assert "no space left on the disk of" in error
    assert error.endswith("nothing was changed")
    assert queued > 5
    engine.dispose()
    assert db.damage(small_disk / "jobs.db") is None  # quick_check: ok
    again = JobStore(db.make_engine(f"sqlite:///{small_disk / 'jobs.db'}"))
    assert sum(again.counts().values()) == queued


def _failing_bwrap(folder: Path) -> Path:
    """A `bwrap` that cannot create namespaces: it answers as bubblewrap does in a
    container that forbids them (the runner only sees its exit status and stderr)."""
    folder.mkdir()
    script = folder / "bwrap"
    script.write_text(
        "#!/bin/sh\necho 'bwrap: Creating new namespace failed: Operation not permitted' >&2\n"
        "exit 1\n"
    )
    script.chmod(0o755)
    return folder


def test_auto_refuses_candidate_code_when_bubblewrap_cannot_run(
    sqlite_setup: tuple[Path, JobStore], serves: list[Serve], tmp_path: Path
) -> None:
    config, store = sqlite_setup
    marker = tmp_path / "ran"
    path = f"{_failing_bwrap(tmp_path / 'bin')}:{os.environ['PATH']}"
    serve = Serve(config, env={"PATH": path})
    serves.append(serve)
    serve.wait_ready()
    job_id = enqueue(store, "no-sandbox", f"touch {marker}")
    wait_for(in_state(store, job_id, JobState.FAILED), 60, "the job to be refused")
    message = store.get(job_id).message
    assert "no sandbox" in message
    assert "Creating new namespace failed" in message
    assert "sandbox.backend = 'none'" in message
    assert not marker.exists()  # nothing ran
    doctor = _cli("doctor", "--config", str(config), env={"PATH": path})
    line = next(x for x in doctor.stdout.splitlines() if x.split()[1:2] == ["bubblewrap"])
    assert line.startswith("FAIL")
    assert "Creating new namespace failed" in line
    assert "fix:" in line
    assert doctor.returncode == 1
