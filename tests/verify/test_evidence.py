"""`evidence.TargetInputs` end to end with the real diff harness (prepare on the baseline,
check candidates, shrink), and the timing side of the same evidence in `measure.py`: the
harness overhead measured and reported (never subtracted), overhead-dominated timings
flagged, size classes."""

from __future__ import annotations

import ast
import itertools
import json
import pickle
import random
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from runner.config import InputsSettings, MeasureSettings
from runner.verify import differential, measure, stats
from runner.verify.evidence import LARGEST, REPRESENTATIVE, TargetInputs
from tests.verify.test_differential import (
    ISDIGIT,
    MODULE,
    TOKENS_LOOP,
    TOKENS_UPPER_TRAP,
    make_project,
    make_token_project,
    recorded_calls,
    run_plain,
    runner,
    text_spec,
    token_calls,
)

NON_ASCII_DIGITS = "²³½١٣۵०߁𝟙Ⅻ"


def _inputs(**settings: Any) -> TargetInputs:
    cfg = InputsSettings(**{"generated": 80, "call_timeout_s": 2.0, **settings})
    return TargetInputs("pkg/mod.py::is_number", recorded_calls(), 3, cfg, runner())


def _prepared(tmp_path: Path, candidate_module: str) -> tuple[TargetInputs, Path, Path]:
    """The inputs prepared on a fresh baseline, and a candidate checkout to check."""
    baseline = make_project(tmp_path / "baseline")
    candidate = make_project(tmp_path / "candidate", candidate_module)
    inputs = _inputs()
    inputs.prepare(baseline)
    return inputs, baseline, candidate


@pytest.mark.slow
def test_the_isdigit_trap_is_caught_and_shrunk(tmp_path: Path) -> None:
    inputs, _, candidate = _prepared(tmp_path, ISDIGIT)
    origins = [spec.origin for spec in inputs.specs]
    assert origins[:3] == [LARGEST] * 3
    assert {"x10", "x100", "generated"} <= set(origins)
    assert len(inputs.baseline) == len(inputs.specs) == len(inputs.compared)
    assert all(inputs.compared)
    evidence = inputs.check(candidate)
    assert evidence.difference, evidence
    assert evidence.difference.startswith("on a generated input (generated): is_number(")
    assert "baseline False, candidate True" in evidence.difference
    shown = re.search(r"is_number\('(.*?)'\)", evidence.difference)
    assert shown is not None, evidence.difference
    assert len(shown.group(1)) == 1, "shrunk to one character"
    assert shown.group(1) in NON_ASCII_DIGITS
    assert evidence.shrink_rounds >= 1
    assert evidence.unstable == 0


@pytest.mark.slow
def test_an_identical_candidate_shows_no_difference(tmp_path: Path) -> None:
    inputs, baseline, same = _prepared(tmp_path, MODULE)
    evidence = inputs.check(same)
    assert evidence.difference == ""
    assert evidence.generated > 0
    assert evidence.scaled > 0
    assert evidence.shrink_rounds == 0
    # The timing sets the baseline pickled: the largest recorded calls and those scaled up.
    labels = {timing.label for timing in inputs.timing}
    assert labels == {LARGEST, "x10", "x100", REPRESENTATIVE}
    for timing in inputs.timing:
        assert timing.path.is_file()
        assert timing.path.parent == baseline / differential.WORK_DIR
    x100 = inputs.timing_set("x100")
    assert x100 is not None
    assert x100.sizes == (100, 300)  # "7" x100 .. "abc" x100
    assert inputs.timing_set("missing") is None
    representative = inputs.timing_set(REPRESENTATIVE)
    assert representative is not None
    assert len(representative.indices) == 9
    # As the replay harness reads them: a list of (args, kwargs).
    calls = pickle.loads(representative.path.read_bytes())  # noqa: S301 - written just now
    assert len(calls) == 9
    assert ("abc" * 100,) in [args for args, _ in calls]


def _token_inputs(tmp_path: Path) -> TargetInputs:
    cfg = InputsSettings(generated=120, call_timeout_s=2.0)
    inputs = TargetInputs("pkg/mod.py::Token.match", token_calls(), 5, cfg, runner("Token.match"))
    inputs.prepare(make_token_project(tmp_path / "baseline"))
    return inputs


