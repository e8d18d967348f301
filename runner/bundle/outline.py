"""Class outlines: what a request shows of a class, for a model to read rather than run.

An outline is the class header (decorators, the `class` line and the first line of its
docstring), then, in source order, only what the code reaches: members shown whole (the
target method, the class constants it reads), other methods by their signature alone
(`def name(self, x): ...`), constructors by their signature and the statements that set
the instance attributes the code reads, and nested classes as outlines of their own.
`...` stands for code that is not shown. Headers, signatures and whole members are the
original text; a constructor's kept statements are re-printed (`ast.unparse`), so the
branches that hold them keep their shape.

Which members are shown is decided by the shaker (`runner.bundle.extract`, outline mode);
this module only renders: text and syntax trees in, text out.
"""

from __future__ import annotations

import ast
import copy
import tokenize
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TypeGuard

_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
_Function = ast.FunctionDef | ast.AsyncFunctionDef
_Definition = ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef
_BLOCKS = ("body", "orelse", "finalbody")
CONSTRUCTORS = ("__new__", "__init__", "__post_init__")
ELIDED = "..."


@dataclass
class Shown:
    """What the outlines show, by syntax node (nodes compare by identity)."""

    classes: set[ast.ClassDef] = field(default_factory=set)
    whole: set[ast.stmt] = field(default_factory=set)
    signatures: set[ast.stmt] = field(default_factory=set)
    # A constructor -> the instance attributes whose assignments it shows.
    attributes: dict[ast.stmt, set[str]] = field(default_factory=dict)


def class_outline(lines: Sequence[str], node: ast.ClassDef, shown: Shown) -> str:
    """The outline of `node` (and of its shown nested classes) from its module's lines."""
    if node.body[0].lineno == _header_end(lines, node)[0]:
        return _original(lines, node)  # `class A: x = 1`: nothing to leave out
    indent = _body_indent(lines, node)
    members = [text for text in (_member(lines, stmt, shown) for stmt in node.body) if text]
    doc = doc_line(node)
    head = header(lines, node) + "\n" + (f"{indent}{doc}\n" if doc else "")
    if not members:
        return head if doc else f"{head}{indent}{ELIDED}\n"
    return head + ("\n" if doc else "") + _join(members)


def header(lines: Sequence[str], node: _Definition) -> str:
    """Decorators and the `class`/`def` line(s), up to and including the colon."""
    end_line, end_col = _header_end(lines, node)
    first = _first_line(node)
    return "".join(lines[first - 1 : end_line - 1]) + lines[end_line - 1][:end_col]


def signature(lines: Sequence[str], node: _Function) -> str:
    """A method by its signature alone: `def name(self, x) -> int: ...`."""
    return f"{header(lines, node)} {ELIDED}\n"


def doc_line(node: ast.ClassDef) -> str:
    """The first line of the docstring as a one-line docstring, or ''."""
    doc = ast.get_docstring(node)
    first = next((line.strip() for line in (doc or "").splitlines() if line.strip()), "")
    if not first:
        return ""
    safe = '"""' not in first and "\\" not in first and not first.endswith('"')
    return f'"""{first}"""' if safe else repr(first)


def constructor_body(function: _Function, names: set[str]) -> list[ast.stmt]:
    """What a constructor's outline shows of its body: the statements that set `names`
    on the instance, inside the blocks that hold them; `...` for every run left out."""
    kept = {id(s) for s in attribute_stores(function, names)}
    return _pruned(function.body, kept)


def attribute_stores(function: _Function, names: set[str]) -> list[ast.stmt]:
    """The statements of a constructor that assign one of `names` on the instance, and
    those that set the local variables they read (`months = Decimal(months)`)."""
    instance = instance_names(function)
    statements = list(_statements(function.body))
    kept = [s for s in statements if names & _stored(s, instance)]
    read: set[str] = set()
    while True:
        wanted = {n.id for s in kept for n in ast.walk(s) if _loads(n)} - instance - read
        if not wanted:
            return [s for s in statements if s in kept]
        read |= wanted
        kept += [s for s in statements if s not in kept and wanted & _assigned(s)]


def _loads(node: ast.AST) -> TypeGuard[ast.Name]:
    return isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)


def _assigned(stmt: ast.stmt) -> set[str]:
    """Local names a simple assignment statement binds."""
    targets = _targets(stmt)
    return {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}


def _targets(stmt: ast.stmt) -> list[ast.expr]:
    if isinstance(stmt, ast.Assign):
        return stmt.targets
    if isinstance(stmt, ast.AnnAssign | ast.AugAssign):
        return [stmt.target]
    return []


def instance_names(function: _Function) -> set[str]:
    """What the instance is called inside a constructor.

    `self` in `__init__`; in `__new__`, the names bound to `...__new__(cls)`.
    """
    params = [*function.args.posonlyargs, *function.args.args]
    if function.name != "__new__":
        return {params[0].arg} if params else set()
    return {
        target.id
        for stmt in _statements(function.body)
        if isinstance(stmt, ast.Assign) and _calls_new(stmt.value)
        for target in stmt.targets
        if isinstance(target, ast.Name)
    }


def _calls_new(value: ast.expr) -> bool:
    return (
        isinstance(value, ast.Call)
        and isinstance(value.func, ast.Attribute)
        and value.func.attr == "__new__"
    )


