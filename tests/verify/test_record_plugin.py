"""The recorder plugin end to end: a tiny project's pytest suite, run in a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from runner.verify.behaviour import Recording, compare, load_recording
from runner.verify.recording import (
    PLUGIN_MODULE,
    install_plugin,
    pytest_plugin_args,
    record_env,
    with_plugin,
)

MODULE = '''
import random


def total(items, scale=1):
    """Sum of the ints, scaled; marks the list as seen (an in-place mutation)."""
    if scale < 0:
        raise ValueError(f"negative scale {scale}")
    items.append("seen")
    return sum(x for x in items if isinstance(x, int)) * scale


def roll():
    return random.random()


def countdown(n):
    """Recursive: only the outermost call is recorded."""
    return [] if n == 0 else [n, *countdown(n - 1)]


class Counter:
    def __init__(self):
        self.count = 0

    def bump(self, by):
        self.count += by
        return self.count

    @staticmethod
    def double(x):
        return 2 * x

    @classmethod
    def make(cls):
        return cls()
'''

TESTS = """
import pytest

from pkg import total
from pkg.mod import Counter, countdown, roll


def test_total():
    assert total([1, 2]) in (3, 4)


def test_negative():
    with pytest.raises(ValueError):
        total([1], scale=-1)


def test_counter():
    counter = Counter.make()
    assert counter.bump(2) == 2
    assert counter.bump(by=3) == 5
    assert Counter.double(4) == 8


def test_roll():
    assert 0 <= roll() < 1


def test_countdown():
    assert countdown(3) == [3, 2, 1]
