"""Module-level facts the rules rely on: what a name is bound to, and constant values.

A *module constant* is a name bound exactly once in the whole module, by a top-level
`NAME = value` placed before the target's definition, and never bound by the function.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

import libcst as cst

from runner.agent.providers.rules._tree import Scope, text_of

_MAX_DEPTH = 8


class NotConstantError(ValueError):
    """The expression is not a constant the rules can evaluate."""


@dataclass(frozen=True)
class ReNames:
    """How the module reaches the `re` module: `import re [as x]` and `from re import ...`."""

    modules: frozenset[str]  # names bound to the re module
    functions: dict[str, str]  # local name → re attribute (`from re import sub as _sub`)
    before: frozenset[str]  # the names above, bound before the target's definition


def _import_binding(scope: Scope, name: str) -> cst.ImportAlias | None:
    """The one top-level import binding `name` in the module (None if anything else binds it)."""
    tree = scope.module
    if tree is None or scope.fn.binds(name):
        return None
    binds = tree.binds(name)
    bound = tree.parent(binds[0]) if len(binds) == 1 and isinstance(binds[0], cst.AsName) else None
    alias = bound if bound is not None else (binds[0] if len(binds) == 1 else None)
    if not isinstance(alias, cst.ImportAlias) or tree.inside(alias, (cst.IndentedBlock,)):
        return None
    return alias


def re_names(scope: Scope) -> ReNames:
    """The names through which the module calls the standard `re` module."""
    modules: set[str] = set()
    functions: dict[str, str] = {}
    before: set[str] = set()
    tree, owner = scope.module, scope.owner_index()
    if tree is None or not isinstance(tree.root, cst.Module):
        return ReNames(frozenset(), {}, frozenset())
    for stmt in tree.root.body:
        for small in stmt.body if isinstance(stmt, cst.SimpleStatementLine) else ():
            for alias, bound, attr in _re_aliases(small):
                if _import_binding(scope, bound) is not alias:
                    continue
                if attr:
                    functions[bound] = attr
                else:
                    modules.add(bound)
                index = scope.top_statement_index(alias)
                if owner is not None and index is not None and index < owner:
                    before.add(bound)
    return ReNames(frozenset(modules), functions, frozenset(before))


def _re_aliases(small: cst.BaseSmallStatement) -> list[tuple[cst.ImportAlias, str, str]]:
    """(alias node, bound name, re attribute or "" for the module) of one import statement."""
    out: list[tuple[cst.ImportAlias, str, str]] = []
    if isinstance(small, cst.Import):
        for alias in small.names:
            if text_of(alias.name) == "re":
                out.append((alias, _bound(alias, "re"), ""))
    elif (
        isinstance(small, cst.ImportFrom)
        and small.module is not None
        and text_of(small.module) == "re"
        and not small.relative
        and not isinstance(small.names, cst.ImportStar)
    ):
        for alias in small.names:
            out.append((alias, _bound(alias, text_of(alias.name)), text_of(alias.name)))
    return out


def _bound(alias: cst.ImportAlias, default: str) -> str:
    asname = alias.asname.name if alias.asname is not None else None
    return asname.value if isinstance(asname, cst.Name) else default


def module_constant(scope: Scope, name: str) -> cst.Assign | str:  # noqa: PLR0911 - one per reason
    """The single top-level `name = value` defined before the target, or why not."""
    tree = scope.module
    if tree is None:
        return "the module source is not available"
    if scope.fn.binds(name):
        return f"`{name}` is a local variable"
    binds = tree.binds(name)
    if not binds:
        return f"`{name}` is not a module-level name"
    target = binds[0]
    assign = tree.parent(target)
    if len(binds) != 1 or not isinstance(assign, cst.Assign) or len(assign.targets) != 1:
        return f"`{name}` is bound more than once or not by a plain assignment in the module"
    if tree.inside(assign, (cst.IndentedBlock,)):
        return f"`{name}` is assigned inside a block, not at module level"
    index, owner = scope.top_statement_index(assign), scope.owner_index()
    if index is None or owner is None or index >= owner:
        return f"`{name}` is defined after the target"
    return assign


def constant_value(scope: Scope, node: cst.BaseExpression, depth: int = 0) -> str | bytes | int:
    """The value of a constant str/bytes/int expression; raises ValueError when not constant."""
    try:
        tree = ast.parse(text_of(node).strip(), mode="eval").body
    except SyntaxError:
        raise NotConstantError("not an expression") from None
    return _evaluate(scope, tree, depth)


def _evaluate(scope: Scope, node: ast.expr, depth: int) -> str | bytes | int:
    if depth > _MAX_DEPTH:
        raise NotConstantError("too deep")
    if isinstance(node, ast.Constant) and isinstance(node.value, str | bytes | int):
        return node.value
    if isinstance(node, ast.Name):
        assign = module_constant(scope, node.id)
        if isinstance(assign, str):
            raise NotConstantError(assign)
        return constant_value(scope, assign.value, depth + 1)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.BitOr):
        left, right = _evaluate(scope, node.left, depth), _evaluate(scope, node.right, depth)
        return _combine(left, right, node.op)
    if isinstance(node, ast.JoinedStr):
        return "".join(_format_part(scope, part, depth) for part in node.values)
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        names = re_names(scope)
        flag = getattr(re, node.attr, None)
        if node.value.id in names.modules and isinstance(flag, re.RegexFlag):
            return int(flag)
    raise NotConstantError("not a constant")


def _combine(left: object, right: object, op: ast.operator) -> str | bytes | int:
    if isinstance(op, ast.BitOr) and type(left) is int and type(right) is int:
        return left | right
    if isinstance(op, ast.Add) and isinstance(left, str) and isinstance(right, str):
        return left + right
    if isinstance(op, ast.Add) and isinstance(left, bytes) and isinstance(right, bytes):
        return left + right
    raise NotConstantError("mixed types")


def _format_part(scope: Scope, part: ast.expr, depth: int) -> str:
    if isinstance(part, ast.Constant) and isinstance(part.value, str):
        return part.value
    if not isinstance(part, ast.FormattedValue):
        raise NotConstantError("not a constant")
    value: object = _evaluate(scope, part.value, depth)
    if isinstance(value, bytes):
        raise NotConstantError("bytes in an f-string")
    converted = {-1: value, 115: str(value), 114: repr(value), 97: ascii(value)}[part.conversion]
    spec = "" if part.format_spec is None else _evaluate(scope, part.format_spec, depth)
    return format(converted, str(spec))
