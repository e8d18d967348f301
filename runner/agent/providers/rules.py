"""An offline, deterministic provider: a handful of conservative libcst rewrites.

Each rule looks at the target definition (and, where it must, the whole module) and
either returns a rewritten definition or declines. A rule declines whenever it cannot
show that the rewrite keeps the function's behaviour; the verifier's behaviour check is
a second line of defence, not the first.

Known, documented differences (each is stated in the candidate's description):

* membership-set: a set lookup hashes the probe value, so an *unhashable* probe raises
  TypeError where the list lookup returned False. Sequences that come from unknown data
  (parameters, locals built by calls) are converted inside ``try/except TypeError`` and
  only when their type is exactly ``list`` or ``tuple``; an unhashable element keeps the
  original sequence, so membership answers stay identical.
* min-max: ``min``/``max`` raise ValueError on empty input where ``sorted(x)[0]`` raised
  IndexError; rewrites inside ``try``/``with`` blocks are declined for that reason. For
  ``[-1]``, ties between equal but distinguishable values (``1`` and ``1.0``) may pick a
  different representative.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import libcst as cst
import libcst.matchers as m

from runner.agent.providers.base import Candidate, TargetSource

_LOOPS = (cst.For, cst.While, cst.ListComp, cst.SetComp, cst.DictComp, cst.GeneratorExp)
_SCOPES = (cst.FunctionDef, cst.Lambda, cst.ClassDef)
_EMPTY = cst.Module(body=[])


def _code(node: cst.CSTNode) -> str:
    return _EMPTY.code_for_node(node)


@dataclass(frozen=True)
class Applied:
    """One rule's result: the new definition and what to tell the user about it."""

    function: cst.FunctionDef
    description: str
    imports: tuple[str, ...] = ()


def _parent_map(root: cst.CSTNode) -> dict[cst.CSTNode, cst.CSTNode]:
    parents: dict[cst.CSTNode, cst.CSTNode] = {}

    class _Collect(cst.CSTVisitor):
        def on_visit(self, node: cst.CSTNode) -> bool:
            for child in node.children:
                parents[child] = node
            return True

    root.visit(_Collect())
    return parents


@dataclass
class Tree:
    """A parsed tree (function or module) with parent links for context checks."""

    root: cst.CSTNode
    parents: dict[cst.CSTNode, cst.CSTNode] = field(init=False)

    def __post_init__(self) -> None:
        self.parents = _parent_map(self.root)

    def ancestors(self, node: cst.CSTNode) -> Iterator[cst.CSTNode]:
        """Parents of `node`, innermost first, up to the root."""
        while node in self.parents:
            node = self.parents[node]
            yield node

    def parent(self, node: cst.CSTNode) -> cst.CSTNode | None:
        """The direct parent, or None for the root."""
        return self.parents.get(node)

    def references(self, name: str) -> list[cst.Name]:
        """Every `Name` that denotes the variable `name` (not attributes or keywords)."""
        found = [n for n in m.findall(self.root, m.Name(name)) if isinstance(n, cst.Name)]
        return [n for n in found if self._is_reference(n)]

    def _is_reference(self, node: cst.Name) -> bool:
        parent = self.parent(node)
        if isinstance(parent, cst.Attribute) and parent.attr is node:
            return False
        return not (isinstance(parent, cst.Arg) and parent.keyword is node)

    def binds(self, name: str) -> list[cst.CSTNode]:
        """The parents of every place that (re)binds `name` anywhere in the tree."""
        binding = (
            cst.Param,
            cst.AssignTarget,
            cst.AsName,
            cst.FunctionDef,
            cst.ClassDef,
            cst.NameItem,
            cst.ImportAlias,
            cst.Element,
            cst.Del,
        )
        out: list[cst.CSTNode] = []
        for ref in self.references(name):
            parent = self.parent(ref)
            if isinstance(parent, binding) or _is_target_of(parent, ref):
                assert parent is not None  # noqa: S101 - a bound name always has a parent
                out.append(parent)
        return out

    def inside(self, node: cst.CSTNode, kinds: tuple[type[cst.CSTNode], ...]) -> bool:
        """Whether an ancestor of `node` is one of `kinds`."""
        return any(isinstance(a, kinds) for a in self.ancestors(node))


def _is_target_of(parent: cst.CSTNode | None, node: cst.CSTNode) -> bool:
    if isinstance(parent, cst.AnnAssign | cst.AugAssign | cst.NamedExpr):
        return parent.target is node
    if isinstance(parent, cst.For | cst.CompFor):
        return parent.target is node
    return False


