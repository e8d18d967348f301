"""Parsing bin labels scanned on the warehouse floor."""

from __future__ import annotations

import re


def parse_bin_codes(labels: list[str]) -> list[tuple[str, int, int]]:
    """(aisle, shelf, bin) for labels like ``"A12-S03-B7"``; malformed labels are skipped."""
    codes = []
    for label in labels:
        match = re.fullmatch(r"([A-Z]\d+)-S(\d+)-B(\d+)", label.strip(), re.IGNORECASE)
        if match:
            codes.append((match.group(1).upper(), int(match.group(2)), int(match.group(3))))
    return codes
