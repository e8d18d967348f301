from __future__ import annotations

import json
from pathlib import Path

import pytest

from runner.errors import SpecError, TargetError
from runner.spec import JobSpec, Target, validate_repo, validate_target

MODULE = """
def top(x):
    return x


class Box:
    def size(self):
        return 1

    async def fetch(self):
        return 2

    class Lid:
        def close(self):
            def inner():  # a function's local function is no target
                return 3

            return inner()
"""


def test_target_parse_function_and_method() -> None:
    assert Target.parse("pkg/mod.py::top") == Target("pkg/mod.py", "top")
    assert Target.parse("pkg/mod.py::Box.size").qualname == "Box.size"
    assert str(Target.parse("a.py::f")) == "a.py::f"
    assert Target.parse("pkg/mod.py::Box.size").slug == "pkg-mod-Box-size"


@pytest.mark.parametrize(
    "text", ["pkg/mod.py", "::f", "mod.py::", "/abs/mod.py::f", "../up.py::f", "m.py::not-a-name"]
)
def test_target_parse_rejects(text: str) -> None:
    with pytest.raises(SpecError):
        Target.parse(text)


def test_validate_repo(tmp_path: Path) -> None:
    assert validate_repo(tmp_path) == tmp_path.resolve()
    with pytest.raises(SpecError, match="does not exist"):
        validate_repo(tmp_path / "nope")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(SpecError, match="is not a folder"):
        validate_repo(tmp_path / "file.txt")


def test_validate_target_names_existing_functions(tmp_path: Path) -> None:
    (tmp_path / "mod.py").write_text(MODULE)
    validate_target(tmp_path, Target.parse("mod.py::top"))
    validate_target(tmp_path, Target.parse("mod.py::Box.size"))
    validate_target(tmp_path, Target.parse("mod.py::Box.Lid.close"))
    with pytest.raises(
        TargetError, match=r"functions defined there: Box.Lid.close, Box.fetch, Box.size, top\)"
    ):
        validate_target(tmp_path, Target.parse("mod.py::missing"))


def test_validate_target_bad_files(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "broken.py").write_text("def (:\n")
    with pytest.raises(TargetError, match="not a Python file"):
        validate_target(tmp_path, Target.parse("notes.txt::f"))
    with pytest.raises(TargetError, match="does not exist"):
        validate_target(tmp_path, Target.parse("absent.py::f"))
    with pytest.raises(TargetError, match="not valid Python"):
        validate_target(tmp_path, Target.parse("broken.py::f"))


def test_spec_json_and_commands() -> None:
    spec = JobSpec(repo="/r", targets=(Target.parse("a.py::f"),), bench_cmd="python b.py 'x y'")
    data = json.loads(spec.to_json())
    assert data["targets"] == ["a.py::f"]
    assert spec.test_argv() == ["python", "-m", "pytest", "-x", "-q"]
    assert spec.bench_argv() == ["python", "b.py", "x y"]
    with pytest.raises(SpecError, match="cannot be parsed"):
        JobSpec(repo="/r", targets=(), test_cmd="pytest 'unclosed").test_argv()
    with pytest.raises(SpecError, match="must not be empty"):
        JobSpec(repo="/r", targets=(), test_cmd="  ").test_argv()