@dataclass
class Scope:
    """The function under rewrite plus its module (when it parses)."""

    function: cst.FunctionDef
    fn: Tree
    module: Tree | None

    @classmethod
    def of(cls, function: cst.FunctionDef, module: cst.Module | None) -> Scope:
        """Build the parent maps for `function` and `module`."""
        return cls(function, Tree(function), None if module is None else Tree(module))

    def taken(self) -> set[str]:
        """All identifiers in sight, so that new helper names never collide."""
        roots = [self.function] + ([] if self.module is None else [self.module.root])
        names: set[str] = set()
        for root in roots:
            names.update(n.value for n in m.findall(root, m.Name()) if isinstance(n, cst.Name))
        return names

    def unique(self, base: str, taken: set[str]) -> str:
        """`base`, or `base_2`, `base_3`… — whichever is free; reserves it in `taken`."""
        name, n = base, 1
        while name in taken:
            n += 1
            name = f"{base}_{n}"
        taken.add(name)
        return name

    def builtins_free(self, *names: str) -> bool:
        """True when none of `names` is rebound in the function or the module."""
        trees = [self.fn] + ([] if self.module is None else [self.module])
        return not any(tree.binds(name) for tree in trees for name in names)

    def module_import_only(self, name: str, *, required: bool) -> bool:
        """`name` is bound in the module only by a top-level `import name` (or not at all)."""
        if self.fn.binds(name):
            return False
        if self.module is None:
            return False
        binds = self.module.binds(name)
        plain = [
            b
            for b in binds
            if isinstance(b, cst.ImportAlias)
            and b.asname is None
            and isinstance(self.module.parent(b), cst.Import)
            and self._top_level(b)
        ]
        if len(plain) != len(binds):
            return False
        return bool(plain) or not required

    def _top_level(self, node: cst.CSTNode) -> bool:
        assert self.module is not None  # noqa: S101 - callers check
        return not self.module.inside(node, (cst.IndentedBlock,))

    def body(self) -> Sequence[cst.BaseStatement] | None:
        """The function's statements, or None for a one-line `def f(): ...`."""
        block = self.function.body
        return block.body if isinstance(block, cst.IndentedBlock) else None

    def statement_index(self, node: cst.CSTNode) -> int | None:
        """Index of the top-level function statement that contains `node`."""
        body = self.body()
        if body is None:
            return None
        for candidate in [node, *self.fn.ancestors(node)]:
            for i, stmt in enumerate(body):
                if stmt is candidate:
                    return i
        return None

    def top_assign(self, name: cst.Name) -> cst.Assign | None:
        """The `name = value` statement if `name` is its only target at the function's top."""
        target = self.fn.parent(name)
        assign = self.fn.parent(target) if target is not None else None
        if not isinstance(target, cst.AssignTarget) or not isinstance(assign, cst.Assign):
            return None
        line = self.fn.parent(assign)
        block = self.fn.parent(line) if line is not None else None
        if len(assign.targets) != 1 or not isinstance(line, cst.SimpleStatementLine):
            return None
        if len(line.body) != 1 or block is not self.function.body:
            return None
        return assign


def _docstring_offset(body: Sequence[cst.BaseStatement]) -> int:
    first = body[0] if body else None
    if (
        isinstance(first, cst.SimpleStatementLine)
        and len(first.body) == 1
        and isinstance(first.body[0], cst.Expr)
        and isinstance(first.body[0].value, cst.SimpleString | cst.ConcatenatedString)
    ):
        return 1
    return 0


def _insert(
    function: cst.FunctionDef, at: int, statements: Sequence[cst.BaseStatement]
) -> cst.FunctionDef:
    block = function.body
    assert isinstance(block, cst.IndentedBlock)  # noqa: S101 - rules check this first
    body = list(block.body)
    return function.with_changes(
        body=block.with_changes(body=[*body[:at], *statements, *body[at:]])
    )


def _statements(code: str) -> list[cst.BaseStatement]:
    return list(cst.parse_module(code).body)


def _contains(root: cst.CSTNode, kinds: tuple[type[cst.CSTNode], ...]) -> bool:
    """Whether any node below `root` is one of `kinds`."""
    return any(isinstance(c, kinds) or _contains(c, kinds) for c in root.children)


def _in_loop(tree: Tree, node: cst.CSTNode) -> bool:
    for ancestor in tree.ancestors(node):
        if isinstance(ancestor, _LOOPS):
            return True
        if isinstance(ancestor, _SCOPES):
            return False
    return False


# --------------------------------------------------------------------------- membership-set

_HASHABLE_NAMES = {"True", "False", "None"}


