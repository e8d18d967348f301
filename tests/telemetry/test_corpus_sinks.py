"""Every positive of the redaction corpus, injected into a job's spans (prompts, command
output, span events, exception messages) and into Sentry exceptions, is looked for in every
sink: events.jsonl, the spool, the Icarus receiver's database, the OTLP request bodies and
the envelopes Sentry's transport posts.

The property is strict: no positive reaches any sink, except the ones listed in
`ALLOWED_MISSES`, each with the reason the rules let it through. The list is exact (the
redactor's misses on the bare strings must equal it), so a new miss fails here, and a rule
that starts catching one of them must take it off the list. Once the runner knows the
values (the sandbox environment, settings secrets), not even those get through.
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

# The corpus positives (by `value`) that pass the rules, and why. Only the runner's
# exact-value masking of secrets it knows covers them (see the last tests).
ALLOWED_MISSES = {
    # aws-amazon-bedrock-api-key-long-lived: AWS's documentation example key, the prefix
    # `ABSK` + base64("BedrockAPIKey-") followed by `EXAMPLE` repeated. "EXAMPLE" is AWS's
    # placeholder convention (as in `AKIAIOSFODNN7EXAMPLE`); the redactor treats values that
    # say example as placeholders, which is what keeps documentation samples unmasked.
    "ABSKQmVkcm9ja0FQSUtleS1" + "EXAMPLE" * 15 + "EXM=": "AWS's documented example key",
}


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


def test_the_redactor_misses_exactly_the_allowed_positives() -> None:
    cases = positives()
    assert len(cases) >= 800
    redactor = Redactor()
    missed = {c["value"] for c in cases if c["value"] in redactor.redact(c["text"])}
    assert missed == set(ALLOWED_MISSES)
    # an allowed value is not also the value of a positive the rules catch elsewhere
    caught = [c for c in cases if c["value"] not in redactor.redact(c["text"])]
    assert not {c["value"] for c in caught} & set(ALLOWED_MISSES)


def test_no_caught_positive_reaches_any_sink(tmp_path: Path, otlp_collector: Captured) -> None:
    cases = positives()
    sinks = run_job(tmp_path, otlp_collector, [c["text"] for c in cases], known=[])
    found = leaks(sinks, {c["value"] for c in cases})
    for name, values in found.items():
        assert values <= set(ALLOWED_MISSES), (name, sorted(values - set(ALLOWED_MISSES))[:5])
        # the allowed ones do arrive: the search sees through each sink's encoding
        assert values == set(ALLOWED_MISSES), name
    assert len(otlp_collector.spans()) == len(cases)


def test_no_sink_leaks_a_secret_the_runner_knows(tmp_path: Path, otlp_collector: Captured) -> None:
    cases = [c for c in positives() if c["value"] in ALLOWED_MISSES]
    assert len(cases) == len(ALLOWED_MISSES)
    sinks = run_job(
        tmp_path, otlp_collector, [c["text"] for c in cases], [c["value"] for c in cases]
    )
    assert leaks(sinks, {c["value"] for c in cases}) == {name: set() for name in sinks}


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


def test_no_caught_positive_reaches_sentry(tmp_path: Path, sentry_ingest: Captured) -> None:
    cases = positives()
    sent = sentry_events(tmp_path, sentry_ingest, [c["text"] for c in cases], known=[])
    leaked = {c["value"] for c in cases if c["value"] in sent}
    assert leaked <= set(ALLOWED_MISSES), sorted(leaked - set(ALLOWED_MISSES))[:5]
    assert leaked == set(ALLOWED_MISSES)  # they do arrive: the search is not blind


def test_sentry_masks_the_allowed_positives_once_known(
    tmp_path: Path, sentry_ingest: Captured
) -> None:
    cases = [c for c in positives() if c["value"] in ALLOWED_MISSES]
    values = [c["value"] for c in cases]
    sent = sentry_events(tmp_path, sentry_ingest, [c["text"] for c in cases], known=values)
    assert not [v for v in values if v in sent]
