"""Targets wherever they live: the recorder wraps the object the tests really call.

Each test writes a tiny project, runs its pytest suite in a subprocess with the recorder, as
the runner does, and reads the recording; the replay harness must resolve the same targets.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from runner.verify.recording import install_plugin, record_env, with_plugin
from runner.verify.replay import HARNESS_NAME, install_harness

FLAT: dict[str, str] = {
    "pkg/__init__.py": """
import sys

from ._impl import core
from .x import reexported
from . import _impl

sys.modules["pkg.core_alias"] = core


def top(n):
    return n + 1
""",
    "pkg/x.py": """
def reexported(a):
    return a * 2


def unused():
    return 0
""",
    "pkg/_impl/__init__.py": "",
    "pkg/_impl/core.py": """
def deep(x):
    return -x
""",
    "pkg/shapes.py": """
class Base:
    def __init__(self, v):
        self.v = v

    def area(self):
        return self.v * 2

    def name(self):
        return type(self).__name__

    @staticmethod
    def unit(x):
        return x + 0.5

    @classmethod
    def build(cls, v):
        return cls(v)


class Child(Base):
    pass


class Outer:
    class Inner:
        def triple(self, x):
            return x * 3

        @staticmethod
        def less(x):
            return x - 1
""",
    "pkg/tables.py": """
def handle_a(x):
    return x + 100


HANDLERS = {"a": handle_a}
ORDER = [handle_a]
FROZEN = (handle_a,)


def dispatch(key, x):
    return HANDLERS[key](x)
""",
    "pkg/deco.py": """
import functools


def counted(func):
    @functools.wraps(func)
    def inner(*args, **kwargs):
        inner.count += 1
        return func(*args, **kwargs)

    inner.count = 0
    return inner


@counted
def shout(s):
    return s.upper()
""",
    # Imported before the recorder's pytest_configure: it must be rebound afterwards.
    "conftest.py": """
import pytest

from pkg import reexported
from pkg.x import reexported as direct


@pytest.fixture
def doubled():
    return reexported(20) + direct(1)
""",
    "tests/test_flat.py": """
import sys
from pathlib import Path

import pkg
import pkg._impl.core as c
from pkg import core, core_alias, deco, reexported, tables, top
from pkg.shapes import Base, Child, Outer

# The same file imported a second time, as another module object.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pkg" / "_impl"))
import core as loose  # noqa: E402


def test_package_function():
    assert pkg.top(1) == 2
    assert top(2) == 3


def test_reexported(doubled):
    assert doubled == 42
    assert pkg.reexported(3) == 6
    assert reexported(4) == 8


def test_nested_module_under_other_names():
    assert loose is not c
    assert (core.deep(1), c.deep(2), core_alias.deep(3), loose.deep(4)) == (-1, -2, -3, -4)


def test_methods():
    child = Child(3)
    assert child.area() == 6
    assert Base(1).area() == 2
    assert (Base.unit(1), child.unit(2)) == (1.5, 2.5)
    assert (Base.build(4).v, type(child.build(5))) == (4, Child)
    assert child.name() == "Child"
    assert (Outer.Inner().triple(2), Outer.Inner.less(5)) == (6, 4)


def test_dispatch_tables():
    assert tables.dispatch("a", 1) == 101
    assert tables.ORDER[0](2) == 102
    assert tables.FROZEN[0](3) == 103  # a tuple cannot be rebound: not recorded
    assert tables.handle_a(4) == 104


def test_decorated():
    assert deco.shout("hi") == "HI"
    assert deco.shout.count == 1
""",
}

FLAT_TARGETS = {
    "pkg/__init__.py::top": [2, 3],
    "pkg/x.py::reexported": [40, 2, 6, 8],
    "pkg/x.py::unused": [],
    "pkg/_impl/core.py::deep": [-1, -2, -3, -4],
    "pkg/shapes.py::Base.area": [6, 2],
    "pkg/shapes.py::Base.unit": [1.5, 2.5],
    "pkg/shapes.py::Base.build": ["pkg.shapes.Base", "pkg.shapes.Child"],
    "pkg/shapes.py::Child.name": ["Child"],
    "pkg/shapes.py::Outer.Inner.triple": [6],
    "pkg/shapes.py::Outer.Inner.less": [4],
    "pkg/tables.py::handle_a": [101, 102, 104],
    "pkg/deco.py::shout": ["HI"],
}

SRC: dict[str, str] = {
    "src/spkg/__init__.py": """
from .impl import helper


def greet(name):
    return "hello " + helper(name)
""",
    "src/spkg/impl.py": """
def helper(name):
    return name.title()
""",
    "tests/test_src.py": """
from spkg import greet, helper


def test_greet():
    assert greet("ada") == "hello Ada"
    assert helper("bob") == "Bob"
