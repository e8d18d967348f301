from __future__ import annotations

import difflib

import pytest

from runner.agent.parse import parse_text
from runner.bundle.apply import apply_candidate, extract_definition
from runner.errors import CandidateError, TargetError
from runner.spec import Target
from tests.bundle.test_outline import LEXER

MODULE = '''"""Inventory helpers."""
import re

ALLOWED = ["a", "b"]  # keep this comment


# The slow one.
def keep(items):
    """Keep allowed items."""
    return [i for i in items if i in ALLOWED]


class Queue:
    @staticmethod
    def drain(q):
        out = []
        while q:
            out.append(q.pop(0))
        return out


def untouched(x):
    return   x  # odd spacing stays
'''


def test_extract_definition_function_and_method() -> None:
    assert extract_definition(MODULE, "keep").startswith("def keep(items):\n")
    method = extract_definition(MODULE, "Queue.drain")
    assert method.startswith("@staticmethod\ndef drain(q):\n")
    assert "    out = []" in method
    with pytest.raises(TargetError):
        extract_definition(MODULE, "Queue.missing")


def test_apply_changes_only_the_target() -> None:
    new = (
        'def keep(items):\n    """Keep allowed items."""\n'
        "    allowed = set(ALLOWED)\n    return [i for i in items if i in allowed]\n"
    )
    out = apply_candidate(MODULE, "keep", new)
    before, after = MODULE.splitlines(), out.splitlines()
    changed = [line for line in after if line not in before]
    assert changed == [
        "    allowed = set(ALLOWED)",
        "    return [i for i in items if i in allowed]",
    ]
    assert "# The slow one." in out
    assert "    return   x  # odd spacing stays" in out


def test_apply_method_keeps_indentation_and_adds_import() -> None:
    new = (
        "@staticmethod\ndef drain(q):\n    q = collections.deque(q)\n"
        "    return [q.popleft() for _ in range(len(q))]\n"
    )
    out = apply_candidate(MODULE, "Queue.drain", new, ("import collections", "import re"))
    assert "        q = collections.deque(q)" in out
    assert out.count("import re\n") == 1
    assert out.index("import collections") < out.index("ALLOWED =")
    compile(out, "m.py", "exec")


@pytest.mark.parametrize(
    "code",
    [
        "def keep(items:\n    pass\n",
        "def other(items):\n    return 1\n",
        "x = 1\ndef keep(i):\n    return i\n",
    ],
)
def test_bad_candidates_are_rejected(code: str) -> None:
    with pytest.raises(CandidateError):
        apply_candidate(MODULE, "keep", code)


def test_private_helpers_are_added_after_the_target() -> None:
    code = "def _fast(items):\n    return items\n\n\ndef keep(items):\n    return _fast(items)\n"
    out = apply_candidate(MODULE, "keep", code, ("import collections",))
    assert out.index("def keep") < out.index("def _fast") < out.index("class Queue")
    assert "\n\n\ndef _fast(items):" in out
    assert out.count("def keep") == 1
    untouched = MODULE[MODULE.index("class Queue") :]
    assert out.endswith(untouched)
    with pytest.raises(CandidateError):
        apply_candidate(
            MODULE, "keep", "def keep(i):\n    return i\ndef untouched(x):\n    return x\n"
        )


def test_helper_names_must_be_new() -> None:
    module = MODULE + "\n\ndef _fast(x):\n    return x\n"
    with pytest.raises(CandidateError, match="already exists"):
        apply_candidate(
            module, "keep", "def keep(i):\n    return _fast(i)\ndef _fast(i):\n    return i\n"
        )


def test_a_candidate_from_an_outline_replaces_only_the_method_in_a_large_class() -> None:
    """The request showed `Token.match` in an outline (other methods by signature): the
    answer, wrapped in its class or not, replaces the method and nothing else."""
    wrapped = (
        "```python\nclass Token:\n"
        "    def _flatten(self, depth=0): ...\n\n"
        "    def match(self, ttype, values, depth=0):\n"
        '        """Whether the token matches `ttype` and one of `values`."""\n'
        "        return depth <= self.MAX_DEPTH and self._compare(ttype, values)\n```"
    )
    (candidate,) = parse_text(wrapped, Target("pkg/lexer.py", "Token.match"), "m")
    after = apply_candidate(LEXER, "Token.match", candidate.code)
    changed = [
        line
        for line in difflib.unified_diff(LEXER.splitlines(), after.splitlines(), n=0)
        if line.startswith(("+", "-")) and not line.startswith(("+++", "---"))
    ]
    assert "+        return depth <= self.MAX_DEPTH and self._compare(ttype, values)" in changed
    assert all("match" in line or line[1:].startswith("        ") for line in changed)
    assert len(changed) == 5 + 1  # the old body's five lines, the new one
    assert after.count("FLATTEN_BODY_CANARY") == 1  # the stub was not applied
    assert extract_definition(after, "Token._flatten") == extract_definition(
        LEXER, "Token._flatten"
    )
