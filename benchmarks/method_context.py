"""Bytes sent for a method target: its class's outline against the whole class.

    .venv/bin/python benchmarks/method_context.py [--out FILE.json]

Real classes of published libraries (sdists from PyPI pinned by sha256, downloaded and
unpacked into ~/.cache/optirunner-eval-sdists by benchmarks/realworld.py's helpers). For
each method target, as a job does it: the bundle is cut from the unpacked project, viewed
as the agent loop views it, and the propose request is built; then

- *class*: the whole class's source (lines, bytes);
- *outline*: what the request shows of that class now (`BundleView.for_target`);
- *method*: the target method's own share of its class (an outline holds it whole, so
  1 - method is the most an outline can leave out);
- *fewer*: 1 - outline / class; the goal is at least 70% fewer on classes over 200 lines,
  over all of them (the exit code) and, where the method leaves room, for each;
- *code*, before and after: all the code a request carried before issue 23 (the whole
  bundle) and carries now (the class's outline, the module functions and constants the
  method reaches, whole, and the outlines of other classes it uses);
- *request*, before and after: the bytes of the propose request (system prompt, message).

Nothing is sent anywhere. Results: a table, and a JSON file with machine and date.
"""

from __future__ import annotations

import argparse
import ast
import json
import platform
import sys
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# benchmarks/realworld.py, for its projects and sdist helpers: this script's folder is on
# sys.path when it runs (and realworld.py puts the repository there for `runner`).
import realworld

from runner.agent.context import BundleView
from runner.agent.request import AgentSpec, propose_request
from runner.bundle.extract import extract
from runner.spec import Target

HERE = Path(__file__).resolve().parent
GOAL = 0.70  # at least 70% fewer bytes than the class...
BIG = 200  # ...for classes over 200 lines

Project = realworld.cases.Project
# Two more libraries with large classes, pinned like the evaluation set's.
EXTRA = {
    p.name: p
    for p in [
        Project(
            "pyparsing",
            "3.2.0",
            "cbf74e27246d595d9a74b186b810f6fbb86726dbf3b9532efb343f6d7294fe9c",
        ),
        Project(
            "jsonpointer",
            "3.0.0",
            "2b2d729f2091522d61c3b31f82e11870f60b68f43fbc705cb76bf4b832af59ef",
        ),
    ]
}
PROJECTS: dict[str, Any] = {**EXTRA, **realworld.PROJECTS}
CASES = [
    ("pyparsing", "pyparsing/results.py::ParseResults.__getitem__"),
    ("pyparsing", "pyparsing/core.py::ParserElement._parseNoCache"),
    ("pyparsing", "pyparsing/core.py::Word.parseImpl"),
    ("sqlparse", "sqlparse/sql.py::TokenList.token_next"),
    ("sqlparse", "sqlparse/sql.py::Token.match"),
    ("sqlparse", "sqlparse/filters/reindent.py::ReindentFilter._process_identifierlist"),
    ("parse", "parse.py::Parser.evaluate_result"),
    ("isodate", "src/isodate/duration.py::Duration.__add__"),
    ("toolz", "toolz/functoolz.py::curry.__call__"),
    ("tabulate", "tabulate/__init__.py::_CustomTextWrap._wrap_chunks"),
    ("jsonpointer", "jsonpointer.py::JsonPointer.resolve"),
]


@dataclass(frozen=True)
class Row:
    """One method target's numbers (bytes of UTF-8 text)."""

    project: str
    target: str
    class_lines: int
    class_bytes: int
    outline_bytes: int
    method_bytes: int
    before_code: int
    before_request: int
    after_code: int
    after_request: int

    @property
    def fewer(self) -> float:
        """Share of the class's bytes the request no longer carries."""
        return 1 - self.outline_bytes / self.class_bytes

    @property
    def fewer_than_before(self) -> float:
        return 1 - self.after_request / self.before_request


def class_source(source: str, target: Target) -> str:
    """The class of a method target in a module's text, decorators included."""
    name = target.qualname.split(".")[0]
    node = next(n for n in ast.parse(source).body if isinstance(n, ast.ClassDef) and n.name == name)
    first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
    return "".join(source.splitlines(keepends=True)[first - 1 : node.end_lineno])


