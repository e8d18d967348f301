"""Streaming benchmark: spool N events, ship them to a local receiver, report events/s.

    .venv/bin/python benchmarks/telemetry_stream.py [--events 20000] [--batch 500]

Measures the append rate into the spool (batched and one event per transaction, each
committed with synchronous=FULL), the shipping rate over loopback (ws://) including the
receiver's acks and the spool deletions, and the peak Python memory while draining.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from runner.telemetry.icarus import IcarusConfig, IcarusShipper
from runner.telemetry.receiver import ReceiverState, start_receiver
from runner.telemetry.spool import Spool

EVENT = {"name": "sandbox.command", "status": "ok", "attributes": {"cmd": "pytest -q", "rc": 0}}


async def ship(spool: Spool, batch: int) -> tuple[float, int]:
    state = ReceiverState(frozenset({"bench-token"}))
    server = await start_receiver(state)
    port = server.sockets[0].getsockname()[1]
    config = IcarusConfig(f"ws://127.0.0.1:{port}", "bench-token", "bench", batch_size=batch)
    start = time.perf_counter()
    await IcarusShipper(spool, config).run(drain=True)
    elapsed = time.perf_counter() - start
    server.close()
    await server.wait_closed()
    return elapsed, len(state.events)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        spool = Spool(Path(tmp) / "spool.db", max_events=args.events * 2)
        start = time.perf_counter()
        for first in range(0, args.events, 500):
            spool.append_many([{**EVENT, "n": i} for i in range(first, first + 500)])
        batched = args.events / (time.perf_counter() - start)
        start = time.perf_counter()
        for _ in range(200):
            spool.append(EVENT)
        single = 200 / (time.perf_counter() - start)
        tracemalloc.start()
        elapsed, received = asyncio.run(ship(spool, args.batch))
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    total = args.events + 200
    print(f"spool append, 500 per transaction: {batched:,.0f} events/s")
    print(f"spool append, 1 per transaction:   {single:,.0f} events/s (fsync each)")
    print(
        f"shipped {received:,}/{total:,} events in {elapsed:.2f} s: {total / elapsed:,.0f} events/s"
    )
    print(f"peak traced memory while shipping: {peak / (1 << 20):.1f} MiB (sender + receiver)")
    return 0 if received == total else 1


if __name__ == "__main__":
    sys.exit(main())
