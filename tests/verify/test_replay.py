"""The replay harness and its runner side, on a tiny project built in tmp_path."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from runner.verify import _record_plugin, bench
from runner.verify import _replay_harness as harness
from runner.verify.replay import (
    HARNESS_NAME,
    CallgrindCounter,
    CallgrindOverBudget,
    ReplayError,
    ReplayTimer,
    install_harness,
    parse_callgrind_totals,
)

COMMON = '''

def grow(xs):
    """Fails if it ever sees an argument a previous call already mutated."""
    if xs and xs[-1] == "seen":
        raise RuntimeError("argument reused across calls")
    xs.append("seen")
    return len(xs)


def picky(x):
    print("noise on stdout")  # must not break the harness's JSON
    if x < 0:
        raise ValueError(x)
    return x


class Box:
    def __init__(self, items):
        self.items = items

    def has(self, y):
        return y in self.items

    @classmethod
    def make(cls, n):
        return cls(list(range(n)))

    @staticmethod
    def twice(x):
        return 2 * x
'''

SLOW = """
def lookup(xs, ys):
    return sum(1 for y in ys if y in xs)
"""

FAST = """
def lookup(xs, ys):
    seen = set(xs)
    return sum(1 for y in ys if y in seen)
"""


def _project(root: Path, lookup: str) -> Path:
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "mod.py").write_text(lookup + COMMON)
    return root


def _inputs(path: Path, calls: list[tuple[tuple[Any, ...], dict[str, Any]]]) -> Path:
    path.write_bytes(pickle.dumps(calls))
    return path


def run_plain(argv: list[str], cwd: Path) -> tuple[int, str, str]:
    """A CommandRunner without a sandbox, with the fixed hash seed the runner must pass."""
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    proc = subprocess.run(
        argv, cwd=cwd, capture_output=True, text=True, env=env, timeout=300, check=False
    )
    return proc.returncode, proc.stdout, proc.stderr


@pytest.fixture
def baseline(tmp_path: Path) -> Path:
    return _project(tmp_path / "baseline", SLOW)


@pytest.fixture
def candidate(tmp_path: Path) -> Path:
    return _project(tmp_path / "candidate", FAST)


@pytest.fixture
def lookup_inputs(tmp_path: Path) -> Path:
    # Mostly misses: the list version scans all 300 items per query, the set version
    # does one hash probe. The gap is >20x, far beyond any noise on a busy host.
    xs = list(range(300))
    calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
        ((xs, list(range(k, 1000, 10))), {}) for k in range(4)
    ]
    return _inputs(tmp_path / "lookup.pkl", calls)


def _timer(target: str, inputs: Path, round_ms: float = 50) -> ReplayTimer:
    return ReplayTimer(sys.executable, f"pkg/mod.py::{target}", inputs, run_plain, round_ms)


def _time(project: Path, target: str, inputs: Path, loops: int, rounds: int) -> dict[str, Any]:
    """Run the harness's `time` mode directly, to see its whole JSON answer."""
    install_harness(project)
    argv = [sys.executable, f".optirunner/{HARNESS_NAME}", "--target", f"pkg/mod.py::{target}"]
    argv += ["--inputs", str(inputs), "time", "--loops", str(loops), "--rounds", str(rounds)]
    code, stdout, stderr = run_plain(argv, project)
    assert code == 0, stderr
    answer: dict[str, Any] = json.loads(stdout)
    return answer


def test_install_harness_copies_the_standalone_script(baseline: Path) -> None:
    path = install_harness(baseline)
    assert path == baseline / ".optirunner" / HARNESS_NAME
    assert path.read_bytes() == Path(harness.__file__).read_bytes()


@pytest.mark.parametrize(
    ("relpath", "expected"),
    [
        ("inventory/stock.py", ("", "inventory.stock")),
        ("pkg/__init__.py", ("", "pkg")),
        ("tool.py", ("", "tool")),
        ("src/pkg/mod.py", ("src", "pkg.mod")),
    ],
)
def test_module_name(relpath: str, expected: tuple[str, str]) -> None:
    assert harness.module_name(relpath) == expected


def test_calibrate_aims_at_the_round_length(baseline: Path, lookup_inputs: Path) -> None:
    timer = _timer("lookup", lookup_inputs, round_ms=100)
    loops = timer.calibrate(baseline)
    assert loops >= 1
    assert timer.calls == 4
    assert timer.per_pass_s is not None
    assert 0.1 / 4 < loops * timer.per_pass_s < 0.1 * 4  # loose: the host may be busy


