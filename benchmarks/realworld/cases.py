"""The real-library evaluation set: projects, targets, candidates, workloads and probes.

Standard library only: `benchmarks/realworld.py` reads the tables, and the independent
checker (`_independent.py`, run with the eval venv's interpreter inside a copy of the
project) calls the workloads and probes. Nothing here is a result: every number comes from
a run.

- A *workload* builds realistic calls for the independent timing: `(mod, rng) -> [args]`,
  where `mod` is the target's module and each item is the argument tuple of one call.
- A *probe* calls a target (baseline or candidate) on the inputs where a trap is expected
  to differ: `(f, mod) -> value`. Its value is compared by `repr`; an exception is a value.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

FLAT = "python -m pytest -x -q -p no:cacheprovider"
SRC = FLAT + " -o pythonpath=src"


@dataclass(frozen=True)
class Project:
    """One sdist from PyPI, pinned by version and sha256."""

    name: str
    version: str
    sha256: str
    test_cmd: str = FLAT
    src: bool = False  # src layout: the package lives under src/

    @property
    def dirname(self) -> str:
        return f"{self.name}-{self.version}"


@dataclass(frozen=True)
class Candidate:
    """A hand-written rewrite of one target, kept under candidates/."""

    name: str  # unique case name, also the fixture's file stem
    project: str
    target: str  # path.py::qualname, as given to `optirunner optimize -t`
    kind: str  # "correct" or "trap"
    note: str  # what it does; for a trap, where it differs
    workload: str = ""  # a WORKLOADS key: timed independently (correct candidates)
    probe: str = ""  # a PROBES key: inputs where a trap differs
    quick: bool = False  # part of --quick


PROJECTS = {
    p.name: p
    for p in [
        Project(
            "inflection",
            "0.5.1",
            "1a29730d366e996aaacffb2f1f1cb9593dc38e2ddd30c91250c6dde09ea9b417",
        ),
        Project(
            "text-unidecode",
            "1.3",
            "bad6603bb14d279193107714b288be206cac565dfa49aa5b105294dd5c4aab93",
            SRC,
            src=True,
        ),
        Project(
            "toolz",
            "1.0.0",
            "2c86e3d9a04798ac556793bced838816296a2f085017664e4995cb40a1047a02",
        ),
        Project(
            "parse",
            "1.20.2",
            "b41d604d16503c79d81af5165155c0b20f6c8d6c559efa66b4b695c3e5a0a0ce",
        ),
        Project(
            "sqlparse",
            "0.5.1",
            "bb6b4df465655ef332548e24f08e205afc81b9ab86cb1c45657a7ff173a3a00e",
        ),
        Project(
            "isodate",
            "0.7.2",
            "4cd1aa0f43ca76f4a6c6c0292a85f40b35ec2e43e315b59f06e6d32171a953e6",
            SRC,
            src=True,
        ),
        Project(
            "webcolors",
            "24.8.0",
            "08b07af286a01bcd30d583a7acadf629583d1f79bfef27dd2c2c5c263817277d",
            SRC,
            src=True,
        ),
        Project(
            "tabulate",
            "0.9.0",
            "0095b12bf5966de529c0feb1fa08671671b3368eec77d7ef7ab114be2c068b3c",
        ),
        # Only identical rewrites (issue 23): module sentinels, objects without __eq__.
        Project(
            "jsonpointer",
            "3.0.0",
            "2b2d729f2091522d61c3b31f82e11870f60b68f43fbc705cb76bf4b832af59ef",
            FLAT + " tests.py",
        ),
        Project(
            "pyparsing",
            "3.2.0",
            "cbf74e27246d595d9a74b186b810f6fbb86726dbf3b9532efb343f6d7294fe9c",
            FLAT + " tests/test_simple_unit.py",
        ),
    ]
}

CANDIDATES = [
    # inflection: everything lives in the package __init__.py
    Candidate(
        "inflection_underscore_fastpath",
        "inflection",
        "inflection/__init__.py::underscore",
        "correct",
        "words without A-Z skip both regex substitutions",
        workload="identifiers",
        probe="underscore",
    ),
    Candidate(
        "inflection_underscore_islower_trap",
        "inflection",
        "inflection/__init__.py::underscore",
        "trap",
        "lowercase words return early and keep their '-' ('api-key')",
        probe="underscore",
        quick=True,
    ),
    Candidate(
        "inflection_pluralize_cache_trap",
        "inflection",
        "inflection/__init__.py::pluralize",
        "trap",
        "lru_cache ignores later changes to the mutable UNCOUNTABLES set",
        probe="pluralize_state",
    ),
    # text-unidecode: the function is in src/text_unidecode/__init__.py
    Candidate(
        "unidecode_ascii_fastpath",
        "text-unidecode",
        "src/text_unidecode/__init__.py::unidecode",
        "correct",
        "ASCII text is returned as is; local lookups otherwise",
        workload="prose",
        probe="unidecode",
    ),
    Candidate(
        "unidecode_no_guard_trap",
        "text-unidecode",
        "src/text_unidecode/__init__.py::unidecode",
        "trap",
        "drops the IndexError guard: raises on emoji / astral characters",
        probe="unidecode",
    ),
    # toolz
    Candidate(
        "toolz_frequencies_counter",
        "toolz",
        "toolz/itertoolz.py::frequencies",
        "correct",
        "collections.Counter counts in C",
        workload="words",
        probe="frequencies",
        quick=True,
    ),
    Candidate(
        "toolz_frequencies_sorted_trap",
        "toolz",
        "toolz/itertoolz.py::frequencies",
        "trap",
        "keys come out sorted instead of in first-seen order (== still holds)",
        probe="frequencies",
    ),
    # parse: an instance method (__call__)
    Candidate(
        "parse_int_convert_ascii",
        "parse",
        "parse.py::int_convert.__call__",
        "correct",
        "plain ASCII digits skip the sign/base detection and the re.sub",
        workload="int_strings",
        probe="int_convert",
    ),
    Candidate(
        "parse_int_convert_isdigit_trap",
        "parse",
        "parse.py::int_convert.__call__",
        "trap",
        "str.isdigit() fast path accepts Arabic-Indic digits that \\d matched",
        probe="int_convert",
        quick=True,
    ),
    # sqlparse: instance, class and static methods
    Candidate(
        "sqlparse_match_direct",
        "sqlparse",
        "sqlparse/sql.py::Token.match",
        "correct",
        "early exit on the type and a loop instead of a generator for keywords",
        workload="sql_tokens",
        probe="token_match",
    ),
    Candidate(
        "sqlparse_match_upper_trap",
        "sqlparse",
        "sqlparse/sql.py::Token.match",
        "trap",
        "one upper-cased set for all tokens: names match case-insensitively",
        probe="token_match",
    ),
    Candidate(
        "sqlparse_lexer_instance_fastpath",
        "sqlparse",
        "sqlparse/lexer.py::Lexer.get_default_instance",
        "correct",
        "classmethod: return the existing instance without taking the lock",
        workload="no_args",
    ),
    Candidate(
        "sqlparse_stripws_locals",
        "sqlparse",
        "sqlparse/filters/others.py::StripWhitespaceFilter._stripws_default",
        "correct",
        "staticmethod: reads token.is_whitespace once per token",
        workload="sql_tlists",
    ),
    # isodate (src layout)
    Candidate(
        "isodate_max_days_leap_trap",
        "isodate",
        "src/isodate/duration.py::max_days_in_month",
        "trap",
        "drops the 400-year rule: February 2000 gets 28 days",
        probe="max_days",
    ),
    Candidate(
        "isodate_parse_duration_present",
        "isodate",
        "src/isodate/isoduration.py::parse_duration",
        "correct",
        "converts only the components present; an absent one is zero",
        workload="durations",
        probe="parse_duration",
    ),
    Candidate(
        "isodate_parse_duration_comma_trap",
        "isodate",
        "src/isodate/isoduration.py::parse_duration",
        "trap",
        "drops the decimal comma: 'PT1,5H' raises instead of 1.5 hours",
        probe="parse_duration",
    ),
    # webcolors (src layout, re-exported from the package)
    Candidate(
        "webcolors_normalize_hex_fastpath",
        "webcolors",
        "src/webcolors/_normalization.py::normalize_hex",
        "correct",
        "doubles the three digits without a generator",
        workload="hex_colors",
        probe="normalize_hex",
    ),
    Candidate(
        "webcolors_normalize_hex_manual_trap",
        "webcolors",
        "src/webcolors/_normalization.py::normalize_hex",
        "trap",
        "hand-written check rejects '#fff\\n', which the regex's $ accepted",
        probe="normalize_hex",
    ),
    # tabulate: private helpers in the package __init__.py
    Candidate(
        "tabulate_isint_inline",
        "tabulate",
        "tabulate/__init__.py::_isint",
        "correct",
        "inlines _isconvertible",
        workload="table_cells",
        probe="isint",
    ),
    Candidate(
        "tabulate_isint_isdigit_trap",
        "tabulate",
        "tabulate/__init__.py::_isint",
        "trap",
        "str.isdigit(): '²' is an int, ' 42' and '1_000' are not",
        probe="isint",
    ),
]

#: Targets whose identical rewrite is checked besides those above (`--identical`).
_IDENTICAL_ONLY = [
    ("jsonpointer", "jsonpointer.py::JsonPointer.resolve"),
    ("pyparsing", "pyparsing/results.py::ParseResults.__getitem__"),
    ("pyparsing", "pyparsing/results.py::ParseResults.haskeys"),
]


def _identical(project: str, target: str) -> Candidate:
    stem = target.split("::")[1].replace(".", "_").strip("_")
    note = "the target's own definition, unchanged (an A/A rewrite)"
    return Candidate(f"{project}_{stem}_identical", project, target, "identical", note)


#: The unchanged definition of every target: never "behaviour changed", never faster.
IDENTICAL = [
    _identical(project, target)
    for project, target in dict.fromkeys(
        [(c.project, c.target) for c in CANDIDATES] + _IDENTICAL_ONLY
    )
]


# -- workloads: realistic calls for the independent timing ------------------------------------

_WORDS = (  # noqa: SIM905 - a sentence reads better than a list
    "order customer invoice line item product price stock warehouse shipment address "
    "payment account user session request response handler cache report summary total "
    "tax discount coupon cart checkout refund status event queue worker job task"
).split()


def _identifiers(mod: Any, rng: random.Random) -> list[tuple[Any, ...]]:
    calls = []
    for _ in range(1000):
        parts = rng.sample(_WORDS, rng.randint(1, 4))
        if rng.random() < 0.4:
            word = "".join(p.capitalize() for p in parts)
            if rng.random() < 0.2:
                word = "HTTP" + word
        else:
            word = "_".join(parts)
        calls.append((word,))
    return calls


def _prose(mod: Any, rng: random.Random) -> list[tuple[Any, ...]]:
    accented = "café naïve Zürich São Paulo crème brûlée Ångström façade jalapeño".split()  # noqa: SIM905
    calls = []
    for _ in range(20):
        words = [rng.choice(_WORDS) for _ in range(80)]
        if rng.random() < 0.25:
            words[rng.randrange(len(words))] = rng.choice(accented)
        calls.append((" ".join(words) + ".",))
    return calls  # about 10 kB of text, a quarter of the paragraphs not pure ASCII


def _words(mod: Any, rng: random.Random) -> list[tuple[Any, ...]]:
    vocabulary = _WORDS[:50]
    return [([rng.choice(vocabulary) for _ in range(1000)],) for _ in range(5)]


def _int_strings(mod: Any, rng: random.Random) -> list[tuple[Any, ...]]:
    convert = mod.int_convert()
    calls = []
    for _ in range(1000):
        number = rng.randint(0, 10 ** rng.randint(1, 9))
        text = str(number) if rng.random() < 0.85 else f"-{number}"
        calls.append((convert, text, None))
    return calls


_SQL = """
SELECT o.id, o.created_at, c.name AS customer, SUM(l.quantity * l.price) AS total
FROM orders o JOIN customers c ON c.id = o.customer_id
LEFT JOIN order_lines l ON l.order_id = o.id
WHERE o.status IN ('paid', 'shipped') AND o.created_at >= '2024-01-01'
GROUP BY o.id, o.created_at, c.name HAVING SUM(l.quantity) > 2 ORDER BY total DESC;
UPDATE stock SET quantity = quantity - 1 WHERE sku = 'A-100' AND quantity > 0;
INSERT INTO audit (event, at) VALUES ('restock', now());
"""


def _sql_tokens(mod: Any, rng: random.Random) -> list[tuple[Any, ...]]:
    import sqlparse  # noqa: PLC0415 - only the eval venv, inside the project copy, has it

    tokens = [t for s in sqlparse.parse(_SQL) for t in s.flatten()]
    T = mod.T
    probes = [
        (T.Keyword, ("FROM", "WHERE", "GROUP BY")),
        (T.Keyword.DML, "select"),
        (T.Punctuation, ","),
        (T.Name, ("id", "name")),
        (T.Keyword, None),
    ]
    return [(tok, *rng.choice(probes)) for tok in tokens for _ in range(3)]


def _no_args(mod: Any, rng: random.Random) -> list[tuple[Any, ...]]:
    return [() for _ in range(1000)]


def _sql_tlists(mod: Any, rng: random.Random) -> list[tuple[Any, ...]]:
    import sqlparse  # noqa: PLC0415 - see _sql_tokens

    lists = []
    for statement in sqlparse.parse(_SQL * 3):
        lists.append(statement)
        lists.extend(statement.get_sublists())
    return [(t,) for t in lists]


def _hex_colors(mod: Any, rng: random.Random) -> list[tuple[Any, ...]]:
    calls = []
    for _ in range(1000):
        digits = "".join(rng.choice(string.hexdigits) for _ in range(rng.choice((3, 6, 6))))
        calls.append(("#" + digits,))
    return calls


def _durations(mod: Any, rng: random.Random) -> list[tuple[Any, ...]]:
    calls: list[tuple[Any, ...]] = []
    for _ in range(1000):
        r = rng.random()
        if r < 0.45:  # timeouts and intervals of configuration files
            text = rng.choice(("PT%dS", "PT%dM", "PT%dH", "P%dD")) % rng.randint(1, 90)
        elif r < 0.7:
            text = f"PT{rng.randint(1, 23)}H{rng.randint(1, 59)}M"
        elif r < 0.85:
            text = f"P{rng.randint(1, 5)}Y{rng.randint(1, 11)}M{rng.randint(1, 28)}D"
        elif r < 0.95:
            day, hour, minute, second = (rng.randint(1, n) for n in (9, 23, 59, 59))
            text = f"P{day}DT{hour}H{minute}M{second}S"
        else:
            text = f"PT{rng.randint(0, 9)},{rng.randint(1, 9)}S"  # a decimal comma
        calls.append(("-" + text if rng.random() < 0.05 else text,))
    return calls


def _table_cells(mod: Any, rng: random.Random) -> list[tuple[Any, ...]]:
    cells: list[tuple[Any, ...]] = []
    for _ in range(1000):
        r = rng.random()
        if r < 0.35:
            cells.append((str(rng.randint(-500, 100000)),))
        elif r < 0.6:
            cells.append((f"{rng.uniform(-100, 1000):.2f}",))
        elif r < 0.9:
            cells.append((rng.choice(_WORDS),))
        else:
            cells.append((rng.randint(0, 1000),))
    return cells


WORKLOADS: dict[str, Callable[[Any, random.Random], list[tuple[Any, ...]]]] = {
    "identifiers": _identifiers,
    "prose": _prose,
    "words": _words,
    "int_strings": _int_strings,
    "sql_tokens": _sql_tokens,
    "no_args": _no_args,
    "sql_tlists": _sql_tlists,
    "hex_colors": _hex_colors,
    "table_cells": _table_cells,
    "durations": _durations,
}


# -- probes: the inputs where a trap differs ----------------------------------------------------


def _catch(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except Exception as exc:  # an exception is a behaviour too
        return f"raises {type(exc).__name__}"


def _p_underscore(f: Any, mod: Any) -> Any:
    return [_catch(lambda w=w: f(w)) for w in ("api-key", "user-id", "CamelCase", "snake_case")]


def _p_pluralize_state(f: Any, mod: Any) -> Any:
    before = f("status")  # 'statuses'
    mod.UNCOUNTABLES.add("status")
    try:
        after = f("status")  # 'status' now, unless a cache remembers the first answer
    finally:
        mod.UNCOUNTABLES.discard("status")
    return [before, after]


def _p_unidecode(f: Any, mod: Any) -> Any:
    return [_catch(lambda t=t: f(t)) for t in ("launch 🚀 today", "café", "plain")]


def _p_frequencies(f: Any, mod: Any) -> Any:
    return list(f(["pear", "apple", "pear", "fig"]).items())


def _p_int_convert(f: Any, mod: Any) -> Any:
    convert = mod.int_convert()
    return [_catch(lambda s=s: f(convert, s, None)) for s in ("٣٤", "42", "-7", "0x1f")]


def _p_token_match(f: Any, mod: Any) -> Any:
    name = mod.Token(mod.T.Name, "users")
    keyword = mod.Token(mod.T.Keyword, "from")
    return [
        f(name, mod.T.Name, "USERS"),
        f(name, mod.T.Name, "users"),
        f(keyword, mod.T.Keyword, "FROM"),
    ]


def _p_max_days(f: Any, mod: Any) -> Any:
    return [f(Decimal(y), Decimal(m)) for y, m in ((2000, 2), (1900, 2), (2024, 2), (2023, 4))]


def _p_parse_duration(f: Any, mod: Any) -> Any:
    return [_catch(lambda d=d: repr(f(d))) for d in ("PT1,5H", "P0,5Y", "P1D", "-PT2M")]


def _p_normalize_hex(f: Any, mod: Any) -> Any:
    return [_catch(lambda h=h: f(h)) for h in ("#fff\n", "#0099CC", "#abc", "fff")]


def _p_isint(f: Any, mod: Any) -> Any:
    return [f(s) for s in ("²", " 42", "1_000", "42", "-3", "4.5")]


PROBES: dict[str, Callable[[Any, Any], Any]] = {
    "underscore": _p_underscore,
    "pluralize_state": _p_pluralize_state,
    "unidecode": _p_unidecode,
    "frequencies": _p_frequencies,
    "int_convert": _p_int_convert,
    "token_match": _p_token_match,
    "max_days": _p_max_days,
    "normalize_hex": _p_normalize_hex,
    "parse_duration": _p_parse_duration,
    "isint": _p_isint,
}
