"""Outage benchmark: the shipper's memory while N events pile up and then drain.

    .venv/bin/python benchmarks/telemetry_outage.py [--events 100000] [--batch 500]

The shipping side runs as `serve` runs it (`build_shipper(settings).run(stop)`) in its own
process; the receiver is the reference one (`optirunner icarus-receiver`, SQLite). The
receiver is down while N events are appended to the spool (as workers do), then comes up.
Reports the shipper's RSS (VmRSS, sampled) before, at the end of the outage and at the
peak of the drain, the append and drain rates, and what the receiver stored.
"""

from __future__ import annotations

import argparse
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from runner.telemetry.spool import Spool

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "bench-outage-token"  # noqa: S105 - benchmark credential
SHIPPER = (
    "import asyncio, signal\n"
    "from runner.config import Settings\n"
    "from runner.telemetry.setup import build_shipper\n"
    "async def main():\n"
    "    s = build_shipper(Settings()); stop = asyncio.Event()\n"
    "    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)\n"
    "    print('shipping', flush=True); await s.run(stop)\n"
    "asyncio.run(main())\n"
)


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start(argv: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
    )
    assert proc.stdout is not None
    proc.stdout.readline()
    return proc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args(argv)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "OPTIRUNNER_STATE_DIR": f"{tmp}/state",
            "OPTIRUNNER_TELEMETRY__ICARUS__URL": f"ws://127.0.0.1:{port}",
            "OPTIRUNNER_TELEMETRY__ICARUS__TOKEN": TOKEN,
            "OPTIRUNNER_TELEMETRY__ICARUS__BATCH_SIZE": str(args.batch),
            "OPTIRUNNER_TELEMETRY__ICARUS__BACKOFF_MAX_S": "1",
            "OPTIRUNNER_ICARUS_RECEIVER_TOKENS": TOKEN,
        }
        spool = Spool(Path(tmp) / "state" / "telemetry" / "spool.db", max_events=args.events * 2)
        shipper = start([sys.executable, "-c", SHIPPER], env)
        time.sleep(1.0)
        before = rss_mib(shipper.pid)
        outage_peak = before
        event = {"job_id": "bench", "name": "sandbox.run", "status": "ok"}
        started = time.perf_counter()
        for first in range(0, args.events, 1000):
            spool.append_many(
                [
                    {**event, "attributes": {"argv": "pytest -q", "n": n}}
                    for n in range(first, first + 1000)
                ]
            )
            outage_peak = max(outage_peak, rss_mib(shipper.pid))
        append_rate = args.events / (time.perf_counter() - started)
        after_outage = rss_mib(shipper.pid)
        db = Path(tmp) / "receiver.db"
        receiver_argv = [sys.executable, "-m", "runner", "icarus-receiver", "--db", str(db)]
        receiver = start([*receiver_argv, "--port", str(port)], env)
        started = time.perf_counter()
        drain_peak = after_outage
        while spool.pending("icarus") > 0:
            drain_peak = max(drain_peak, rss_mib(shipper.pid))
            time.sleep(0.1)
        drain_s = time.perf_counter() - started
        for proc in (shipper, receiver):
            proc.terminate()
            proc.wait(30)
            if proc.stdout is not None:
                proc.stdout.close()
        with sqlite3.connect(db) as conn:
            stored = conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
        spool.close()
    print(f"events: {args.events:,}, batch {args.batch}")
    print(f"spool append during the outage: {append_rate:,.0f} events/s (1000 per transaction)")
    print(
        f"shipper RSS: {before:.1f} MiB before, {outage_peak:.1f} MiB peak during the outage, "
        f"{after_outage:.1f} MiB at its end, {drain_peak:.1f} MiB peak while draining"
    )
    print(f"drain after reconnect: {drain_s:.1f} s, {args.events / drain_s:,.0f} events/s")
    print(f"receiver stored {stored:,}/{args.events:,}")
    return 0 if stored == args.events else 1


if __name__ == "__main__":
    sys.exit(main())