def method_source(class_text: str, target: Target) -> str:
    """The target method in its class's text, indented as it is there."""
    node = ast.parse(class_text).body[0]
    assert isinstance(node, ast.ClassDef)
    name = target.qualname.split(".")[-1]
    method = next(m for m in node.body if isinstance(m, ast.FunctionDef) and m.name == name)
    first = min([method.lineno, *(d.lineno for d in method.decorator_list)])
    return "".join(class_text.splitlines(keepends=True)[first - 1 : method.end_lineno])


def measure(project: str, text: str) -> Row:
    root = realworld.source_tree(PROJECTS[project])
    target = Target.parse(text)
    bundle = BundleView.from_extraction(extract(root, [target], resolver=lambda _m: ()))
    view = bundle.for_target(target)
    spec = AgentSpec((target,))
    whole = class_source((root / target.path).read_text(encoding="utf-8"), target)
    return Row(
        project=f"{project} {PROJECTS[project].version}",
        target=text,
        class_lines=whole.count("\n"),
        class_bytes=len(whole.encode()),
        outline_bytes=len(class_source(view.module(target), target).encode()),
        method_bytes=len(method_source(whole, target).encode()),
        before_code=bundle.code_bytes,
        before_request=propose_request(bundle, spec, target, 3).sent_bytes,
        after_code=view.code_bytes,
        after_request=propose_request(view, spec, target, 3).sent_bytes,
    )


def table(rows: list[Row]) -> str:
    lines = [
        "| target | class lines | class bytes | method | outline bytes | fewer "
        "| code before → after | request before → after | request fewer |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r.project} `{r.target.split('::')[1]}` | {r.class_lines} | {r.class_bytes:,} "
            f"| {r.method_bytes / r.class_bytes:.0%} | {r.outline_bytes:,} | {r.fewer:.0%} "
            f"| {r.before_code:,} → {r.after_code:,} "
            f"| {r.before_request:,} → {r.after_request:,} | {r.fewer_than_before:.0%} |"
        )
    return "\n".join(lines)


def summary(rows: list[Row]) -> tuple[str, bool]:
    """What the outlines of classes over 200 lines save, and whether it meets the goal."""
    big = [r for r in rows if r.class_lines > BIG]
    overall = 1 - sum(r.outline_bytes for r in big) / sum(r.class_bytes for r in big)
    code = 1 - sum(r.after_code for r in big) / sum(r.class_bytes for r in big)
    each = sum(1 for r in big if r.fewer >= GOAL)
    short = [
        f"{r.target.split('::')[1]} {r.fewer:.0%} (the method alone is "
        f"{r.method_bytes / r.class_bytes:.0%} of its class)"
        for r in big
        if r.fewer < GOAL
    ]
    met = overall >= GOAL
    return (
        f"classes over {BIG} lines: {len(big)}; their outlines hold {overall:.0%} fewer bytes "
        f"than the classes (goal {GOAL:.0%}: {'met' if met else 'NOT met'}); {each} of "
        f"{len(big)} each at least {GOAL:.0%} fewer"
        + (f"; below: {', '.join(short)}" if short else "")
        + f"; all the code sent for them, other definitions included: {code:.0%} fewer "
        "bytes than the classes",
        met,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="JSON results [benchmarks/results/...]")
    options = parser.parse_args()
    try:
        rows = [measure(project, target) for project, target in CASES]
    except realworld.EvalError as exc:
        print(f"method_context: {exc}", file=sys.stderr)
        return 2
    print(table(rows))
    print()
    line, met = summary(rows)
    print(line)
    date = datetime.now(UTC)
    out = options.out or HERE / "results" / f"method_context-{date:%Y-%m-%d}.json"
    result = {
        "date": date.isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "python": platform.python_version()},
        "summary": line,
        "rows": [{**asdict(r), "fewer": round(r.fewer, 4)} for r in rows],
    }
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"results: {out}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
