"""The rules provider: each rewrite applies where safe, keeps behaviour, and declines otherwise."""

from __future__ import annotations

import functools
import textwrap
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runner.agent.providers import load_provider
from runner.agent.providers.base import Candidate, TargetSource
from runner.agent.providers.rules import RulesProvider
from runner.bundle.apply import apply_candidate, extract_definition
from runner.spec import Target


def _source(module: str, qualname: str = "f") -> TargetSource:
    module = textwrap.dedent(module)
    return TargetSource(
        Target("pkg/mod.py", qualname), extract_definition(module, qualname), module
    )


def _propose(module: str, qualname: str = "f", limit: int = 8) -> list[Candidate]:
    return RulesProvider().propose(_source(module, qualname), limit)


def _rules(module: str, qualname: str = "f") -> set[str]:
    return {c.rule for c in _propose(module, qualname)}


def _one(module: str, rule: str) -> Candidate:
    found = [c for c in _propose(module) if c.rule == rule]
    assert len(found) == 1, [c.rule for c in _propose(module)]
    return found[0]


def _load(module: str, qualname: str = "f", candidate: Candidate | None = None) -> Any:
    """Exec the module (rewritten by `candidate` if given) and return the function."""
    source = textwrap.dedent(module)
    if candidate is not None:
        source = apply_candidate(source, qualname, candidate.code, candidate.imports)
    namespace: dict[str, Any] = {}
    exec(compile(source, "<test>", "exec"), namespace)  # noqa: S102 - test code only
    obj: Any = namespace
    for part in qualname.split("."):
        obj = obj[part] if isinstance(obj, dict) else getattr(obj, part)
    return obj


def _same(module: str, rule: str, inputs: list[tuple[Any, ...]]) -> Candidate:
    candidate = _one(module, rule)
    old, new = _load(module), _load(module, candidate=candidate)
    for args in inputs:
        assert _outcome(old, args) == _outcome(new, args), args
    return candidate


def _outcome(fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    try:
        return ("ok", fn(*args))
    except Exception as exc:  # compare the exception type too
        return ("raised", type(exc).__name__)


# ----------------------------------------------------------------------- membership-set

MEMBERSHIP = """
def f(items, blocked):
    out = []
    for item in items:
        if item not in blocked:
            out.append(item)
    return out
"""


def test_membership_set_on_a_parameter_keeps_results() -> None:
    candidate = _same(
        MEMBERSHIP,
        "membership-set",
        [
            ([1, 2, 3, 4], [2, 4]),
            ([], [1]),
            (["ab", "c"], "abc"),  # a string keeps substring semantics
            ([[1], [2]], [[1]]),  # unhashable elements fall back to the list
            ([1, 2], (2,)),
            ([1.0, True], [1]),
            ([1], None),  # TypeError either way
        ],
    )
    assert "_blocked_set" in candidate.code
    assert "item not in blocked" in candidate.description


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.integers(-5, 5) | st.text(max_size=2)),
    st.lists(st.integers(-5, 5) | st.text(max_size=2)),
)
def test_membership_set_property(items: list[object], blocked: list[object]) -> None:
    old, new = _membership_pair()
    assert old(items, blocked) == new(items, blocked)


@functools.cache
def _membership_pair() -> tuple[Any, Any]:
    candidate = _one(MEMBERSHIP, "membership-set")
    return _load(MEMBERSHIP), _load(MEMBERSHIP, candidate=candidate)


def test_membership_set_on_a_module_constant_uses_a_frozenset() -> None:
    module = """
    BANNED = ["x", "y", 3]

    def f(items):
        return [i for i in items if i in BANNED]
    """
    candidate = _same(module, "membership-set", [(["x", 3, "z"],), ([],)])
    assert "frozenset(BANNED)" in candidate.code


def test_membership_set_on_a_local_literal() -> None:
    module = """
    def f(items):
        codes = ("a", "b")
        return sum(1 for i in items if i in codes)
    """
    _same(module, "membership-set", [(["a", "c", "b", "a"],), ([],)])


@pytest.mark.parametrize(
    "module",
    [
        # mutated in the function
        "def f(items, seen):\n    for i in items:\n        if i not in seen:\n"
        "            seen.append(i)\n    return seen\n",
        # passed to another call
        "def f(items, ok):\n    log(ok)\n    return [i for i in items if i in ok]\n",
        # rebound after creation
        "def f(items, ok):\n    ok = ok + [1]\n    return [i for i in items if i in ok]\n",
        # not in a loop
        "def f(x, ok):\n    return x in ok\n",
        # module constant mutated elsewhere in the module
        "OK = [1, 2]\n\ndef g():\n    OK.append(3)\n\n"
        "def f(items):\n    return [i for i in items if i in OK]\n",
        # module constant that is not a literal of hashables
        "OK = load()\n\ndef f(items):\n    return [i for i in items if i in OK]\n",
    ],
)
def test_membership_set_declines_when_unsafe(module: str) -> None:
    assert "membership-set" not in _rules(module)