def _hashable_literal(node: cst.BaseExpression) -> bool:
    if isinstance(node, cst.SimpleString | cst.Integer | cst.Float | cst.Imaginary):
        return True
    if isinstance(node, cst.ConcatenatedString):
        return not any(isinstance(p, cst.FormattedString) for p in (node.left, node.right))
    if isinstance(node, cst.Name):
        return node.value in _HASHABLE_NAMES
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Minus):
        return isinstance(node.expression, cst.Integer | cst.Float)
    if isinstance(node, cst.Tuple):
        return _literal_sequence(node)
    return False


def _literal_sequence(node: cst.BaseExpression | None) -> bool:
    """A list or tuple display whose elements are all hashable literals."""
    if not isinstance(node, cst.List | cst.Tuple):
        return False
    return all(isinstance(e, cst.Element) and _hashable_literal(e.value) for e in node.elements)


def _membership_target(tree: Tree, ref: cst.Name) -> cst.ComparisonTarget | None:
    parent = tree.parent(ref)
    if (
        isinstance(parent, cst.ComparisonTarget)
        and parent.comparator is ref
        and isinstance(parent.operator, cst.In | cst.NotIn)
    ):
        return parent
    return None


def _read_only_use(tree: Tree, ref: cst.Name) -> bool:
    """`x in ref`, `for x in ref` or `len(ref)`: uses that never mutate or leak the list."""
    if _membership_target(tree, ref) is not None:
        return True
    parent = tree.parent(ref)
    if isinstance(parent, cst.For | cst.CompFor) and parent.iter is ref:
        return True
    call = tree.parent(parent) if parent is not None else None
    return (
        isinstance(parent, cst.Arg)
        and parent.keyword is None
        and not parent.star
        and isinstance(call, cst.Call)
        and m.matches(call.func, m.Name("len"))
        and len(call.args) == 1
    )


@dataclass
class _SetPlan:
    name: str
    after: int | None  # insert after this top-level statement; None = at the top
    literal: bool
    targets: list[cst.ComparisonTarget]


def _plan_membership(scope: Scope, name: str) -> _SetPlan | None:  # noqa: PLR0911
    refs = scope.fn.references(name)
    params = [r for r in refs if isinstance(scope.fn.parent(r), cst.Param)]
    assigns = [(r, a) for r in refs if (a := scope.top_assign(r)) is not None]
    uses = [r for r in refs if r not in params and r not in [a for a, _ in assigns]]
    if not all(_read_only_use(scope.fn, r) for r in uses) or len(params) + len(assigns) > 1:
        return None
    targets = [t for r in uses if (t := _membership_target(scope.fn, r)) is not None]
    if not any(_in_loop(scope.fn, t) for t in targets):
        return None
    if params:
        return _SetPlan(name, None, literal=False, targets=targets)
    if assigns:
        ref, assign = assigns[0]
        index = scope.statement_index(ref)
        positions = [scope.statement_index(u) for u in uses]
        if index is None or any(p is None or p <= index for p in positions):
            return None
        return _SetPlan(name, index, literal=_literal_sequence(assign.value), targets=targets)
    if _module_constant(scope, name):
        return _SetPlan(name, None, literal=True, targets=targets)
    return None


def _module_constant(scope: Scope, name: str) -> bool:
    """`name` is a top-level list/tuple literal of hashable constants the module never mutates."""
    tree = scope.module
    if tree is None or scope.fn.binds(name):
        return False
    refs = tree.references(name)
    defs: list[cst.Assign] = []
    for ref in refs:
        target = tree.parent(ref)
        assign = tree.parent(target) if target is not None else None
        if isinstance(target, cst.AssignTarget) and isinstance(assign, cst.Assign):
            if len(assign.targets) != 1 or tree.inside(assign, (cst.IndentedBlock,)):
                return False
            defs.append(assign)
        elif not _read_only_use(tree, ref):
            return False
    return len(defs) == 1 and _literal_sequence(defs[0].value)


class _Comparators(cst.CSTTransformer):
    def __init__(self, renames: dict[cst.ComparisonTarget, str]) -> None:
        self.renames = renames

    def leave_ComparisonTarget(
        self, original_node: cst.ComparisonTarget, updated_node: cst.ComparisonTarget
    ) -> cst.ComparisonTarget:
        new = self.renames.get(original_node)
        return updated_node if new is None else updated_node.with_changes(comparator=cst.Name(new))


def _set_setup(plan: _SetPlan, set_name: str) -> str:
    if plan.literal:
        return f"{set_name} = frozenset({plan.name})\n"
    pick = f"set({plan.name}) if type({plan.name}) in (list, tuple) else {plan.name}"
    assign = f"    {set_name} = {pick}\n"
    if len(assign) > 88:
        assign = f"    {set_name} = (\n        {pick}\n    )\n"
    # The type check keeps str/dict/set semantics (`"ab" in "abc"`) untouched, and the
    # TypeError fallback keeps answers identical when an element is unhashable.
    return (
        "try:\n"
        f"{assign}"
        "except TypeError:  # an unhashable element: keep the sequence\n"
        f"    {set_name} = {plan.name}\n"
    )