@pytest.mark.slow
def test_a_case_only_bug_on_an_objects_state_is_caught_and_shrunk(tmp_path: Path) -> None:
    """sqlparse's Token.match upper-casing names too: no recorded call asks a name token
    about its own kind, so only a generated call that does (the kind linked to the token's,
    its own text re-cased as the values) shows the difference."""
    inputs = _token_inputs(tmp_path)
    assert all(inputs.compared)
    assert any(spec.link for spec in inputs.specs)
    evidence = inputs.check(make_token_project(tmp_path / "trap", TOKENS_UPPER_TRAP))
    assert evidence.difference, evidence
    assert evidence.difference.startswith(
        "on a generated input (generated; argument 1 = argument 0.kind"
    ), evidence.difference
    assert "return: baseline False, candidate True" in evidence.difference
    shown = re.search(
        r"Token\.match\(pkg\.mod\.Token\(is_keyword=False, kind=…, normalized='(\w+)', "
        r"value='\w+'\), pkg\.mod\.Kind\(name='Name'\), (.*)\): return",
        evidence.difference,
    )
    assert shown is not None, evidence.difference
    own, values = shown.groups()
    assert own in ("foo", "bar")
    # Shrunk to the token's own text in another case, alone (a string or a 1-tuple).
    value = ast.literal_eval(values)
    text = value if isinstance(value, str) else value[0]
    assert isinstance(value, str) or len(value) == 1, evidence.difference
    assert text != own, evidence.difference
    assert text.lower() == own, evidence.difference


@pytest.mark.slow
def test_a_correct_rewrite_of_a_method_is_not_rejected(tmp_path: Path) -> None:
    inputs = _token_inputs(tmp_path)
    evidence = inputs.check(make_token_project(tmp_path / "loop", TOKENS_LOOP))
    assert evidence.difference == "", evidence.difference
    assert evidence.generated >= 60
    assert evidence.unstable == 0


@pytest.mark.slow
def test_a_call_the_baseline_does_not_end_is_not_run_again(tmp_path: Path) -> None:
    """The second baseline run and each candidate's skip it: a timeout is not compared,
    and would cost every arm its whole call timeout."""
    cfg = InputsSettings(generated=0, call_timeout_s=0.3)
    inputs = TargetInputs("pkg/mod.py::slow", [], 0, cfg, runner("slow", call_timeout_s=0.3))
    specs = [text_spec("ab"), text_spec("slow"), text_spec("abc")]
    inputs.build_specs = lambda: specs  # type: ignore[method-assign]
    baseline = make_project(tmp_path / "baseline")
    inputs.prepare(baseline)
    assert [o.kind for o in inputs.baseline] == ["return", "timeout", "return"]
    assert inputs.compared == [True, False, True]
    folder = baseline / differential.WORK_DIR
    again = json.loads((folder / "baseline-again.json").read_text())
    assert again[1] == {"skip": "not compared"}
    assert again[0]["set"] == {"0": {"t": "str", "v": "ab"}}  # the others run
    candidate = make_project(tmp_path / "candidate")
    assert inputs.check(candidate).difference == ""
    ran = json.loads((candidate / differential.WORK_DIR / "candidate.out.json").read_text())
    assert [entry["outcome"] for entry in ran] == ["return", "skipped", "return"]


def test_no_specs_no_runs(tmp_path: Path) -> None:
    def never(argv: list[str], cwd: Path) -> tuple[int, str, str]:
        raise AssertionError(f"ran {argv}")

    empty = TargetInputs(
        "pkg/mod.py::f",
        [],
        0,
        InputsSettings(),
        differential.Runner(sys.executable, "pkg/mod.py::f", never, seed=0),
    )
    empty.prepare(tmp_path)
    assert empty.specs == []
    assert empty.check(tmp_path) == differential.Evidence()


# -- measure: overhead ------------------------------------------------------------------------


def test_overhead_fraction() -> None:
    plan = measure.Plan("replay", lambda _p: lambda: 1.0)
    assert plan.overhead_fraction is None
    plan.overhead_s, plan.per_pass_s = 0.2, 0.8
    assert plan.overhead_fraction == pytest.approx(0.25)
    plan.overhead_s = 2.0
    assert plan.overhead_fraction == 1.0


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 0.01
        return self.now


class _NoCounting:
    def instructions_per_call(self, *_args: Any, **_options: Any) -> list[float]:
        raise AssertionError("callgrind must not run on an overhead-dominated timing")


def _plan(baseline: Path, base_s: list[float], cand_s: list[float], **fields: Any) -> measure.Plan:
    def arm(project: Path) -> Any:
        values = itertools.cycle(base_s if project == baseline else cand_s)
        return lambda: next(values)

    return measure.Plan("replay of 3 recorded calls", arm, **fields)


