"""The tracer on the OpenTelemetry SDK: every exporter sees only redacted spans."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import StatusCode, format_span_id, format_trace_id

from runner.config import Settings
from runner.errors import JobCancelled
from runner.telemetry.policy import EventRedactor
from runner.telemetry.redact import Redactor
from runner.telemetry.setup import job_tracer
from runner.telemetry.tracing import Tracer, otel_value

GHP = "ghp_" + "aB3dE5fG7hJ9kL1mN2pQ4rS6tU8vW0xY2zA4"
KNOWN = "sandbox-env-value-7Qx9"


class Memory(SpanExporter):
    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []
        self.closed = False

    def export(self, spans: Any) -> SpanExportResult:
        self.spans.extend(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self.closed = True


def _dump(span: ReadableSpan) -> str:
    return span.to_json()


def _tracer(content: str = "redacted") -> tuple[Tracer, Memory, list[dict[str, Any]]]:
    exporter = Memory()
    events: list[dict[str, Any]] = []
    processor = EventRedactor(Redactor([KNOWN]), content)  # type: ignore[arg-type]
    return (
        Tracer("job-9", [events.append], processor=processor, exporters=[exporter]),
        exporter,
        events,
    )


def test_spans_are_sdk_spans_of_one_trace_with_genai_attributes() -> None:
    tracer, exporter, events = _tracer()
    with tracer.span("job"), tracer.span("generate", provider="openai"):
        attributes = {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "gpt-x",
            "gen_ai.usage.input_tokens": 120,
            "gen_ai.usage.output_tokens": 40,
            "gen_ai.response.finish_reasons": ["stop"],
        }
        with tracer.span("agent.turn", **attributes):
            pass
        with tracer.span("sandbox.run", argv="python -m pytest -q") as run:
            run.set(returncode=0, duration_s=1.25)
    tracer.close()
    assert exporter.closed
    by_name = {span.name: span for span in exporter.spans}
    assert list(by_name) == ["agent.turn", "sandbox.run", "generate", "job"]
    trace_ids = {span.context.trace_id for span in exporter.spans if span.context}
    assert len(trace_ids) == 1
    turn = by_name["agent.turn"]
    assert turn.attributes is not None
    assert turn.attributes["gen_ai.operation.name"] == "chat"
    assert turn.attributes["gen_ai.request.model"] == "gpt-x"
    assert turn.attributes["gen_ai.usage.input_tokens"] == 120
    assert turn.attributes["gen_ai.usage.output_tokens"] == 40
    assert turn.parent is not None
    assert by_name["generate"].context is not None
    assert turn.parent.span_id == by_name["generate"].context.span_id
    assert by_name["job"].parent is None
    assert by_name["sandbox.run"].status.status_code is StatusCode.OK
    # the events.jsonl sink sees the same spans, with the same ids
    event = next(e for e in events if e["name"] == "agent.turn")
    assert event["span_id"] == format_span_id(turn.context.span_id)  # type: ignore[union-attr]
    assert event["trace_id"] == format_trace_id(turn.context.trace_id)  # type: ignore[union-attr]
    assert event["job_id"] == "job-9"
    assert event["attributes"]["gen_ai.response.finish_reasons"] == ["stop"]


def test_exporters_only_ever_see_redacted_data() -> None:
    tracer, exporter, events = _tracer()

    def call() -> None:
        with tracer.span(f"call {GHP}", prompt=f"use {KNOWN}") as span:
            span.set(stdout=f"export TOKEN={GHP}", api_key="plain-value-1234")
            span.event("retry", 1.0, **{"error.message": f"401 for {KNOWN}"})
            raise RuntimeError(f"provider rejected {GHP}")

    with pytest.raises(RuntimeError):
        call()
    tracer.close()
    (otel,) = exporter.spans
    text = _dump(otel) + json.dumps(events)
    assert GHP not in text
    assert KNOWN not in text
    assert "plain-value-1234" not in text
    assert otel.status.status_code is StatusCode.ERROR
    assert otel.status.description is not None
    assert "[REDACTED:" in otel.status.description
    assert otel.events[0].name == "retry"
    assert events[0]["status"] == "error"
    assert "[REDACTED:" in events[0]["events"][0]["attributes"]["error.message"]


@pytest.mark.parametrize("content", ["hash", "none"])
def test_content_policy_applies_to_every_exporter(content: str) -> None:
    tracer, exporter, events = _tracer(content)
    with tracer.span(
        "agent.turn", **{"optirunner.prompt": "print(1)", "gen_ai.request.model": "m"}
    ):
        pass
    tracer.close()
    attributes = dict(exporter.spans[0].attributes or {})
    assert attributes["gen_ai.request.model"] == "m"
    assert events[0]["attributes"] == attributes
    if content == "hash":
        assert str(attributes["optirunner.prompt"]).startswith("sha256:")
        assert attributes["optirunner.prompt.length"] == 8
    else:
        assert "optirunner.prompt" not in attributes


def test_cancelled_status_survives_the_sdk() -> None:
    tracer, exporter, events = _tracer()
    with pytest.raises(JobCancelled), tracer.span("job"):
        raise JobCancelled("stop")
    assert events[0]["status"] == "cancelled"
    assert exporter.spans[0].status.status_code is StatusCode.UNSET


def test_values_otel_cannot_hold_are_converted() -> None:
    assert otel_value(None) is None
    assert otel_value({"a": 1}) == '{"a": 1}'
    assert otel_value([1, "a"]) == '[1, "a"]'
    assert otel_value((1, 2)) == [1, 2]
    assert otel_value(Path("/x")) == "/x"
    assert otel_value(1 << 70) == str(1 << 70)


def test_job_tracer_without_remote_sinks_writes_only_events_jsonl(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path / "state")
    tracer = job_tracer(settings, "job-1", tmp_path / "events.jsonl", known_secrets=[KNOWN])
    with tracer.span("sandbox.run", stdout=f"value {KNOWN}"):
        pass
    tracer.close()
    line = json.loads((tmp_path / "events.jsonl").read_text())
    assert KNOWN not in json.dumps(line)
    assert line["trace_id"]
    assert line["span_id"]
    assert not (tmp_path / "state" / "telemetry").exists()
