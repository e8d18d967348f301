"""Routing pickers through the warehouse's aisle graph."""

from __future__ import annotations


def reachable_locations(aisles: dict[str, list[str]], start: str) -> list[str]:
    """Every location reachable from `start`, in breadth-first order (start first)."""
    seen = {start}
    order = []
    queue = [start]
    while queue:
        here = queue.pop(0)
        order.append(here)
        for nxt in aisles.get(here, ()):
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return order
