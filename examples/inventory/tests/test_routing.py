from __future__ import annotations

from inventory.routing import reachable_locations


def test_breadth_first_order() -> None:
    aisles = {"dock": ["a", "b"], "a": ["c"], "b": ["c", "d"], "c": ["dock"], "d": []}
    assert reachable_locations(aisles, "dock") == ["dock", "a", "b", "c", "d"]


def test_isolated_and_unknown_start() -> None:
    assert reachable_locations({}, "x") == ["x"]
    assert reachable_locations({"a": ["b"], "b": ["a"]}, "b") == ["b", "a"]


def test_cycles_and_duplicates_visit_each_once() -> None:
    aisles = {"a": ["b", "b", "a"], "b": ["c", "a"], "c": ["a", "b"]}
    assert reachable_locations(aisles, "a") == ["a", "b", "c"]


def test_a_whole_warehouse_floor() -> None:
    # 40 x 100 grid of bins, each linked to its right and lower neighbours
    aisles = {f"{r}-{c}": [f"{r}-{c + 1}", f"{r + 1}-{c}"] for r in range(40) for c in range(100)}
    order = reachable_locations(aisles, "0-0")
    assert order[0] == "0-0"
    assert len(order) == len(set(order)) == 40 * 100 + 40 + 100
