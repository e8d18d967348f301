"""Every positive of the redaction corpus, injected into a job's spans (prompts, command
output, span events, exception messages), is looked for in every sink: events.jsonl, the
spool, the Icarus receiver's database and the OTLP request bodies.

The sinks must add no leak of their own: what reaches them is at most what the redactor
itself misses on the bare string (its measured recall is below 1, see docs/benchmarks.md),
and nothing at all once the values are secrets the runner knows (sandbox environment).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from runner.config import Settings
from runner.telemetry.receiver import ReceiverDB, ReceiverState, start_receiver
from runner.telemetry.redact import Redactor
from runner.telemetry.setup import build_shipper, job_tracer

from .conftest import Captured

CORPUS = Path(__file__).parent / "fixtures" / "redaction-corpus.jsonl"
TOKEN = "corpus-icarus-token-5521"  # noqa: S105 - test credential


def positives() -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in CORPUS.read_text().splitlines() if line.strip()]
    return [line for line in lines if line["secret"] and line.get("value")]


def strings(value: Any) -> Iterable[str]:
    """Every string inside decoded JSON (keys too), so escaping cannot hide a value."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def run_job(
    tmp_path: Path, collector: Captured, texts: list[str], known: list[str]
) -> dict[str, str]:
    """Trace one span per text through every sink; return each sink's content as text."""
    db_path = tmp_path / "receiver.db"
    receiver_db = ReceiverDB(db_path)
    state = ReceiverState(frozenset({TOKEN}), db=receiver_db)

    async def scenario() -> dict[str, str]:
        server = await start_receiver(state)
        port = server.sockets[0].getsockname()[1]
        telemetry = {
            "icarus": {"url": f"ws://127.0.0.1:{port}", "token": TOKEN, "batch_size": 1000},
            "otlp": {"endpoint": collector.url + "/v1/traces", "batch_size": 1000},
        }
        settings = Settings(state_dir=tmp_path / "state", telemetry=telemetry)
        events_file = tmp_path / "events.jsonl"
        tracer = job_tracer(settings, "corpus-job", events_file, known_secrets=known)

        def turn(i: int, text: str) -> None:
            attributes = {"gen_ai.operation.name": "chat", "optirunner.prompt": text}
            with tracer.span("agent.turn", **attributes) as span:
                span.set(stdout=text, **{"optirunner.completion": text, "case": i})
                span.event("output.chunk", span.start, output=text, detail=text)
                raise RuntimeError(f"command failed: {text}")

        for i, text in enumerate(texts):
            with pytest.raises(RuntimeError):
                turn(i, text)
        tracer.close()
        spool_db = tmp_path / "state" / "telemetry" / "spool.db"
        with sqlite3.connect(spool_db) as db:
            spooled = [json.loads(p) for (p,) in db.execute("SELECT payload FROM events")]
        assert len(spooled) == len(texts)
        shippers = build_shipper(settings)
        assert shippers is not None
        await shippers.run(drain=True, max_failures=1)
        shippers.close()
        server.close()
        await server.wait_closed()
        receiver_db.close()
        with sqlite3.connect(db_path) as db:
            received = [json.loads(p) for (p,) in db.execute("SELECT payload FROM events")]
        assert len(received) == len(texts)
        jsonl = [json.loads(line) for line in events_file.read_text().splitlines()]
        return {
            "events.jsonl": "\0".join(strings(jsonl)),
            "spool": "\0".join(strings(spooled)),
            "receiver": "\0".join(strings(received)),
            "otlp": b"\0".join(collector.bodies).decode("utf-8", "replace"),
        }

    return asyncio.run(scenario())


def leaks(sinks: dict[str, str], values: Iterable[str]) -> dict[str, set[str]]:
    return {name: {v for v in values if v in text} for name, text in sinks.items()}


def test_no_sink_leaks_more_than_the_redactor_misses(
    tmp_path: Path, otlp_collector: Captured
) -> None:
    cases = positives()
    assert len(cases) >= 800
    redactor = Redactor()
    missed = {c["value"] for c in cases if c["value"] in redactor.redact(c["text"])}
    sinks = run_job(tmp_path, otlp_collector, [c["text"] for c in cases], known=[])
    found = leaks(sinks, {c["value"] for c in cases})
    for name, values in found.items():
        assert values <= missed, (name, sorted(values - missed)[:5])
    assert len(missed) <= 0.05 * len(cases)  # the redactor's recall (0.977 measured)
    assert len(otlp_collector.spans()) == len(cases)


def test_no_sink_leaks_a_secret_the_runner_knows(tmp_path: Path, otlp_collector: Captured) -> None:
    redactor = Redactor()
    cases = [c for c in positives() if c["value"] in redactor.redact(c["text"])]
    assert cases  # the rules' misses, now passed as known values (e.g. sandbox environment)
    sinks = run_job(
        tmp_path, otlp_collector, [c["text"] for c in cases], [c["value"] for c in cases]
    )
    assert leaks(sinks, {c["value"] for c in cases}) == {name: set() for name in sinks}