def test_slow_target_gives_one_loop(baseline: Path, lookup_inputs: Path) -> None:
    # A pass far longer than the round: the harness must still run it once.
    assert _timer("lookup", lookup_inputs, round_ms=0.001).calibrate(baseline) == 1


def test_rounds_are_shortened_when_fresh_arguments_cost_far_more_than_the_call() -> None:
    """sqlparse's whitespace filter: it mutates a token list whose copy (a whole statement,
    through parent pointers) costs hundreds of times the call. A round of the usual timed
    length would spend minutes unpickling; calibration bounds the preparation instead."""

    def strip(tokens: list[list[int]]) -> None:
        tokens.pop()  # mutates: every call needs its own copy

    statement = [[i, i + 1, i + 2] for i in range(20_000)]
    inputs = harness.Inputs([((statement,), {})])
    answer = harness.calibrate(strip, inputs, round_s=0.05)
    assert answer["prepare_limited"] is True
    assert answer["prepare_per_pass_s"] > 20 * answer["per_pass_s"]
    by_time = 0.05 / answer["per_pass_s"]
    assert answer["loops"] < by_time / 10
    # one round's preparation stays near PREPARE_LIMIT round lengths (loose: a busy host)
    assert answer["loops"] * answer["prepare_per_pass_s"] < 0.05 * harness.PREPARE_LIMIT * 3
    cheap = harness.calibrate(lambda n: n + 1, harness.Inputs([((1,), {})]), round_s=0.05)
    assert cheap["prepare_limited"] is False  # shared immutable arguments: nothing to copy


def test_arm_returns_seconds_per_pass(baseline: Path, lookup_inputs: Path) -> None:
    timer = _timer("lookup", lookup_inputs)
    arm = timer.arm(baseline, loops=3)
    first, second = arm(), arm()
    assert 0 < first < 1
    assert 0 < second < 1
    assert timer.raised == 0


def test_faster_variant_measures_faster(
    baseline: Path, candidate: Path, lookup_inputs: Path
) -> None:
    timer = _timer("lookup", lookup_inputs)
    loops = timer.calibrate(baseline)  # calibrate on the baseline, same loops for both
    rounds = bench.interleave(
        timer.arm(baseline, loops), timer.arm(candidate, loops), rounds=3, warmup=0
    )
    ratio = statistics.median(c / b for b, c in zip(rounds.baseline, rounds.candidate, strict=True))
    assert ratio < 0.2


def test_arguments_are_fresh_for_every_call(baseline: Path, tmp_path: Path) -> None:
    shared = [1, 2]  # two recorded calls share one list: replay must not
    inputs = _inputs(tmp_path / "grow.pkl", [((shared,), {}), ((shared,), {}), (([],), {})])
    answer = _time(baseline, "grow", inputs, loops=20, rounds=2)
    assert answer["raised"] == 0
    assert answer["calls"] == 3
    assert len(answer["rounds_s"]) == 2


def test_exceptions_are_counted_not_fatal(baseline: Path, tmp_path: Path) -> None:
    inputs = _inputs(tmp_path / "picky.pkl", [((1,), {}), ((-1,), {}), ((2,), {}), ((-2,), {})])
    answer = _time(baseline, "picky", inputs, loops=3, rounds=2)
    assert answer["raised"] == 2 * 3 * 2  # two of four per pass, 3 passes, 2 rounds
    assert all(s > 0 for s in answer["rounds_s"])


def test_methods_static_and_class_methods(baseline: Path, tmp_path: Path) -> None:
    sys.path.insert(0, str(baseline))  # the pickles refer to pkg.mod.Box
    try:
        from pkg.mod import Box  # type: ignore[import-not-found]

        has = _inputs(tmp_path / "has.pkl", [((Box([1, 2]), 2), {}), ((Box([]),), {"y": 1})])
        make = _inputs(tmp_path / "make.pkl", [((Box, 3), {}), ((5,), {})])
    finally:
        sys.path.remove(str(baseline))
        for name in ("pkg.mod", "pkg"):
            sys.modules.pop(name, None)
    twice = _inputs(tmp_path / "twice.pkl", [((4,), {})])
    for target, inputs in (("Box.has", has), ("Box.make", make), ("Box.twice", twice)):
        assert _time(baseline, target, inputs, loops=2, rounds=1)["raised"] == 0, target


