"""regex-hoist: `re.<fn>(CONSTANT, ...)` → a pattern compiled once, when the module loads.

The compiled pattern lives in the default value of a new private module-level helper
(`def _f_pattern_1(pattern=re.compile(...)): return pattern`), because a candidate may add
functions but no other module-level statements. Calls inside a loop read it once into a
local before the loop. A pattern that is a module-level `re.compile(...)` already is used
directly (`re.sub(_RX, ...)` → `_RX.sub(...)`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import libcst as cst
import libcst.matchers as m

from runner.agent.providers.rules._tree import (
    Applied,
    Outcome,
    Scope,
    docstring_offset,
    in_loop,
    insert,
    statements,
    text_of,
)
from runner.agent.providers.rules.consts import ReNames, constant_value, module_constant, re_names

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


@dataclass(frozen=True)
class _ReCall:
    call: cst.Call
    method: str
    pattern: cst.BaseExpression
    flags: cst.BaseExpression | None
    rest: tuple[cst.Arg, ...]  # the call's other arguments, flags removed


def _method(call: cst.Call, names: ReNames) -> str | None:
    func = call.func
    if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name):
        return func.attr.value if func.value.value in names.modules else None
    if isinstance(func, cst.Name):
        return names.functions.get(func.value)
    return None


def _split(call: cst.Call, method: str) -> _ReCall | str:
    params = _RE_PARAMS[method]
    if not call.args or any(a.star for a in call.args) or call.args[0].keyword is not None:
        return f"`re.{method}` is called with a keyword or starred pattern"
    pattern, *others = call.args
    flags: cst.BaseExpression | None = None
    rest: list[cst.Arg] = []
    for index, arg in enumerate(others):
        key = arg.keyword.value if arg.keyword else (params[index] if index < len(params) else "")
        if key not in params:
            return f"`re.{method}` has an argument it does not take"
        if key == "flags":
            flags = arg.value
        else:
            rest.append(arg.with_changes(comma=cst.MaybeSentinel.DEFAULT))
    return _ReCall(call, method, pattern.value, flags, tuple(rest))


def _compiled_constant(scope: Scope, node: cst.BaseExpression, names: ReNames) -> bool:
    """`node` is a module constant bound to `re.compile(...)`."""
    if not isinstance(node, cst.Name):
        return False
    assign = module_constant(scope, node.value)
    value = None if isinstance(assign, str) else assign.value
    return isinstance(value, cst.Call) and _method(value, names) == "compile"


def _dependency(scope: Scope, node: cst.BaseExpression) -> str:
    params = {p.name.value for p in m.findall(scope.function.params, m.Param())}  # type: ignore[attr-defined]
    used = [n.value for n in m.findall(node, m.Name()) if isinstance(n, cst.Name)]
    args = [n for n in used if n in params]
    if args:
        return f"depends on an argument (`{args[0]}`)"
    local = [n for n in used if scope.fn.binds(n)]
    if local:
        return f"depends on a local variable (`{local[0]}`)"
    for name in used:
        why = module_constant(scope, name)
        if isinstance(why, str):
            return f"is not a constant: {why}"
    return "is not a constant string expression"


def _check_pattern(scope: Scope, found: _ReCall) -> str | None:
    """Why the pattern (and flags) cannot be compiled at import time, or None."""
    try:
        value = constant_value(scope, found.pattern)
        flags = 0 if found.flags is None else constant_value(scope, found.flags)
    except ValueError:
        what = found.pattern if found.flags is None else found.flags
        return f"the pattern of `re.{found.method}(...)` {_dependency(scope, what)}"
    if not isinstance(value, str | bytes) or type(flags) is not int:
        return f"the pattern of `re.{found.method}(...)` is not a str/bytes constant"
    try:
        re.compile(value, flags)
    except (re.error, TypeError, ValueError, OverflowError):
        return f"the pattern of `re.{found.method}(...)` does not compile"
    return None


@dataclass
class _Hoist:
    helper: str  # module-level helper name
    compile_args: str
    local: str | None = None  # set when a call is in a loop


def _calls(scope: Scope, names: ReNames) -> list[_ReCall | str]:
    out: list[_ReCall | str] = []
    for node in m.findall(scope.function, m.Call()):
        assert isinstance(node, cst.Call)  # noqa: S101
        method = _method(node, names)
        if method in _RE_PARAMS:
            assert method is not None  # noqa: S101
            out.append(_split(node, method))
    return out


def _re_module_name(scope: Scope, names: ReNames) -> tuple[str, tuple[str, ...]] | None:
    """How the helper reaches `re.compile`, and the import it needs."""
    usable = sorted(n for n in names.modules if n in names.before)
    if usable:
        return f"{usable[0]}.compile", ()
    compiles = sorted(n for n, a in names.functions.items() if a == "compile" and n in names.before)
    if compiles:
        return compiles[0], ()
    tree = scope.module
    if tree is not None and not tree.references("re") and not scope.fn.binds("re"):
        return "re.compile", ("import re",)
    return None


def _compile_args(found: _ReCall) -> str:
    flags = "" if found.flags is None else f", {text_of(found.flags)}"
    return text_of(found.pattern) + flags


def _replacement(found: _ReCall, target: str) -> cst.BaseExpression:
    if found.method == "compile":
        return cst.parse_expression(target)
    args = ", ".join(text_of(a) for a in found.rest)
    return cst.parse_expression(f"{target}.{found.method}({args})")


class _ReplaceCalls(cst.CSTTransformer):
    def __init__(self, replacements: dict[cst.Call, cst.BaseExpression]) -> None:
        self.replacements = replacements

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        return self.replacements.get(original_node, updated_node)


def _helper_code(name: str, compiler: str, args: str) -> str:
    return (
        f"def {name}(pattern={compiler}({args})):\n"
        '    """The compiled pattern: built once, when the module is imported."""\n'
        "    return pattern\n"
    )


@dataclass
class _Plan:
    replacements: dict[cst.Call, cst.BaseExpression]
    hoists: dict[str, _Hoist]  # compile arguments → hoist
    reasons: list[str]


def _plan(scope: Scope, calls: list[_ReCall], names: ReNames) -> _Plan:
    plan = _Plan({}, {}, [])
    hoisted: list[_ReCall] = []
    taken = scope.taken()
    base = f"_{scope.function.name.value.strip('_')}_pattern"
    for found in calls:
        if _compiled_constant(scope, found.pattern, names):
            if found.flags is not None:
                plan.reasons.append("flags passed with an already compiled pattern")
            else:
                plan.replacements[found.call] = _replacement(found, text_of(found.pattern))
            continue
        why = _check_pattern(scope, found)
        if why is not None:
            plan.reasons.append(why)
            continue
        args = _compile_args(found)
        if args not in plan.hoists:
            helper = scope.unique(f"{base}_{len(plan.hoists) + 1}", taken)
            plan.hoists[args] = _Hoist(helper, args)
        hoist = plan.hoists[args]
        if in_loop(scope.fn, found.call) and hoist.local is None:
            hoist.local = scope.unique(f"_pattern_{len(plan.hoists)}", taken)
        hoisted.append(found)
    for found in hoisted:
        hoist = plan.hoists[_compile_args(found)]
        plan.replacements[found.call] = _replacement(found, hoist.local or f"{hoist.helper}()")
    return plan


def regex_hoist(scope: Scope) -> Outcome:
    """`re.match(CONST, s)` → a pattern compiled once at import; see the module docstring."""
    names = re_names(scope)
    if not names.modules and not names.functions:
        return "no regex call (the module does not import the standard `re`)"
    found = _calls(scope, names)
    calls = [c for c in found if isinstance(c, _ReCall)]
    if not found:
        return "no regex call"
    plan = _plan(scope, calls, names)
    reasons = [c for c in found if isinstance(c, str)] + plan.reasons
    if not plan.replacements:
        return "; ".join(dict.fromkeys(reasons))
    compiler = _re_module_name(scope, names) if plan.hoists else ("", ())
    if compiler is None:
        return "`re` is not imported before the target and the name `re` is taken"
    new = scope.function.visit(_ReplaceCalls(plan.replacements))
    assert isinstance(new, cst.FunctionDef)  # noqa: S101 - a transformer keeps the root type
    locals_ = "".join(f"{h.local} = {h.helper}()\n" for h in plan.hoists.values() if h.local)
    body = scope.body()
    if locals_ and body is not None:
        new = insert(new, docstring_offset(body), statements(locals_))
    helpers = tuple(
        _helper_code(h.helper, compiler[0], h.compile_args) for h in plan.hoists.values()
    )
    return Applied(new, _describe(plan, found), compiler[1], helpers)


def _describe(plan: _Plan, found: list[_ReCall | str]) -> str:
    calls = [c for c in found if isinstance(c, _ReCall) and c.call in plan.replacements]
    first = calls[0]
    if not plan.hoists:
        return (
            f"`re.{first.method}({text_of(first.pattern)}, …)` → the already compiled"
            f" `{text_of(first.pattern)}.{first.method}(…)`: no re-cache lookup per call"
        )
    hoist = next(iter(plan.hoists.values()))
    more = f" (and {len(plan.hoists) - 1} more)" if len(plan.hoists) > 1 else ""
    where = " (read into a local before the loop)" if hoist.local else ""
    return (
        f"`re.{first.method}(…)` with a constant pattern → `re.compile({hoist.compile_args})`"
        f" once at import, in `{hoist.helper}`{where}{more}: no re-cache lookup and argument"
        " parsing per call"
    )
