"""runner.verify.rewardhack: what a candidate adds relative to its baseline."""

from __future__ import annotations

import textwrap

import pytest

from runner.bundle.apply import extract_definition
from runner.verify import _record_plugin as plugin
from runner.verify.behaviour import Call
from runner.verify.rewardhack import (
    KINDS,
    Finding,
    check,
    describe,
    is_distinctive,
    recorded_literals,
)

MODULE = '''\
"""A small module under optimisation."""

import os
import re
from functools import lru_cache

WORD = re.compile(r"[a-z]+")
_TABLE = {"a": 1}


def title(s: str, sep: str = "-") -> str:
    """Title-case the words of `s`."""
    words = []
    for part in s.split(sep):
        words.append(part[:1].upper() + part[1:])
    return " ".join(words)


def is_number(s):
    try:
        int(s)
    except ValueError:
        return False
    return True


def total(values, limit=10, *, scale=1.0):
    out = 0
    for v in values[:limit]:
        out += v * v
    return out * scale


def config_path():
    return os.environ.get("APP_CONFIG", "app.toml")


class Parser:
    @staticmethod
    def split(text, sep=","):
        return [p.strip() for p in text.split(sep)]

    def count(self, text):
        n = 0
        for _ in WORD.finditer(text):
            n += 1
        return n
'''


def baseline(qualname: str) -> str:
    return extract_definition(MODULE, qualname)


