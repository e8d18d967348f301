"""membership-set: `x in SEQ` inside a loop → a set built once."""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst
import libcst.matchers as m

from runner.agent.providers.rules._tree import (
    Applied,
    Outcome,
    Scope,
    Tree,
    docstring_offset,
    in_loop,
    insert,
    statements,
    text_of,
)

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


def membership_target(tree: Tree, ref: cst.Name) -> cst.ComparisonTarget | None:
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
    if membership_target(tree, ref) is not None:
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
    targets = [t for r in uses if (t := membership_target(scope.fn, r)) is not None]
    if not any(in_loop(scope.fn, t) for t in targets):
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


def _literal_displays(scope: Scope) -> list[cst.ComparisonTarget]:
    """`x in ("a", "b", "c")` in a loop: a display of three or more hashable constants."""
    found: list[cst.ComparisonTarget] = []
    for node in m.findall(scope.function, m.ComparisonTarget(comparator=m.List() | m.Tuple())):
        assert isinstance(node, cst.ComparisonTarget)  # noqa: S101 - matcher guarantees it
        if not isinstance(node.operator, cst.In | cst.NotIn) or not in_loop(scope.fn, node):
            continue
        display = node.comparator
        if _literal_sequence(display) and len(getattr(display, "elements", ())) >= 3:
            found.append(node)
    return found


class _ToSetDisplay(cst.CSTTransformer):
    """Set displays for `targets`, and the renames of `_Comparators`, in one pass."""

    def __init__(
        self, targets: list[cst.ComparisonTarget], renames: dict[cst.ComparisonTarget, str]
    ) -> None:
        self.targets, self.renames = targets, renames

    def leave_ComparisonTarget(
        self, original_node: cst.ComparisonTarget, updated_node: cst.ComparisonTarget
    ) -> cst.ComparisonTarget:
        new = self.renames.get(original_node)
        if new is not None:
            return updated_node.with_changes(comparator=cst.Name(new))
        display = updated_node.comparator
        if original_node not in self.targets or not isinstance(display, cst.List | cst.Tuple):
            return updated_node
        elements = [e.with_changes(comma=cst.MaybeSentinel.DEFAULT) for e in display.elements]
        return updated_node.with_changes(comparator=cst.Set(elements=elements))


def _membership_names(scope: Scope) -> list[str]:
    names: list[str] = []
    for ref in m.findall(scope.function, m.ComparisonTarget(comparator=m.Name())):
        assert isinstance(ref, cst.ComparisonTarget)  # noqa: S101 - matcher guarantees it
        value = ref.comparator.value if isinstance(ref.comparator, cst.Name) else ""
        if isinstance(ref.operator, cst.In | cst.NotIn) and value not in names:
            names.append(value)
    return names


def _why_not(scope: Scope, names: list[str]) -> str:
    tests = [
        t
        for t in m.findall(scope.function, m.ComparisonTarget())
        if isinstance(t, cst.ComparisonTarget) and isinstance(t.operator, cst.In | cst.NotIn)
    ]
    if not tests:
        return "no `in` test"
    if not any(in_loop(scope.fn, t) for t in tests):
        return "no `in` test inside a loop"
    if not names:
        return "the `in` tests are not against a name or a display of 3+ hashable constants"
    listed = ", ".join(f"`{n}`" for n in names)
    return f"{listed} may be mutated, rebound, escape, or hold non-constant values"


def membership_set(scope: Scope) -> Outcome:
    """`x in NAME` inside a loop → a set built once before the loop."""
    body = scope.body()
    if body is None:
        return "a one-line function"
    if not scope.builtins_free("set", "frozenset", "type", "list", "tuple"):
        return "`set`/`frozenset`/`type`/`list`/`tuple` is rebound"
    names = _membership_names(scope)
    plans = [p for name in names if (p := _plan_membership(scope, name)) is not None]
    displays = _literal_displays(scope)
    if not plans and not displays:
        return _why_not(scope, names)
    taken = scope.taken()
    renames: dict[cst.ComparisonTarget, str] = {}
    inserts: list[tuple[int, str]] = []
    for plan in plans:
        set_name = scope.unique(f"_{plan.name.lstrip('_')}_set", taken)
        renames.update(dict.fromkeys(plan.targets, set_name))
        at = docstring_offset(body) if plan.after is None else plan.after + 1
        inserts.append((at, _set_setup(plan, set_name)))
    new = scope.function.visit(_ToSetDisplay(displays, renames))
    assert isinstance(new, cst.FunctionDef)  # noqa: S101 - a transformer keeps the root type
    for at, setup in sorted(inserts, key=lambda item: -item[0]):
        new = insert(new, at, statements(setup))
    return Applied(new, _describe(scope, plans, displays))


def _describe(scope: Scope, plans: list[_SetPlan], displays: list[cst.ComparisonTarget]) -> str:
    more = len(plans) + len(displays) - 1
    tail = f" (and {more} more)" if more else ""
    if not plans:
        comparison = scope.fn.parent(displays[0])
        example = text_of(comparison if comparison is not None else displays[0]).strip()
        return (
            f"`{example}` → a set display of constants (a frozenset constant, hashed lookup);"
            f" an unhashable probe now raises TypeError{tail}"
        )
    first = plans[0]
    comparison = scope.fn.parent(first.targets[0])
    example = text_of(comparison if comparison is not None else first.targets[0]).strip()
    how = "a frozenset" if first.literal else "a set (the list is kept if an element is unhashable)"
    return f"`{example}` → set lookup: `{first.name}` is built once as {how} before the loop{tail}"
