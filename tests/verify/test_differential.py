"""The diff harness for real (`_diff_harness.py` run by `differential.Runner` in subprocesses,
in a tiny project with the recorder copied in): outcomes, the first difference on a
non-ASCII digit, A/A stability, timeouts, skipped specs, timing pickles and the harness's
error protocol; and `stable` / `first_difference` on outcomes given directly."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from runner.verify import differential, generate
from runner.verify.behaviour import Call
from runner.verify.differential import Outcome, Runner
from runner.verify.generate import Spec
from runner.verify.recording import install_plugin
from runner.verify.replay import ReplayError

pytestmark = pytest.mark.slow

MODULE = '''import os
import random
import re
import time


def is_number(s):
    """Is `s` a plain decimal number (ASCII digits only)?"""
    return re.fullmatch(r"[0-9]+", s) is not None


def stamp(s):
    return (s, time.time())


def entropy(s):
    return os.urandom(8)


def lucky(s):
    return random.random()  # seeded by the harness: the same in both runs


def slow(s):
    if s == "slow":
        time.sleep(30)
    return len(s)


def strict(s):
    print("noise on stdout")  # must not break the harness's JSON
    if not s:
        raise ValueError("empty")
    return s.upper()


def pad(xs):
    xs.append(0)
    return len(xs)


def words(s):
    for word in s.split():
        yield word.lower()
    if not s:
        raise ValueError("empty")


def count_up(s):
    n = 0
    while True:
        yield n
        n += 1


class Box:
    def __init__(self, items):
        self.items = items

    def has(self, y):
        return y in self.items
'''
# Tokens as sqlparse has them: a kind is an object (compared by identity), a keyword is
# matched case-insensitively and anything else exactly. The recorded calls never ask a name
# token about its own kind, so no recorded call reaches the exact comparison with letters.
TOKENS = """
class Kind:
    def __init__(self, name):
        self.name = name


NAME, PUNCT, KEYWORD = Kind("Name"), Kind("Punctuation"), Kind("Keyword")


class Token:
    def __init__(self, kind, value, is_keyword=False):
        self.kind = kind
        self.value = value
        self.is_keyword = is_keyword
        self.normalized = value.upper() if is_keyword else value

    def match(self, kind, values):
        if self.kind is not kind:
            return False
        if isinstance(values, str):
            values = (values,)
        if self.is_keyword:
            return self.normalized in {v.upper() for v in values}
        return self.normalized in values
"""
TOKENS_MATCH = """        if self.is_keyword:
            return self.normalized in {v.upper() for v in values}
        return self.normalized in values
"""
# One upper-cased set for every token: a name now matches values that differ in case.
TOKENS_UPPER_TRAP = TOKENS.replace(
    TOKENS_MATCH, "        return self.normalized.upper() in {v.upper() for v in values}\n"
)
# A correct rewrite: the exact test first, any() instead of a set for keywords.
TOKENS_LOOP = TOKENS.replace(
    TOKENS_MATCH,
    """        normalized = self.normalized
        if not self.is_keyword:
            return normalized in values
        return any(v.upper() == normalized for v in values)
