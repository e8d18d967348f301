"""`optirunner jobs show ID` says how the job's report on its issue went (forge.json)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from typer.testing import CliRunner

from runner.cli import app
from runner.config import load_settings
from runner.forge import reporting
from runner.store.factory import open_store


def show(config: Path, job_id: str) -> dict[str, object]:
    result = CliRunner().invoke(app, ["jobs", "show", job_id, "-c", str(config)])
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.output))


def test_pending_report_is_shown(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'state_dir = "{tmp_path / "state"}"\n')
    store = open_store(load_settings(config), migrate=True)
    job_id = store.enqueue("k", {}, {"forge": "gitlab", "issue": "7"}).job_id
    store.engine.dispose()
    assert show(config, job_id)["reporting"] is None  # nothing posted yet

    job_dir = tmp_path / "state" / "jobs" / job_id
    job_dir.mkdir(parents=True)
    handle = {"job_id": job_id, "forge": "gitlab", "issue": "7", "note_id": "1001"}
    reporting.update(
        job_dir,
        state=reporting.PENDING,
        attempts=3,
        next_retry_at=time.time() + 20,
        last_error="GitLab merge request create failed: 502 502 Bad Gateway",
        handle=handle,
        reporter_pid=os.getpid(),
    )
    shown = show(config, job_id)["reporting"]
    assert isinstance(shown, dict)
    assert shown["state"] == "pending"
    assert shown["attempts"] == 3
    assert str(shown["next_retry"]).endswith("UTC")
    assert "502" in str(shown["last_error"])
    assert shown["note_id"] == "1001"
    assert str(shown["retrying"]).startswith(f"yes (pid {os.getpid()})")

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    reporting.update(job_dir, reporter_pid=int(gone.stdout))
    shown = show(config, job_id)["reporting"]
    assert isinstance(shown, dict)
    assert "jobs replay" in str(shown["retrying"])

    delivery = {"note_id": "1001", "label": "optirunner::done", "merge_request": "1"}
    reporting.update(job_dir, state=reporting.POSTED, next_retry_at=None, delivery=delivery)
    shown = show(config, job_id)["reporting"]
    assert isinstance(shown, dict)
    assert (shown["state"], shown["next_retry"], shown["delivery"]) == ("posted", None, delivery)
    assert "retrying" not in shown