def _stored(stmt: ast.stmt, instance: set[str]) -> set[str]:
    """Attribute names `stmt` assigns on one of the `instance` names."""
    return {
        node.attr
        for target in _targets(stmt)
        for node in ast.walk(target)
        if isinstance(node, ast.Attribute)
        and isinstance(node.ctx, ast.Store)
        and isinstance(node.value, ast.Name)
        and node.value.id in instance
    }


def _statements(body: Iterable[ast.stmt]) -> Iterator[ast.stmt]:
    """Every statement of a body, in blocks too, not in nested functions or classes."""
    for stmt in body:
        yield stmt
        if isinstance(stmt, (*_FUNCTIONS, ast.ClassDef)):
            continue
        for block in _blocks(stmt):
            yield from _statements(block)


def _blocks(stmt: ast.stmt) -> Iterator[list[ast.stmt]]:
    for name in _BLOCKS:
        block = getattr(stmt, name, None)
        if isinstance(block, list):
            yield block
    for handler in getattr(stmt, "handlers", []):
        yield handler.body
    for case in getattr(stmt, "cases", []):
        yield case.body


# --- rendering members ----------------------------------------------------------------


def _member(lines: Sequence[str], stmt: ast.stmt, shown: Shown) -> str:
    if stmt in shown.whole:
        return _original(lines, stmt)
    if isinstance(stmt, ast.ClassDef) and stmt in shown.classes:
        return class_outline(lines, stmt, shown)
    if isinstance(stmt, _FUNCTIONS) and stmt in shown.attributes:
        return _constructor(lines, stmt, shown.attributes[stmt])
    if isinstance(stmt, _FUNCTIONS) and stmt in shown.signatures:
        return signature(lines, stmt)
    return ""


def _constructor(lines: Sequence[str], function: _Function, names: set[str]) -> str:
    """The signature, then only the statements (and the branches around them) that set `names`."""
    indent = _body_indent(lines, function)
    body = "".join(
        "".join(f"{indent}{line}\n" for line in ast.unparse(stmt).splitlines())
        for stmt in constructor_body(function, names)
    )
    return header(lines, function) + "\n" + body


def _pruned(body: list[ast.stmt], kept: set[int]) -> list[ast.stmt]:
    """`body` with only the kept statements and the blocks holding them; `...` for the rest."""
    out: list[ast.stmt] = []
    for stmt in body:
        if id(stmt) in kept:
            out.append(stmt)
        elif any(id(s) in kept for s in _statements([stmt])):
            out.append(_pruned_block(stmt, kept))
        elif not out or not _is_elided(out[-1]):
            out.append(ast.Expr(ast.Constant(...)))
    return out


def _pruned_block(stmt: ast.stmt, kept: set[int]) -> ast.stmt:
    pruned = copy.copy(stmt)
    for name in _BLOCKS:
        block = getattr(stmt, name, None)
        if isinstance(block, list) and block:
            setattr(pruned, name, _pruned(block, kept))
    for name in ("handlers", "cases"):
        parts = getattr(stmt, name, None)
        if parts:
            setattr(pruned, name, [_with_body(p, _pruned(p.body, kept)) for p in parts])
    return pruned


def _with_body(
    part: ast.ExceptHandler | ast.match_case, body: list[ast.stmt]
) -> ast.ExceptHandler | ast.match_case:
    changed = copy.copy(part)
    changed.body = body
    return changed


def _is_elided(stmt: ast.stmt) -> bool:
    return (
        isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Constant)
        and stmt.value.value is ...
    )


def _join(members: list[str]) -> str:
    """Definitions are set apart by a blank line; one-line members follow each other."""
    out = ""
    for previous, member in zip([None, *members], members, strict=False):
        if previous is not None and (_is_block(previous) or _is_block(member)):
            out += "\n"
        out += member
    return out


def _is_block(text: str) -> bool:
    return text.lstrip().startswith(("def ", "async def ", "class ", "@"))


# --- source positions -----------------------------------------------------------------


def _first_line(node: ast.stmt) -> int:
    decorators: list[ast.expr] = getattr(node, "decorator_list", [])
    return min([node.lineno, *(d.lineno for d in decorators)])


def _original(lines: Sequence[str], node: ast.stmt) -> str:
    return "".join(lines[_first_line(node) - 1 : node.end_lineno or node.lineno])


def _indent(lines: Sequence[str], node: ast.stmt) -> str:
    line = lines[node.lineno - 1]
    return line[: len(line) - len(line.lstrip())]


def _body_indent(lines: Sequence[str], node: _Definition) -> str:
    if node.body[0].lineno == _header_end(lines, node)[0]:  # `def f(self): return 1`
        return _indent(lines, node) + "    "
    return _indent(lines, node.body[0])


def _header_end(lines: Sequence[str], node: ast.stmt) -> tuple[int, int]:
    """(line, column just past) the colon that ends a `def` or `class` header."""
    readline = partial(next, iter(lines[node.lineno - 1 :]), "")
    depth = 0
    for token in tokenize.generate_tokens(readline):
        if token.type != tokenize.OP:
            continue
        if token.string in {"(", "[", "{"}:
            depth += 1
        elif token.string in {")", "]", "}"}:
            depth -= 1
        elif token.string == ":" and depth == 0:
            return node.lineno + token.end[0] - 1, token.end[1]
    raise ValueError(f"no header colon for the definition on line {node.lineno}")