""",
)
# (token kind, token value, is keyword), the kind asked for, the values asked for.
TOKEN_RECORDED: list[tuple[str, str, bool, str, Any]] = [
    ("NAME", "foo", False, "PUNCT", "("),
    ("PUNCT", "(", False, "PUNCT", ("(", "[")),
    ("KEYWORD", "select", True, "KEYWORD", "SELECT"),
    ("NAME", "bar", False, "KEYWORD", ("FROM",)),
    ("PUNCT", ",", False, "PUNCT", ")"),
]
KIND_NAMES = {"NAME": "Name", "PUNCT": "Punctuation", "KEYWORD": "Keyword"}


def make_token_project(root: Path, module: str = TOKENS) -> Path:
    """A checkout with `pkg/mod.py` = `module` and the recorded Token.match calls pickled
    as the recorder pickles them (one call per entry: a token and its kind share objects)."""
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "mod.py").write_text(module)
    install_plugin(root)
    (root / ".optirunner" / "inputs").mkdir(parents=True)
    calls = ", ".join(
        f"((m.Token(m.{kind}, {value!r}, {keyword}), m.{asked}, {values!r}), {{}})"
        for kind, value, keyword, asked, values in TOKEN_RECORDED
    )
    script = (
        f"import pickle, pkg.mod as m; "
        f"pickle.dump([{calls}], open('.optirunner/inputs/0.pkl', 'wb'))"
    )
    code, _, stderr = run_plain([sys.executable, "-c", script], root)
    assert code == 0, stderr
    return root


def _kind_node(name: str) -> dict[str, Any]:
    return {"t": "object", "type": "pkg.mod.Kind", "fields": {"name": generate.encode(name)}}


def token_node(kind: str, value: str, keyword: bool) -> dict[str, Any]:
    """A token as the recorder encodes it (attributes sorted by name)."""
    fields = {
        "is_keyword": generate.encode(keyword),
        "kind": _kind_node(KIND_NAMES[kind]),
        "normalized": generate.encode(value.upper() if keyword else value),
        "value": generate.encode(value),
    }
    return {"t": "object", "type": "pkg.mod.Token", "fields": fields}


def token_calls() -> list[Call]:
    """The recorded calls of Token.match, as the recording has them."""
    calls = []
    for seq, (kind, value, keyword, asked, values) in enumerate(TOKEN_RECORDED):
        args = {
            "0": token_node(kind, value, keyword),
            "1": _kind_node(KIND_NAMES[asked]),
            "2": generate.encode(values),
        }
        returned = kind == asked and (value.upper() if keyword else value) in values
        calls.append(
            Call("tests/test_tok.py::test_match", seq, args, "return", generate.encode(returned))
        )
    return calls


ISDIGIT = MODULE.replace('re.fullmatch(r"[0-9]+", s) is not None', "s.isdigit()")
PURE_PAD = MODULE.replace("    xs.append(0)\n    return len(xs)", "    return len(xs) + 1")
RECORDED = ["12", "7", "abc"]


def run_plain(argv: list[str], cwd: Path) -> tuple[int, str, str]:
    """A CommandRunner without a sandbox, with the fixed hash seed the runner passes."""
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    env.pop("PYTHONPATH", None)
    done = subprocess.run(
        argv, cwd=cwd, capture_output=True, text=True, env=env, timeout=300, check=False
    )
    return done.returncode, done.stdout, done.stderr


def make_project(root: Path, module: str = MODULE) -> Path:
    """A checkout: `pkg/mod.py`, the recorder copied in, recorded inputs pickled."""
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "mod.py").write_text(module)
    install_plugin(root)
    inputs = root / ".optirunner" / "inputs" / "0.pkl"
    inputs.parent.mkdir(parents=True)
    inputs.write_bytes(pickle.dumps([((text,), {}) for text in RECORDED]))
    return root


def runner(name: str = "is_number", **options: Any) -> Runner:
    options.setdefault("inputs", Path(".optirunner/inputs/0.pkl"))
    return Runner(sys.executable, f"pkg/mod.py::{name}", run_plain, seed=7, **options)


def recorded_calls() -> list[Call]:
    return [
        Call(
            "tests/test_mod.py::test_is_number",
            i,
            {"0": generate.encode(text)},
            "return",
            generate.encode(text.isascii() and text.isdigit()),
            args_after={"0": generate.encode(text)},
        )
        for i, text in enumerate(RECORDED)
    ]


def text_spec(text: str, base: int | None = None) -> Spec:
    values = {"0": generate.encode(text)}
    return Spec(base, values, size=len(text))


@pytest.fixture
def baseline(tmp_path: Path) -> Path:
    return make_project(tmp_path / "baseline")


@pytest.fixture
def candidate(tmp_path: Path) -> Path:
    return make_project(tmp_path / "candidate", ISDIGIT)


# -- the harness, for real --------------------------------------------------------------------


def test_outcomes_of_recorded_and_generated_calls(baseline: Path) -> None:
    specs = [Spec(0), Spec(2), text_spec("²", base=1), text_spec("99"), text_spec("")]
    outcomes = runner().outcomes(baseline, specs, "baseline")
    assert [o.kind for o in outcomes] == ["return"] * 5
    values = [o.raw["value"] for o in outcomes]
    assert values == [generate.encode(v) for v in (True, False, False, True, False)]
    assert outcomes[0].raw["args"] == {"0": {"t": "str", "v": "12"}}
    assert outcomes[2].raw["args"] == {"0": {"t": "str", "v": "²"}}
    # Arguments the call left unchanged are not written twice; the reader takes "args".
    assert all("args_after" not in o.raw for o in outcomes)
    assert all(o.as_call("x").args_after == o.raw["args"] for o in outcomes)
    assert all(0 <= o.seconds < 1 for o in outcomes)
    call = outcomes[3].as_call("generated #4")
    assert (call.outcome, call.value, call.args) == (
        "return",
        {"t": "bool", "v": True},
        {"0": {"t": "str", "v": "99"}},
    )
    # The files the runner wrote, where the docs say.
    folder = baseline / differential.WORK_DIR
    assert json.loads((folder / "baseline.json").read_text())[2]["set"] == {
        "0": {"t": "str", "v": "²"}
    }
    assert (baseline / ".optirunner" / "diff_harness.py").is_file()
    assert (baseline / ".optirunner" / "replay_harness.py").is_file()


def test_generated_inputs_find_the_isdigit_trap(baseline: Path, candidate: Path) -> None:
    calls = recorded_calls()
    specs = generate.generate(calls, kept=3, count=120)
    run = runner()
    first = run.outcomes(baseline, specs, "baseline")
    again = run.outcomes(baseline, specs, "baseline-again")
    compared = differential.stable(first, again)
    assert len(first) == len(specs)
    assert all(compared), "is_number is deterministic"
    outcomes = run.outcomes(candidate, specs, "candidate")
    count, found = differential.first_difference(specs, first, outcomes, compared, None)
    assert found is not None
    assert count == found.index + 1
    text = generate.decode(specs[found.index].set["0"])
    assert text.isdigit()
    assert not text.isascii()
    assert found.mismatch.field == "return"
    assert (found.mismatch.expected, found.mismatch.actual) == ("False", "True")
    description = found.describe("pkg/mod.py::is_number")
    assert description.startswith("on a generated input (generated): is_number(")
    assert repr(text) in description
    assert "baseline False, candidate True" in description
    # The same code on both sides: no difference at all.
    same = run.outcomes(baseline, specs, "baseline-third")
    assert differential.first_difference(specs, first, same, compared, None) == (len(specs), None)


def test_a_nondeterministic_target_is_unstable(baseline: Path) -> None:
    specs = [text_spec("a"), text_spec("b"), Spec(0)]
    for name, expected in [("stamp", False), ("entropy", False), ("lucky", True)]:
        run = runner(name)
        first = run.outcomes(baseline, specs, "baseline")
        second = run.outcomes(baseline, specs, "baseline-again")
        assert differential.stable(first, second) == [expected] * 3, name


def test_a_call_past_the_timeout_is_timeout_and_the_rest_still_run(baseline: Path) -> None:
    specs = [text_spec("ab"), text_spec("slow"), text_spec("abc")]
    outcomes = runner("slow", call_timeout_s=0.3).outcomes(baseline, specs, "baseline")
    assert [o.kind for o in outcomes] == ["return", "timeout", "return"]
    assert 0.25 <= outcomes[1].seconds < 5
    assert outcomes[2].raw["value"] == {"t": "int", "v": 3}
    assert differential.stable(outcomes, outcomes) == [True, False, True]


def test_exceptions_are_outcomes_and_stdout_noise_is_harmless(baseline: Path) -> None:
    outcomes = runner("strict").outcomes(baseline, [text_spec(""), text_spec("ab")], "b")
    assert outcomes[0].kind == "raise"
    assert outcomes[0].raw["exception"] == {"type": "ValueError", "message": "empty"}
    assert outcomes[0].as_call("x").exception == ("ValueError", "empty")
    assert outcomes[1].raw["value"] == {"t": "str", "v": "AB"}


def test_specs_that_do_not_fit_are_skipped_with_a_reason(baseline: Path) -> None:
    specs = [
        Spec(None, {"1": generate.encode("x")}),  # argument 1 without argument 0
        Spec(5),  # only 3 recorded calls
        Spec(None, {"0": {"t": "object", "type": "m.Box", "fields": {}}}),
        text_spec("12"),
    ]
    outcomes = runner().outcomes(baseline, specs, "baseline")
    assert [o.kind for o in outcomes] == ["skipped", "skipped", "skipped", "return"]
    assert "argument 1 given without argument 0" in outcomes[0].raw["reason"]
    assert "no recorded call 5" in outcomes[1].raw["reason"]
    assert "cannot decode" in outcomes[2].raw["reason"]
    assert differential.stable(outcomes, outcomes) == [False, False, False, True]


def test_a_base_without_inputs_is_skipped(baseline: Path) -> None:
    outcomes = runner(inputs=None).outcomes(baseline, [Spec(0), text_spec("1")], "baseline")
    assert [o.kind for o in outcomes] == ["skipped", "return"]


def test_calls_marked_not_to_run_are_skipped_without_running(baseline: Path) -> None:
    specs = [text_spec("ab"), text_spec("slow"), text_spec("abc")]
    run = runner("slow", call_timeout_s=30.0)
    outcomes = run.outcomes(baseline, specs, "candidate", only=[True, False])
    assert [o.kind for o in outcomes] == ["return", "skipped", "skipped"]  # no 30 s sleep
    assert outcomes[1].raw["reason"] == "not compared"
    assert json.loads((baseline / differential.WORK_DIR / "candidate.json").read_text())[1] == {
        "skip": "not compared"
    }


def test_the_budget_stops_the_run(baseline: Path) -> None:
    outcomes = runner(budget_s=0.0).outcomes(baseline, [text_spec("1")] * 5, "baseline")
    assert len(outcomes) < 5


def test_a_returned_generator_is_consumed_and_compared_by_its_items(tmp_path: Path) -> None:
    baseline = make_project(tmp_path / "baseline")
    folded = MODULE.replace("word.lower()", "word.casefold()")
    casefold = make_project(tmp_path / "casefold", folded)
    specs = [text_spec("Ab cD"), text_spec("Straße"), text_spec("")]
    run = runner("words")
    expected = run.outcomes(baseline, specs, "baseline")
    assert [o.kind for o in expected] == ["return"] * 3
    first = expected[0].raw["value"]
    assert (first["t"], first["end"]) == ("generator", "return")
    assert [item["v"] for item in first["items"]] == ["ab", "cd"]
    assert expected[2].raw["value"]["end"] == "raise"  # raised while being consumed
    actual = run.outcomes(casefold, specs, "candidate")
    _, found = differential.first_difference(specs, expected, actual, [True] * 3, None)
    assert found is not None
    assert found.index == 1  # 'straße' vs 'strasse'; the ASCII input yields the same
    assert "strasse" in found.mismatch.actual
    endless = run_outcomes_endless(baseline)
    assert len(endless["items"]) == plugin_items()
    assert endless["end"] == "unfinished"


def run_outcomes_endless(root: Path) -> dict[str, Any]:
    """An endless generator stops at the recorder's item budget, well within the timeout."""
    (outcome,) = runner("count_up").outcomes(root, [text_spec("x")], "endless")
    assert outcome.kind == "return"
    value: dict[str, Any] = outcome.raw["value"]
    return value


