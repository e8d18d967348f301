"""Plain-text reports for the back office."""

from __future__ import annotations


def render_csv(rows: list[dict[str, object]], columns: list[str]) -> str:
    """Render `rows` as CSV text: a header line, then one line per row, `columns` in order."""
    text = ",".join(columns) + "\n"
    for row in rows:
        text += ",".join([str(row.get(column, "")) for column in columns]) + "\n"
    return text


def low_stock(levels: dict[str, int], threshold: int) -> list[str]:
    """SKUs whose stock level is below `threshold`, in the order of `levels`."""
    result = []
    for sku, level in levels.items():
        if level < threshold:
            result.append(sku)
    return result