CFG = MeasureSettings(min_rounds=5, max_rounds=12, budget_s=60, instructions="always")
FAST = [0.50, 0.51, 0.49, 0.50]  # the candidate: twice as fast as the baseline
SLOW = [1.00, 1.02, 0.98, 1.01]


def test_an_overhead_dominated_plan_is_inconclusive(tmp_path: Path) -> None:
    baseline, candidate = tmp_path / "b", tmp_path / "c"
    plan = _plan(baseline, SLOW, FAST, overhead_s=0.8, per_pass_s=1.0, counter=_NoCounting())
    plan.counter_calls = 10
    result = measure.measure(plan, baseline, candidate, CFG, random.Random(1), clock=_Clock())
    assert result.verdict == stats.Verdict.INCONCLUSIVE.value
    assert "overhead-dominated" in result.reason
    assert "80%" in result.reason
    assert result.overhead_fraction == pytest.approx(0.8)
    assert result.instruction_ratios == []
    assert result.ratio == pytest.approx(0.5, rel=0.05)  # the timing is still reported


def test_a_plan_with_little_overhead_gets_a_verdict(tmp_path: Path) -> None:
    baseline, candidate = tmp_path / "b", tmp_path / "c"
    plan = _plan(baseline, SLOW, FAST, overhead_s=0.1, per_pass_s=1.0)
    result = measure.measure(plan, baseline, candidate, CFG, random.Random(1), clock=_Clock())
    assert result.verdict == stats.Verdict.FASTER.value
    assert "overhead-dominated" not in result.reason
    assert result.overhead_fraction == pytest.approx(0.1)
    # Exactly at the limit is still a verdict ("above" the limit is not).
    plan = _plan(baseline, SLOW, FAST, overhead_s=measure.OVERHEAD_LIMIT, per_pass_s=1.0)
    result = measure.measure(plan, baseline, candidate, CFG, random.Random(1), clock=_Clock())
    assert result.verdict == stats.Verdict.FASTER.value


def test_measure_classes_gives_a_speedup_per_size_class(tmp_path: Path) -> None:
    baseline, candidate = tmp_path / "b", tmp_path / "c"

    def arm(base_s: float, cand_s: float) -> measure.RoundFactory:
        return lambda project: lambda: base_s if project == baseline else cand_s

    plan = _plan(baseline, SLOW, FAST)
    plan.classes = [
        measure.SizeClass("largest recorded", 3, (3, 3), arm(1.0, 0.5)),
        measure.SizeClass("x100", 3, (100, 300), arm(1.0, 2.0)),
    ]
    rows = measure.measure_classes(plan, baseline, candidate, pairs=3)
    assert [row["class"] for row in rows] == ["largest recorded", "x100"]
    assert rows[0]["speedup"] == pytest.approx(2.0)
    assert rows[1]["speedup"] == pytest.approx(0.5)
    assert rows[1]["sizes"] == [100, 300]
    assert all(row["pairs"] == 3 for row in rows)
    assert measure.measure_classes(measure.Plan("x", plan.arm), baseline, candidate, 3) == []


@pytest.mark.slow
def test_plan_class_calibrates_on_the_baseline_with_the_harness_overhead(tmp_path: Path) -> None:
    baseline = make_project(tmp_path / "baseline")
    candidate = make_project(tmp_path / "candidate", ISDIGIT)
    inputs = baseline / ".optirunner" / "inputs" / "0.pkl"
    size_class = measure.plan_class(
        "recorded",
        "pkg/mod.py::is_number",
        inputs,
        baseline,
        sys.executable,
        run_plain,
        sizes=(1, 3),
    )
    assert (size_class.label, size_class.calls, size_class.sizes) == ("recorded", 3, (1, 3))
    seconds = size_class.arm(candidate)()
    assert 0 < seconds < 5


def test_overhead_per_pass_times_a_no_op_on_the_same_arguments() -> None:
    harness = Path(measure.__file__).with_name("_replay_harness.py")
    namespace: dict[str, Any] = {"__name__": "optirunner_replay_harness_test"}
    exec(compile(harness.read_text(), str(harness), "exec"), namespace)  # noqa: S102
    inputs = namespace["Inputs"]([((i, "x"), {}) for i in range(50)])
    overhead = namespace["overhead_per_pass"](inputs, 20)
    assert 0 < overhead < 0.1
    answer = namespace["calibrate"](lambda *_a: sum(range(200)), inputs, 0.02)
    assert set(answer) >= {"loops", "per_pass_s", "calls", "overhead_per_pass_s"}
    assert 0 < answer["overhead_per_pass_s"] < answer["per_pass_s"]
