from __future__ import annotations

import pytest
from inventory.stock import OrderLine, cheapest_offer, missing_skus


def _lines(*skus: str) -> list[OrderLine]:
    return [OrderLine(sku, 1) for sku in skus]


def test_missing_skus_keeps_first_seen_order_without_duplicates() -> None:
    lines = _lines("C", "A", "X", "B", "Y", "X", "A", "Z")
    assert missing_skus(lines, ["A", "B", "C"]) == ["X", "Y", "Z"]


def test_missing_skus_edge_cases() -> None:
    assert missing_skus([], ["A"]) == []
    assert missing_skus(_lines("A", "A"), []) == ["A"]
    assert missing_skus(_lines("A", "B"), ["B", "A", "A"]) == []


def test_missing_skus_accepts_a_tuple_catalogue() -> None:
    assert missing_skus(_lines("A", "Q"), ("A",)) == ["Q"]  # type: ignore[arg-type]


def test_cheapest_offer_first_wins_ties() -> None:
    offers = [("north", 4.0), ("south", 2.5), ("east", 2.5), ("west", 9.0)]
    assert cheapest_offer(offers) == ("south", 2.5)
    assert cheapest_offer([("only", 1.0)]) == ("only", 1.0)


def test_cheapest_offer_empty_raises() -> None:
    with pytest.raises((IndexError, ValueError)):
        cheapest_offer([])


def test_missing_skus_on_a_full_day_of_orders() -> None:
    catalogue = [f"SKU-{n:05d}" for n in range(0, 6000, 2)]  # even numbers only
    lines = _lines(*(f"SKU-{n:05d}" for n in range(3000)))
    missing = missing_skus(lines, catalogue)
    assert len(missing) == 1500
    assert missing[:2] == ["SKU-00001", "SKU-00003"]


def test_cheapest_offer_among_many_suppliers() -> None:
    offers = [(f"supplier-{n}", float((n * 7919) % 1000)) for n in range(1, 2000)]
    assert cheapest_offer(offers) == ("supplier-1000", 0.0)
