from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from runner.config import Settings
from runner.telemetry.policy import EventRedactor, is_content
from runner.telemetry.redact import FAILED, Redactor
from runner.telemetry.setup import build_tracer
from runner.telemetry.tracing import Tracer

GHP = "ghp_" + "aB3dE5fG7hJ9kL1mN2pQ4rS6tU8vW0xY2zA4"


def _event(**attributes: Any) -> dict[str, Any]:
    return {
        "job_id": "j",
        "name": "provider call",
        "span_id": "s",
        "status": "ok",
        "attributes": attributes,
    }


def test_content_keys() -> None:
    assert is_content("gen_ai.input.messages")
    assert is_content("sandbox.stdout")
    assert is_content("content.anything")
    assert not is_content("gen_ai.usage.input_tokens")


def test_redacted_policy_masks_content_and_other_attributes() -> None:
    processor = EventRedactor(Redactor(["env-secret-value"]), "redacted")
    out = processor(_event(prompt=f"use {GHP}", stdout="env-secret-value leaked", model="m1"))
    attributes = out["attributes"]
    assert GHP not in attributes["prompt"]
    assert "env-secret-value" not in attributes["stdout"]
    assert attributes["model"] == "m1"


def test_hash_policy_keeps_only_a_digest_of_the_redacted_content() -> None:
    processor = EventRedactor(Redactor(), "hash")
    out = processor(_event(response=f"here {GHP}", **{"gen_ai.usage.output_tokens": 7}))
    attributes = out["attributes"]
    expected = hashlib.sha256(Redactor().redact(f"here {GHP}").encode()).hexdigest()
    assert attributes["response"] == f"sha256:{expected}"
    assert attributes["response.length"] == len(f"here {GHP}")
    assert attributes["gen_ai.usage.output_tokens"] == 7


def test_none_policy_drops_content() -> None:
    out = EventRedactor(Redactor(), "none")(_event(code="def f(): pass", op="chat"))
    assert out["attributes"] == {"op": "chat"}


def test_processor_fails_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    processor = EventRedactor(Redactor(), "redacted")

    def boom(_attributes: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("bug")

    monkeypatch.setattr(processor, "attributes", boom)
    out = processor(_event(prompt=GHP))
    assert out["attributes"] == {"redaction": FAILED}
    assert out["span_id"] == "s"
    assert GHP not in json.dumps(out)


def test_tracer_redacts_before_every_sink() -> None:
    seen: list[dict[str, Any]] = []
    tracer = Tracer("job", [seen.append], processor=EventRedactor(Redactor(), "redacted"))
    with pytest.raises(RuntimeError), tracer.span("call", prompt=GHP):
        raise RuntimeError(f"provider rejected {GHP}")
    assert GHP not in json.dumps(seen)
    assert seen[0]["status"] == "error"


def test_build_tracer_writes_redacted_jsonl(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path / "state")
    tracer = build_tracer(settings, "job-1", tmp_path, known_secrets=["my-runner-token-123"])
    with tracer.span("sandbox", stdout="token my-runner-token-123 and " + GHP):
        pass
    tracer.close()
    text = (tmp_path / "events.jsonl").read_text()
    assert "my-runner-token-123" not in text
    assert GHP not in text
    assert not (tmp_path / "state/telemetry/spool.db").exists()  # no Icarus URL: no spool


def test_build_tracer_spools_when_icarus_is_configured(tmp_path: Path) -> None:
    settings = Settings(
        state_dir=tmp_path / "state",
        telemetry={"icarus": {"url": "ws://127.0.0.1:9", "token": "t"}},
    )
    tracer = build_tracer(settings, "job-1", tmp_path)
    with tracer.span("stage", output=GHP):
        pass
    tracer.close()
    import sqlite3

    rows = (
        sqlite3.connect(tmp_path / "state/telemetry/spool.db")
        .execute("SELECT payload FROM events")
        .fetchall()
    )
    assert len(rows) == 1
    assert GHP not in rows[0][0]