def code(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def kinds(findings: list[Finding]) -> list[str]:
    return [f.kind for f in findings]


def run(qualname: str, candidate: str, **kwargs: object) -> list[Finding]:
    return check(baseline(qualname), code(candidate), baseline_module=MODULE, **kwargs)  # type: ignore[arg-type]


# -- candidates that are fine ---------------------------------------------------------------

CLEAN = [
    pytest.param(
        "title",
        """
        def title(s: str, sep: str = "-") -> str:
            return " ".join(part[:1].upper() + part[1:] for part in s.split(sep))
        """,
        id="pure rewrite",
    ),
    pytest.param(
        "is_number",
        """
        def is_number(s):
            return s.isdigit()
        """,
        id="isdigit rewrite is a behaviour question",
    ),
    pytest.param(
        "total",
        """
        def total(values: list[float], limit: int = 10, *, scale: float = 1.0) -> float:
            return sum(v * v for v in values[:limit]) * scale
        """,
        id="annotations may change",
    ),
    pytest.param(
        "config_path",
        """
        def config_path():
            return os.environ.get("APP_CONFIG") or "app.toml"
        """,
        id="environment the baseline already reads",
    ),
    pytest.param(
        "Parser.count",
        """
        def count(self, text):
            return sum(1 for _ in WORD.finditer(text))
        """,
        id="method with self",
    ),
    pytest.param(
        "Parser.split",
        """
        @staticmethod
        def split(text, sep=","):
            return list(map(str.strip, text.split(sep)))
        """,
        id="staticmethod kept",
    ),
    pytest.param(
        "title",
        """
        def title(s: str, sep: str = "-") -> str:
            seen = {}
            out = []
            for part in s.split(sep):
                if part not in seen:
                    seen[part] = part[:1].upper() + part[1:]
                out.append(seen[part])
            return " ".join(out)
        """,
        id="local dict memo within one call",
    ),
    pytest.param(
        "total",
        """
        def total(values, limit=10, *, scale=1.0):
            @lru_cache(maxsize=None)
            def square(v):
                return v * v
            return sum(square(v) for v in values[:limit]) * scale
        """,
        id="nested cache is rebuilt every call",
    ),
    pytest.param(
        "total",
        """
        def total(values, limit=10, *, scale=1.0):
            counts = collections.Counter(values[:limit])
            counts.update([])
            set().add(1)
            return sum(v * v * n for v, n in counts.items()) * scale
        """,
        id="mutating fresh objects",
    ),
    pytest.param(
        "title",
        """
        def title(s: str, sep: str = "-") -> str:
            return " ".join(_cap(part) for part in s.split(sep))


        def _cap(part):
            return part[:1].upper() + part[1:]
        """,
        id="plain private helper",
    ),
]


@pytest.mark.parametrize(("qualname", "candidate"), CLEAN)
def test_faithful_rewrites_have_no_findings(qualname: str, candidate: str) -> None:
    recorded = [plugin.encode("hello-world"), plugin.encode("Hello World"), plugin.encode(12345)]
    findings = run(qualname, candidate, recorded_values=recorded)
    assert findings == []
    assert describe(findings) == "no reward-hack findings"


# -- hacks ----------------------------------------------------------------------------------

HACKS = [
    pytest.param(
        "title",
        """
        _CACHE = {}

        def title(s, sep="-"):
            key = (s, sep)
            if key not in _CACHE:
                _CACHE[key] = " ".join(p[:1].upper() + p[1:] for p in s.split(sep))
            return _CACHE[key]
        """,
        ["global", "cache"],
        "writes the module-level name '_CACHE'",
        id="dict cache in a module global",
    ),
    pytest.param(
        "title",
        """
        def title(s, sep="-"):
            return _title(s, sep)


        @lru_cache(maxsize=None)
        def _title(s, sep):
            return " ".join(p[:1].upper() + p[1:] for p in s.split(sep))
        """,
        ["cache"],
        "adds the helper '_title' with the decorator @lru_cache(maxsize=None)",
        id="lru_cache helper",
    ),
    pytest.param(
        "title",
        """
        @functools.cache
        def title(s, sep="-"):
            return " ".join(p[:1].upper() + p[1:] for p in s.split(sep))
        """,
        ["signature", "cache"],
        "adds the cache decorator @functools.cache to the target",
        id="cache decorator on the target",
    ),
    pytest.param(
        "title",
        """
        def title(s, sep="-", _cache={}):
            if s not in _cache:
                _cache[s] = " ".join(p[:1].upper() + p[1:] for p in s.split(sep))
            return _cache[s]
        """,
        ["signature", "cache"],
        "the default {} of parameter '_cache' is mutated and persists",
        id="mutable default parameter cache",
    ),
    pytest.param(
        "total",
        """
        def total(values, limit=10, *, scale=1.0):
            global _calls
            _calls += 1
            return sum(v * v for v in values[:limit]) * scale
        """,
        ["global"],
        "declares 'global _calls'",
        id="global counter",
    ),
    pytest.param(
        "title",
        """
        def title(s, sep="-"):
            memo = title.__dict__.setdefault("memo", {})
            if s not in memo:
                memo[s] = " ".join(p[:1].upper() + p[1:] for p in s.split(sep))
            return memo[s]
        """,
        ["cache"],
        "attribute of the function 'title'",
        id="function __dict__ cache",
    ),
    pytest.param(
        "total",
        """
        def total(values, limit=10, *, scale=1.0):
            total.last = values
            return sum(v * v for v in values[:limit]) * scale
        """,
        ["cache"],
        "keeps state in an attribute of the function 'total' (total.last = ...)",
        id="function attribute",
    ),
    pytest.param(
        "title",
        """
        def title(s, sep="-"):
            _TABLE.update({s: 1})
            return " ".join(p[:1].upper() + p[1:] for p in s.split(sep))
        """,
        ["cache"],
        "writes the module-level name '_TABLE' (_TABLE.update(...))",
        id="mutating an existing module dict",
    ),
    pytest.param(
        "Parser.count",
        """
        def count(self, text):
            memo = type(self).__dict__.get("_memo") or {}
            type(self)._memo = memo
            return memo.setdefault(text, sum(1 for _ in WORD.finditer(text)))
        """,
        ["cache"],
        "keeps state on the class (type(self)._memo = ...)",
        id="class attribute cache on a method",
    ),
    pytest.param(
        "Parser.count",
        """
        def count(self, text):
            self.__class__.seen[text] = True
            return sum(1 for _ in WORD.finditer(text))
        """,
        ["cache"],
        "(self.__class__.seen[text] = ...)",
        id="self.__class__ store",
    ),
    pytest.param(
        "title",
        """
        def title(s, sep="-"):
            if os.environ.get("MODE") == "fast":
                return s.title()
            return " ".join(p[:1].upper() + p[1:] for p in s.split(sep))
        """,
        ["environment"],
        "reads the environment (os.environ) where the baseline does not",
        id="os.environ",
    ),
    pytest.param(
        "title",
        """
        def title(s, sep="-"):
            with open("tests/fixtures/titles.txt") as f:
                answers = dict(line.split("\\t") for line in f)
            return answers[s]
        """,
        ["file"],
        "uses the file system (open) where the baseline does not",
        id="open reads a fixture",
    ),
    pytest.param(
        "title",
        """
        def title(s, sep="-"):
            from pathlib import Path
            return Path("answers.json").read_text()
        """,
        ["file", "file"],
        "(pathlib)",
        id="pathlib read_text",
    ),
    pytest.param(
        "title",
        """
        def title(s, sep="-"):
            import subprocess
            return subprocess.run(["echo", s], capture_output=True, text=True).stdout
        """,
        ["process"],
        "runs or controls processes (subprocess)",
        id="subprocess",
    ),
    pytest.param(
        "title",
        """
        def title(s, sep="-"):
            import urllib.request as r
            return r.urlopen("http://x/" + s).read().decode()
        """,
        ["network"],
        "uses the network (urllib)",
        id="urllib alias",
    ),
    pytest.param(
        "title",
        """
        def title(s, sep="-"):
            return sys.argv[1] if len(sys.argv) > 1 else s.title()
        """,
        ["environment"],
        "(sys.argv)",
        id="sys.argv",
    ),
]


@pytest.mark.parametrize(("qualname", "candidate", "expected", "phrase"), HACKS)
def test_hacks_are_reported(
    qualname: str, candidate: str, expected: list[str], phrase: str
) -> None:
    findings = run(qualname, candidate)
    assert kinds(findings) == expected
    assert any(phrase in f.detail for f in findings), findings
    assert describe(findings).startswith("rejected: ")


def test_cache_findings_say_why_a_cache_is_a_hack() -> None:
    findings = run("title", HACKS[1].values[1])  # type: ignore[arg-type]
    assert "ignore mutable module state" in findings[0].detail


# -- signature ------------------------------------------------------------------------------

SIGNATURES = [
    pytest.param(
        "def total(values, *, scale=1.0):\n    return 0\n",
        ["parameter 'limit' removed"],
        id="removed",
    ),
    pytest.param(
        "def total(values, n=10, *, scale=1.0):\n    return 0\n",
        ["parameter 'limit' renamed to 'n'"],
        id="renamed",
    ),
    pytest.param(
        "def total(limit, values, *, scale=1.0):\n    return 0\n",
        [
            "parameter 'limit' lost its default 10",
            "parameters reordered from (values, limit, scale) to (limit, values, scale)",
        ],
        id="reordered",
    ),
    pytest.param(
        "def total(values, limit=100, *, scale=1.0):\n    return 0\n",
        ["parameter 'limit' default changed from 10 to 100"],
        id="default changed",
    ),
    pytest.param(
        "def total(values, limit=10, *, scale=1.0, _seen=None):\n    return 0\n",
        ["new parameter '_seen' (default None)"],
        id="new parameter",
    ),
    pytest.param(
        "def total(values, limit=10, scale=1.0):\n    return 0\n",
        ["parameter 'scale' changed from keyword-only to positional-or-keyword"],
        id="keyword-only marker removed",
    ),
    pytest.param(
        "def total(values, /, limit=10, *, scale=1.0):\n    return 0\n",
        ["parameter 'values' changed from positional-or-keyword to positional-only"],
        id="positional-only marker added",
    ),
    pytest.param(
        "def total(values, limit=10, *args, scale=1.0, **kwargs):\n    return 0\n",
        ["new parameter 'args'", "new parameter 'kwargs'"],
        id="varargs added",
    ),
    pytest.param(
        "async def total(values, limit=10, *, scale=1.0):\n    return 0\n",
        ["the candidate is async where the baseline is not"],
        id="async",
    ),
    pytest.param(
        "@staticmethod\ndef total(values, limit=10, *, scale=1.0):\n    return 0\n",
        ["new decorator @staticmethod"],
        id="decorator added",
    ),
    pytest.param(
        "def totals(values, limit=10, *, scale=1.0):\n    return 0\n",
        ["the candidate defines 'totals' instead of the baseline's 'total'"],
        id="renamed function",
    ),
]


@pytest.mark.parametrize(("candidate", "expected"), SIGNATURES)
def test_signature_changes_are_reported_exactly(candidate: str, expected: list[str]) -> None:
    findings = run("total", candidate)
    assert findings == [Finding("signature", detail) for detail in expected]


def test_method_signature_keeps_self_and_decorators() -> None:
    dropped = "def split(text, sep=','):\n    return text.split(sep)\n"
    assert [f.detail for f in run("Parser.split", dropped)] == ["decorator @staticmethod removed"]
    no_self = "def count(text):\n    return 0\n"
    assert [f.detail for f in run("Parser.count", no_self)] == ["parameter 'self' removed"]


# -- aliases and module sources -------------------------------------------------------------

ALIASES = [
    pytest.param("import os as _o\n", "_o.environ['MODE']", "os.environ", id="import as"),
    pytest.param("from os import environ\n", "environ.get('MODE')", "os.environ", id="from import"),
    pytest.param("from os import getenv as ge\n", "ge('MODE')", "os.getenv", id="from import as"),
    pytest.param("import io\n", "io.open('f').read()", "io.open", id="io.open"),
    pytest.param("import pickle\n", "pickle.loads(b'')", "pickle.loads", id="pickle.loads"),
    pytest.param("import socket as sk\n", "sk.gethostname()", "socket", id="socket alias"),
    pytest.param(
        "import http.client\n", "http.client.HTTPConnection('x')", "http.client", id="http"
    ),
]


@pytest.mark.parametrize(("imports", "expression", "construct"), ALIASES)
def test_aliases_resolve_through_the_candidate_module(
    imports: str, expression: str, construct: str
) -> None:
    candidate = f"def title(s, sep='-'):\n    return {expression}\n"
    findings = check(
        baseline("title"),
        candidate,
        baseline_module=MODULE,
        candidate_module=imports + MODULE + "\n" + candidate,
    )
    assert len(findings) == 1
    assert f"({construct})" in findings[0].detail


def test_a_local_named_like_a_builtin_is_not_an_access() -> None:
    candidate = "def title(s, sep='-'):\n    input = s.split(sep)\n    return ' '.join(input)\n"
    assert run("title", candidate) == []


def test_new_cached_helper_found_in_the_candidate_module() -> None:
    helper = "@lru_cache\ndef _cap(p):\n    return p.title()\n"
    candidate = "def title(s, sep='-'):\n    return ' '.join(map(_cap, s.split(sep)))\n"
    findings = check(
        baseline("title"),
        candidate,
        baseline_module=MODULE,
        candidate_module=MODULE + "\n\n" + helper,
    )
    assert kinds(findings) == ["cache"]
    assert "'_cap'" in findings[0].detail


# -- recorded literals ----------------------------------------------------------------------

HARD_CODED = """
def title(s, sep="-"):
    if s == "hello-world":
        return "Hello World"
    return " ".join(p[:1].upper() + p[1:] for p in s.split(sep))
"""


def recorded_call(args: dict[str, object], value: object) -> Call:
    return Call(
        site="tests/test_m.py::test_title",
        seq=0,
        args={k: plugin.encode(v) for k, v in args.items()},
        outcome="return",
        value=plugin.encode(value),
        args_after={k: plugin.encode(v) for k, v in args.items()},
    )


def test_hard_coded_recorded_answers_are_reported() -> None:
    calls = [recorded_call({"0": "hello-world"}, "Hello World")]
    findings = run("title", HARD_CODED, recorded_values=calls)
    assert findings == [
        Finding(
            "recorded-literal",
            "the literal 'hello-world' appears in the recorded values and not in the baseline: "
            "the candidate may special-case the recorded calls",
        ),
        Finding(
            "recorded-literal",
            "the literal 'Hello World' appears in the recorded values and not in the baseline: "
            "the candidate may special-case the recorded calls",
        ),
    ]


def test_literals_unrelated_to_the_recording_are_not_reported() -> None:
    calls = [recorded_call({"0": "other-thing"}, "Other Thing")]
    assert run("title", HARD_CODED, recorded_values=calls) == []


def test_literals_the_baseline_has_are_not_reported() -> None:
    candidate = 'def title(s: str, sep: str = "-") -> str:\n    return s.replace(sep, " ")\n'
    findings = run("title", candidate, recorded_values=[plugin.encode("-"), plugin.encode(" ")])
    assert findings == []


def test_literal_tables_and_negative_numbers_are_searched() -> None:
    candidate = """
    def total(values, limit=10, *, scale=1.0):
        known = {(1, 2, 3): -98765, "x": (3.14159,)}
        return known.get(tuple(values), 0)
    """
    recorded = [plugin.encode([[1, 2, 3], -98765]), plugin.encode(3.14159)]
    findings = run("total", candidate, recorded_values=recorded)
    assert [f.detail.split(" appears")[0] for f in findings] == [
        "the literal -98765",
        "the literal 3.14159",
    ]


def test_many_literals_are_summarised() -> None:
    answers = {f"case-{n}": n * 1001 for n in range(1, 9)}
    candidate = f"def total(values, limit=10, *, scale=1.0):\n    return {answers!r}[values]\n"
    recorded = [plugin.encode(list(answers))]
    findings = run("total", candidate, recorded_values=recorded)
    assert len(findings) == 6
    assert findings[-1].detail == "and 3 more literals from the recorded values"


DISTINCTIVE = [
    ("abc", True),
    ("ab12", True),
    ("hello-world", True),
    ("ab", False),
    ("", False),
    ("   ", False),
    ("---", False),
    (", ;", False),
    ("utf-8", False),
    ("True", False),
    (b"key", True),
    (b"\x00\x01", False),
    (0, False),
    (1, False),
    (-1, False),
    (10, False),
    (999, False),
    (1000, False),
    (1024, False),
    (65535, False),
    (1001, True),
    (-4321, True),
    (2**70 + 3, True),
    (True, False),
    (0.5, False),
    (2.0, False),
    (-1.25, False),
    (0.001, False),
    (1e6, False),
    (float("nan"), False),
    (float("inf"), False),
    (3.14159, True),
    (0.3, True),
    (17.5, True),
    (12345.0, True),
    (None, False),
]


@pytest.mark.parametrize(("value", "expected"), DISTINCTIVE)
def test_distinctive_values(value: object, expected: bool) -> None:
    assert is_distinctive(value) is expected


def test_recorded_literals_decode_every_container() -> None:
    class Point:
        def __init__(self) -> None:
            self.label = "origin-7"
            self.items = {"north": b"bytes!", 5: [2**60 + 7, 1.75, 2.718]}

    nodes = [plugin.encode(Point()), plugin.encode(frozenset({"setmember"})), plugin.encode(7)]
    assert recorded_literals(nodes) == {
        "origin-7",
        "north",
        b"bytes!",
        2**60 + 7,
        2.718,
        "setmember",
    }


def test_recorded_literals_survive_cycles() -> None:
    cyclic: list[object] = [{"t": "str", "v": "loop-value"}]
    cyclic.append(cyclic)
    assert recorded_literals([cyclic]) == {"loop-value"}


def test_recorded_literals_ignore_malformed_nodes() -> None:
    nodes: list[object] = [{"t": "int", "hex": "zz"}, {"t": "float", "v": "x"}, 5, "str", None]
    nodes.append({"t": "unknown", "type": "Foo", "repr": "<Foo long-repr-text>"})
    assert recorded_literals(nodes) == set()


# -- dynamic accesses -----------------------------------------------------------------------

DYNAMIC = [
    pytest.param(["file:read"], ["file:read"], [], id="same as baseline"),
    pytest.param([], ["file:read"], ["file"], id="file read"),
    pytest.param([], ["fs:modify"], ["file"], id="fs modify"),
    pytest.param(["env:HOME"], ["env:HOME", "env:MODE"], ["environment"], id="new env var"),
    pytest.param([], ["process", "network"], ["network", "process"], id="process and network"),
    pytest.param([], ["global-write:_N"], ["global"], id="global write"),
    pytest.param([], ["global-mutate:_CACHE"], ["cache"], id="global mutate"),
    pytest.param([], ["weird:thing"], ["environment"], id="unknown prefix"),
]


@pytest.mark.parametrize(("base", "candidate", "expected"), DYNAMIC)
def test_dynamic_accesses_are_diffed(
    base: list[str], candidate: list[str], expected: list[str]
) -> None:
    pure = baseline("title")
    findings = check(pure, pure, baseline_accesses=base, candidate_accesses=candidate)
    assert kinds(findings) == expected


def test_dynamic_details_name_what_was_accessed() -> None:
    pure = baseline("title")
    findings = check(pure, pure, candidate_accesses=["env:MODE", "global-mutate:_CACHE"])
    assert findings[0].detail.startswith("reads the environment variable 'MODE' while running")
    assert "ignore mutable module state" in findings[1].detail


# -- bad input ------------------------------------------------------------------------------

GARBAGE = [
    pytest.param(
        "def title(s, sep='-':\n    return s\n", "cannot parse the candidate", id="syntax"
    ),
    pytest.param("", "the candidate defines no function", id="empty"),
    pytest.param("x = 1\n", "the candidate defines no function", id="no function"),
    pytest.param("def title(s):\x00\n", "cannot parse the candidate", id="null byte"),
    pytest.param("(" * 500 + ")" * 500, "cannot parse the candidate", id="deep nesting"),
    pytest.param(None, "cannot parse the candidate: not text", id="not text"),
]


@pytest.mark.parametrize(("candidate", "phrase"), GARBAGE)
def test_garbage_is_a_finding_never_an_exception(candidate: object, phrase: str) -> None:
    findings = check(baseline("title"), candidate, candidate_accesses=["network"])  # type: ignore[arg-type]
    assert findings[0].kind == "signature"
    assert findings[0].detail.startswith(phrase), findings
    assert kinds(findings)[1:] == ["network"]


def test_unparsable_baseline_is_reported_not_raised() -> None:
    assert check("def (", "def f():\n    pass\n") == [
        Finding("signature", "cannot parse the baseline: line 1: invalid syntax")
    ]


def test_describe_is_one_line() -> None:
    findings = [Finding("cache", "a\nb"), Finding("signature", "new parameter '_c'")]
    assert describe(findings) == "rejected: cache: a b; signature: new parameter '_c'"


def test_every_reported_kind_is_known() -> None:
    findings = [f for case in HACKS for f in run(case.values[0], case.values[1])]  # type: ignore[arg-type]
    assert {f.kind for f in findings} <= set(KINDS)