def plugin_items() -> int:
    from runner.verify import _record_plugin

    return _record_plugin.GENERATOR_ITEMS


def test_mutated_arguments_are_compared(tmp_path: Path) -> None:
    mutating = make_project(tmp_path / "mutating")
    pure = make_project(tmp_path / "pure", PURE_PAD)
    specs = [Spec(None, {"0": generate.encode([1, 2])})]
    run = runner("pad")
    expected = run.outcomes(mutating, specs, "baseline")
    actual = run.outcomes(pure, specs, "candidate")
    assert expected[0].raw["args_after"] == {"0": generate.encode([1, 2, 0])}
    assert expected[0].raw["value"] == actual[0].raw["value"]
    _, found = differential.first_difference(specs, expected, actual, [True], None)
    assert found is not None
    assert found.mismatch.field == "argument after call 0"


def test_methods_repeat_and_timing_pickles(baseline: Path) -> None:
    """The instance comes from the pickle, `repeat` multiplies a pickled argument, and
    `--timing` pickles the built calls as the replay harness reads them."""
    script = (
        "import pickle, pkg.mod as m; "
        "pickle.dump([((m.Box([1, 2]), 2), {}), ((m.Box([3]), 9), {})], "
        "open('.optirunner/inputs/box.pkl', 'wb'))"
    )
    code, _, stderr = run_plain([sys.executable, "-c", script], baseline)
    assert code == 0, stderr
    run = runner("Box.has", inputs=Path(".optirunner/inputs/box.pkl"))
    specs = [
        Spec(0),
        Spec(1, {"1": generate.encode(3)}),
        Spec(0, {"1": generate.encode([1, 2])}, {}),
        Spec(1, {}, {"1": 3}),  # 9 * 3
    ]
    outcomes = run.outcomes(baseline, specs, "box", timing={"largest": [0, 1], "x3": [3]})
    values = [o.raw.get("value") for o in outcomes]
    assert values == [generate.encode(v) for v in (True, True, False, False)]
    assert outcomes[0].raw["args"]["0"]["t"] == "object"
    assert outcomes[1].raw["args"]["1"] == generate.encode(3)
    assert outcomes[3].raw["args"]["1"] == generate.encode(27)
    folder = baseline / differential.WORK_DIR
    script = (
        "import pickle, json, pkg.mod as m; "
        f"a = pickle.load(open({str(folder / 'largest.pkl')!r}, 'rb')); "
        f"b = pickle.load(open({str(folder / 'x3.pkl')!r}, 'rb')); "
        "print(json.dumps([[[c[0][0].items, c[0][1]], c[1]] for c in a + b]))"
    )
    code, stdout, stderr = run_plain([sys.executable, "-c", script], baseline)
    assert code == 0, stderr
    assert json.loads(stdout) == [[[[1, 2], 2], {}], [[[3], 3], {}], [[[3], 27], {}]]