def test_a_classmethod_is_timed_without_a_wrapper_in_the_calls(baseline: Path) -> None:
    """The class goes into the arguments once, before timing: a per-call check of args[0]
    cost as much as a cheap classmethod (sqlparse's lexer read 1.75x, callers see 3.96x)."""
    sys.path.insert(0, str(baseline))
    cwd = Path.cwd()
    os.chdir(baseline)
    try:
        func, owner = harness.resolve_for_timing("pkg/mod.py::Box.make")
        assert owner is not None
        assert owner.__name__ == "Box"
        assert func is vars(owner)["make"].__func__  # the function itself, no wrapper frame
        calls = harness.with_class([((owner, 3), {}), ((5,), {}), ((), {"n": 2})], owner)
        assert [args[0] for args, _ in calls] == [owner, owner, owner]
        assert [len(func(*args, **kwargs).items) for args, kwargs in calls] == [3, 5, 2]
        assert harness.resolve_for_timing("pkg/mod.py::Box.twice")[1] is None
        assert harness.resolve_for_timing("pkg/mod.py::Box.has")[1] is None
    finally:
        os.chdir(cwd)
        sys.path.remove(str(baseline))
        for name in ("pkg.mod", "pkg"):
            sys.modules.pop(name, None)


def test_missing_target_is_a_clear_error(baseline: Path, lookup_inputs: Path) -> None:
    with pytest.raises(ReplayError, match=r"nope not found in pkg\.mod"):
        _timer("nope", lookup_inputs).calibrate(baseline)
    timer = ReplayTimer(sys.executable, "pkg/missing.py::f", lookup_inputs, run_plain)
    with pytest.raises(ReplayError, match=r"cannot import pkg\.missing"):
        timer.arm(baseline, 1)()


def test_unreadable_inputs_are_a_clear_error(baseline: Path, tmp_path: Path) -> None:
    (tmp_path / "bad.pkl").write_bytes(b"not a pickle")
    with pytest.raises(ReplayError, match="cannot read inputs"):
        _timer("lookup", tmp_path / "bad.pkl").calibrate(baseline)
    empty = _inputs(tmp_path / "empty.pkl", [])
    with pytest.raises(ReplayError, match="no recorded calls"):
        _timer("lookup", empty).calibrate(baseline)


def test_a_crashing_harness_reports_stderr(baseline: Path, lookup_inputs: Path) -> None:
    def crash(argv: list[str], cwd: Path) -> tuple[int, str, str]:
        return 139, "", "Traceback ...\nSegmentation fault"

    timer = ReplayTimer(sys.executable, "pkg/mod.py::lookup", lookup_inputs, crash)
    with pytest.raises(ReplayError, match=r"exited 139.*Segmentation fault"):
        timer.calibrate(baseline)


def test_parse_callgrind_totals_synthetic() -> None:
    text = "version: 1\nevents: Dr Ir Dw\nfl=(1) a.c\n0 1 2 3\nsummary: 5 40 7\ntotals: 6 42 8\n"
    assert parse_callgrind_totals(text) == 42
    assert parse_callgrind_totals("events: Ir\nsummary: 17\n") == 17
    with pytest.raises(ReplayError, match="no totals"):
        parse_callgrind_totals("events: Ir\n")
    with pytest.raises(ReplayError, match="does not count Ir"):
        parse_callgrind_totals("events: Dr\ntotals: 3\n")


needs_valgrind = pytest.mark.skipif(not CallgrindCounter.available(), reason="needs valgrind")


@pytest.mark.slow
@needs_valgrind
def test_parse_callgrind_totals_real_file(tmp_path: Path) -> None:
    out = tmp_path / "cg.out"
    true = shutil.which("true") or "/bin/true"
    subprocess.run(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", true],
        capture_output=True,
        check=True,
        timeout=120,
    )
    assert parse_callgrind_totals(out.read_text()) > 1000


