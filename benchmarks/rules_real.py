"""Does the offline `rules` provider propose a candidate on real library code?

    .venv/bin/python benchmarks/rules_real.py [--json OUT]

For every target of the real-library evaluation set (benchmarks/realworld/cases.py: the
pinned PyPI sdists, unpacked by realworld.py's helpers), the target's own definition and
module are given to the rules provider exactly as the runner gives them
(`runner.bundle.apply.extract_definition`). Each target carries a hand label: the slow
pattern it has (from reading its source), or none. Printed per target: the label, the rules
that proposed a candidate, or every rule's stated reason for declining; and the totals:
targets with a slow pattern that got a candidate, and targets without one that got none.
The candidates are then verified by the runner like any other (not here).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from runner.agent.providers.base import TargetSource  # noqa: E402 - after the path
from runner.agent.providers.rules import RulesProvider, explain  # noqa: E402
from runner.bundle.apply import extract_definition  # noqa: E402
from runner.spec import Target  # noqa: E402

#: The slow pattern each real target has, read from its source ("" = none worth a rule).
SLOW_PATTERNS = {
    "inflection/__init__.py::underscore": "re.sub with literal patterns on every call",
    "inflection/__init__.py::pluralize": "",
    "src/text_unidecode/__init__.py::unidecode": "per-character list append in a loop",
    "toolz/itertoolz.py::frequencies": "d[k] += 1 counting loop",
    "parse.py::int_convert.__call__": "re.sub with a pattern formatted on every call",
    "sqlparse/sql.py::Token.match": "",
    "sqlparse/lexer.py::Lexer.get_default_instance": "",
    "sqlparse/filters/others.py::StripWhitespaceFilter._stripws_default": "",
    "src/isodate/duration.py::max_days_in_month": "membership tests on literal tuples",
    "src/isodate/isoduration.py::parse_duration": "",
    "src/webcolors/_normalization.py::normalize_hex": "",
    "tabulate/__init__.py::_isint": "",
    "jsonpointer.py::JsonPointer.resolve": "",
    "pyparsing/results.py::ParseResults.__getitem__": "",
    "pyparsing/results.py::ParseResults.haskeys": "",
}


def _realworld() -> Any:
    spec = importlib.util.spec_from_file_location("benchmarks_realworld", HERE / "realworld.py")
    if spec is None or spec.loader is None:
        raise ImportError(HERE / "realworld.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["benchmarks_realworld"] = module
    spec.loader.exec_module(module)
    return module


def check(project_root: Path, target_text: str) -> dict[str, Any]:
    """The rules provider on one real target: what it proposes, or why it declines."""
    target = Target.parse(target_text)
    module = (project_root / target.path).read_text(encoding="utf-8")
    definition = extract_definition(module, target.qualname)
    source = TargetSource(target, definition, module)
    proposed = RulesProvider().propose(source, limit=8)
    reasons = explain(definition, module, target.qualname)
    return {
        "target": target_text,
        "slow_pattern": SLOW_PATTERNS.get(target_text, "?"),
        "proposed": [c.rule for c in proposed],
        "declines": [line for line in reasons if " declined: " in line],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="write the rows here as JSON")
    options = parser.parse_args()
    realworld = _realworld()
    rows = []
    for candidate in realworld.IDENTICAL:  # one per distinct target of the set
        root = realworld.source_tree(realworld.PROJECTS[candidate.project])
        rows.append(check(root, candidate.target))
    for row in rows:
        got = ", ".join(row["proposed"]) or "nothing"
        print(f"- {row['target']}: slow pattern: {row['slow_pattern'] or 'none'}; got {got}")
        if not row["proposed"]:
            for line in row["declines"]:
                print(f"    {line}")
    slow = [r for r in rows if r["slow_pattern"]]
    plain = [r for r in rows if not r["slow_pattern"]]
    hits = sum(1 for r in slow if r["proposed"])
    quiet = sum(1 for r in plain if not r["proposed"])
    print(f"\nslow pattern and a candidate: {hits} of {len(slow)}")
    print(f"no slow pattern and no candidate: {quiet} of {len(plain)}")
    if options.json:
        options.json.write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
