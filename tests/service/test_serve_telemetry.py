"""`serve` streams the jobs' redacted events to a real Icarus (websocket) receiver."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from runner.store.models import JobState
from runner.store.queue import JobStore
from runner.telemetry.receiver import ReceiverState, start_receiver

from .conftest import Serve, enqueue, in_state, wait_for

TOKEN = "icarus-test-token-7d1e"  # noqa: S105 - the receiver's test credential


@pytest.fixture
def receiver() -> Iterator[tuple[ReceiverState, int]]:
    """A real Icarus receiver on port 0, in its own event loop thread."""
    state = ReceiverState(tokens=frozenset({TOKEN}))
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, object] = {}

    async def serve() -> None:
        stop = asyncio.Event()
        holder["stop"] = stop
        server = await start_receiver(state)
        holder["port"] = server.sockets[0].getsockname()[1]
        ready.set()
        await stop.wait()
        server.close()
        await server.wait_closed()

    thread = threading.Thread(target=lambda: loop.run_until_complete(serve()), daemon=True)
    thread.start()
    assert ready.wait(10)
    yield state, int(str(holder["port"]))
    stop = holder["stop"]
    assert isinstance(stop, asyncio.Event)
    loop.call_soon_threadsafe(stop.set)
    thread.join(10)
    loop.close()


def test_job_events_reach_icarus(
    sqlite_setup: tuple[Path, JobStore],
    serves: list[Serve],
    receiver: tuple[ReceiverState, int],
) -> None:
    config, store = sqlite_setup
    state, port = receiver
    with config.open("a") as out:
        out.write(f'[telemetry.icarus]\nurl = "ws://127.0.0.1:{port}"\ntoken = "{TOKEN}"\n')
    job_id = enqueue(store, "telemetry", "python -c 'import tiny.core'")
    serve = Serve(config)
    serves.append(serve)
    serve.wait_ready()
    wait_for(in_state(store, job_id, JobState.SUCCEEDED), 60, "job to succeed")
    wait_for(
        lambda: any(e.get("name") == "job" for e in state.events.values()),
        30,
        "the job span at Icarus",
    )
    names = {e.get("name") for e in state.events.values()}
    assert {"workspace", "baseline", "report"} <= names
    assert TOKEN not in repr(list(state.events.values()))  # the runner's own secret: redacted
