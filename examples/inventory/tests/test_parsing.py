from __future__ import annotations

from inventory.parsing import parse_bin_codes


def test_parses_labels_case_insensitively() -> None:
    assert parse_bin_codes(["A12-S03-B7", " b1-s10-b2 \n"]) == [("A12", 3, 7), ("B1", 10, 2)]


def test_skips_malformed_labels() -> None:
    labels = ["", "A12-S03", "A12-S03-B7-X", "12-S03-B7", "C3-S1-B1"]
    assert parse_bin_codes(labels) == [("C3", 1, 1)]
    assert parse_bin_codes([]) == []
