"""Damaged files and full disks: inject each fault into real files, start a real
`optirunner serve`, and count what was salvaged and lost (docs/operations.md).

    PYTHONPATH=. python benchmarks/damaged_files.py [--events 5000] [--runs 3]

Prints one markdown row per fault. The full-disk rows need root (a 2 MiB tmpfs).
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx

from runner.sqlitecheck import damage
from runner.store import db
from runner.store.queue import JobStore
from runner.telemetry import damage as spool_damage
from runner.telemetry.spool import Spool, SpoolError

PAGE = 4096


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def config(root: Path) -> Path:
    path = root / "config.toml"
    path.write_text(
        f'state_dir = "{root / "state"}"\n[service]\nport = {free_port()}\n'
        '[service.gitlab]\ntoken = "bench-token-123456"\n'
        f'[telemetry.icarus]\nurl = "ws://127.0.0.1:{free_port()}"\ntoken = "bench-icarus"\n'
    )
    return path


def fill_spool(path: Path, events: int, checkpoint: bool = True) -> None:
    spool = Spool(path)
    spool.register("icarus")
    for start in range(0, events, 500):
        spool.append_many([{"n": i, "pad": "p" * 300} for i in range(start, start + 500)])
    if checkpoint:
        spool._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        spool.close()
    else:  # leave the events in the WAL: end the process without a checkpoint
        spool._db.execute("PRAGMA wal_autocheckpoint = 0")


def truncate(fraction: float) -> Callable[[Path], None]:
    def fault(path: Path) -> None:
        size = path.stat().st_size
        with path.open("r+b") as fh:
            fh.truncate(int(size * fraction) // PAGE * PAGE + PAGE // 2)

    return fault


def garbage_page(number: int) -> Callable[[Path], None]:
    def fault(path: Path) -> None:
        with path.open("r+b") as fh:
            fh.seek((number - 1) * PAGE)
            fh.write(b"\xa5" * PAGE)

    return fault


def serve_stays_up(cfg: Path) -> tuple[bool, int | None]:
    """Start serve; (ready within 30 s and still running, exit code if it ended)."""
    port = int(cfg.read_text().split("port = ")[1].split()[0])
    proc = subprocess.Popen(
        [sys.executable, "-m", "runner", "serve", "--config", str(cfg)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    time.sleep(1)  # still up a second later
                    return proc.poll() is None, None
            time.sleep(0.1)
        return False, proc.poll()
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(30)


def spool_fault(name: str, fault: Callable[[Path], None], events: int, runs: int) -> str:
    salvaged, lost, up = [], [], 0
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            cfg = config(Path(tmp))
            path = Path(tmp) / "state" / "telemetry" / "spool.db"
            path.parent.mkdir(parents=True)
            fill_spool(path, events)
            fault(path)
            ok, _code = serve_stays_up(cfg)
            up += ok
            found = spool_damage.history(path.parent)
            kept = sum(s.salvaged for s in found) if found else events
            salvaged.append(kept)
            lost.append(events - kept)  # the truth; the record may not know (header gone)
    return row(name, runs, events, salvaged, lost, f"{up}/{runs}")


def torn_wal(events: int, runs: int) -> str:
    salvaged, up = [], 0
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            cfg = config(Path(tmp))
            path = Path(tmp) / "state" / "telemetry" / "spool.db"
            path.parent.mkdir(parents=True)
            code = (
                "import sys; from pathlib import Path; sys.path.insert(0, '.');"
                "from benchmarks.damaged_files import fill_spool;"
                f"fill_spool(Path({str(path)!r}), {events}, checkpoint=False);"
                "import os; os._exit(0)"
            )
            subprocess.run([sys.executable, "-c", code], check=True)
            wal = Path(f"{path}-wal")
            truncate(0.5)(wal)
            ok, _ = serve_stays_up(cfg)
            up += ok
            salvaged.append(Spool(path).stats().count)
    lost = [events - s for s in salvaged]
    return row(
        "spool WAL torn mid-frame (kill, no checkpoint)",
        runs,
        events,
        salvaged,
        lost,
        f"{up}/{runs}",
    )


def job_db_truncated(runs: int) -> str:
    up, codes = 0, set()
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            cfg = config(Path(tmp))
            state = Path(tmp) / "state"
            state.mkdir()
            engine = db.make_engine(f"sqlite:///{state / db.DB_FILE}")
            db.upgrade(engine)
            store = JobStore(engine)
            for i in range(300):
                store.enqueue(f"k{i}", {"targets": ["a.py::f"]}, {})
            engine.dispose()
            truncate(0.5)(state / db.DB_FILE)
            ok, code = serve_stays_up(cfg)
            up += ok
            codes.add(code)
    exits = sorted(c for c in codes if c is not None)
    stopped = f"{up}/{runs}: stops, exit {exits}, one line (not restarted by the unit)"
    return f"| job database truncated mid-page | {runs} | 300 jobs | - | - | {stopped} |"


@contextlib.contextmanager
def small_disk() -> Iterator[Path | None]:
    with tempfile.TemporaryDirectory() as tmp:
        mnt = Path(tmp)
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)],
            capture_output=True,
            check=False,
        )
        if done.returncode != 0:
            yield None
            return
        try:
            yield mnt
        finally:
            subprocess.run(["umount", "-l", str(mnt)], check=False)


def full_disk_spool(runs: int) -> str:
    stored, sound = [], 0
    for _ in range(runs):
        with small_disk() as mnt:
            if mnt is None:
                return "| spool append on a full disk | 0 | skipped: cannot mount a tmpfs | | | |"
            spool = Spool(mnt / "spool.db")
            n = 0
            with contextlib.suppress(SpoolError):
                while True:
                    spool.append({"pad": "y" * 20_000})
                    n += 1
            ok = spool.stats().count == n
            spool.close()
            sound += ok and damage(mnt / "spool.db") is None
            stored.append(n)
    written = f"{min(stored)}-{max(stored)} stored, then SpoolError"
    return (
        f"| spool append, full 2 MiB disk | {runs} | {written} | all | 0 | intact {sound}/{runs} |"
    )


def full_disk_jobs(runs: int) -> str:
    queued, sound = [], 0
    for _ in range(runs):
        with small_disk() as mnt:
            if mnt is None:
                return "| job write on a full disk | 0 | skipped: cannot mount a tmpfs | | | |"
            engine = db.make_engine(f"sqlite:///{mnt / 'jobs.db'}")
            db.upgrade(engine)
            store = JobStore(engine)
            n = 0
            with contextlib.suppress(db.StoreError):
                while True:
                    store.enqueue(f"k{n}", {"targets": ["a.py::f"], "pad": "q" * 20_000}, {})
                    n += 1
            ok = sum(store.counts().values()) == n
            engine.dispose()
            sound += ok and damage(mnt / "jobs.db") is None
            queued.append(n)
    written = f"{min(queued)}-{max(queued)} queued, then StoreError"
    return (
        f"| job enqueue, full 2 MiB disk | {runs} | {written} | all | 0 | intact {sound}/{runs} |"
    )


def row(name: str, runs: int, events: int, salvaged: list[int], lost: list[int], up: str) -> str:
    def span(values: list[int]) -> str:
        return str(values[0]) if min(values) == max(values) else f"{min(values)}-{max(values)}"

    return f"| {name} | {runs} | {events} | {span(salvaged)} | {span(lost)} | {up} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(
        "| fault injected | runs | events (or jobs) written | salvaged | lost | service stayed up |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for fraction in (0.25, 0.5, 0.75, 0.95):
        name = f"spool.db truncated mid-page at {fraction:.0%}"
        print(spool_fault(name, truncate(fraction), args.events, args.runs), flush=True)
    print(
        spool_fault(
            "spool.db page 1 (header) overwritten", garbage_page(1), args.events, args.runs
        ),
        flush=True,
    )
    print(
        spool_fault("spool.db page 40 overwritten", garbage_page(40), args.events, args.runs),
        flush=True,
    )
    print(torn_wal(args.events, args.runs), flush=True)
    print(job_db_truncated(args.runs), flush=True)
    print(full_disk_spool(args.runs), flush=True)
    print(full_disk_jobs(args.runs), flush=True)


if __name__ == "__main__":
    main()