def membership_set(scope: Scope) -> Applied | None:
    """`x in NAME` inside a loop → a set built once before the loop."""
    body = scope.body()
    if body is None or not scope.builtins_free("set", "frozenset", "type", "list", "tuple"):
        return None
    names: list[str] = []
    for ref in m.findall(scope.function, m.ComparisonTarget(comparator=m.Name())):
        assert isinstance(ref, cst.ComparisonTarget)  # noqa: S101 - matcher guarantees it
        value = ref.comparator.value if isinstance(ref.comparator, cst.Name) else ""
        if isinstance(ref.operator, cst.In | cst.NotIn) and value not in names:
            names.append(value)
    plans = [p for name in names if (p := _plan_membership(scope, name)) is not None]
    if not plans:
        return None
    taken = scope.taken()
    renames: dict[cst.ComparisonTarget, str] = {}
    inserts: list[tuple[int, str]] = []
    for plan in plans:
        set_name = scope.unique(f"_{plan.name.lstrip('_')}_set", taken)
        renames.update(dict.fromkeys(plan.targets, set_name))
        at = _docstring_offset(body) if plan.after is None else plan.after + 1
        inserts.append((at, _set_setup(plan, set_name)))
    new = scope.function.visit(_Comparators(renames))
    assert isinstance(new, cst.FunctionDef)  # noqa: S101 - a transformer keeps the root type
    for at, setup in sorted(inserts, key=lambda item: -item[0]):
        new = _insert(new, at, _statements(setup))
    first = plans[0]
    comparison = scope.fn.parent(first.targets[0])
    example = _code(comparison if comparison is not None else first.targets[0]).strip()
    how = "a frozenset" if first.literal else "a set (the list is kept if an element is unhashable)"
    more = f" (and {len(plans) - 1} more)" if len(plans) > 1 else ""
    return Applied(
        new,
        f"`{example}` → set lookup: `{first.name}` is built once as {how} before the loop{more}",
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
    if _contains(loop, (cst.Yield, cst.Await, cst.NamedExpr, cst.Lambda)):
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
    texts = [_code(expr), _code(loop.target), _code(loop.iter)]
    cond_text = "" if cond is None else _code(cond)
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


def comprehension(scope: Scope) -> Applied | None:
    """`r = []` + `for x in it: r.append(e)` → `r = [e for x in it]`."""
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
        return None
    transformer = _Pairs(plans)
    new = scope.function.visit(transformer)
    assert isinstance(new, cst.FunctionDef)  # noqa: S101
    if new.deep_equals(scope.function):
        return None
    listed = ", ".join(f"`{n}`" for n in names)
    return Applied(new, f"append loop → list comprehension for {listed}")


# ---------------------------------------------------------------------------- str-join

_STR_METHODS = {
    "join", "format", "upper", "lower", "strip", "lstrip", "rstrip", "replace", "title",
    "capitalize", "ljust", "rjust", "center", "zfill", "casefold", "swapcase", "expandtabs",
}  # fmt: skip
_STR_BUILTINS = ("str", "repr", "format", "chr", "ascii")


def _str_literal(node: cst.BaseExpression) -> bool:
    if isinstance(node, cst.SimpleString):
        return "b" not in node.prefix.lower()
    if isinstance(node, cst.FormattedString):
        return True
    if isinstance(node, cst.ConcatenatedString):
        return _str_literal(node.left) and _str_literal(node.right)
    return False


def _is_str(node: cst.BaseExpression) -> bool:
    """Whether `node` provably evaluates to a str (or raises) — never another type."""
    if _str_literal(node):
        return True
    if isinstance(node, cst.BinaryOperation):
        if isinstance(node.operator, cst.Add):
            return _is_str(node.left) and _is_str(node.right)
        return isinstance(node.operator, cst.Modulo) and _str_literal(node.left)
    if isinstance(node, cst.Call):
        if isinstance(node.func, cst.Name):
            return node.func.value in _STR_BUILTINS
        if isinstance(node.func, cst.Attribute):
            return node.func.attr.value in _STR_METHODS and _is_str(node.func.value)
    return False


def _join_safe(scope: Scope, loop: cst.For, name: str) -> bool:
    adds = 0
    for ref in m.findall(loop, m.Name(name)):
        parent = scope.fn.parent(ref)
        if not (
            isinstance(parent, cst.AugAssign)
            and parent.target is ref
            and isinstance(parent.operator, cst.AddAssign)
            and _is_str(parent.value)
            and not m.findall(parent.value, m.Name(name))
        ):
            return False
        adds += 1
    nested = _contains(loop, _SCOPES)
    # Inside try/with, an exception could expose the half-built string to a handler.
    guarded = scope.fn.inside(loop, (cst.Try, cst.TryStar, cst.With))
    return adds > 0 and not nested and not guarded


class _AugToAppend(cst.CSTTransformer):
    def __init__(self, name: str, parts: str) -> None:
        self.name, self.parts = name, parts

    def leave_AugAssign(
        self, original_node: cst.AugAssign, updated_node: cst.AugAssign
    ) -> cst.BaseSmallStatement:
        if not m.matches(updated_node.target, m.Name(self.name)):
            return updated_node
        return cst.Expr(
            cst.Call(
                func=cst.Attribute(cst.Name(self.parts), cst.Name("append")),
                args=[cst.Arg(updated_node.value)],
            )
        )


def _join_builder(parts: str) -> _PairRewrite:
    def build(
        first: cst.BaseStatement, second: cst.BaseStatement
    ) -> list[cst.BaseStatement] | None:
        assign, loop = _single_assign(first), _plain_for(second)
        if assign is None or loop is None or not isinstance(first, cst.SimpleStatementLine):
            return None
        name, init = assign
        empty = isinstance(init, cst.SimpleString) and init.evaluated_value in ("", b"")
        new_loop = loop.visit(_AugToAppend(name, parts))
        assert isinstance(new_loop, cst.For)  # noqa: S101
        start = cst.parse_statement(f"{parts} = [{'' if empty else _code(init)}]\n")
        join = cst.parse_statement(f'{name} = "".join({parts})\n')
        return [start.with_changes(leading_lines=first.leading_lines), new_loop, join]

    return build


def str_join(scope: Scope) -> Applied | None:
    """`s = ""` + `for ...: s += piece` → collect pieces in a list and `"".join` them once."""
    if not scope.builtins_free(*_STR_BUILTINS):
        return None
    plans: dict[cst.BaseStatement, _PairRewrite] = {}
    names: list[str] = []
    taken = scope.taken()
    for first, second in _pairs(scope):
        assign, loop = _single_assign(first), _plain_for(second)
        if assign is None or loop is None or not _is_str(assign[1]):
            continue
        if m.findall(assign[1], m.Name(assign[0])) or not _join_safe(scope, loop, assign[0]):
            continue
        plans[first] = _join_builder(scope.unique(f"_{assign[0].lstrip('_')}_parts", taken))
        names.append(assign[0])
    if not plans:
        return None
    new = scope.function.visit(_Pairs(plans))
    assert isinstance(new, cst.FunctionDef)  # noqa: S101
    listed = ", ".join(f"`{n} += …`" for n in names)
    return Applied(new, f'{listed} in a loop → parts collected in a list and `"".join`ed once')


# ---------------------------------------------------------------------------- regex-hoist

#: module-level function → its parameters after `pattern` (flags is always last).
_RE_PARAMS: dict[str, tuple[str, ...]] = {
    "compile": ("flags",),
    "match": ("string", "flags"),
    "search": ("string", "flags"),
    "fullmatch": ("string", "flags"),
    "findall": ("string", "flags"),
    "finditer": ("string", "flags"),
    "sub": ("repl", "string", "count", "flags"),
    "subn": ("repl", "string", "count", "flags"),
    "split": ("string", "maxsplit", "flags"),
}


def _flag_value(node: cst.BaseExpression) -> int | None:
    if isinstance(node, cst.Integer):
        try:
            return int(node.value, 0)
        except ValueError:
            return None
    if m.matches(node, m.Attribute(value=m.Name("re"), attr=m.Name())):
        assert isinstance(node, cst.Attribute)  # noqa: S101
        flag = getattr(re, node.attr.value, None)
        return int(flag) if isinstance(flag, re.RegexFlag) else None
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.BitOr):
        left, right = _flag_value(node.left), _flag_value(node.right)
        return None if left is None or right is None else left | right
    return None


