from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest

from runner.errors import JobCancelled
from runner.telemetry.tracing import JsonlSink, Tracer


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


def test_nested_spans_with_status(tmp_path: Path) -> None:
    events: list[dict[str, Any]] = []
    tracer = Tracer("job-1", [events.append], Clock())
    with tracer.span("job") as job, tracer.span("stage", n=1) as stage:
        stage.set(extra="x")
    with pytest.raises(ValueError, match="boom"), tracer.span("bad"):
        raise ValueError("boom")
    with pytest.raises(JobCancelled), tracer.span("stop"):
        raise JobCancelled("stop")
    by_name = {e["name"]: e for e in events}
    assert [e["name"] for e in events] == ["stage", "job", "bad", "stop"]
    assert by_name["stage"]["parent_id"] == job.span_id
    assert by_name["stage"]["attributes"] == {"n": 1, "extra": "x"}
    assert by_name["stage"]["start"] < by_name["stage"]["end"]
    assert by_name["bad"]["status"] == "error"
    assert by_name["bad"]["attributes"]["error"] == "ValueError: boom"
    assert by_name["stop"]["status"] == "cancelled"
    assert by_name["job"]["parent_id"] is None
    assert stage.span_id != job.span_id


def test_jsonl_sink_appends_private_lines(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    sink = JsonlSink(path)
    tracer = Tracer("j", [sink])
    with tracer.span("a"):
        pass
    with tracer.span("b", path=Path("/x")):
        pass
    sink.close()
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [line["name"] for line in lines] == ["a", "b"]
    assert lines[1]["attributes"]["path"] == "/x"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