""",
}


def make_project(root: Path, files: dict[str, str], ini: str = "[pytest]\n") -> Path:
    for relpath, text in files.items():
        (root / relpath).parent.mkdir(parents=True, exist_ok=True)
        (root / relpath).write_text(text)
    (root / "pytest.ini").write_text(ini)
    return root


def record(project: Path, targets: list[str], unset: tuple[str, ...] = ()) -> dict[str, Any]:
    """Run the project's suite with the recorder, without the variables `unset`; the
    recording document, as JSON."""
    out = project.parent / "recording.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "OPTIRUNNER_"))}
    env = {k: v for k, v in env.items() if k not in unset}
    env.update(record_env(targets, out, install_plugin(project), 7, None))
    argv = with_plugin([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"])
    assert argv is not None
    result = subprocess.run(
        argv, cwd=project, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    document: dict[str, Any] = json.loads(out.read_text())
    return document


def returned(document: dict[str, Any], target: str) -> list[object]:
    """The plain values a target's recorded calls returned (int, float, str or a type name)."""
    values = [call["value"] for call in document["targets"][target]]
    return [float(v["v"]) if v["t"] == "float" else v.get("v", v.get("type")) for v in values]


def resolve(project: Path, target: str, *args: object) -> object:
    """Call `target` as the replay harness resolves it, in the project's own process."""
    install_harness(project)
    code = (
        "import pickle, sys; sys.path.insert(0, '.optirunner'); import replay_harness as h;"
        f" f = h.resolve_target({target!r}); sys.stdout.buffer.write(pickle.dumps(f(*{args!r})))"
    )
    assert HARNESS_NAME == "replay_harness.py"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=project, capture_output=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr.decode()
    return pickle.loads(result.stdout)  # noqa: S301 - our own test's output


@pytest.fixture(scope="module")
def flat(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    project = make_project(tmp_path_factory.mktemp("flat") / "project", FLAT)
    return project, record(project, [*FLAT_TARGETS, "pkg/tables.py::HANDLERS"])


@pytest.fixture
def flat_doc(flat: tuple[Path, dict[str, Any]]) -> dict[str, Any]:
    """The recording of the flat project's suite."""
    return flat[1]


@pytest.mark.slow
@pytest.mark.parametrize("target", list(FLAT_TARGETS))
def test_every_call_of_the_target_is_recorded(flat_doc: dict[str, Any], target: str) -> None:
    assert target not in flat_doc["errors"]
    assert returned(flat_doc, target) == FLAT_TARGETS[target]


@pytest.mark.slow
def test_classmethods_record_the_class_they_were_called_on(flat_doc: dict[str, Any]) -> None:
    document = flat_doc
    calls = document["targets"]["pkg/shapes.py::Base.build"]
    assert [call["args"]["0"] for call in calls] == [
        {"t": "type", "v": "pkg.shapes.Base"},
        {"t": "type", "v": "pkg.shapes.Child"},
    ]


@pytest.mark.slow
def test_a_decorated_target_keeps_its_signature_and_its_decorator_runs(
    flat_doc: dict[str, Any],
) -> None:
    document = flat_doc
    (call,) = document["targets"]["pkg/deco.py::shout"]
    assert call["labels"] == {"0": "s"}


@pytest.mark.slow
def test_a_target_that_is_no_function_is_an_error_entry(flat_doc: dict[str, Any]) -> None:
    document = flat_doc
    message = document["errors"]["pkg/tables.py::HANDLERS"]
    assert message == "TypeError: HANDLERS is a dict, not a function"
    assert document["targets"]["pkg/tables.py::HANDLERS"] == []
    assert document["targets"]["pkg/x.py::unused"] == []


@pytest.mark.slow
def test_the_src_layout(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project", SRC, "[pytest]\npythonpath = src\n")
    targets = ["src/spkg/__init__.py::greet", "src/spkg/impl.py::helper"]
    document = record(project, targets)
    assert document["errors"] == {}
    assert returned(document, targets[0]) == ["hello Ada"]
    assert returned(document, targets[1]) == ["Bob"]  # inside greet, a call is greet's
    assert resolve(project, targets[0], "eve") == "hello Eve"
    assert resolve(project, targets[1], "eve") == "Eve"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("target", "args", "expected"),
    [
        ("pkg/__init__.py::top", (1,), 2),
        ("pkg/_impl/core.py::deep", (5,), -5),
        ("pkg/x.py::reexported", (2,), 4),
        ("pkg/shapes.py::Base.unit", (1,), 1.5),
        ("pkg/shapes.py::Outer.Inner.less", (3,), 2),
        ("pkg/tables.py::handle_a", (0,), 100),
        ("pkg/deco.py::shout", ("a",), "A"),
    ],
)
def test_the_replay_harness_resolves_the_same_targets(
    flat: tuple[Path, dict[str, Any]], target: str, args: tuple[object, ...], expected: object
) -> None:
    project, _ = flat
    assert resolve(project, target, *args) == expected