@dataclass(frozen=True)
class _ReCall:
    method: str
    compile_args: str  # `pattern[, flags]` as source text
    rest: tuple[cst.Arg, ...]  # the call's other arguments, flags removed


def _re_call(call: cst.Call) -> _ReCall | None:
    if not m.matches(call.func, m.Attribute(value=m.Name("re"), attr=m.Name())):
        return None
    assert isinstance(call.func, cst.Attribute)  # noqa: S101
    method, params = call.func.attr.value, _RE_PARAMS.get(call.func.attr.value)
    if params is None or not call.args or any(a.star for a in call.args):
        return None
    pattern, *others = call.args
    if pattern.keyword is not None or not isinstance(
        pattern.value, cst.SimpleString | cst.ConcatenatedString
    ):
        return None
    flags: cst.BaseExpression | None = None
    rest: list[cst.Arg] = []
    for index, arg in enumerate(others):
        key = arg.keyword.value if arg.keyword else (params[index] if index < len(params) else "")
        if key not in params:
            return None
        if key == "flags":
            flags = arg.value
        else:
            rest.append(arg.with_changes(comma=cst.MaybeSentinel.DEFAULT))
    flag_value = 0 if flags is None else _flag_value(flags)
    if flag_value is None or not _compiles(pattern.value, flag_value):
        return None
    text = _code(pattern.value) + ("" if flags is None else f", {_code(flags)}")
    return _ReCall(method, text, tuple(rest))


