"""Stock checks against the catalogue."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class OrderLine:
    """One line of a customer order."""

    sku: str
    quantity: int


def missing_skus(order_lines: list[OrderLine], catalogue: list[str]) -> list[str]:
    """SKUs ordered but absent from the catalogue, in first-seen order, without duplicates."""
    missing = []
    for line in order_lines:
        if line.sku not in catalogue and line.sku not in missing:
            missing.append(line.sku)
    return missing


def cheapest_offer(offers: list[tuple[str, float]]) -> tuple[str, float]:
    """The (supplier, price) offer with the lowest price; the first one wins ties."""
    return sorted(offers, key=lambda offer: offer[1])[0]
