"""deque-queue: a local list used as a FIFO (`pop(0)`) → `collections.deque` + `popleft()`."""

from __future__ import annotations

import libcst as cst
import libcst.matchers as m

from runner.agent.providers.rules._tree import Applied, Outcome, Scope, Tree, text_of
from runner.agent.providers.rules.membership import membership_target

#: list methods a deque has with the same meaning (`pop()` pops from the right on both).
_QUEUE_METHODS = {"append", "extend", "pop", "insert", "clear", "remove", "count", "index"}
_POPLEFT = "popleft"
_OK = "ok"


def _method_use(parent: cst.Attribute, grand: cst.CSTNode | None) -> str:
    method = parent.attr.value
    if not isinstance(grand, cst.Call) or grand.func is not parent:
        return f"`.{method}` is read without being called"
    args = grand.args
    if any(a.keyword is not None or a.star for a in args):
        return f"`.{method}(...)` takes keyword or starred arguments"
    if method not in _QUEUE_METHODS:
        return f"`.{method}()` has no deque equivalent"
    if method == "pop" and args:
        zero = len(args) == 1 and m.matches(args[0].value, m.Integer("0"))
        return _POPLEFT if zero else "`.pop(i)` with an index other than 0"
    return _OK


def _end_index(node: cst.Subscript) -> bool:
    """`q[0]` or `q[-1]`: O(1) on a deque too."""
    if len(node.slice) != 1 or not isinstance(node.slice[0].slice, cst.Index):
        return False
    index = node.slice[0].slice.value
    minus_one = m.UnaryOperation(operator=m.Minus(), expression=m.Integer("1"))
    return m.matches(index, m.Integer("0") | minus_one)


def _queue_use(tree: Tree, ref: cst.Name) -> str:  # noqa: PLR0911 - one per shape
    """How a reference uses the queue: "popleft", "ok", or why it stops the rewrite."""
    parent = tree.parent(ref)
    grand = tree.parent(parent) if parent is not None else None
    name = ref.value
    if isinstance(parent, cst.Attribute) and parent.value is ref:
        return _method_use(parent, grand)
    if isinstance(parent, cst.While | cst.If | cst.IfExp) and parent.test is ref:
        return _OK
    if isinstance(parent, cst.BooleanOperation | cst.UnaryOperation):
        return (
            _OK
            if not isinstance(parent, cst.UnaryOperation) or m.matches(parent.operator, m.Not())
            else f"`{name}` is used in an arithmetic expression"
        )
    if membership_target(tree, ref) is not None:
        return _OK
    if isinstance(parent, cst.AugAssign) and isinstance(parent.operator, cst.AddAssign):
        return _OK  # `q += items` extends a deque in place, as it does a list
    if isinstance(parent, cst.Subscript) and parent.value is ref:
        return _OK if _end_index(parent) else f"`{name}` is indexed or sliced (not [0]/[-1])"
    if isinstance(parent, cst.Arg) and isinstance(grand, cst.Call):
        single = len(grand.args) == 1 and parent.keyword is None and not parent.star
        if m.matches(grand.func, m.Name("len") | m.Name("bool")) and single:
            return _OK
        return f"`{name}` is passed to `{text_of(grand.func)}(...)` (the list escapes)"
    if isinstance(parent, cst.Return):
        return f"`{name}` is returned (the list escapes)"
    return f"`{name}` is used as `{text_of(parent).strip()[:40]}`" if parent else "no parent"


def _deque_value(value: cst.BaseExpression) -> str | None:
    if isinstance(value, cst.List):
        inner = text_of(value) if value.elements else ""
        return f"collections.deque({inner})"
    if (
        isinstance(value, cst.Call)
        and m.matches(value.func, m.Name("list"))
        and len(value.args) == 1
        and value.args[0].keyword is None
        and not value.args[0].star
    ):
        return f"collections.deque({text_of(value.args[0].value)})"
    return None