def test_take_and_link_rebuild_objects_from_other_calls(tmp_path: Path) -> None:
    """`take` brings an argument from another recorded call's pickle, `link` makes an
    argument an attribute of another one (the same object: `is` holds)."""
    project = make_token_project(tmp_path / "tokens")
    run = runner("Token.match")
    specs = [
        Spec(0),  # a name token asked about punctuation: False
        Spec(0, link={"1": ("0", "kind")}, set={"2": generate.encode("foo")}),  # its own kind
        Spec(0, link={"1": ("0", "kind")}, set={"2": generate.encode("FOO")}),  # exact: False
        Spec(4, take={"0": 1}, set={"2": generate.encode("(")}),  # kinds from two pickles
        Spec(4, take={"0": 1}, link={"1": ("0", "kind")}, set={"2": generate.encode("(")}),
        Spec(0, take={"0": 9}),  # no such recorded call
        Spec(0, link={"1": ("0", "missing")}),  # no such attribute
    ]
    outcomes = run.outcomes(project, specs, "tokens")
    values = [o.raw.get("value") for o in outcomes[:5]]
    assert values == [generate.encode(v) for v in (False, True, False, False, True)]
    assert outcomes[1].raw["args"]["1"] == _kind_node("Name")
    assert outcomes[4].raw["args"]["0"]["fields"]["value"] == generate.encode("(")
    assert [o.kind for o in outcomes[5:]] == ["skipped", "skipped"]
    assert "no recorded call 9" in outcomes[5].raw["reason"]
    assert "missing" in outcomes[6].raw["reason"]
    # Without take and link the spec is what it always was (the protocol is unchanged).
    assert set(Spec(0).to_json()) == {"base", "set", "repeat", "origin", "size"}
    assert specs[4].to_json()["link"] == {"1": ["0", "kind"]}
    assert specs[4].to_json()["take"] == {"0": 1}


