"""Response parsing: code blocks, JSON, imports, duplicates and the typed failures."""

from __future__ import annotations

import json

import pytest

from runner.agent.errors import CodeDoesNotParse, NoCode, Refusal, TruncatedResponse
from runner.agent.exchange import Completion
from runner.agent.parse import normalised, parse_completion, parse_text
from runner.spec import Target

TARGET = Target("shop.py", "price")
RULE = "openai:m"

TWO = """Here you go.

### Candidate 1: use a set for membership
```python
import collections
from functools import lru_cache

def price(x):
    return x * 2
```

### Candidate 2: same code, different layout
```python
from functools import lru_cache
import collections
def price(x):
    # a comment does not make it different
    return (x * 2)
```

### Candidate 3: precompute
```py
def _table():
    return {}

def price(x):
    return x + x
```
"""


def completion(text: str, finish: str = "stop", raw: str | None = None) -> Completion:
    return Completion(text, finish, raw or finish, "m", 10, 20)


def test_code_blocks_become_candidates_with_imports_split_off() -> None:
    found = parse_text(TWO, TARGET, RULE)
    assert [c.description for c in found] == ["use a set for membership", "precompute"]
    first = found[0]
    assert first.imports == ("import collections", "from functools import lru_cache")
    assert first.code.startswith("def price(x):")
    assert "import" not in first.code
    assert first.rule == RULE
    assert first.target == TARGET
    assert "def _table" in found[1].code


def test_duplicates_are_dropped_by_normalised_ast() -> None:
    assert normalised("def f(x):\n    return (x)\n") == normalised("def f(x):  # c\n    return x")
    assert normalised("def f(x):\n    return x\n") != normalised("def f(y):\n    return y\n")


def test_json_answers_are_accepted_bare_and_fenced() -> None:
    data = {
        "candidates": [
            {"description": "halve", "code": "def price(x):\n    return x // 2\n", "imports": []},
            {"description": "mod", "code": "def price(x):\n    return x\n", "imports": ["math"]},
        ]
    }
    bare = parse_text(json.dumps(data), TARGET, RULE)
    fenced = parse_text(f"Sure:\n```json\n{json.dumps(data)}\n```\n", TARGET, RULE)
    assert [c.description for c in bare] == ["halve", "mod"] == [c.description for c in fenced]
    assert bare[1].imports == ("import math",)


def test_truncated_response_is_typed_even_with_code() -> None:
    with pytest.raises(TruncatedResponse, match="token limit"):
        parse_completion(completion(TWO, "length"), TARGET, "openai")
    with pytest.raises(TruncatedResponse, match="max_tokens"):
        parse_completion(completion(TWO, "length", "max_tokens"), TARGET, "anthropic")


def test_refusals() -> None:
    with pytest.raises(Refusal):
        parse_completion(completion("I can't help with that.", "refusal"), TARGET, "openai")
    with pytest.raises(Refusal):
        parse_text("I'm sorry, but I cannot do this.", TARGET, RULE)


def test_no_code_and_code_that_does_not_parse() -> None:
    with pytest.raises(NoCode, match="no code block"):
        parse_text("The function is already optimal.", TARGET, RULE)
    with pytest.raises(CodeDoesNotParse):
        parse_text("```python\ndef price(x:\n    return\n```", TARGET, RULE)
    with pytest.raises(NoCode, match=r"defines price\(\)"):
        parse_text("```python\ndef other(x):\n    return x\n```", TARGET, RULE)


def test_rule_names_provider_and_model() -> None:
    found = parse_completion(completion(TWO), TARGET, "anthropic")
    assert {c.rule for c in found} == {"anthropic:m"}


def test_method_target_matches_the_method_name() -> None:
    method = Target("shop.py", "Cart.total")
    found = parse_text("```python\ndef total(self):\n    return 1\n```", method, RULE)
    assert found[0].target == method


def test_a_method_wrapped_in_its_outline_is_taken_out_alone() -> None:
    """Shown an outline, a model may answer with the class around the method: only the
    method is kept (the signatures it echoes are not its to change)."""
    method = Target("shop.py", "Cart.total")
    text = (
        "```python\nimport math\n\n\nclass Cart:\n"
        '    """A cart."""\n\n'
        "    def _lines(self): ...\n\n"
        "    @property\n"
        "    def total(self):\n"
        "        return math.fsum(self._lines())\n```"
    )
    (found,) = parse_text(text, method, RULE)
    assert found.code == "@property\ndef total(self):\n    return math.fsum(self._lines())\n"
    assert found.imports == ("import math",)
    other = Target("shop.py", "Order.total")  # a class of another name is not unwrapped
    with pytest.raises(NoCode):
        parse_text(text, other, RULE)
