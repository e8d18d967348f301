"""The job directory contract: fixed file names, atomic writes, 0600 files in 0700 dirs."""

from __future__ import annotations

import errno
import os
import secrets
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from runner.errors import DiskFull

SPEC = "spec.json"
REPORT_MD = "report.md"
REPORT_JSON = "report.json"
PATCH = "patch.diff"
EVENTS = "events.jsonl"
WORKTREES = "worktrees"
PLOTS = "plots"  # <candidate id>.png: round times of baseline and candidate
WORKER_LOG = "worker.log"  # `optirunner serve`: every attempt's worker output


def new_job_id(now: datetime | None = None, token: str | None = None) -> str:
    """A sortable, unique job id: `YYYYmmdd-HHMMSS-<6 hex>`."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{token or secrets.token_hex(3)}"


def private_dir(path: Path) -> Path:
    """Create `path` (and parents) as a 0700 directory."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write a 0600 file so that readers see the old content or the new, never a part."""
    raw = data.encode() if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(raw)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise DiskFull(
                f"cannot write {path}: no space left on the device; its previous content is kept"
            ) from None
        raise
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class JobDir:
    """The folder of one job under `<state_dir>/jobs/<job_id>`."""

    root: Path

    @classmethod
    def create(cls, state_dir: Path, job_id: str) -> JobDir:
        jobs = private_dir(state_dir / "jobs")
        return cls(private_dir(jobs / job_id))

    @property
    def job_id(self) -> str:
        return self.root.name

    def path(self, name: str) -> Path:
        return self.root / name

    def write(self, name: str, data: str | bytes) -> Path:
        target = self.root / name
        write_atomic(target, data)
        return target

    def subdir(self, name: str) -> Path:
        return private_dir(self.root / name)