def _compiles(pattern: cst.BaseExpression, flags: int) -> bool:
    """Hoisting must not turn a loop that never runs into one that raises re.error."""
    try:
        value = ast.literal_eval(_code(pattern))
        re.compile(value, flags)
    except (ValueError, SyntaxError, TypeError, re.error):
        return False
    return True


class _ReplaceCalls(cst.CSTTransformer):
    def __init__(self, replacements: dict[cst.Call, cst.BaseExpression]) -> None:
        self.replacements = replacements

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        return self.replacements.get(original_node, updated_node)


def regex_hoist(scope: Scope) -> Applied | None:
    """`re.match(r"...", s)` in a loop → a pattern compiled once at the top of the function."""
    body = scope.body()
    if body is None or not scope.module_import_only("re", required=True):
        return None
    taken = scope.taken()
    hoisted: dict[str, str] = {}  # compile arguments → pattern variable
    replacements: dict[cst.Call, cst.BaseExpression] = {}
    examples: dict[str, str] = {}  # method → pattern variable, for the description
    for node in m.findall(scope.function, m.Call()):
        assert isinstance(node, cst.Call)  # noqa: S101
        found = _re_call(node) if _in_loop(scope.fn, node) else None
        if found is None:
            continue
        if found.compile_args not in hoisted:
            hoisted[found.compile_args] = scope.unique(f"_pattern_{len(hoisted) + 1}", taken)
        var = hoisted[found.compile_args]
        examples.setdefault(found.method, var)
        if found.method == "compile":
            replacements[node] = cst.Name(var)
            continue
        args = ", ".join(_code(a) for a in found.rest)
        replacements[node] = cst.parse_expression(f"{var}.{found.method}({args})")
    if not replacements:
        return None
    new = scope.function.visit(_ReplaceCalls(replacements))
    assert isinstance(new, cst.FunctionDef)  # noqa: S101
    setup = "".join(f"{var} = re.compile({args})\n" for args, var in hoisted.items())
    new = _insert(new, _docstring_offset(body), _statements(setup))
    first_call, first_args = next(iter(examples)), next(iter(hoisted))
    more = f" (and {len(hoisted) - 1} more)" if len(hoisted) > 1 else ""
    return Applied(
        new,
        f"`re.{first_call}(…)` in a loop → `{hoisted[first_args]} = re.compile({first_args})`"
        f" once before the loop{more}",
        ("import re",),
    )


# ---------------------------------------------------------------------------- min-max


def _sorted_pick(node: cst.Subscript) -> tuple[cst.Call, bool] | None:
    """`sorted(...)[0]` → (call, False); `sorted(...)[-1]` → (call, True)."""
    if not isinstance(node.value, cst.Call) or not m.matches(node.value.func, m.Name("sorted")):
        return None
    if len(node.slice) != 1 or not isinstance(node.slice[0].slice, cst.Index):
        return None
    index = node.slice[0].slice.value
    if m.matches(index, m.Integer("0")):
        return node.value, False
    if m.matches(index, m.UnaryOperation(operator=m.Minus(), expression=m.Integer("1"))):
        return node.value, True
    return None


def _min_max_call(call: cst.Call, last: bool) -> str | None:
    if not call.args or call.args[0].keyword is not None or call.args[0].star:
        return None
    kept = [call.args[0]]
    reverse = False
    for arg in call.args[1:]:
        key = arg.keyword.value if arg.keyword is not None else ""
        if key == "reverse" and isinstance(arg.value, cst.Name):
            if arg.value.value not in {"True", "False"}:
                return None
            reverse = arg.value.value == "True"
        elif key == "key":
            kept.append(arg)
        else:
            return None
    # sorted(...)[-1] is the *last* of equal maxima; max() the first: only safe without key.
    if last and len(kept) > 1:
        return None
    name = "max" if last != reverse else "min"
    args = ", ".join(_code(a.with_changes(comma=cst.MaybeSentinel.DEFAULT)) for a in kept)
    return f"{name}({args})"