def test_a_difference_shows_objects_by_their_own_attributes() -> None:
    parent = {"t": "object", "type": "m.Statement", "fields": {"text": generate.encode("x" * 500)}}
    token = token_node("NAME", "foo", False)
    token = {**token, "fields": {**token["fields"], "parent": parent}}
    call = Call(
        "generated #1",
        0,
        {"0": token, "1": _kind_node("Name"), "2": generate.encode("FOO")},
        "return",
    )
    spec = Spec(0, link={"1": ("0", "kind")}, take={"0": 3})
    mismatch = differential.Mismatch("", "generated #1 call #1", "return", "False", "True")
    text = differential.Difference(0, spec, mismatch, call).describe("pkg/mod.py::Token.match")
    assert text.startswith(
        "on a generated input (generated; argument 0 from recorded call #4; "
        "argument 1 = argument 0.kind): Token.match(pkg.mod.Token("
    )
    assert "kind=…, normalized='foo', value='foo', parent=…)" in text
    assert "xxx" not in text  # the statement the token belongs to is left out
    assert text.endswith(
        ", pkg.mod.Kind(name='Name'), 'FOO'): return: baseline False, candidate True"
    )


def test_a_broken_target_is_a_replay_error(baseline: Path) -> None:
    with pytest.raises(ReplayError, match=r"diff harness: .*not_there not found"):
        runner("not_there").outcomes(baseline, [text_spec("1")], "baseline")
    with pytest.raises(ReplayError, match="cannot read inputs"):
        runner(inputs=Path("missing.pkl")).outcomes(baseline, [text_spec("1")], "baseline")


