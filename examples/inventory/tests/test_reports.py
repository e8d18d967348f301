from __future__ import annotations

from inventory.reports import low_stock, render_csv


def test_render_csv_header_and_rows() -> None:
    rows: list[dict[str, object]] = [{"sku": "A1", "qty": 3}, {"qty": 0, "sku": "B2"}]
    assert render_csv(rows, ["sku", "qty"]) == "sku,qty\nA1,3\nB2,0\n"


def test_render_csv_missing_values_and_no_rows() -> None:
    assert render_csv([{"sku": "A1"}], ["sku", "qty"]) == "sku,qty\nA1,\n"
    assert render_csv([], ["sku"]) == "sku\n"
    assert render_csv([{}], []) == "\n\n"


def test_low_stock_keeps_order_and_threshold_is_exclusive() -> None:
    levels = {"B": 1, "A": 5, "C": 4, "D": 0}
    assert low_stock(levels, 5) == ["B", "C", "D"]
    assert low_stock(levels, 0) == []
    assert low_stock({}, 10) == []