def min_max(scope: Scope) -> Applied | None:
    """`sorted(x)[0]` → `min(x)`, `sorted(x)[-1]` → `max(x)` (reverse swaps them)."""
    if not scope.builtins_free("sorted", "min", "max"):
        return None
    replacements: dict[cst.Subscript, str] = {}
    for node in m.findall(scope.function, m.Subscript()):
        assert isinstance(node, cst.Subscript)  # noqa: S101
        pick = _sorted_pick(node)
        parent = scope.fn.parent(node)
        if pick is None or isinstance(parent, cst.AssignTarget | cst.Del | cst.AugAssign):
            continue
        if scope.fn.inside(node, (cst.Try, cst.TryStar, cst.With)):
            continue  # a handler could rely on IndexError for empty input
        new = _min_max_call(*pick)
        if new is not None:
            replacements[node] = new
    if not replacements:
        return None

    class _Swap(cst.CSTTransformer):
        def leave_Subscript(
            self, original_node: cst.Subscript, updated_node: cst.Subscript
        ) -> cst.BaseExpression:
            text = replacements.get(original_node)
            return updated_node if text is None else cst.parse_expression(text)

    new_fn = scope.function.visit(_Swap())
    assert isinstance(new_fn, cst.FunctionDef)  # noqa: S101
    first = next(iter(replacements))
    return Applied(
        new_fn,
        f"`{_code(first)}` → `{replacements[first]}`: one O(n) pass instead of a full sort"
        " (empty input now raises ValueError, not IndexError)",
    )


# ---------------------------------------------------------------------------- deque-queue

_QUEUE_METHODS = {"append", "extend", "pop"}


def _queue_use(tree: Tree, ref: cst.Name) -> str | None:  # noqa: PLR0911 - one per shape
    """How a reference uses the queue: "popleft", "ok", or None when it is not allowed."""
    parent = tree.parent(ref)
    grand = tree.parent(parent) if parent is not None else None
    if isinstance(parent, cst.Attribute) and parent.value is ref:
        if not isinstance(grand, cst.Call) or grand.func is not parent:
            return None
        method, args = parent.attr.value, grand.args
        if any(a.keyword is not None or a.star for a in args) or method not in _QUEUE_METHODS:
            return None
        if method == "pop":
            if not args:
                return "ok"
            return (
                "popleft" if len(args) == 1 and m.matches(args[0].value, m.Integer("0")) else None
            )
        return "ok" if len(args) == 1 else None
    if isinstance(parent, cst.While | cst.If | cst.IfExp) and parent.test is ref:
        return "ok"
    if isinstance(parent, cst.UnaryOperation) and isinstance(parent.operator, cst.Not):
        return "ok"
    if _membership_target(tree, ref) is not None:
        return "ok"
    if isinstance(parent, cst.Arg) and parent.keyword is None and not parent.star:
        if isinstance(grand, cst.Call) and m.matches(grand.func, m.Name("len")):
            return "ok" if len(grand.args) == 1 else None
        return None
    return None


def _deque_value(value: cst.BaseExpression) -> str | None:
    if isinstance(value, cst.List):
        return "collections.deque()" if not value.elements else f"collections.deque({_code(value)})"
    if (
        isinstance(value, cst.Call)
        and m.matches(value.func, m.Name("list"))
        and len(value.args) == 1
        and value.args[0].keyword is None
        and not value.args[0].star
    ):
        return f"collections.deque({_code(value.args[0].value)})"
    return None


def _plan_queue(scope: Scope, ref: cst.Name) -> tuple[cst.Assign, list[cst.Name]] | None:
    assign = scope.top_assign(ref)
    if assign is None or _deque_value(assign.value) is None:
        return None
    index = scope.statement_index(ref)
    pops: list[cst.Name] = []
    for other in scope.fn.references(ref.value):
        if other is ref:
            continue
        position = scope.statement_index(other)
        use = _queue_use(scope.fn, other)
        if use is None or position is None or index is None or position <= index:
            return None
        if use == "popleft":
            pops.append(other)
    return (assign, pops) if pops else None