def test_a_crashing_harness_is_a_replay_error(baseline: Path) -> None:
    def crash(argv: list[str], cwd: Path) -> tuple[int, str, str]:
        return 137, "", "Killed\n"

    run = Runner(sys.executable, "pkg/mod.py::is_number", crash, seed=0)
    with pytest.raises(ReplayError, match="exited 137: Killed"):
        run.outcomes(baseline, [text_spec("1")], "baseline")


def _harness(project: Path, *arguments: str) -> tuple[int, dict[str, Any]]:
    differential.install(project)
    argv = [sys.executable, ".optirunner/diff_harness.py", *arguments]
    code, stdout, stderr = run_plain(argv, project)
    lines = [line for line in stdout.splitlines() if line.strip()]
    assert len(lines) == 1, (stdout, stderr)
    answer: dict[str, Any] = json.loads(lines[0])
    return code, answer


def test_the_harness_protocol(baseline: Path) -> None:
    target = ["--target", "pkg/mod.py::strict"]
    (baseline / "specs.json").write_text(json.dumps([text_spec("ab").to_json()] * 2))
    code, answer = _harness(baseline, *target, "--specs", "specs.json", "--out", "out.json")
    assert code == 0
    assert answer["calls"] == answer["done"] == 2
    assert answer["seconds"] >= 0
    assert len(json.loads((baseline / "out.json").read_text())) == 2
    # A missing specs file, bad arguments, a bad --timing: exit 2 with {"error": ...}.
    code, answer = _harness(baseline, *target, "--specs", "nope.json", "--out", "o.json")
    assert code == 2
    assert "cannot read specs nope.json" in answer["error"]
    code, answer = _harness(baseline, "--specs", "specs.json", "--out", "o.json")
    assert code == 2
    assert answer["error"].startswith("bad arguments:")
    assert "--target" in answer["error"]
    code, answer = _harness(
        baseline, *target, "--specs", "specs.json", "--out", "o.json", "--seed", "x"
    )
    assert (code, answer["error"].startswith("bad arguments:")) == (2, True)
    code, answer = _harness(
        baseline, *target, "--specs", "specs.json", "--out", "o.json", "--timing", "[1]"
    )
    assert code == 2
    assert "--timing" in answer["error"]
    assert not (baseline / "o.json").exists()


