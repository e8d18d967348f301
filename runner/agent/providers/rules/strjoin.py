"""str-join: `s += piece` (or `s = s + piece`) in a loop → pieces in a list, `"".join` once.

Pieces that are not provably str (`s += ch` for `ch` of an unknown iterable) are accepted
when the loop does nothing observable besides building `s`: a non-str piece then raises
TypeError in both versions, only after the loop instead of at the bad piece.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import libcst as cst
import libcst.matchers as m

from runner.agent.providers.rules._tree import (
    SCOPES,
    Applied,
    Outcome,
    Scope,
    contains,
    statements,
    text_of,
)

_STR_METHODS = {
    "join", "format", "upper", "lower", "strip", "lstrip", "rstrip", "replace", "title",
    "capitalize", "ljust", "rjust", "center", "zfill", "casefold", "swapcase", "expandtabs",
}  # fmt: skip
_STR_BUILTINS = ("str", "repr", "format", "chr", "ascii")
#: calls that neither mutate anything nor have effects, so a later TypeError is unobservable.
_PURE_BUILTINS = {
    "len", "str", "repr", "chr", "ord", "int", "float", "abs", "min", "max", "isinstance",
    "range", "enumerate", "zip", "reversed", "format", "ascii", "bool", "hex", "oct", "divmod",
}  # fmt: skip
_PURE_METHODS = _STR_METHODS | {
    "isdigit", "isalpha", "isalnum", "isspace", "isupper", "islower", "isnumeric", "isdecimal",
    "isidentifier", "isprintable", "istitle", "startswith", "endswith", "find", "rfind", "count",
    "get", "split", "rsplit", "partition", "rpartition", "encode", "decode", "group", "keys",
    "values", "items",
}  # fmt: skip


def _str_literal(node: cst.BaseExpression) -> bool:
    if isinstance(node, cst.SimpleString):
        return "b" not in node.prefix.lower()
    if isinstance(node, cst.FormattedString):
        return True
    if isinstance(node, cst.ConcatenatedString):
        return _str_literal(node.left) and _str_literal(node.right)
    return False


def is_str(node: cst.BaseExpression) -> bool:
    """Whether `node` provably evaluates to a str (or raises) — never another type."""
    if _str_literal(node):
        return True
    if isinstance(node, cst.BinaryOperation):
        if isinstance(node.operator, cst.Add):
            return is_str(node.left) and is_str(node.right)
        return isinstance(node.operator, cst.Modulo) and _str_literal(node.left)
    if isinstance(node, cst.Call):
        if isinstance(node.func, cst.Name):
            return node.func.value in _STR_BUILTINS
        if isinstance(node.func, cst.Attribute):
            return node.func.attr.value in _STR_METHODS and is_str(node.func.value)
    return False


def _piece(scope: Scope, ref: cst.Name) -> cst.BaseExpression | None:
    """The piece of `name += piece` / `name = name + piece` that `ref` belongs to."""
    parent = scope.fn.parent(ref)
    if (
        isinstance(parent, cst.AugAssign)
        and parent.target is ref
        and isinstance(parent.operator, cst.AddAssign)
    ):
        return parent.value
    if isinstance(parent, cst.AssignTarget):
        assign = scope.fn.parent(parent)
        if isinstance(assign, cst.Assign) and len(assign.targets) == 1:
            value = assign.value
            if isinstance(value, cst.BinaryOperation) and isinstance(value.operator, cst.Add):
                return value.right if m.matches(value.left, m.Name(ref.value)) else None
    if isinstance(parent, cst.BinaryOperation) and parent.left is ref:
        assign = scope.fn.parent(parent)
        if isinstance(assign, cst.Assign) and m.matches(
            assign.targets[0].target, m.Name(ref.value)
        ):
            return parent.right
    return None


def _pure(scope: Scope, loop: cst.CSTNode) -> bool:
    """The loop calls only effect-free functions and stores only into plain names."""
    for call in m.findall(loop, m.Call()):
        assert isinstance(call, cst.Call)  # noqa: S101 - matcher guarantees it
        func = call.func
        if isinstance(func, cst.Name) and func.value in _PURE_BUILTINS:
            continue
        if isinstance(func, cst.Attribute) and func.attr.value in _PURE_METHODS:
            continue
        return False
    stores = m.findall(loop, m.AssignTarget(target=~m.Name()) | m.AugAssign(target=~m.Name()))
    effects = (cst.Yield, cst.Await, cst.Del, cst.Global, cst.Nonlocal, *SCOPES)
    return not stores and not contains(loop, effects)


@dataclass(frozen=True)
class _Plan:
    block: cst.IndentedBlock
    init: int
    loop: int
    name: str
    parts: str


def _accumulated(loop: cst.CSTNode) -> list[str]:
    names: list[str] = []
    aug = m.AugAssign(target=m.Name(), operator=m.AddAssign())
    for node in m.findall(loop, aug | m.Assign(value=m.BinaryOperation(operator=m.Add()))):
        target = node.target if isinstance(node, cst.AugAssign) else None
        if isinstance(node, cst.Assign) and len(node.targets) == 1:
            target = node.targets[0].target
        if isinstance(target, cst.Name) and target.value not in names:
            names.append(target.value)
    return names


def _loops(scope: Scope) -> Iterator[tuple[cst.IndentedBlock, int, cst.For | cst.While]]:
    for block in m.findall(scope.function, m.IndentedBlock()):
        assert isinstance(block, cst.IndentedBlock)  # noqa: S101
        for i, stmt in enumerate(block.body):
            plain = isinstance(stmt, cst.For | cst.While) and stmt.orelse is None
            if plain and not (isinstance(stmt, cst.For) and stmt.asynchronous):
                assert isinstance(stmt, cst.For | cst.While)  # noqa: S101
                yield block, i, stmt


def _str_init(stmt: cst.BaseStatement, name: str) -> bool:
    """`name = <a provable str not mentioning name>` alone on its line."""
    if not isinstance(stmt, cst.SimpleStatementLine) or len(stmt.body) != 1:
        return False
    line = stmt.body[0]
    return (
        isinstance(line, cst.Assign)
        and len(line.targets) == 1
        and m.matches(line.targets[0].target, m.Name(name))
        and is_str(line.value)
        and not m.findall(line.value, m.Name(name))
    )


def _init_of(block: cst.IndentedBlock, at: int, name: str) -> int | str:
    """Index of `name = <str>` before statement `at`, with no other use of `name` between."""
    for j in range(at - 1, -1, -1):
        stmt = block.body[j]
        if not m.findall(stmt, m.Name(name)):
            continue
        if _str_init(stmt, name):
            return j
        return f"`{name}` is not set to a str just before the loop"
    return f"`{name}` does not start as a str in the same block as the loop"


def _check_loop(scope: Scope, loop: cst.For | cst.While, name: str) -> str | None:
    refs = [r for r in m.findall(loop, m.Name(name)) if isinstance(r, cst.Name)]
    pieces = []
    for ref in refs:
        piece = _piece(scope, ref)
        if piece is None or m.findall(piece, m.Name(name)):
            return f"`{name}` is read inside the loop"
        if _nested(scope, ref, loop):
            return f"`{name}` is built inside a nested function"
        pieces.append(piece)
    if not pieces:
        return f"`{name}` is read inside the loop"
    if scope.fn.inside(loop, (cst.Try, cst.TryStar, cst.With)):
        return "the loop is inside try/with (a handler could see the half-built string)"
    if not all(is_str(p) for p in pieces) and not _pure(scope, loop):
        return "the pieces are not provably str and the loop has other effects"
    return None


def _nested(scope: Scope, ref: cst.CSTNode, loop: cst.CSTNode) -> bool:
    for ancestor in scope.fn.ancestors(ref):
        if ancestor is loop:
            return False
        if isinstance(ancestor, SCOPES):
            return True
    return False


def _plans(scope: Scope) -> list[_Plan] | str:
    plans: list[_Plan] = []
    reasons: list[str] = []
    taken = scope.taken()
    for block, at, loop in _loops(scope):
        for name in _accumulated(loop):
            init = _init_of(block, at, name)
            why = init if isinstance(init, str) else _check_loop(scope, loop, name)
            if why is not None:
                reasons.append(why)
                continue
            assert isinstance(init, int)  # noqa: S101 - no reason means an index
            parts = scope.unique(f"_{name.lstrip('_')}_parts", taken)
            plans.append(_Plan(block, init, at, name, parts))
    if plans:
        return plans
    return reasons[0] if reasons else "no `s += …` or `s = s + …` in a loop"


class _ToAppend(cst.CSTTransformer):
    """`name += piece` / `name = name + piece` → `parts.append(piece)`."""

    def __init__(self, name: str, parts: str) -> None:
        self.name, self.parts = name, parts

    def _append(self, piece: cst.BaseExpression) -> cst.Expr:
        func = cst.Attribute(cst.Name(self.parts), cst.Name("append"))
        return cst.Expr(cst.Call(func=func, args=[cst.Arg(piece)]))

    def leave_AugAssign(
        self, original_node: cst.AugAssign, updated_node: cst.AugAssign
    ) -> cst.BaseSmallStatement:
        if m.matches(updated_node.target, m.Name(self.name)) and isinstance(
            updated_node.operator, cst.AddAssign
        ):
            return self._append(updated_node.value)
        return updated_node

    def leave_Assign(
        self, original_node: cst.Assign, updated_node: cst.Assign
    ) -> cst.BaseSmallStatement:
        value = updated_node.value
        if (
            len(updated_node.targets) == 1
            and m.matches(updated_node.targets[0].target, m.Name(self.name))
            and isinstance(value, cst.BinaryOperation)
            and isinstance(value.operator, cst.Add)
            and m.matches(value.left, m.Name(self.name))
        ):
            return self._append(value.right)
        return updated_node


def _empty(init: cst.BaseExpression) -> bool:
    return isinstance(init, cst.SimpleString) and init.evaluated_value in ("", b"")


def _rewrite_block(body: list[cst.BaseStatement], plan: _Plan) -> list[cst.BaseStatement]:
    init = body[plan.init]
    assert isinstance(init, cst.SimpleStatementLine)  # noqa: S101 - checked by _init_of
    line = init.body[0]
    assert isinstance(line, cst.Assign)  # noqa: S101
    first = "" if _empty(line.value) else text_of(line.value)
    start = statements(f"{plan.parts} = [{first}]\n")[0]
    loop = body[plan.loop].visit(_ToAppend(plan.name, plan.parts))
    assert isinstance(loop, cst.BaseStatement)  # noqa: S101
    join = statements(f'{plan.name} = "".join({plan.parts})\n')[0]
    out = list(body)
    out[plan.init] = start.with_changes(leading_lines=init.leading_lines)
    out[plan.loop : plan.loop + 1] = [loop, join]
    return out


class _Blocks(cst.CSTTransformer):
    def __init__(self, plans: list[_Plan]) -> None:
        self.plans = plans

    def leave_IndentedBlock(
        self, original_node: cst.IndentedBlock, updated_node: cst.IndentedBlock
    ) -> cst.IndentedBlock:
        mine = [p for p in self.plans if p.block is original_node]
        body = list(updated_node.body)
        for plan in sorted(mine, key=lambda p: -p.loop):  # later loops first: indices stay valid
            body = _rewrite_block(body, plan)
        return updated_node.with_changes(body=body)


def str_join(scope: Scope) -> Outcome:
    """`s = ""` + `for ...: s += piece` → collect pieces in a list and `"".join` them once."""
    if not contains(scope.function, (cst.For, cst.While)):
        return "no for/while loop"
    if not scope.builtins_free(*_STR_BUILTINS):
        return "`str`/`repr`/`format`/`chr`/`ascii` is rebound"
    plans = _plans(scope)
    if isinstance(plans, str):
        return plans
    new = scope.function.visit(_Blocks(plans))
    assert isinstance(new, cst.FunctionDef)  # noqa: S101
    listed = ", ".join(f"`{n} += …`" for n in dict.fromkeys(p.name for p in plans))
    return Applied(new, f'{listed} in a loop → parts collected in a list and `"".join`ed once')
