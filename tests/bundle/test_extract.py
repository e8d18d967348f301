"""Tree shaking on a small synthetic repository: only what the targets need leaves."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from runner.bundle.extract import Extraction, extract, resolve_requirements, unit_uses
from runner.errors import TargetError
from runner.spec import Target

FILES = {
    "pkg/__init__.py": "from .core import *  # re-exports\nSECRET_INIT = 1\n",
    "pkg/util.py": '''
        """Helpers."""
        import os
        import re

        PATTERN = re.compile(r"\\d+")  # digits
        UNUSED_CONST = 42


        def digits(text):
            # kept: used by the target
            return PATTERN.findall(text)


        def unused_helper():
            return os.getcwd()
    ''',
    "pkg/shapes.py": '''
        import math


        class Shape:
            """A shape."""

            sides = 0
            unit = "cm"

            def __init__(self, size):
                self.size = size

            def area(self):
                return self.size * self.size

            def perimeter(self):
                return self.sides * self.size

            def describe(self):
                return f"{self.area()} {self.unit}"

            def unrelated(self):
                return math.pi
    ''',
    "pkg/core.py": '''
        from __future__ import annotations

        import json
        import itertools as it
        import collections
        import yaml
        import pkg.util
        from pkg.util import digits
        from . import shapes

        LIMIT = 10
        OTHER = LIMIT + 1
        DROP = "never used"


        # comment above: not kept
        def _parse(text: collections.OrderedDict) -> list[int]:
            return [int(d) for d in digits(text)][:LIMIT]


        def total(text):
            """Sum the digits of `text`."""
            # comment inside: kept
            values = _parse(text)
            data = yaml.safe_dump(values)
            return sum(values), json.dumps(data), pkg.util.PATTERN.pattern


        def square(size):
            return shapes.Shape(size).area()


        def dead():
            return it.count()
    ''',
    "tests/test_core.py": "from pkg.core import total\n\n\ndef test_total():\n    total('1')\n",
}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    for path, text in FILES.items():
        file = tmp_path / path
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(textwrap.dedent(text).lstrip("\n"))
    return tmp_path


def texts(extraction: Extraction) -> dict[str, str]:
    return {f.path: f.text for f in extraction.files}


def run(repo: Path, *targets: str) -> Extraction:
    return extract(repo, [Target.parse(t) for t in targets], resolver=resolve_offline)


def resolve_offline(modules: object) -> tuple:  # type: ignore[type-arg]
    return resolve_requirements(modules, {"yaml": ["PyYAML"]}, lambda _d: "6.0")  # type: ignore[arg-type]


def test_transitive_functions_constants_and_cross_module(repo: Path) -> None:
    out = texts(run(repo, "pkg/core.py::total"))
    core, util = out["pkg/core.py"], out["pkg/util.py"]
    assert "def total(text):" in core
    assert "def _parse(" in core
    assert "LIMIT = 10" in core
    assert "def digits(text):" in util
    assert "PATTERN = re.compile" in util
    assert "import re\n" in util


def test_unused_code_and_tests_are_dropped(repo: Path) -> None:
    extraction = run(repo, "pkg/core.py::total")
    out = texts(extraction)
    assert set(out) == {"pkg/core.py", "pkg/util.py"}
    everything = "".join(out.values())
    for absent in ("DROP", "OTHER", "def dead", "def square", "unused_helper", "UNUSED_CONST"):
        assert absent not in everything
    assert "import os" not in everything
    assert "import itertools" not in everything
    assert "tests/" not in "".join(f.path for f in extraction.files)
    assert '"""Helpers."""' not in out["pkg/util.py"]


def test_imports_are_only_those_needed(repo: Path) -> None:
    core = texts(run(repo, "pkg/core.py::total"))["pkg/core.py"]
    assert core.startswith("from __future__ import annotations\n")
    assert "import json\n" in core
    assert "import yaml\n" in core
    assert "from pkg.util import digits\n" in core
    assert "import pkg.util\n" in core
    assert "from . import shapes" not in core
    # Annotations are not evaluated under `from __future__ import annotations`.
    assert "import collections" not in core


def test_definitions_are_byte_identical_and_comments_only_inside(repo: Path) -> None:
    extraction = run(repo, "pkg/core.py::total")
    original = (repo / "pkg/core.py").read_text()
    for definition in extraction.files[0].definitions:
        if definition.kind != "import":
            assert definition.text in original
    core = texts(extraction)["pkg/core.py"]
    assert "# comment inside: kept" in core
    assert "# comment above" not in core
    assert core.index("def _parse") < core.index("def total")  # source order


def test_stdlib_stays_third_party_becomes_requirement(repo: Path) -> None:
    extraction = run(repo, "pkg/core.py::total")
    assert [r.line for r in extraction.requirements] == ["PyYAML==6.0"]
    assert resolve_requirements(["json", "nowhere_pkg"], {}, lambda _d: None)[0].line == (
        "nowhere_pkg"
    )


def test_class_skeleton_keeps_only_reached_members(repo: Path) -> None:
    shapes = texts(run(repo, "pkg/shapes.py::Shape.describe"))["pkg/shapes.py"]
    assert shapes.startswith("class Shape:\n")
    assert '"""A shape."""' not in shapes
    for kept in ("def describe", "def area", 'unit = "cm"', "def __init__"):
        assert kept in shapes
    for dropped in ("def perimeter", "def unrelated", "sides = 0", "import math"):
        assert dropped not in shapes


def test_module_attribute_chain_reaches_the_class(repo: Path) -> None:
    out = texts(run(repo, "pkg/core.py::square"))
    assert "from . import shapes\n" in out["pkg/core.py"]
    assert "class Shape:" in out["pkg/shapes.py"]  # used as an object: kept whole
    assert "def unrelated" in out["pkg/shapes.py"]
    assert "pkg/util.py" not in out


def test_star_reexport_is_followed(repo: Path) -> None:
    (repo / "pkg/api.py").write_text(
        "from pkg import total\n\n\ndef api(t):\n    return total(t)\n"
    )
    out = texts(run(repo, "pkg/api.py::api"))
    assert out["pkg/__init__.py"] == "from .core import *  # re-exports\n"
    assert "def total" in out["pkg/core.py"]


def test_bundle_code_imports_standalone(
    repo: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    import subprocess
    import sys

    code = tmp_path_factory.mktemp("bundle")
    for f in run(repo, "pkg/shapes.py::Shape.describe", "pkg/util.py::digits").files:
        (code / f.path).parent.mkdir(parents=True, exist_ok=True)
        (code / f.path).write_text(f.text)
    script = "from pkg.shapes import Shape\nfrom pkg.util import digits\n"
    script += "print(Shape(3).describe(), digits('a1b22'))"
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=code, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "9 cm ['1', '22']"


def test_scopes_locals_shadow_and_class_scope() -> None:
    import ast

    code = textwrap.dedent("""
        def f(a, b=DEFAULT):
            x = helper(a)
            g = lambda y: y + x + OUTER
            return [z for z in x if z > LIMIT], os.path.join("a")
    """)
    uses = unit_uses(ast.parse(code).body[0])
    assert set(uses) == {"DEFAULT", "helper", "OUTER", "LIMIT", "os"}
    assert uses["os"] == {("path", "join")}


def test_missing_target_is_a_clear_error(repo: Path) -> None:
    with pytest.raises(TargetError, match="no function 'nope'"):
        run(repo, "pkg/core.py::nope")
