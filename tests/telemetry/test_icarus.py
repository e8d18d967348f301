from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from runner.errors import TelemetryAuthError
from runner.telemetry.icarus import IcarusConfig, IcarusShipper, backoff_delay
from runner.telemetry.receiver import ReceiverState, start_receiver
from runner.telemetry.spool import Spool

TOKEN = "runner-token-for-tests"  # noqa: S105 - test credential


def _config(port: int, token: str = TOKEN, batch_size: int = 50) -> IcarusConfig:
    return IcarusConfig(
        url=f"ws://127.0.0.1:{port}",
        token=token,
        runner_id="runner-1",
        batch_size=batch_size,
        ack_timeout_s=5,
        backoff_initial_s=0.05,
        backoff_max_s=0.2,
        idle_poll_s=0.02,
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _spool(tmp_path: Path, n: int) -> Spool:
    spool = Spool(tmp_path / "spool.db")
    spool.append_many([{"name": "span", "n": i} for i in range(n)])
    return spool


async def _drain_with(state: ReceiverState, spool: Spool, port: int = 0) -> IcarusShipper:
    server = await start_receiver(state, port=port)
    port = server.sockets[0].getsockname()[1] if port == 0 else port
    shipper = IcarusShipper(spool, _config(port))
    try:
        await asyncio.wait_for(shipper.run(drain=True), timeout=30)
    finally:
        server.close()
        await server.wait_closed()
    return shipper


def _numbers(state: ReceiverState) -> list[int]:
    return sorted(int(e["n"]) for e in state.events.values())


def test_backoff_is_capped_with_full_jitter() -> None:
    assert backoff_delay(0, 0.5, 60, rand=lambda: 1.0) == 0.5
    assert backoff_delay(3, 0.5, 60, rand=lambda: 1.0) == 4.0
    assert backoff_delay(50, 0.5, 60, rand=lambda: 1.0) == 60
    assert backoff_delay(5, 0.5, 60, rand=lambda: 0.0) == 0.0


def test_normal_flow_ships_everything_once_and_empties_the_spool(tmp_path: Path) -> None:
    spool = _spool(tmp_path, 500)
    state = ReceiverState(frozenset({TOKEN}))
    shipper = asyncio.run(_drain_with(state, spool))
    assert _numbers(state) == list(range(500))
    assert state.duplicates == 0
    assert shipper.acked_events == 500
    assert spool.stats().count == 0


def test_receiver_down_then_up_loses_nothing(tmp_path: Path) -> None:
    spool = _spool(tmp_path, 300)
    state = ReceiverState(frozenset({TOKEN}))
    port = _free_port()

    async def scenario() -> IcarusShipper:
        shipper = IcarusShipper(spool, _config(port))
        task = asyncio.create_task(shipper.run(drain=True))
        await asyncio.sleep(0.5)  # nothing listens: the shipper keeps retrying
        assert not task.done()
        assert shipper.reconnects >= 2
        spool.append_many([{"name": "late", "n": 300 + i} for i in range(20)])
        server = await start_receiver(state, port=port)
        try:
            await asyncio.wait_for(task, timeout=30)
        finally:
            server.close()
            await server.wait_closed()
        return shipper

    asyncio.run(scenario())
    assert _numbers(state) == list(range(320))
    assert spool.stats().count == 0


def test_drop_mid_batch_is_redelivered_and_deduplicated(tmp_path: Path) -> None:
    spool = _spool(tmp_path, 200)
    dropped: list[str] = []

    def drop_third_once(batch_id: str) -> bool:
        if len(state.batches_seen) == 3 and not dropped:
            dropped.append(batch_id)
            return False
        return True

    state = ReceiverState(frozenset({TOKEN}), before_ack=drop_third_once)
    shipper = asyncio.run(_drain_with(state, spool))
    assert _numbers(state) == list(range(200))
    assert state.duplicates == 50  # the unacknowledged batch came again ...
    assert state.batches_seen.count(dropped[0]) == 2  # ... with the same batch id
    assert shipper.reconnects == 1
    assert spool.stats().count == 0


def test_runner_restart_resumes_from_the_last_ack(tmp_path: Path) -> None:
    spool = _spool(tmp_path, 100)
    state = ReceiverState(frozenset({TOKEN}))
    asyncio.run(_drain_with(state, spool))
    spool.close()
    reopened = Spool(tmp_path / "spool.db")
    reopened.append_many([{"name": "after", "n": 100 + i} for i in range(10)])
    asyncio.run(_drain_with(state, reopened))
    assert _numbers(state) == list(range(110))
    assert state.duplicates == 0


def test_auth_failure_is_a_clear_error_without_retry(tmp_path: Path) -> None:
    spool = _spool(tmp_path, 5)
    state = ReceiverState(frozenset({"another-token"}))

    async def scenario() -> None:
        server = await start_receiver(state)
        port = server.sockets[0].getsockname()[1]
        try:
            shipper = IcarusShipper(spool, _config(port, token=TOKEN))
            await asyncio.wait_for(shipper.run(drain=True), timeout=10)
        finally:
            server.close()
            await server.wait_closed()

    with pytest.raises(TelemetryAuthError, match="refused the runner's token"):
        asyncio.run(scenario())
    assert spool.stats().count == 5
    assert not state.events
