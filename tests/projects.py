"""The tiny project the end-to-end tests optimize: one slow function, its tests, a bench."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

SLOW_MODULE = '''"""A tiny project with one slow function."""


def common(left, right):
    """Items of `left` that are also in `right`, in order."""
    out = []
    for item in left:
        if item in right:
            out.append(item)
    return out
'''
TESTS = """from shop import common


def test_common():
    assert common([1, 2, 3], [3, 1]) == [1, 3]
    assert common([], [1]) == []
    assert common(list(range(300)), list(range(0, 300, 7))) == list(range(0, 300, 7))
"""
BENCH = """from shop import common

left = list(range(3000))
right = list(range(0, 6000, 2))
for _ in range(3):
    common(left, right)
"""
# `shop.py::common` is the target; `python bench.py` the bench command.
SHOP = {"shop.py": SLOW_MODULE, "test_shop.py": TESTS, "bench.py": BENCH}


def write_files(root: Path, files: Mapping[str, str]) -> Path:
    """`files` (relative path: text) written under `root`, folders made as needed."""
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root
