"""Read a target's definition from its module and write a candidate back (libcst).

Only the target definition is replaced and missing imports are added; every other
line of the module stays byte-identical.
"""

from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from runner.errors import CandidateError, TargetError

Definition = cst.FunctionDef


def _parse_module(source: str, what: str) -> cst.Module:
    try:
        return cst.parse_module(source)
    except cst.ParserSyntaxError as exc:
        raise CandidateError(
            f"{what} does not parse: {exc.message} (line {exc.raw_line})"
        ) from None


def _find(module: cst.Module, qualname: str) -> Definition:
    parts = qualname.split(".")
    body: tuple[cst.CSTNode, ...] = tuple(module.body)
    for depth, name in enumerate(parts):
        last = depth == len(parts) - 1
        wanted = cst.FunctionDef if last else cst.ClassDef
        match = next((n for n in body if isinstance(n, wanted) and n.name.value == name), None)
        if match is None:
            raise TargetError(f"no definition {qualname!r} in the module")
        if last:
            assert isinstance(match, cst.FunctionDef)  # noqa: S101 - by construction
            return match
        assert isinstance(match, cst.ClassDef)  # noqa: S101
        inner = match.body
        body = tuple(inner.body) if isinstance(inner, cst.IndentedBlock) else ()
    raise TargetError(f"no definition {qualname!r} in the module")


def extract_definition(module_source: str, qualname: str) -> str:
    """The exact source of a definition (decorators included), at indentation zero."""
    module = _parse_module(module_source, "the target module")
    node = _find(module, qualname)
    return cst.Module(body=[node.with_changes(leading_lines=())]).code


def _parse_definition(code: str, qualname: str) -> cst.FunctionDef:
    target, _helpers = _parse_candidate(code, qualname)
    return target


def _parse_candidate(
    code: str, qualname: str
) -> tuple[cst.FunctionDef, tuple[cst.FunctionDef, ...]]:
    """The target definition and the new private helper functions of a candidate."""
    module = _parse_module(code, "the candidate")
    defs = [n for n in module.body if isinstance(n, cst.FunctionDef)]
    name = qualname.rsplit(".", 1)[-1]
    targets = [d for d in defs if d.name.value == name]
    helpers = tuple(d for d in defs if d.name.value != name)
    private = all(h.name.value.startswith("_") for h in helpers)
    if len(targets) != 1 or len(defs) != len(module.body) or not private:
        raise CandidateError(
            f"the candidate must be one definition of {name!r} (plus private helpers)"
        )
    leading = _find_leading(module) if module.body[0] is targets[0] else ()
    return targets[0].with_changes(leading_lines=leading), helpers


def _find_leading(module: cst.Module) -> tuple[cst.EmptyLine, ...]:
    first = module.body[0]
    return tuple(getattr(first, "leading_lines", ()))


class _Replace(cst.CSTTransformer):
    def __init__(self, old: cst.FunctionDef, new: cst.FunctionDef) -> None:
        self.old, self.new, self.done = old, new, False

    def leave_FunctionDef(
        self, original_node: cst.FunctionDef, updated_node: cst.FunctionDef
    ) -> cst.FunctionDef:
        if original_node is self.old:
            self.done = True
            # Keep the blank lines/comments above the original definition.
            return self.new.with_changes(leading_lines=original_node.leading_lines)
        return updated_node


def apply_candidate(
    module_source: str, qualname: str, code: str, imports: tuple[str, ...] = ()
) -> str:
    """Return `module_source` with `qualname` replaced by `code` and `imports` ensured.

    `code` may also define new private helper functions (`_name`); they are added at module
    level right after the statement holding the target, and must not exist yet.
    """
    module = _parse_module(module_source, "the target module")
    old = _find(module, qualname)
    new, helpers = _parse_candidate(code, qualname)
    _check_new_helpers(module, helpers)
    replacer = _Replace(old, new)
    updated = module.visit(replacer)
    if not replacer.done:
        raise CandidateError(f"could not locate {qualname!r} to replace")
    updated = _add_helpers(updated, qualname.split(".", 1)[0], helpers)
    return _ensure_imports(updated, imports).code


def _check_new_helpers(module: cst.Module, helpers: Sequence[cst.FunctionDef]) -> None:
    existing = {_name_of(n) for n in module.body}
    for helper in helpers:
        if helper.name.value in existing:
            raise CandidateError(f"the helper {helper.name.value!r} already exists")


def _name_of(node: cst.CSTNode) -> str | None:
    return node.name.value if isinstance(node, cst.FunctionDef | cst.ClassDef) else None


def _add_helpers(module: cst.Module, top: str, helpers: Sequence[cst.FunctionDef]) -> cst.Module:
    if not helpers:
        return module
    body = list(module.body)
    at = next(i for i, n in enumerate(body) if _name_of(n) == top)
    spaced = [h.with_changes(leading_lines=[cst.EmptyLine(), cst.EmptyLine()]) for h in helpers]
    return module.with_changes(body=[*body[: at + 1], *spaced, *body[at + 1 :]])


def _ensure_imports(module: cst.Module, imports: tuple[str, ...]) -> cst.Module:
    existing = {_normalise(stmt) for stmt in module.body if _is_import(stmt)}
    missing = [imp for imp in imports if _normalise(cst.parse_statement(imp)) not in existing]
    if not missing:
        return module
    body = list(module.body)
    at = _import_insertion_index(body)
    new_stmts = [cst.parse_statement(imp) for imp in missing]
    return module.with_changes(body=[*body[:at], *new_stmts, *body[at:]])


def _is_import(stmt: cst.CSTNode) -> bool:
    return isinstance(stmt, cst.SimpleStatementLine) and all(
        isinstance(s, cst.Import | cst.ImportFrom) for s in stmt.body
    )


def _normalise(stmt: cst.CSTNode) -> str:
    return cst.Module(body=[]).code_for_node(stmt).strip()


def _import_insertion_index(body: Sequence[cst.CSTNode]) -> int:
    """After the docstring, `__future__` imports and the leading import block."""
    index = 0
    if body and _is_docstring(body[0]):
        index = 1
    while index < len(body) and _is_import(body[index]):
        index += 1
    return index


def _is_docstring(stmt: cst.CSTNode) -> bool:
    return (
        isinstance(stmt, cst.SimpleStatementLine)
        and len(stmt.body) == 1
        and isinstance(stmt.body[0], cst.Expr)
        and isinstance(stmt.body[0].value, cst.SimpleString | cst.ConcatenatedString)
    )