# ------------------------------------------------------------------------ comprehension

COMPREHENSION = """
def f(items, limit):
    result = []
    for x in items:
        if x < limit:
            result.append(x * 2)
    return result
"""


def test_comprehension_keeps_results() -> None:
    candidate = _same(COMPREHENSION, "comprehension", [([1, 5, 3], 4), ([], 0), ([1], None)])
    assert "result = [x * 2 for x in items if x < limit]" in candidate.code


@pytest.mark.parametrize(
    "body",
    [
        "        result.append(x)\n        print(x)\n",  # does more
        "        if x in result:\n            result.append(x)\n",  # reads result
        "        if x:\n            break\n",  # not an append
    ],
)
def test_comprehension_declines_when_the_loop_does_more(body: str) -> None:
    module = f"def f(items):\n    result = []\n    for x in items:\n{body}    return result\n"
    assert "comprehension" not in _rules(module)


def test_comprehension_declines_when_the_loop_variable_is_used_after() -> None:
    module = (
        "def f(items):\n    r = []\n    for x in items:\n        r.append(x)\n    return r, x\n"
    )
    assert "comprehension" not in _rules(module)


def test_comprehension_declines_with_an_else_clause() -> None:
    module = (
        "def f(items):\n    r = []\n    for x in items:\n        r.append(x)\n"
        "    else:\n        r = None\n    return r\n"
    )
    assert "comprehension" not in _rules(module)


# ----------------------------------------------------------------------------- str-join

STR_JOIN = """
def f(rows):
    text = "name,qty\\n"
    for name, qty in rows:
        text += f"{name},{qty}\\n"
    return text
"""


def test_str_join_keeps_results() -> None:
    candidate = _same(STR_JOIN, "str-join", [([("a", 1), ("b", 2)],), ([],)])
    assert '"".join(' in candidate.code


def test_str_join_from_empty_string() -> None:
    module = 'def f(xs):\n    s = ""\n    for x in xs:\n        s += str(x) + ","\n    return s\n'
    candidate = _same(module, "str-join", [([1, 2, 3],), ([],)])
    assert "_s_parts = []" in candidate.code


@pytest.mark.parametrize(
    "loop",
    [
        "    for x in xs:\n        s += str(x)\n        print(len(s))\n",  # reads s
        "    for x in xs:\n        s += x\n        log(x)\n",  # x may not be a str, and effects
        "    for x in xs:\n        s = x + s\n",  # prepends
    ],
)
def test_str_join_declines_when_unsafe(loop: str) -> None:
    module = f'def f(xs):\n    s = ""\n{loop}    return s\n'
    assert "str-join" not in _rules(module)


def test_str_join_declines_inside_try() -> None:
    module = (
        'def f(xs):\n    s = ""\n    try:\n        t = ""\n        for x in xs:\n'
        "            t += str(x)\n    except ValueError:\n        return t\n    return t\n"
    )
    assert "str-join" not in _rules(module)


# -------------------------------------------------------------------------- regex-hoist

REGEX = """
import re

def f(lines):
    out = []
    for line in lines:
        m = re.match(r"(\\w+)=(\\d+)", line, re.I)
        if m:
            out.append(re.sub("[aeiou]", "_", m.group(1), count=1))
    return out
"""


def test_regex_hoist_keeps_results() -> None:
    candidate = _same(REGEX, "regex-hoist", [(["abc=1", "x", "OOO=22"],), ([],)])
    assert candidate.imports == ()
    assert 'def _f_pattern_1(pattern=re.compile(r"(\\w+)=(\\d+)", re.I)):' in candidate.code
    assert "_pattern_1 = _f_pattern_1()" in candidate.code
    assert "_pattern_2.sub(" in candidate.code


@pytest.mark.parametrize(
    "module",
    [
        "import re\n\ndef f(xs, p):\n    return [re.match(p, x) for x in xs]\n",  # not a literal
        "import re\n\ndef f(xs):\n    return [re.match('(', x) for x in xs]\n",  # invalid
        "import regex as re\n\ndef f(xs):\n    return [re.match('a', x) for x in xs]\n",
    ],
)
def test_regex_hoist_declines(module: str) -> None:
    assert "regex-hoist" not in _rules(module)


