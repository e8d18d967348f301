"""Turn a model's answer into candidates (pure), or say precisely why it holds none.

Two answer shapes are accepted: fenced code blocks (```python, the format the system prompt
asks for, each optionally headed by ``### Candidate N: description``) and structured JSON
(``{"candidates": [{"description", "code", "imports"}]}``, bare or in a ```json block).
Top-level imports in a block become `Candidate.imports` (the safety check and the applier
handle them separately from the definition). A method wrapped in its class (`class X:`
around `def method`) is taken out of it, alone. Duplicates, by normalised AST, are dropped.
"""

from __future__ import annotations

import ast
import json
import re
import textwrap
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from runner.agent.errors import CodeDoesNotParse, NoCode, Refusal, TruncatedResponse
from runner.agent.exchange import Completion
from runner.agent.providers.base import Candidate
from runner.spec import Target

_FENCE = re.compile(r"^```[ \t]*([\w+-]*)[^\n]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
_HEADING = re.compile(r"^#+\s*(?:candidate\s*\d*\s*[:.)-]?\s*)?(.*)$", re.IGNORECASE)
_CODE_LANGUAGES = {"", "python", "py", "python3"}
_REFUSAL = re.compile(
    r"^\s*(i(?:'m| am) sorry|i can(?:no|')t|i(?:'m| am) (?:not able|unable)|i won't)",
    re.IGNORECASE,
)
TRUNCATED = {"length", "max_tokens"}
REFUSED = {"refusal", "content_filter"}


@dataclass(frozen=True)
class Block:
    """One piece of code found in a response, with the text that described it."""

    description: str
    code: str
    imports: tuple[str, ...] = ()


def parse_completion(completion: Completion, target: Target, provider: str) -> list[Candidate]:
    """Candidates for `target` in `completion`; raise a ResponseError when there are none."""
    check_finish(completion)
    return parse_text(completion.text, target, rule=f"{provider}:{completion.model}")


def check_finish(completion: Completion) -> None:
    """Truncated and refused answers are errors even when they contain some code."""
    if completion.finish_reason in TRUNCATED:
        raise TruncatedResponse(
            f"the response hit the token limit after {completion.output_tokens} tokens "
            f"(finish reason {completion.raw_finish_reason!r}); raise ai.max_tokens"
        )
    if completion.finish_reason in REFUSED:
        raise Refusal(f"the model refused (finish reason {completion.raw_finish_reason!r})")


def parse_text(text: str, target: Target, rule: str) -> list[Candidate]:
    """Candidates for `target` in a response's text."""
    blocks = list(json_blocks(text)) or list(code_blocks(text))
    if not blocks:
        if _REFUSAL.match(text):
            raise Refusal(f"the model refused: {_first_line(text)!r}")
        raise NoCode(f"the response holds no code block: {_first_line(text)!r}")
    parsed = [c for c in (_candidate(b, target, rule) for b in blocks) if c is not None]
    if not parsed:
        raise CodeDoesNotParse(f"none of the {len(blocks)} code blocks is valid Python")
    defining = [c for c in parsed if _defines(c.code, target)]
    if not defining:
        name = target.qualname.rsplit(".", 1)[-1]
        raise NoCode(f"no code block defines {name}()")
    return unique(defining)


def unique(candidates: Iterable[Candidate], seen: set[str] | None = None) -> list[Candidate]:
    """Drop candidates whose normalised AST (with imports) was already seen; updates `seen`."""
    keys = set() if seen is None else seen
    out: list[Candidate] = []
    for candidate in candidates:
        key = normalised(candidate.code, candidate.imports)
        if key not in keys:
            keys.add(key)
            out.append(candidate)
    return out


def normalised(code: str, imports: Iterable[str] = ()) -> str:
    """A key equal for code that differs only in layout and comments."""
    tree = ast.parse(textwrap.dedent(code))
    return ast.dump(tree, include_attributes=False) + "\n" + "\n".join(sorted(imports))


# --- finding blocks ---------------------------------------------------------------------


def code_blocks(text: str) -> Iterator[Block]:
    """Fenced Python blocks, each with the heading or line that introduced it."""
    last_end = 0
    for index, match in enumerate(_FENCE.finditer(text), 1):
        language = match.group(1).lower()
        before = text[last_end : match.start()]
        last_end = match.end()
        if language in _CODE_LANGUAGES:
            yield Block(_description(before, index), match.group(2))


def json_blocks(text: str) -> Iterator[Block]:
    """Candidates of a JSON answer: bare, or inside a ```json fence."""
    for raw in _json_texts(text):
        try:
            data = json.loads(raw)
        except ValueError:
            continue
        yield from _json_candidates(data)


def _json_texts(text: str) -> Iterator[str]:
    stripped = text.strip()
    if stripped.startswith(("{", "[")):
        yield stripped
    for match in _FENCE.finditer(text):
        if match.group(1).lower() == "json":
            yield match.group(2)


def _json_candidates(data: Any) -> Iterator[Block]:
    items = data.get("candidates", [data]) if isinstance(data, dict) else data
    if not isinstance(items, list):
        return
    for index, item in enumerate(items, 1):
        if isinstance(item, dict) and isinstance(item.get("code"), str):
            imports = item.get("imports") or []
            yield Block(
                str(item.get("description") or f"candidate {index}"),
                item["code"],
                tuple(_import_line(i) for i in imports if isinstance(i, str)),
            )


def _import_line(text: str) -> str:
    """`"collections"` → `"import collections"`; statements are kept as they are."""
    text = text.strip()
    return text if text.startswith(("import ", "from ")) else f"import {text}"


def _description(before: str, index: int) -> str:
    lines = [line.strip() for line in before.strip().splitlines() if line.strip()]
    if not lines:
        return f"candidate {index}"
    heading = _HEADING.match(lines[-1])
    text = heading.group(1) if heading and lines[-1].startswith("#") else lines[-1]
    return text.strip(" *:`") or f"candidate {index}"


def _first_line(text: str) -> str:
    line = next((t for t in text.strip().splitlines() if t.strip()), "")
    return line[:120]


# --- from a block to a candidate ----------------------------------------------------------


def _candidate(block: Block, target: Target, rule: str) -> Candidate | None:
    """Split top-level imports off the definition; None when the code does not parse."""
    source = textwrap.dedent(block.code).strip("\n") + "\n"
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    lines = source.splitlines(keepends=True)
    imports = list(block.imports)
    body: list[str] = []
    for stmt in tree.body:
        text = "".join(lines[_first_line_of(stmt) - 1 : stmt.end_lineno])
        if isinstance(stmt, ast.Import | ast.ImportFrom):
            # `from __future__` cannot follow other statements once merged into a module.
            if not (isinstance(stmt, ast.ImportFrom) and stmt.module == "__future__"):
                imports.append(text.strip())
        else:
            text = _own_method(stmt, lines, target) or text
            body.append(text.rstrip("\n") + "\n")
    code = "\n\n".join(body)
    if not code.strip():
        return None
    return Candidate(target, block.description, code, rule, tuple(dict.fromkeys(imports)))


def _own_method(stmt: ast.stmt, lines: list[str], target: Target) -> str | None:
    """The target method alone, when an answer wraps it in its class as the request's
    outline showed it; the outline's other members are not the model's to change."""
    owner, _, name = target.qualname.rpartition(".")
    if not owner or not isinstance(stmt, ast.ClassDef) or stmt.name != owner.rsplit(".")[-1]:
        return None
    functions = (ast.FunctionDef, ast.AsyncFunctionDef)
    method = next((m for m in stmt.body if isinstance(m, functions) and m.name == name), None)
    if method is None:
        return None
    return textwrap.dedent("".join(lines[_first_line_of(method) - 1 : method.end_lineno]))


def _first_line_of(stmt: ast.stmt) -> int:
    decorators: list[ast.expr] = getattr(stmt, "decorator_list", [])
    return min([stmt.lineno, *(d.lineno for d in decorators)])


def _defines(code: str, target: Target) -> bool:
    name = target.qualname.rsplit(".", 1)[-1]
    tree = ast.parse(code)
    return any(
        isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name == name for n in tree.body
    )