# -- stable / first_difference on given outcomes ---------------------------------------------


def _returned(value: object, text: str = "x", seconds: float = 0.001) -> Outcome:
    args = {"0": generate.encode(text)}
    encoded = generate.encode(value)
    return Outcome(
        {
            "outcome": "return",
            "value": encoded,
            "args": args,
            "args_after": args,
            "seconds": seconds,
        }
    )


def _timed_out(text: str = "x") -> Outcome:
    args = {"0": generate.encode(text)}
    return Outcome({"outcome": "timeout", "args": args, "args_after": args, "seconds": 2.0})


def test_stable_needs_both_runs_to_agree_and_finish() -> None:
    first = [
        _returned(1),
        _returned(2),
        _timed_out(),
        Outcome({"outcome": "skipped"}),
        _returned(5),
    ]
    second = [_returned(1), _returned(3), _timed_out(), Outcome({"outcome": "skipped"})]
    assert differential.stable(first, second) == [True, False, False, False, False]
    assert differential.stable([], []) == []


def test_first_difference_skips_uncompared_calls_and_counts() -> None:
    specs = [text_spec(t) for t in "abcd"]
    baseline = [_returned(1), _returned(2), _returned(3), _returned(4)]
    candidate = [_returned(1), _returned(9), _returned(3), _returned(5)]
    count, found = differential.first_difference(
        specs, baseline, candidate, [True, False, True, True], None
    )
    assert count == 3
    assert found is not None
    assert found.index == 3
    assert found.spec is specs[3]
    assert (found.mismatch.expected, found.mismatch.actual) == ("4", "5")
    assert found.mismatch.call_site == "generated #4 call #1"


def test_first_difference_on_a_candidate_timeout_and_a_short_run() -> None:
    specs = [text_spec(t) for t in "abc"]
    baseline = [_returned(1), _returned(2), _returned(3)]
    count, found = differential.first_difference(
        specs, baseline, [_returned(1), _timed_out()], [True] * 3, None
    )
    assert (count, found is not None) == (2, True)
    assert found is not None
    assert (found.mismatch.field, found.mismatch.actual) == ("time", "timed out")
    # The candidate ran out of budget: what it did not run is not compared.
    count, found = differential.first_difference(specs, baseline, [_returned(1)], [True] * 3, None)
    assert (count, found) == (1, None)


def test_first_difference_float_tolerance() -> None:
    specs = [text_spec("a")]
    baseline, candidate = [_returned(0.1 + 0.2)], [_returned(0.3)]
    _, strict = differential.first_difference(specs, baseline, candidate, [True], None)
    _, loose = differential.first_difference(specs, baseline, candidate, [True], 1e-9)
    assert strict is not None
    assert loose is None
