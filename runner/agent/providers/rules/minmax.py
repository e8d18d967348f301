"""min-max: `sorted(x)[0]` → `min(x)`."""

from __future__ import annotations

import libcst as cst
import libcst.matchers as m

from runner.agent.providers.rules._tree import (
    Applied,
    Outcome,
    Scope,
    text_of,
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
    args = ", ".join(text_of(a.with_changes(comma=cst.MaybeSentinel.DEFAULT)) for a in kept)
    return f"{name}({args})"


def min_max(scope: Scope) -> Outcome:
    """`sorted(x)[0]` → `min(x)`, `sorted(x)[-1]` → `max(x)` (reverse swaps them)."""
    if not m.findall(scope.function, m.Call(func=m.Name("sorted"))):
        return "no `sorted(...)` call"
    if not scope.builtins_free("sorted", "min", "max"):
        return "`sorted`/`min`/`max` is rebound"
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
        return "no `sorted(...)[0]`/`[-1]` outside try/with that min/max can replace exactly"

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
        f"`{text_of(first)}` → `{replacements[first]}`: one O(n) pass instead of a full sort"
        " (empty input now raises ValueError, not IndexError)",
    )
