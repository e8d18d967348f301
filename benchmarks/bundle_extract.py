"""Extraction time of one target on a generated 10,000-line repository.

    .venv/bin/python benchmarks/bundle_extract.py [--lines 10000] [--repeat 5]

The repository has a package of modules with functions, constants and classes that call
each other across modules; the target reaches a chain of helpers in several modules.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from runner.bundle.extract import extract
from runner.spec import Target

FUNCTIONS_PER_MODULE = 40


def module_text(index: int) -> str:
    """One module of about 250 lines: constants, functions calling the previous module, a class."""
    parts = [
        '"""Generated module."""',
        "import math",
        "import json",
        f"from gen import mod{index - 1} as prev" if index else "",
        f"LIMIT_{index} = {index + 10}",
        "",
    ]
    for f in range(FUNCTIONS_PER_MODULE):
        call = f"prev.func_{f}(x) + " if index else ""
        parts += [
            f"def func_{f}(x):",
            "    # a comment inside",
            f"    y = {call}math.sqrt(abs(x)) + LIMIT_{index}",
            "    return y",
            "",
        ]
    parts += [f"class Thing{index}:", "    scale = 2", ""]
    for m in range(5):
        parts += [f"    def m{m}(self, x):", f"        return self.scale * func_{m}(x)", ""]
    return "\n".join(parts) + "\n"


def build_repo(root: Path, lines: int) -> int:
    """Write `gen/mod*.py` until the package has `lines` lines; return the module count."""
    package = root / "gen"
    package.mkdir()
    (package / "__init__.py").write_text("")
    written, index = 0, 0
    while written < lines:
        text = module_text(index)
        (package / f"mod{index}.py").write_text(text)
        written += text.count("\n")
        index += 1
    return index


def main() -> None:
    """Print lines, modules, extracted share and timings (median of repeats)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        modules = build_repo(root, args.lines)
        lines = sum(p.read_text().count("\n") for p in root.rglob("*.py"))
        target = Target(f"gen/mod{modules - 1}.py", f"Thing{modules - 1}.m3")
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            extraction = extract(root, [target], resolver=lambda _m: ())
            times.append(time.perf_counter() - start)
    print(f"repository: {lines} lines in {modules} modules; target {target}")
    print(
        f"extracted: {len(extraction.files)} files, {extraction.code_bytes} bytes, "
        f"{extraction.share:.1%} of the touched files"
    )
    print(
        f"extraction time: median {statistics.median(times) * 1000:.1f} ms, "
        f"max {max(times) * 1000:.1f} ms over {args.repeat} runs (target < 1 s)"
    )


if __name__ == "__main__":
    main()