@pytest.mark.slow
@needs_valgrind
def test_callgrind_instructions_are_repeatable_and_lower_for_the_fast_variant(
    baseline: Path, candidate: Path, lookup_inputs: Path
) -> None:
    counter = CallgrindCounter(sys.executable, "pkg/mod.py::lookup", lookup_inputs, run_plain)
    # Two checkouts at once: valgrind is single-threaded, and this halves the wall time.
    with ThreadPoolExecutor(max_workers=2) as pool:
        slow, fast = pool.map(
            lambda p: counter.instructions_per_call(p, calls=4), [baseline, candidate]
        )
    assert len(slow) == 3
    for per_call in (slow, fast):
        assert min(per_call) > 0
        assert (max(per_call) - min(per_call)) / min(per_call) < 0.001
    assert max(fast) * 5 < min(slow)
    assert not list((baseline / ".optirunner" / "callgrind").iterdir())  # output files removed


@needs_valgrind
def test_a_callgrind_run_past_its_deadline_is_killed(baseline: Path, lookup_inputs: Path) -> None:
    """A Python start-up under callgrind alone takes seconds: a 0.3 s deadline kills it."""
    counter = CallgrindCounter(sys.executable, "pkg/mod.py::lookup", lookup_inputs, run_plain)
    started = time.monotonic()
    with pytest.raises(CallgrindOverBudget, match="killed at the end of the budget"):
        counter.instructions_per_call(baseline, calls=4, repeats=1, deadline_s=0.3)
    assert time.monotonic() - started < 30  # killed, not run to its end (loose: busy host)
    assert not list((baseline / ".optirunner" / "callgrind").iterdir())  # output removed


def test_prepare_copies_mutable_arguments_and_shares_immutable_ones() -> None:
    inputs = harness.Inputs([(([1],), {}), ((1, "a", (2, 3)), {"k": None}), (((1, [2]),), {})])
    out = inputs.prepare(6)  # cycles: calls 0 1 2 0 1 2
    assert out[0] == out[3]
    assert out[0][0][0] is not out[3][0][0]  # a list: fresh copy per call
    assert out[1] is out[4]  # scalars and tuples of scalars: nothing to protect
    assert out[2][0][0][1] is not out[5][0][0][1]  # a list inside a tuple is still copied


def test_big_rounds_are_timed_in_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[int] = []
    monkeypatch.setattr(harness, "BATCH_BYTES", 1)  # one pass per batch
    inputs = harness.Inputs([(([1, 2],), {}), (([3],), {})])
    elapsed, raised = harness.time_round(lambda xs: seen.append(len(xs)), inputs, loops=5)
    assert seen == [2, 1] * 5
    assert elapsed > 0
    assert raised == 0


def test_a_returned_generator_is_consumed_while_timed() -> None:
    """A rewrite that returns a lazy generator instead of a list is timed doing the work
    (up to the recorder's item budget, so an endless generator still ends)."""
    consumed: list[int] = []

    def lazy(n: int) -> Any:
        for i in range(n):
            consumed.append(i)
            yield i

    def endless(_n: int) -> Any:
        while True:
            yield 0

    lazy_inputs = harness.Inputs([((3,), {}), ((2,), {})])
    _, raised = harness.time_round(lazy, lazy_inputs, loops=2)
    assert consumed == [0, 1, 2, 0, 1] * 2
    assert raised == 0
    seen: list[int] = []
    harness.time_round(lambda n: (seen.append(i) for i in range(n)), lazy_inputs, loops=1)
    assert seen == [0, 1, 2, 0, 1]  # a generator expression a plain function returns, too
    _, raised = harness.time_round(endless, harness.Inputs([((1,), {})]), loops=1)
    assert raised == 0
    assert harness.GENERATOR_ITEMS == _record_plugin.GENERATOR_ITEMS


def test_pickled_arguments_from_a_test_module_are_found_under_the_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # toolz's suite passes objects of classes defined in tests/test_recipes.py; pytest had
    # put tests/ on sys.path, the harness had not ("No module named 'test_recipes'").
    tests = tmp_path / "tests"
    tests.mkdir()
    (tests / "test_recipes_shape.py").write_text(
        "class Item:\n    def __init__(self, n):\n        self.n = n\n"
    )
    script = (
        "import pickle, sys\n"
        f"sys.path.insert(0, {str(tests)!r})\n"
        "from test_recipes_shape import Item\n"
        f"pickle.dump([((Item(3),), {{}})], open({str(tmp_path / 'in.pkl')!r}, 'wb'))\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    calls = harness.load_pickle(str(tmp_path / "in.pkl"))
    assert calls[0][0][0].n == 3
    assert str(tests) in sys.path
    sys.modules.pop("test_recipes_shape", None)
