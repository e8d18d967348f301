"""runner.verify._record_plugin: the encodings of real libraries' values (issue 23, item 2).

Each rule is checked on the shape a real library gives it: jsonpointer's module-level
sentinel, sqlparse's token trees with parent pointers and its lexer holding bound
``Pattern.match`` methods and a lock, parse's ``re.Match`` arguments, toolz's ``map``
arguments, exceptions as values. An identical rewrite must compare equal; a rewrite that
changes what the value holds must not.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import pickle
import re
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from runner.verify import _record_plugin as plugin
from runner.verify.behaviour import compare, render
from tests.verify.test_behaviour import check, once, record


@pytest.fixture
def project_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """A module of the project under test (a file under the recorder's root)."""
    source = tmp_path / "pointer.py"
    source.write_text(
        "_nothing = object()\n"
        "def resolve(doc, key, default=_nothing):\n"
        "    if key in doc:\n"
        "        return doc[key]\n"
        "    return default\n"
    )
    spec = importlib.util.spec_from_file_location("pointer", source)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["pointer"] = module
    spec.loader.exec_module(module)
    monkeypatch.setattr(plugin._NAMES, "root", str(tmp_path))
    yield module
    del sys.modules["pointer"]


def test_a_module_level_sentinel_is_its_name(project_module: ModuleType) -> None:
    node = plugin.encode(project_module._nothing)
    assert node == {"t": "global", "type": "object", "v": "pointer._nothing"}
    assert render(node) == "pointer._nothing"
    identical = check(project_module.resolve, project_module.resolve, once({}, "a"))
    assert identical.ok
    assert not identical.not_compared


def test_a_fresh_object_where_the_sentinel_was_is_rejected(project_module: ModuleType) -> None:
    result = check(project_module.resolve, lambda doc, key: object(), once({}, "a"))
    assert not result.ok
    assert "cannot compare values of type object" in result.describe()


class Token:
    """sqlparse's shape: tokens point at their parent, lists hold tokens."""

    def __init__(self, value: str, parent: Any = None) -> None:
        self.value = value
        self.parent = parent
        self.tokens: list[Token] = []


def _tree(depth: int, leaf: str) -> Token:
    root = node = Token("statement")
    for level in range(depth):
        child = Token(f"group{level}", parent=node)
        node.tokens.append(child)
        node.tokens.append(Token(" ", parent=node))
        node = child
    node.tokens.append(Token(leaf, parent=node))
    return root


def test_a_token_tree_with_parent_pointers_is_compared_field_by_field() -> None:
    # 25 levels of groups: 50 levels of value, past the old cap of 20 (then "truncated").
    encoded = plugin.encode(_tree(25, "users"))
    assert encoded["t"] == "object"
    first_child = encoded["fields"]["tokens"]["items"][0]
    assert first_child["fields"]["parent"] == {"t": "cycle", "up": 3}  # object, list, object
    same = check(lambda: _tree(25, "users"), lambda: _tree(25, "users"), once())
    assert same.ok
    assert not same.not_compared
    changed = check(lambda: _tree(25, "users"), lambda: _tree(25, "USERS"), once())
    assert not changed.ok
    assert changed.first_mismatch is not None
    assert changed.first_mismatch.field == "return"


def test_a_target_s_recording_stops_at_its_element_budget_and_counts_the_rest() -> None:
    """sqlparse's Token.match: every call's `self` leads, through its parent, to the whole
    statement. Past the per-target budget the calls are counted, not encoded, at the same
    call in every run of the same code; a rewrite that differs before that is still caught."""
    statement = _tree(6, "users")
    leaves = [statement.tokens[1], statement.tokens[0].tokens[1], statement.tokens[0]] * 20

    def match(token: Token, value: str) -> bool:
        return token.value == value

    def upper(token: Token, value: str) -> bool:
        return token.value.upper() == value.upper()

    cost = plugin.encode_counted(statement.tokens[1])[1]
    assert cost > 40  # the whole tree: about 8 elements per token
    budget = 10 * cost

    def recorded(func: Callable[..., Any], values: list[str]) -> Any:
        from runner.verify.behaviour import recording_from_document

        recorder = plugin.Recorder(max_target_elements=budget)
        wrapped = recorder.wrap("sql.py::Token.match", func)
        for token, value in zip(leaves, values, strict=True):
            wrapped(token, value)
        assert recorder.elements["sql.py::Token.match"] >= budget
        return recording_from_document(json.loads(json.dumps(recorder.document())))

    values = [" "] * len(leaves)
    baseline = recorded(match, values)
    kept = len(baseline.targets["sql.py::Token.match"])
    assert 3 <= kept < len(leaves)
    assert baseline.dropped == {"sql.py::Token.match": len(leaves) - kept}
    assert compare(baseline, recorded(match, values)).ok
    values[2] = "GROUP0"  # a case-insensitive match is only wrong where the case differs
    assert not compare(recorded(match, values), recorded(upper, values)).ok


class Lexer:
    """sqlparse's Lexer: a lock and (bound Pattern.match, token type) pairs."""

    def __init__(self, flags: int = re.IGNORECASE) -> None:
        self._lock = threading.Lock()
        self.rules = [(re.compile(p, flags).match, kind) for p, kind in (("\\s+", "ws"),)]


def test_bound_builtin_methods_compare_by_name_and_self_and_a_lock_is_not_compared() -> None:
    rules = plugin.encode(Lexer())["fields"]["rules"]["items"][0]["items"][0]
    assert rules["t"] == "method"
    assert rules["name"] == "re.Pattern.match"
    assert rules["self"]["fields"]["pattern"] == {"t": "str", "v": "\\s+"}
    same = check(Lexer, Lexer, once())
    assert same.ok
    assert same.not_compared == {"values of type `_thread.lock`: no faithful recording": 1}
    other_flags = check(Lexer, lambda: Lexer(flags=0), once())
    assert not other_flags.ok


def test_a_match_argument_is_its_pattern_string_and_spans() -> None:
    # parse's int_convert(string, match): a Match made by the same pattern on the same text.
    def convert(string: str, match: re.Match[str]) -> int:
        return int(string)

    text = "width 42"
    calls = [("t::test", ("42", re.search(r"(\d+)", text)), {})]
    assert check(convert, convert, calls).ok
    node = plugin.encode(re.search(r"(?P<n>\d+)", text))
    assert node["type"] == "re.Match"
    assert node["fields"]["regs"]["items"][1] == plugin.encode((6, 8))
    shifted = plugin.encode(re.search(r"(?P<n>\d+)", "width 420"))
    assert shifted != node


def test_a_map_argument_is_what_it_has_left_and_is_not_consumed() -> None:
    # toolz.frequencies(map(str.lower, words)): the recorder must not eat the input.
    def frequencies(seq: Any) -> dict[str, int]:
        counts: dict[str, int] = {}
        for item in seq:
            counts[item] = counts.get(item, 0) + 1
        return counts

    words = ["Pear", "apple", "pear"]
    calls = [("t::test", (map(str.lower, words),), {})]
    recording = record(frequencies, calls)
    call = recording.targets["pkg/mod.py::f"][0]
    assert call.value == plugin.encode({"pear": 2, "apple": 1})  # the items were all counted
    before = call.args["0"]
    assert before["t"] == "iterator"
    assert before["type"] == "map"
    assert before["state"]["items"][0] == {
        "t": "global",
        "type": "method_descriptor",
        "v": "str.lower",
    }
    assert call.args_after["0"]["state"]["items"][1]["items"] == []  # exhausted by the call
    assert compare(recording, record(frequencies, [("t::test", (map(str.lower, words),), {})])).ok


def test_exceptions_as_values_compare_by_type_and_args() -> None:
    def errors(*args: Any) -> list[Exception]:
        return [ValueError(*args)]

    assert check(errors, errors, once("bad", 3)).ok
    assert not check(errors, lambda *a: [ValueError("bad", 4)], once("bad", 3)).ok
    assert not check(errors, lambda *a: [TypeError(*a)], once("bad", 3)).ok


def test_nan_equals_nan_and_signed_zero_differs() -> None:
    assert check(lambda: [float("nan")], lambda: [float("nan")], once()).ok
    assert not check(lambda: -0.0, lambda: 0.0, once()).ok


@pytest.mark.parametrize(
    ("make", "kind"),
    [
        (threading.Lock, "_thread.lock"),
        # a generator inside a value (a returned one is tapped: see below)
        (lambda: ((line for line in ["a"]),), "generator"),
        (lambda: open(os.devnull), "_io.TextIOWrapper"),  # noqa: SIM115 - kept open on purpose
    ],
)
def test_unrecordable_values_are_not_comparable_rather_than_unequal(
    make: Callable[[], Any], kind: str
) -> None:
    alive: list[Any] = []  # live objects: their reprs differ (addresses), as between two runs

    def keep() -> Any:
        alive.append(make())
        return alive[-1]

    result = check(keep, keep, once())
    assert result.ok
    assert result.not_compared == {f"values of type `{kind}`: no faithful recording": 1}
    for value in alive:
        getattr(value, "close", lambda: None)()


def test_a_module_is_not_comparable_even_when_its_recordings_are_identical() -> None:
    assert plugin.encode(json)["t"] == "unknown"
    result = check(lambda: json, lambda: json, once())
    assert result.ok
    assert result.not_compared == {"values of type `module`: no faithful recording": 1}
    inside = check(lambda: [json], lambda: [json], once())  # identical, inside a value:
    assert inside.ok  # equal at once (no walk), so not counted
    assert inside.not_compared == {}


def test_functions_are_their_qualified_names_and_lambdas_are_not_comparable() -> None:
    assert plugin.encode(json.dumps) == {"t": "global", "type": "function", "v": "json.dumps"}
    assert plugin.encode(len) == {"t": "global", "type": "function", "v": "len"}
    assert plugin.encode(lambda: 0)["t"] == "unknown"
    bound = plugin.encode("abc".upper)
    assert bound == {"t": "method", "name": "str.upper", "self": {"t": "str", "v": "abc"}}


def test_a_match_argument_is_kept_for_replay_and_made_again_from_its_pattern() -> None:
    recorder = plugin.Recorder()
    recorder.max_inputs = 5
    wrapped = recorder.wrap("parse.py::convert", lambda string, match: int(string))
    pattern = re.compile(r"(?P<a_b>[-+ ]?\d+)")
    for text in ("12", "-7"):
        wrapped(text, pattern.fullmatch(text))
    assert len(recorder.inputs["parse.py::convert"]) == 2  # plain pickle refuses a Match
    assert "parse.py::convert" not in recorder.unpicklable
    (string, match), _ = pickle.loads(recorder.inputs["parse.py::convert"][1])  # noqa: S301
    assert (string, match.group("a_b"), match.regs) == ("-7", "-7", ((0, 2), (0, 2)))
    # search found it past pos 0: made again by search, with the same pos and spans
    found = re.compile(r"\d+").search("ab 42 c", 1)
    assert found is not None
    again = pickle.loads(plugin.dumps(found))  # noqa: S301 - our own pickle
    assert (again.regs, again.pos, again.string) == (found.regs, 1, "ab 42 c")
    with pytest.raises(TypeError):
        pickle.dumps(found)  # the project's own pickling is unchanged


# -- generators: by the items they yield, as the caller consumes them ---------------------------


def _consumed(
    func: Callable[..., Any], consume: Callable[[Any], object], *args: Any
) -> dict[str, Any]:
    """Record one call of `func` whose result the caller consumes with `consume`."""
    recorder = plugin.Recorder()
    wrapped = recorder.wrap("mod.py::f", func)
    consume(wrapped(*args))
    return json.loads(json.dumps(recorder.document()))


def _pairs(words: list[str]) -> Iterator[tuple[int, str]]:
    for index, word in enumerate(words):
        yield index, word.lower()


def _pairs_rewritten(words: list[str]) -> Iterator[tuple[int, str]]:
    yield from ((i, w.lower()) for i, w in enumerate(words))


def _pairs_casefold(words: list[str]) -> Iterator[tuple[int, str]]:
    yield from ((i, w.casefold()) for i, w in enumerate(words))


def _compare_consumed(original: Any, rewrite: Any, consume: Any, *args: Any) -> Any:
    from runner.verify.behaviour import recording_from_document

    baseline = recording_from_document(_consumed(original, consume, *args))
    return compare(baseline, recording_from_document(_consumed(rewrite, consume, *args)))


def test_a_generator_is_its_yielded_items_and_an_identical_one_compares_equal() -> None:
    document = _consumed(_pairs, list, ["A", "Straße"])
    node = document["targets"]["mod.py::f"][0]["value"]
    assert node["t"] == "generator"
    assert node["end"] == "return"
    assert [item["t"] for item in node["items"]] == ["tuple", "tuple"]
    assert render(node["items"][1]) == "(1, 'straße')"
    assert _compare_consumed(_pairs, _pairs_rewritten, list, ["A", "Straße"]).ok


def test_a_generator_yielding_other_items_is_caught_at_the_item() -> None:
    changed = _compare_consumed(_pairs, _pairs_casefold, list, ["A", "Straße"])
    assert not changed.ok  # 'straße'.casefold() == 'strasse'
    assert "'strasse'" in changed.describe()


def test_a_generator_consumed_in_part_records_what_the_caller_took() -> None:
    import itertools

    def first_two(values: Any) -> object:
        return list(itertools.islice(values, 2))

    node = _consumed(_pairs, first_two, ["a", "b", "c"])["targets"]["mod.py::f"][0]["value"]
    assert len(node["items"]) == 2
    assert node["end"] == "unfinished"
    # a rewrite that only differs past what was consumed is not told apart (nor used)
    assert _compare_consumed(_pairs, _pairs_rewritten, first_two, ["a", "b", "C"]).ok


def test_send_throw_and_return_are_forwarded_through_the_tap() -> None:
    def echo() -> Any:
        received = yield "ready"
        try:
            yield f"got {received}"
        except KeyError:
            yield "caught"
        return "bye"

    recorder = plugin.Recorder()
    generator = recorder.wrap("mod.py::echo", echo)()
    assert next(generator) == "ready"
    assert generator.send("x") == "got x"
    assert generator.throw(KeyError("k")) == "caught"
    with pytest.raises(StopIteration) as stop:
        next(generator)
    assert stop.value.value == "bye"
    node = recorder.document()["targets"]["mod.py::echo"][0]["value"]
    assert [item["v"] for item in node["items"]] == ["ready", "got x", "caught"]
    assert (node["end"], node["value"]) == ("return", {"t": "str", "v": "bye"})


def test_a_generator_that_raises_records_the_exception_and_a_list_is_not_a_generator() -> None:
    def failing(words: list[str]) -> Iterator[str]:
        yield words[0]
        raise ValueError("empty")

    def drain(values: Any) -> object:
        with contextlib.suppress(ValueError):
            return list(values)
        return None

    node = _consumed(failing, drain, ["a"])["targets"]["mod.py::f"][0]["value"]
    assert node["end"] == "raise"
    assert node["exception"]["type"] == "ValueError"
    as_list = _compare_consumed(_pairs, lambda words: list(_pairs(words)), list, ["a"])
    assert not as_list.ok  # a list where a generator was returned is a change of type