# ------------------------------------------------------------------------------ min-max


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("sorted(xs)[0]", "min(xs)"),
        ("sorted(xs)[-1]", "max(xs)"),
        ("sorted(xs, key=abs)[0]", "min(xs, key=abs)"),
        ("sorted(xs, reverse=True)[0]", "max(xs)"),
        ("sorted(xs, key=abs, reverse=True)[0]", "max(xs, key=abs)"),
    ],
)
def test_min_max_keeps_results(expr: str, expected: str) -> None:
    module = f"def f(xs):\n    return {expr}\n"
    candidate = _one(module, "min-max")
    assert f"return {expected}" in candidate.code
    assert "ValueError" in candidate.description
    old, new = _load(module), _load(module, candidate=candidate)
    for xs in ([3, -1, 2], [5], [-2, 2, 1, -1]):
        assert old(xs) == new(xs)


@pytest.mark.parametrize(
    "module",
    [
        "def f(xs):\n    try:\n        return sorted(xs)[0]\n    except IndexError:\n"
        "        return None\n",
        "def f(xs):\n    return sorted(xs, key=abs)[-1]\n",  # ties would pick differently
        "def f(xs):\n    return sorted(xs)[1]\n",
        "def f(xs):\n    sorted = list\n    return sorted(xs)[0]\n",
    ],
)
def test_min_max_declines(module: str) -> None:
    assert "min-max" not in _rules(module)


# -------------------------------------------------------------------------- deque-queue

BFS = """
def f(graph, start):
    seen = {start}
    order = []
    queue = [start]
    while queue:
        node = queue.pop(0)
        order.append(node)
        for nxt in graph.get(node, ()):
            if nxt not in seen and len(queue) >= 0:
                seen.add(nxt)
                queue.append(nxt)
    return order
"""


def test_deque_queue_keeps_results() -> None:
    graphs = [
        ({1: [2, 3], 2: [4], 3: [4], 4: [1]}, 1),
        ({}, 0),
        ({0: [0, 0]}, 0),
    ]
    candidate = _same(BFS, "deque-queue", graphs)
    assert candidate.imports == ("import collections",)
    assert "queue = collections.deque([start])" in candidate.code
    assert "queue.popleft()" in candidate.code


@pytest.mark.parametrize(
    "use",
    [
        "print(queue[1])",  # indexed in the middle
        "print(queue[1:])",  # sliced
        "helper(queue)",  # passed on
        "queue.sort()",  # a method deques lack
        "print(queue)",  # the repr differs
        "return queue",  # returned
    ],
)
def test_deque_queue_declines(use: str) -> None:
    module = (
        "def f(xs):\n    queue = list(xs)\n    out = []\n    while queue:\n"
        f"        out.append(queue.pop(0))\n        {use}\n    return out\n"
    )
    assert "deque-queue" not in _rules(module)


def test_deque_queue_declines_for_a_parameter() -> None:
    module = "def f(queue):\n    while queue:\n        queue.pop(0)\n"
    assert "deque-queue" not in _rules(module)


# ----------------------------------------------------------------------------- provider

SEVERAL = """
import re

def f(words, stop):
    found = []
    for w in words:
        if w not in stop:
            found.append(re.sub("[0-9]", "", w))
    return found, sorted(words)[0]
"""


def test_propose_one_per_rule_plus_combined() -> None:
    candidates = _propose(SEVERAL)
    rules = [c.rule for c in candidates]
    assert rules == [
        "membership-set",
        "regex-hoist",
        "min-max",
        "comprehension",
        "local-alias",
        rules[-1],
    ]
    combined = candidates[-1]
    assert combined.rule == "membership-set+regex-hoist+min-max+comprehension"
    assert combined.imports == ()
    old, new = _load(SEVERAL), _load(SEVERAL, candidate=combined)
    assert old(["a1", "b", "c2"], ["b"]) == new(["a1", "b", "c2"], ["b"])


def test_propose_is_deterministic_limited_and_deduplicated() -> None:
    first = _propose(SEVERAL)
    assert first == _propose(SEVERAL)
    assert len({c.code for c in first}) == len(first)
    assert _propose(SEVERAL, limit=2) == first[:2]
    assert _propose(SEVERAL, limit=0) == []


def test_propose_nothing_to_improve() -> None:
    assert _propose("def f(x):\n    return x + 1\n") == []


def test_propose_for_a_method() -> None:
    module = """
    class Router:
        def route(self, stops):
            todo = list(stops)
            done = []
            while todo:
                done.append(todo.pop(0))
            return done
    """
    candidates = _propose(module, "Router.route")
    assert [c.rule for c in candidates] == [
        "deque-queue",
        "local-alias",
        "deque-queue+local-alias",
    ]
    assert candidates[0].code.startswith("def route(self, stops):\n    todo = collections")
    route = _load(module, "Router.route", candidates[0])
    assert route(None, [3, 1, 2]) == [3, 1, 2]


def test_registered_under_rules() -> None:
    assert load_provider("rules").name == "rules"