def _bindings(scope: Scope, name: str) -> list[cst.Assign] | str:
    """Every binding of `name` in the function, when each is `name = [..]`/`list(..)`."""
    assigns: list[cst.Assign] = []
    for bound in scope.fn.binds(name):
        assign = scope.fn.parent(bound) if isinstance(bound, cst.AssignTarget) else None
        if isinstance(bound, cst.Param):
            return f"`{name}` is a parameter (the caller's list)"
        if not isinstance(assign, cst.Assign) or len(assign.targets) != 1:
            return f"`{name}` is bound by something other than `{name} = [...]`"
        if _deque_value(assign.value) is None:
            return f"`{name}` is assigned a value that is not a list display or `list(...)`"
        assigns.append(assign)
    return assigns


def _plan_queue(scope: Scope, name: str) -> tuple[list[cst.Assign], list[cst.Name]] | str:
    assigns = _bindings(scope, name)
    if isinstance(assigns, str):
        return assigns
    bound = {t.target for a in assigns for t in a.targets}
    pops: list[cst.Name] = []
    for ref in scope.fn.references(name):
        if ref in bound:
            continue
        use = _queue_use(scope.fn, ref)
        if use == _POPLEFT:
            pops.append(ref)
        elif use != _OK:
            return use
    return (assigns, pops) if pops else f"no `{name}.pop(0)`"


def _pop_zero_names(scope: Scope) -> list[str]:
    pattern = m.Call(func=m.Attribute(value=m.Name(), attr=m.Name("pop")), args=[m.Arg()])
    names: list[str] = []
    for call in m.findall(scope.function, pattern):
        assert isinstance(call, cst.Call)  # noqa: S101 - matcher guarantees it
        assert isinstance(call.func, cst.Attribute)  # noqa: S101
        assert isinstance(call.func.value, cst.Name)  # noqa: S101
        if m.matches(call.args[0].value, m.Integer("0")) and call.func.value.value not in names:
            names.append(call.func.value.value)
    return names


class _ToDeque(cst.CSTTransformer):
    def __init__(self, assigns: list[cst.Assign], pops: list[cst.Name]) -> None:
        self.assigns, self.pops = assigns, {id(p) for p in pops}

    def leave_Assign(self, original_node: cst.Assign, updated_node: cst.Assign) -> cst.Assign:
        if original_node not in self.assigns:
            return updated_node
        text = _deque_value(original_node.value) or ""
        return updated_node.with_changes(value=cst.parse_expression(text))

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.Call:
        func = original_node.func
        if isinstance(func, cst.Attribute) and id(func.value) in self.pops:
            assert isinstance(updated_node.func, cst.Attribute)  # noqa: S101
            return updated_node.with_changes(
                func=updated_node.func.with_changes(attr=cst.Name("popleft")), args=()
            )
        return updated_node


def deque_queue(scope: Scope) -> Outcome:
    """A local list used as a FIFO with `pop(0)` → `collections.deque` with `popleft()`."""
    names = _pop_zero_names(scope)
    if not names:
        return "no `.pop(0)` on a name"
    if not scope.builtins_free("list", "len", "bool"):
        return "`list`/`len`/`bool` is rebound"
    if not scope.module_import_only("collections", required=False):
        return "`collections` is bound to something other than the module"
    assigns: list[cst.Assign] = []
    pops: list[cst.Name] = []
    reasons: list[str] = []
    for name in names:
        plan = _plan_queue(scope, name)
        if isinstance(plan, str):
            reasons.append(plan)
            continue
        assigns.extend(plan[0])
        pops.extend(plan[1])
    if not pops:
        return "; ".join(reasons)
    new = scope.function.visit(_ToDeque(assigns, pops))
    assert isinstance(new, cst.FunctionDef)  # noqa: S101
    name = pops[0].value
    return Applied(
        new,
        f"`{name}.pop(0)` → `{name}.popleft()` on a collections.deque:"
        " O(1) instead of shifting the whole list",
        ("import collections",),
    )