def deque_queue(scope: Scope) -> Applied | None:
    """A local list used as a FIFO with `pop(0)` → `collections.deque` with `popleft()`."""
    if scope.body() is None or not scope.builtins_free("list", "len"):
        return None
    if not scope.module_import_only("collections", required=False):
        return None
    plans: list[tuple[cst.Assign, list[cst.Name], str]] = []
    for node in m.findall(scope.function, m.AssignTarget(target=m.Name())):
        assert isinstance(node, cst.AssignTarget)  # noqa: S101
        assert isinstance(node.target, cst.Name)  # noqa: S101
        if any(p[2] == node.target.value for p in plans):
            continue
        plan = _plan_queue(scope, node.target)
        if plan is not None:
            plans.append((*plan, node.target.value))
    if not plans:
        return None
    values = {a: _deque_value(a.value) or "" for a, _, _ in plans}
    pops = {id(r) for _, refs, _ in plans for r in refs}

    class _ToDeque(cst.CSTTransformer):
        def leave_Assign(self, original_node: cst.Assign, updated_node: cst.Assign) -> cst.Assign:
            text = values.get(original_node)
            return (
                updated_node
                if not text
                else updated_node.with_changes(value=cst.parse_expression(text))
            )

        def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.Call:
            func = original_node.func
            if isinstance(func, cst.Attribute) and id(func.value) in pops:
                assert isinstance(updated_node.func, cst.Attribute)  # noqa: S101
                return updated_node.with_changes(
                    func=updated_node.func.with_changes(attr=cst.Name("popleft")), args=()
                )
            return updated_node

    new = scope.function.visit(_ToDeque())
    assert isinstance(new, cst.FunctionDef)  # noqa: S101
    name = plans[0][2]
    return Applied(
        new,
        f"`{name}.pop(0)` → `{name}.popleft()` on a collections.deque:"
        " O(1) instead of shifting the whole list",
        ("import collections",),
    )


# ---------------------------------------------------------------------------- the provider

#: (rule id, rule), in the order they are tried and combined.
RULES: tuple[tuple[str, Callable[[Scope], Applied | None]], ...] = (
    ("membership-set", membership_set),
    ("deque-queue", deque_queue),
    ("regex-hoist", regex_hoist),
    ("min-max", min_max),
    ("str-join", str_join),
    ("comprehension", comprehension),
)


def _parse_function(definition: str) -> tuple[cst.Module, cst.FunctionDef] | None:
    try:
        module = cst.parse_module(definition)
    except cst.ParserSyntaxError:
        return None
    defs = [n for n in module.body if isinstance(n, cst.FunctionDef)]
    return (module, defs[0]) if len(defs) == 1 and len(module.body) == 1 else None


def _parse_module(source: str) -> cst.Module | None:
    try:
        return cst.parse_module(source)
    except cst.ParserSyntaxError:
        return None


def apply_rule(
    rule: Callable[[Scope], Applied | None], definition: str, module: cst.Module | None
) -> tuple[str, Applied] | None:
    """Run one rule on a definition; the new code, or None when the rule declines."""
    parsed = _parse_function(definition)
    if parsed is None:
        return None
    def_module, function = parsed
    applied = rule(Scope.of(function, module))
    if applied is None:
        return None
    code = def_module.with_changes(body=[applied.function]).code
    try:
        ast.parse(code)
    except SyntaxError:  # a rule produced something invalid: decline rather than crash
        return None
    return (code, applied) if code != definition else None


class RulesProvider:
    """Deterministic, offline candidates from a fixed set of conservative rewrites."""

    name = "rules"

    def propose(self, source: TargetSource, limit: int) -> list[Candidate]:
        """One candidate per applicable rule, then all of them combined (when ≥ 2 apply)."""
        if limit <= 0:
            return []
        module = _parse_module(source.module)
        candidates: list[Candidate] = []
        for rule_id, rule in RULES:
            result = apply_rule(rule, source.definition, module)
            if result is not None:
                code, applied = result
                candidates.append(
                    Candidate(source.target, applied.description, code, rule_id, applied.imports)
                )
        if len(candidates) >= 2:
            combined = self._combined(source, module)
            if combined is not None:
                candidates.append(combined)
        unique: dict[str, Candidate] = {}
        for candidate in candidates:
            unique.setdefault(candidate.code, candidate)
        return list(unique.values())[:limit]

    def _combined(self, source: TargetSource, module: cst.Module | None) -> Candidate | None:
        code = source.definition
        ids: list[str] = []
        imports: list[str] = []
        notes: list[str] = []
        for rule_id, rule in RULES:
            result = apply_rule(rule, code, module)
            if result is None:
                continue
            code, applied = result
            ids.append(rule_id)
            notes.append(applied.description)
            imports.extend(i for i in applied.imports if i not in imports)
        if len(ids) < 2:
            return None
        return Candidate(source.target, "; ".join(notes), code, "+".join(ids), tuple(imports))
