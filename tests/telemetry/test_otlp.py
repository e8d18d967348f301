"""The OTLP/HTTP sink against a loopback collector that parses the protobuf requests."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from runner.config import Settings
from runner.telemetry.icarus import TelemetryUnreachable
from runner.telemetry.otlp import EVENT_ID_KEY, OtlpConfig, OtlpShipper
from runner.telemetry.receiver import ReceiverState, start_receiver
from runner.telemetry.setup import build_shipper, job_tracer
from runner.telemetry.spool import Spool

from .conftest import Captured

GHP = "ghp_" + "aB3dE5fG7hJ9kL1mN2pQ4rS6tU8vW0xY2zA4"
HEADER_SECRET = "collector-api-key-Zx81Qm"  # noqa: S105 - test credential
ICARUS_TOKEN = "icarus-token-for-otlp-test"  # noqa: S105 - test credential


def _attributes(span: object) -> dict[str, object]:
    out: dict[str, object] = {}
    for kv in span.attributes:  # type: ignore[attr-defined]
        value = kv.value
        out[kv.key] = getattr(value, value.WhichOneof("value"))
    return out


def _settings(tmp_path: Path, collector: Captured, icarus_port: int | None = None) -> Settings:
    telemetry: dict[str, object] = {
        "otlp": {
            "endpoint": collector.url + "/v1/traces",
            "headers": {"x-api-key": HEADER_SECRET},
            "timeout_s": 2,
            "backoff_initial_s": 0.01,
            "backoff_max_s": 0.05,
        }
    }
    if icarus_port is not None:
        telemetry["icarus"] = {
            "url": f"ws://127.0.0.1:{icarus_port}",
            "token": ICARUS_TOKEN,
            "backoff_initial_s": 0.01,
            "backoff_max_s": 0.05,
        }
    return Settings(state_dir=tmp_path / "state", telemetry=telemetry)


def test_job_spans_reach_the_collector_redacted(tmp_path: Path, otlp_collector: Captured) -> None:
    settings = _settings(tmp_path, otlp_collector)
    tracer = job_tracer(settings, "job-7", tmp_path / "events.jsonl")
    with tracer.span("job", job_id="job-7"):
        turn = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-x"}
        with tracer.span("agent.turn", **turn) as span:
            span.set(**{"gen_ai.usage.input_tokens": 10, "optirunner.prompt": f"key {GHP}"})
        with tracer.span("sandbox.run", argv="pytest", stdout=f"x-api-key: {HEADER_SECRET}"):
            pass
    tracer.close()
    shippers = build_shipper(settings)
    assert shippers is not None
    asyncio.run(shippers.run(drain=True, max_failures=1))
    shippers.close()

    spans = otlp_collector.spans()
    assert sorted(s.name for s in spans) == ["agent.turn", "job", "sandbox.run"]
    assert otlp_collector.paths == ["/v1/traces"]
    assert otlp_collector.headers[0]["content-type"] == "application/x-protobuf"
    assert otlp_collector.headers[0]["x-api-key"] == HEADER_SECRET  # configured header sent
    for body in otlp_collector.bodies:
        assert GHP.encode() not in body
        assert HEADER_SECRET.encode() not in body  # a settings secret: masked in the spans
    by_name = {s.name: s for s in spans}
    turn_attrs = _attributes(by_name["agent.turn"])
    assert turn_attrs["gen_ai.operation.name"] == "chat"
    assert turn_attrs["gen_ai.request.model"] == "gpt-x"
    assert turn_attrs["gen_ai.usage.input_tokens"] == 10
    assert turn_attrs[EVENT_ID_KEY]
    assert by_name["agent.turn"].parent_span_id == by_name["job"].span_id
    assert len({s.trace_id for s in spans}) == 1
    resource = otlp_collector.requests()[0].resource_spans[0].resource
    assert {kv.key: kv.value.string_value for kv in resource.attributes}[
        "optirunner.job_id"
    ] == "job-7"
    spool = Spool(tmp_path / "state" / "telemetry" / "spool.db")
    assert spool.stats().count == 0


def test_unreachable_collector_keeps_events_and_raises(
    tmp_path: Path, otlp_collector: Captured, caplog: pytest.LogCaptureFixture
) -> None:
    otlp_collector.status = 503
    spool = Spool(tmp_path / "spool.db")
    spool.append_many([{"name": "s", "n": i} for i in range(5)])
    config = OtlpConfig(otlp_collector.url + "/v1/traces", timeout_s=0.2, backoff_initial_s=0.01)
    shipper = OtlpShipper(spool, config)
    with (
        caplog.at_level(logging.CRITICAL, logger="opentelemetry"),
        pytest.raises(TelemetryUnreachable, match="did not accept 5 spans"),
    ):
        asyncio.run(shipper.run(drain=True, max_failures=2))
    shipper.close()
    assert spool.pending("otlp") == 5
    assert shipper.failures == 2


def test_icarus_and_otlp_run_side_by_side_with_their_own_cursors(
    tmp_path: Path, otlp_collector: Captured
) -> None:
    state = ReceiverState(frozenset({ICARUS_TOKEN}))

    async def scenario() -> None:
        server = await start_receiver(state)
        port = server.sockets[0].getsockname()[1]
        settings = _settings(tmp_path, otlp_collector, icarus_port=port)
        spool = Spool(tmp_path / "state" / "telemetry" / "spool.db")
        spool.append_many([{"name": "s", "n": i} for i in range(120)])
        otlp_collector.status = 503  # the collector is down: Icarus still gets everything
        shippers = build_shipper(settings)
        assert shippers is not None
        with pytest.raises(TelemetryUnreachable):
            await shippers.run(drain=True, max_failures=1)
        assert len(state.events) == 120
        assert spool.pending("icarus") == 0
        assert spool.pending("otlp") == 120
        assert spool.stats().count == 120  # kept for the sink that has not acknowledged
        otlp_collector.status = 200
        await shippers.run(drain=True, max_failures=1)
        assert spool.stats().count == 0
        shippers.close()
        spool.close()
        server.close()
        await server.wait_closed()

    logging.getLogger("opentelemetry").setLevel(logging.CRITICAL)
    try:
        asyncio.run(scenario())
    finally:
        logging.getLogger("opentelemetry").setLevel(logging.NOTSET)
    assert len({s.span_id for s in otlp_collector.spans()}) == 120  # 503s were resent


def test_dropped_sink_no_longer_holds_events(tmp_path: Path, otlp_collector: Captured) -> None:
    settings = _settings(tmp_path, otlp_collector)
    spool = Spool(tmp_path / "state" / "telemetry" / "spool.db")
    spool.register("icarus")  # configured once, removed from the settings since
    spool.append_many([{"name": "s"} for _ in range(3)])
    shippers = build_shipper(settings)
    assert shippers is not None
    asyncio.run(shippers.run(drain=True, max_failures=1))
    shippers.close()
    assert spool.sinks() == {"otlp": spool.sinks()["otlp"]}
    assert spool.stats().count == 0
