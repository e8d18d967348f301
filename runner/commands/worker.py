"""`optirunner worker JOB_ID`: run one queued job in this process (started by `serve`).

Exit codes are the contract with the supervisor: 0 succeeded, 1 failed (retrying will not
help), 130 cancelled (SIGTERM), anything else is a crash and the job is retried.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType

from runner.commands.optimize import EXIT_BY_OUTCOME
from runner.config import load_settings
from runner.job import OptimizeJob
from runner.sandbox import make_sandbox
from runner.service import jobspec
from runner.store.factory import open_store


def run(*, job_id: str, config: Path | None) -> int:
    """Load the job, build its spec, run the optimize pipeline; returns the exit code."""
    _die_with_parent()
    settings = load_settings(config)
    store = open_store(settings)
    try:
        job = store.get(job_id)
    finally:
        store.engine.dispose()
    repo = jobspec.repository(settings, job.spec, job.source)
    spec = jobspec.build_spec(settings, repo, job.spec, jobspec.repo_defaults(repo))
    sys.stderr.write(f"optirunner worker: job {job_id} attempt {job.attempts}: {spec.repo}\n")
    # SIGTERM (a cancel) ends the job like Ctrl-C: recorded as cancelled, cleaned up.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        result = OptimizeJob(settings, spec, make_sandbox(settings), job_id=job_id).run()
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    sys.stderr.write(f"optirunner worker: {result.outcome.value}: {result.message}\n")
    return EXIT_BY_OUTCOME[result.outcome]


def _interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _die_with_parent() -> None:
    """If `serve` dies (even by SIGKILL), end this worker's whole process group.

    Its lease then expires and another listener runs the job again; a worker without a
    listener would finish a job nobody records.
    """
    if os.getpgid(0) != os.getpid():
        return  # not started by the supervisor (no group of its own): never kill the caller's
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os.killpg(os.getpgid(0), signal.SIGKILL)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
