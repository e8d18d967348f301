"""What the documentation generators of packaging/ share: a generated part between two
marker lines of a document, rewritten in place or checked (`--check`, exit 1 when stale)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path


def splice(document: str, generated: str, begin: str, end: str) -> str:
    """`document` with its generated part replaced (appended when it has no markers)."""
    if begin in document and end in document:
        head, rest = document.split(begin, 1)
        tail = rest.split(end, 1)[1]
        return head + generated + tail
    return document.rstrip("\n") + "\n\n" + generated + "\n"


def main(
    doc: Path,
    render: Callable[[], str],
    markers: tuple[str, str],
    *,
    script: str,
    description: str,
    argv: list[str] | None = None,
) -> int:
    """Rewrite (or, with --check, compare) the generated part of `doc`."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--check", action="store_true", help="exit 1 when out of date")
    args = parser.parse_args(argv)
    document = doc.read_text(encoding="utf-8")
    updated = splice(document, render(), *markers)
    if args.check:
        if updated != document:
            print(f"{doc} is out of date: run python {script}")
            return 1
        return 0
    doc.write_text(updated, encoding="utf-8")
    return 0
