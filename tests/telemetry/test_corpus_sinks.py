"""Every positive of the redaction corpus, injected into a job's spans (prompts, command
output, span events, exception messages) and into Sentry exceptions, is looked for in every
sink: events.jsonl, the spool, the Icarus receiver's database, the OTLP request bodies and
the envelopes Sentry's transport posts.

The property is strict: no positive reaches any sink. A canary text that no rule masks
is traced alongside and must arrive in every sink, so the search for leaks is not blind to
a sink's encoding. Values that no rule catches but the runner knows (its settings secrets,
the sandbox environment) are masked too.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from runner.config import Settings
from runner.telemetry.receiver import ReceiverDB, ReceiverState, start_receiver
from runner.telemetry.redact import Redactor
from runner.telemetry.setup import build_shipper, job_tracer

from .conftest import Captured

ROOT = Path(__file__).resolve().parents[2]
CORPUS = Path(__file__).parent / "fixtures" / "redaction-corpus.jsonl"
TOKEN = "corpus-icarus-token-5521"  # noqa: S105 - test credential

# Harmless text no rule masks: it must arrive everywhere (the search sees each encoding).
CANARY = "optirunner canary: tulip garden at seven"
# Secrets no rule could recognise (ordinary words); masked only because the runner knows them.
KNOWN = ("marmalade-sunday", "quiet lantern harbour")


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


def test_the_redactor_masks_every_positive() -> None:
    cases = positives()
    assert len(cases) >= 800
    redactor = Redactor()
    missed = [c["value"] for c in cases if c["value"] in redactor.redact(c["text"])]
    assert missed == []
    assert redactor.redact(CANARY) == CANARY
    assert all(redactor.redact(k) == k for k in KNOWN)  # only knowing them masks them


def test_no_positive_reaches_any_sink(tmp_path: Path, otlp_collector: Captured) -> None:
    cases = positives()
    texts = [c["text"] for c in cases] + [CANARY]
    sinks = run_job(tmp_path, otlp_collector, texts, known=[])
    assert leaks(sinks, {c["value"] for c in cases}) == {name: set() for name in sinks}
    assert all(CANARY in text for text in sinks.values()), sorted(sinks)
    assert len(otlp_collector.spans()) == len(texts)


def test_no_sink_leaks_a_secret_the_runner_knows(tmp_path: Path, otlp_collector: Captured) -> None:
    texts = [f"connecting with {k}" for k in KNOWN] + [CANARY]
    sinks = run_job(tmp_path, otlp_collector, texts, list(KNOWN))
    assert leaks(sinks, KNOWN) == {name: set() for name in sinks}
    assert all(CANARY in text for text in sinks.values())


# Sentry runs in a fresh interpreter (it installs process-wide hooks): one captured
# exception per corpus text, through `init_sentry`'s `before_send`, posted by Sentry's own
# HTTP transport to a loopback ingest. Flushing every 50 events keeps the transport's queue
# (100 events) from dropping any.
SENTRY_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from runner.config import Settings
    from runner.telemetry import sentry

    dsn, state, cases_file, known_file = sys.argv[1:5]
    texts = json.loads(Path(cases_file).read_text())
    known = json.loads(Path(known_file).read_text())
    settings = Settings(state_dir=Path(state), telemetry={"sentry": {"dsn": dsn}})
    assert sentry.init_sentry(settings, known_secrets=known)
    for i, text in enumerate(texts):
        try:
            raise RuntimeError(f"command failed: {text}")
        except RuntimeError as exc:
            sentry.capture_exception(exc)
        if i % 50 == 49:
            sentry.flush(30)
    sentry.flush(30)
    """
)


def sentry_events(tmp_path: Path, ingest: Captured, texts: list[str], known: list[str]) -> str:
    """Send one exception per text through Sentry; return every string that reached the ingest."""
    cases_file, known_file = tmp_path / "texts.json", tmp_path / "known.json"
    cases_file.write_text(json.dumps(texts))
    known_file.write_text(json.dumps(known))
    port = ingest.url.rsplit(":", 1)[1]
    dsn = f"http://publickey@127.0.0.1:{port}/1"
    args = [dsn, str(tmp_path / "state"), str(cases_file), str(known_file)]
    proc = subprocess.run(
        [sys.executable, "-c", SENTRY_SCRIPT, *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    raw = b"\n".join(ingest.bodies)
    items = [json.loads(line) for line in raw.splitlines() if line.strip().startswith(b"{")]
    events = [item for item in items if "exception" in item]
    assert len(events) == len(texts)  # none dropped: the check below is not vacuous
    return "\0".join(strings(items))


def test_no_positive_reaches_sentry(tmp_path: Path, sentry_ingest: Captured) -> None:
    cases = positives()
    texts = [c["text"] for c in cases] + [CANARY]
    sent = sentry_events(tmp_path, sentry_ingest, texts, known=[])
    assert [c["value"] for c in cases if c["value"] in sent] == []
    assert CANARY in sent  # the search is not blind


def test_sentry_masks_the_secrets_the_runner_knows(tmp_path: Path, sentry_ingest: Captured) -> None:
    texts = [f"connecting with {k}" for k in KNOWN] + [CANARY]
    sent = sentry_events(tmp_path, sentry_ingest, texts, known=list(KNOWN))
    assert [k for k in KNOWN if k in sent] == []
    assert CANARY in sent
