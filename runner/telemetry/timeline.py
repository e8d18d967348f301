"""A job's trace as rows: the spans of its `events.jsonl` in start order, with depth,
offset and the attributes people look at (`traces show`, the dashboard's traces page)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

Event = dict[str, Any]

KEY_ATTRIBUTES = (
    "gen_ai.operation.name",
    "gen_ai.request.model",
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.output_tokens",
    "argv",
    "returncode",
    "candidate",
    "target",
    "optirunner.target",
    "provider",
    "reason",
    "error",
)


def read_events(path: Path) -> list[Event]:
    """The events of one events.jsonl (a torn last line is skipped)."""
    events: list[Event] = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return events


def timeline(events: list[Event]) -> list[dict[str, Any]]:
    """Spans in start order with offset from the first start, duration, depth, key attributes."""
    by_id = {e.get("span_id"): e for e in events}

    def depth(event: Event) -> int:
        level, seen = 0, set()
        parent = event.get("parent_id")
        while parent in by_id and parent not in seen:
            seen.add(parent)
            level += 1
            parent = by_id[parent].get("parent_id")
        return level

    origin = min((float(e.get("start") or 0) for e in events), default=0.0)
    rows = []
    for event in sorted(events, key=lambda e: (float(e.get("start") or 0), depth(e))):
        attributes = event.get("attributes") or {}
        keys = {k: attributes[k] for k in KEY_ATTRIBUTES if attributes.get(k) not in (None, "")}
        rows.append(
            {
                "offset_s": round(float(event.get("start") or 0) - origin, 4),
                "duration_s": round(
                    float(event.get("end") or 0) - float(event.get("start") or 0), 4
                ),
                "depth": depth(event),
                "name": event.get("name"),
                "status": event.get("status"),
                "attributes": keys,
            }
        )
    return rows
