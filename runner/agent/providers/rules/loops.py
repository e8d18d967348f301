"""Block rewrites of loops: comprehension and str-join."""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator

import libcst as cst
import libcst.matchers as m

from runner.agent.providers.rules._tree import (
    Applied,
    Outcome,
    Scope,
    contains,
    text_of,
)

# ------------------------------------------------------------- loop patterns (block rewrites)

_PairRewrite = Callable[[cst.BaseStatement, cst.BaseStatement], list[cst.BaseStatement] | None]


class _Pairs(cst.CSTTransformer):
    """Replace matched (statement, next statement) pairs inside every block."""

    def __init__(self, plans: dict[cst.BaseStatement, _PairRewrite]) -> None:
        self.plans = plans

    def leave_IndentedBlock(
        self, original_node: cst.IndentedBlock, updated_node: cst.IndentedBlock
    ) -> cst.IndentedBlock:
        out: list[cst.BaseStatement] = []
        i = 0
        old, new = original_node.body, updated_node.body
        while i < len(new):
            plan = self.plans.get(old[i])
            replacement = plan(new[i], new[i + 1]) if plan and i + 1 < len(new) else None
            if replacement is None:
                out.append(new[i])
                i += 1
                continue
            out.extend(replacement)
            i += 2
        return updated_node.with_changes(body=out)


def _pairs(scope: Scope) -> Iterator[tuple[cst.BaseStatement, cst.BaseStatement]]:
    for block in m.findall(scope.function, m.IndentedBlock()):
        assert isinstance(block, cst.IndentedBlock)  # noqa: S101
        yield from zip(block.body, block.body[1:], strict=False)


def _single_assign(stmt: cst.BaseStatement) -> tuple[str, cst.BaseExpression] | None:
    if not isinstance(stmt, cst.SimpleStatementLine) or len(stmt.body) != 1:
        return None
    assign = stmt.body[0]
    if not isinstance(assign, cst.Assign) or len(assign.targets) != 1:
        return None
    target = assign.targets[0].target
    return (target.value, assign.value) if isinstance(target, cst.Name) else None


def _only_small(body: cst.BaseSuite) -> cst.BaseSmallStatement | cst.BaseStatement | None:
    """The single statement of a suite (a small one if it is a simple line)."""
    if isinstance(body, cst.SimpleStatementSuite):
        return body.body[0] if len(body.body) == 1 else None
    if len(body.body) != 1:
        return None
    stmt = body.body[0]
    if isinstance(stmt, cst.SimpleStatementLine):
        return stmt.body[0] if len(stmt.body) == 1 else None
    return stmt


def _plain_for(stmt: cst.BaseStatement) -> cst.For | None:
    if isinstance(stmt, cst.For) and stmt.orelse is None and stmt.asynchronous is None:
        return stmt
    return None


_FRAME_NAMES = {"super", "locals", "vars", "dir", "__class__"}


def _append_of(stmt: object, result: str) -> cst.BaseExpression | None:
    """`result.append(expr)` → expr."""
    if not isinstance(stmt, cst.Expr) or not isinstance(stmt.value, cst.Call):
        return None
    call = stmt.value
    if not m.matches(call.func, m.Attribute(value=m.Name(result), attr=m.Name("append"))):
        return None
    if len(call.args) != 1 or call.args[0].keyword is not None or call.args[0].star:
        return None
    return call.args[0].value


def _comprehension_parts(
    loop: cst.For, result: str
) -> tuple[cst.BaseExpression, cst.BaseExpression | None] | None:
    inner = _only_small(loop.body)
    cond: cst.BaseExpression | None = None
    if isinstance(inner, cst.If) and inner.orelse is None:
        cond, inner = inner.test, _only_small(inner.body)
    expr = _append_of(inner, result)
    if expr is None:
        return None
    return expr, cond


def _comprehension_safe(scope: Scope, loop: cst.For, result: str) -> bool:
    if len(m.findall(loop, m.Name(result))) != 1:
        return False  # `result` is read in the loop besides the append itself
    if contains(loop, (cst.Yield, cst.Await, cst.NamedExpr, cst.Lambda)):
        return False
    if any(m.findall(loop, m.Name(n)) for n in _FRAME_NAMES):
        return False
    # A comprehension's loop variable does not leak: decline if it is used elsewhere.
    for target in m.findall(loop.target, m.Name()):
        assert isinstance(target, cst.Name)  # noqa: S101
        outside = [
            r for r in scope.fn.references(target.value) if loop not in scope.fn.ancestors(r)
        ]
        if outside:
            return False
    return True


def _build_comprehension(
    first: cst.BaseStatement, second: cst.BaseStatement
) -> list[cst.BaseStatement] | None:
    assign, loop = _single_assign(first), _plain_for(second)
    if assign is None or loop is None:
        return None
    parts = _comprehension_parts(loop, assign[0])
    if parts is None:
        return None
    expr, cond = parts
    texts = [text_of(expr), text_of(loop.target), text_of(loop.iter)]
    cond_text = "" if cond is None else text_of(cond)
    for wrap in (False, True):
        e, t, i = texts
        c = cond_text
        if wrap:
            i, c = f"({i})", (f"({c})" if c else c)
        code = f"{assign[0]} = [{e} for {t} in {i}{' if ' + c if c else ''}]\n"
        try:
            ast.parse(code)
            stmt = cst.parse_statement(code)
        except (SyntaxError, cst.ParserSyntaxError):
            continue
        assert isinstance(first, cst.SimpleStatementLine)  # noqa: S101 - by _single_assign
        return [stmt.with_changes(leading_lines=first.leading_lines)]
    return None


def comprehension(scope: Scope) -> Outcome:
    """`r = []` + `for x in it: r.append(e)` → `r = [e for x in it]`."""
    if not contains(scope.function, (cst.For,)):
        return "no for loop"
    plans: dict[cst.BaseStatement, _PairRewrite] = {}
    names: list[str] = []
    for first, second in _pairs(scope):
        assign, loop = _single_assign(first), _plain_for(second)
        if assign is None or loop is None or not m.matches(assign[1], m.List(elements=[])):
            continue
        if _comprehension_parts(loop, assign[0]) is None:
            continue
        if not _comprehension_safe(scope, loop, assign[0]):
            continue
        plans[first] = _build_comprehension
        names.append(assign[0])
    if not plans:
        return "no `r = []` directly followed by a loop that only appends to `r`"
    transformer = _Pairs(plans)
    new = scope.function.visit(transformer)
    assert isinstance(new, cst.FunctionDef)  # noqa: S101
    if new.deep_equals(scope.function):
        return "the loop does not fit in a comprehension"
    listed = ", ".join(f"`{n}`" for n in names)
    return Applied(new, f"append loop → list comprehension for {listed}")