"""

TARGETS = [
    "pkg/mod.py::total",
    "pkg/mod.py::roll",
    "pkg/mod.py::countdown",
    "pkg/mod.py::Counter.bump",
    "pkg/mod.py::Counter.double",
    "pkg/mod.py::Counter.make",
]


def make_project(root: Path, module: str = MODULE) -> Path:
    """A project whose package re-exports a target (`from pkg.mod import total`)."""
    (root / "pkg").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "pkg" / "__init__.py").write_text("from pkg.mod import total\n")
    (root / "pkg" / "mod.py").write_text(module)
    (root / "tests" / "test_mod.py").write_text(TESTS)
    (root / "pytest.ini").write_text("[pytest]\n")  # the project is its own rootdir
    return root


def run_recorded(
    project: Path,
    out: Path,
    *,
    seed: int = 7,
    targets: list[str] = TARGETS,
    extra_env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the project's suite with the recorder, as the runner will."""
    plugins = install_plugin(project)
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("PYTEST_", "OPTIRUNNER_"))  # nothing of the outer pytest leaks
    }
    env.pop("CI", None)  # Hypothesis loads its derandomizing `ci` profile when it sees it
    env.update(record_env(targets, out, plugins, seed, str(project)))
    env.update(extra_env or {})
    argv = with_plugin([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"])
    assert argv is not None
    return subprocess.run(
        argv, cwd=project, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def recorded(project: Path, out: Path, **options: object) -> Recording:
    result = run_recorded(project, out, **options)  # type: ignore[arg-type]
    assert result.returncode == 0, result.stdout + result.stderr
    return load_recording(out)


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Recording:
    root = tmp_path_factory.mktemp("baseline")
    return recorded(make_project(root / "project"), root / "baseline.json")


# -- what gets recorded -------------------------------------------------------------------------


@pytest.mark.slow
def test_calls_arguments_results_and_mutations_are_recorded(baseline: Recording) -> None:
    first, failing = baseline.targets["pkg/mod.py::total"]
    assert first.site == "tests/test_mod.py::test_total"
    assert first.args == {"0": {"t": "list", "items": [{"t": "int", "v": 1}, {"t": "int", "v": 2}]}}
    assert first.args_after["0"]["items"][-1] == {"t": "str", "v": "seen"}
    assert (first.outcome, first.value) == ("return", {"t": "int", "v": 3})
    assert failing.site == "tests/test_mod.py::test_negative"
    assert failing.exception == ("ValueError", "negative scale -1")
    assert failing.labels == {"0": "items", "scale": "scale"}


@pytest.mark.slow
def test_methods_keep_their_static_and_class_semantics(baseline: Recording) -> None:
    first, second = baseline.targets["pkg/mod.py::Counter.bump"]
    assert first.args["0"] == {
        "t": "object",
        "type": "pkg.mod.Counter",
        "fields": {"count": {"t": "int", "v": 0}},
    }
    assert first.args_after["0"]["fields"]["count"] == {"t": "int", "v": 2}
    assert (second.seq, second.labels["by"]) == (1, "by")
    assert second.call_site == "tests/test_mod.py::test_counter call #2"
    (double,) = baseline.targets["pkg/mod.py::Counter.double"]
    assert double.value == {"t": "int", "v": 8}
    (make,) = baseline.targets["pkg/mod.py::Counter.make"]
    assert make.args == {"0": {"t": "type", "v": "pkg.mod.Counter"}}


@pytest.mark.slow
def test_only_the_outermost_recursive_call_is_recorded(baseline: Recording) -> None:
    (call,) = baseline.targets["pkg/mod.py::countdown"]
    assert call.value["items"] == [{"t": "int", "v": n} for n in (3, 2, 1)]


@pytest.mark.slow
def test_a_missing_target_is_an_error_entry_not_a_crash(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    targets = ["pkg/mod.py::Nope", "pkg/absent.py::f", "pkg/mod.py::total"]
    recording = recorded(project, tmp_path / "rec.json", targets=targets)
    assert "AttributeError" in recording.errors["pkg/mod.py::Nope"]
    assert "pkg/absent.py::f" in recording.errors
    assert len(recording.targets["pkg/mod.py::total"]) == 2
    assert compare(recording, recording).first_mismatch is not None


# -- comparing two runs -------------------------------------------------------------------------


@pytest.mark.slow
def test_a_changed_result_is_reported_with_its_test_and_field(
    baseline: Recording, tmp_path: Path
) -> None:
    changed = MODULE.replace("* scale\n", "* scale + (len(items) == 3)\n")
    candidate = recorded(make_project(tmp_path / "project", changed), tmp_path / "cand.json")
    result = compare(baseline, candidate)
    assert not result.ok
    mismatch = result.first_mismatch
    assert mismatch is not None
    assert (mismatch.target, mismatch.field) == ("pkg/mod.py::total", "return")
    assert mismatch.call_site == "tests/test_mod.py::test_total call #1"
    assert (mismatch.expected, mismatch.actual) == ("3", "4")
    assert "tests/test_mod.py::test_total" in result.describe()


@pytest.mark.slow
def test_the_same_seed_gives_identical_recordings(baseline: Recording, tmp_path: Path) -> None:
    again = recorded(make_project(tmp_path / "project"), tmp_path / "again.json")
    result = compare(baseline, again)
    assert result.ok, result.describe()
    assert result.calls_compared == 8
    assert baseline.targets == again.targets
    reseeded = recorded(make_project(tmp_path / "other"), tmp_path / "other.json", seed=8)
    mismatch = compare(baseline, reseeded).first_mismatch
    assert mismatch is not None
    assert (mismatch.target, mismatch.field) == ("pkg/mod.py::roll", "return")


HYPOTHESIS_TESTS = """
from hypothesis import given, settings, strategies as st

from pkg.mod import total

settings.register_profile("project", max_examples=30)  # a project's own profile, kept
settings.load_profile("project")


@given(st.lists(st.integers(-1000, 1000), max_size=5))
def test_total_any(values):
    expected = sum(values)
    assert total(values) == expected  # total marks the list: it appends "seen"
"""


@pytest.mark.parametrize("ci", [{}, {"CI": "true"}], ids=["local", "ci-profile"])
def test_hypothesis_draws_the_same_examples_in_every_recorded_run(
    tmp_path: Path, ci: dict[str, str]
) -> None:
    """Hypothesis has its own entropy and replays what its database kept from the last
    run in the same folder: without the seed, a second run calls `total` on other lists
    (sympy's core tests: a different number of `igcd` calls from run to run). Under `CI`,
    Hypothesis loads its `ci` profile, which derandomizes and so ignored the seed."""
    project = make_project(tmp_path / "project")
    (project / "tests" / "test_mod.py").write_text(HYPOTHESIS_TESTS)
    target = ["pkg/mod.py::total"]
    first = recorded(project, tmp_path / "first.json", targets=target, extra_env=ci)
    again = recorded(project, tmp_path / "again.json", targets=target, extra_env=ci)
    calls = first.targets["pkg/mod.py::total"]
    assert len(calls) >= 30  # the project's profile (30 examples) still applies
    assert first.targets == again.targets
    other = recorded(project, tmp_path / "other.json", seed=8, targets=target, extra_env=ci)
    assert other.targets != first.targets  # the seed decides, nothing else


@pytest.mark.slow
def test_the_file_is_versioned_json_with_the_seed(baseline: Recording, tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    out = tmp_path / "rec.json"
    assert run_recorded(project, out, targets=TARGETS[:1]).returncode == 0
    document = json.loads(out.read_text())
    assert (document["version"], document["seed"], document["exitstatus"]) == (1, 7, 0)
    assert list(document["targets"]) == TARGETS[:1]
    assert not list(tmp_path.glob("*.tmp"))


# -- the helpers the job uses -------------------------------------------------------------------


def test_install_plugin_copies_the_standalone_module(tmp_path: Path) -> None:
    plugins = install_plugin(tmp_path)
    assert plugins == tmp_path / ".optirunner" / "plugins"
    source = (plugins / f"{PLUGIN_MODULE}.py").read_text()
    assert "import runner" not in source
    assert "from runner" not in source


def test_record_env(tmp_path: Path) -> None:
    env = record_env(["a.py::f"], tmp_path / "o.json", tmp_path / "p", 3, "/x")
    assert json.loads(env["OPTIRUNNER_RECORD_TARGETS"]) == ["a.py::f"]
    assert env["OPTIRUNNER_RECORD_OUT"] == str(tmp_path / "o.json")
    assert env["OPTIRUNNER_SEED"] == env["PYTHONHASHSEED"] == "3"
    assert env["PYTHONPATH"] == f"{tmp_path / 'p'}{os.pathsep}/x"
    assert record_env([], tmp_path, tmp_path, 1, None)["PYTHONPATH"] == str(tmp_path)
    assert "OPTIRUNNER_RECORD_MAX_CALLS" not in env
    assert (
        record_env([], tmp_path, tmp_path, 1, None, max_calls=5)["OPTIRUNNER_RECORD_MAX_CALLS"]
        == "5"
    )


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["pytest", "-q"], ["pytest", "-p", PLUGIN_MODULE, "-q"]),
        (["/venv/bin/py.test"], ["/venv/bin/py.test", "-p", PLUGIN_MODULE]),
        (["python", "-m", "pytest", "x"], ["python", "-m", "pytest", "-p", PLUGIN_MODULE, "x"]),
        (
            ["python3.12", "-X", "dev", "-mpytest"],
            ["python3.12", "-X", "dev", "-mpytest", "-p", PLUGIN_MODULE],
        ),
        (["uv", "run", "pytest"], ["uv", "run", "pytest", "-p", PLUGIN_MODULE]),
        (["pytest", "-p", PLUGIN_MODULE], ["pytest", "-p", PLUGIN_MODULE]),
        (["python", "-m", "unittest"], None),
        (["python", "-c", "import pytest"], None),
        (["tox", "-e", "py"], None),
        (["make", "test"], None),
        ([], None),
    ],
)
def test_with_plugin(argv: list[str], expected: list[str] | None) -> None:
    assert with_plugin(argv) == expected


def test_pytest_plugin_args() -> None:
    assert pytest_plugin_args() == ["-p", "optirunner_record"]
