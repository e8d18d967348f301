"""count-dict: counting into a dict → `dict(collections.Counter(...))` or `d.get(k, 0) + 1`;
into a `collections.defaultdict(int)` → `collections.defaultdict(int, collections.Counter(...))`.

A loop whose only work is counting into a fresh local dict becomes one C-level
`collections.Counter` pass, converted back with `dict(...)` so the result's type (and
insertion order, and which of equal keys is kept) stays identical. Counting mixed with
other work keeps the loop and uses the single-lookup `d[k] = d.get(k, 0) + 1`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import libcst as cst
import libcst.matchers as m

from runner.agent.providers.rules._tree import Applied, Outcome, Scope, statements, text_of


def _key_ok(node: cst.BaseExpression) -> bool:
    """A key whose evaluation is effect-free, so evaluating it fewer times changes nothing."""
    if isinstance(node, cst.Name):
        return True
    if isinstance(node, cst.Subscript) and isinstance(node.value, cst.Name):
        index = node.slice[0].slice if len(node.slice) == 1 else None
        value = index.value if isinstance(index, cst.Index) else None
        return isinstance(value, cst.Integer | cst.SimpleString)
    return False


def _small(stmt: cst.CSTNode) -> cst.BaseSmallStatement | None:
    if isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1:
        return stmt.body[0]
    if isinstance(stmt, cst.IndentedBlock | cst.SimpleStatementSuite) and len(stmt.body) == 1:
        return _small(stmt.body[0]) if isinstance(stmt, cst.IndentedBlock) else stmt.body[0]
    return None


def _item(node: cst.BaseExpression, d: str) -> str | None:
    """`d[key]` → the key's source."""
    if not isinstance(node, cst.Subscript) or not m.matches(node.value, m.Name(d)):
        return None
    index = node.slice[0].slice if len(node.slice) == 1 else None
    if not isinstance(index, cst.Index) or not _key_ok(index.value):
        return None
    return text_of(index.value)


def _increment(stmt: cst.CSTNode | None, d: str) -> str | None:
    """`d[k] += 1` or `d[k] = d[k] + 1` → k."""
    if isinstance(stmt, cst.AugAssign) and isinstance(stmt.operator, cst.AddAssign):
        return _item(stmt.target, d) if m.matches(stmt.value, m.Integer("1")) else None
    if isinstance(stmt, cst.Assign) and len(stmt.targets) == 1:
        key = _item(stmt.targets[0].target, d)
        value = stmt.value
        if isinstance(value, cst.BinaryOperation) and isinstance(value.operator, cst.Add):
            same = _item(value.left, d) == key
            return key if same and m.matches(value.right, m.Integer("1")) else None
    return None


def _set_to(stmt: cst.CSTNode | None, d: str, number: str) -> str | None:
    """`d[k] = <number>` → k."""
    if (
        isinstance(stmt, cst.Assign)
        and len(stmt.targets) == 1
        and m.matches(stmt.value, m.Integer(number))
    ):
        return _item(stmt.targets[0].target, d)
    return None


def _get_form(stmt: cst.CSTNode | None, d: str) -> str | None:
    """`d[k] = d.get(k, 0) + 1` → k."""
    if not isinstance(stmt, cst.Assign) or len(stmt.targets) != 1:
        return None
    key = _item(stmt.targets[0].target, d)
    get = m.Call(func=m.Attribute(value=m.Name(d), attr=m.Name("get")))
    value = stmt.value
    if key is None or not m.matches(
        value, m.BinaryOperation(left=get, operator=m.Add(), right=m.Integer("1"))
    ):
        return None
    assert isinstance(value, cst.BinaryOperation)  # noqa: S101 - matched above
    assert isinstance(value.left, cst.Call)  # noqa: S101
    args = value.left.args
    ok = (
        len(args) == 2
        and text_of(args[0].value) == key
        and m.matches(args[1].value, m.Integer("0"))
    )
    return key if ok and all(a.keyword is None and not a.star for a in args) else None


def _membership(test: cst.BaseExpression, d: str) -> tuple[str, bool] | None:
    """`k in d` → (k, True); `k not in d` → (k, False)."""
    if not isinstance(test, cst.Comparison) or len(test.comparisons) != 1:
        return None
    target = test.comparisons[0]
    if not m.matches(target.comparator, m.Name(d)) or not _key_ok(test.left):
        return None
    if isinstance(target.operator, cst.In | cst.NotIn):
        return text_of(test.left), isinstance(target.operator, cst.In)
    return None


def _if_form(stmt: cst.CSTNode, d: str) -> str | None:
    """`if k in d: d[k] += 1 / else: d[k] = 1` (either way round) → k."""
    if not isinstance(stmt, cst.If) or not isinstance(stmt.orelse, cst.Else):
        return None
    found = _membership(stmt.test, d)
    if found is None:
        return None
    key, positive = found
    hit, miss = (stmt.body, stmt.orelse.body) if positive else (stmt.orelse.body, stmt.body)
    ok = _increment(_small(hit), d) == key and _set_to(_small(miss), d, "1") == key
    return key if ok else None


def _pair_form(first: cst.CSTNode, second: cst.CSTNode, d: str) -> str | None:
    """`d.setdefault(k, 0)` or `if k not in d: d[k] = 0`, then `d[k] += 1` → k."""
    key = _increment(_small(second), d)
    if key is None:
        return None
    small = _small(first)
    default = m.Call(func=m.Attribute(value=m.Name(d), attr=m.Name("setdefault")))
    if isinstance(small, cst.Expr) and m.matches(small.value, default):
        assert isinstance(small.value, cst.Call)  # noqa: S101
        args = small.value.args
        if len(args) == 2 and text_of(args[0].value) == key:
            return key if m.matches(args[1].value, m.Integer("0")) else None
    if isinstance(first, cst.If) and first.orelse is None:
        found = _membership(first.test, d)
        if found == (key, False) and _set_to(_small(first.body), d, "0") == key:
            return key
    return None


@dataclass(frozen=True)
class _Site:
    """Counting statements `body[start:start + size]` of a block, on dict `d` by `key`."""

    block: cst.IndentedBlock
    start: int
    size: int
    d: str
    key: str


def _sites(body: Sequence[cst.BaseStatement], block: cst.IndentedBlock, d: str) -> Iterator[_Site]:
    i = 0
    while i < len(body):
        key = _if_form(body[i], d)
        if key is not None:
            yield _Site(block, i, 1, d, key)
        elif i + 1 < len(body) and (key := _pair_form(body[i], body[i + 1], d)) is not None:
            yield _Site(block, i, 2, d, key)
            i += 1
        i += 1


_EMPTY_DICT = m.Dict(elements=[]) | m.Call(func=m.Name("dict"), args=[])
#: `collections.defaultdict(int)`: counting with a bare `d[k] += 1`.
_INT_DEFAULTDICT = m.Call(
    func=m.Attribute(value=m.Name("collections"), attr=m.Name("defaultdict")),
    args=[m.Arg(value=m.Name("int"), keyword=None, star="")],
)


def _local_dicts(scope: Scope, empty: m.BaseMatcherNode = _EMPTY_DICT) -> list[str]:
    """Names bound in the function only by `name = {}` / `name = dict()` (or `empty`)."""
    names: list[str] = []
    for node in m.findall(scope.function, m.Assign(targets=[m.AssignTarget(target=m.Name())])):
        assert isinstance(node, cst.Assign)  # noqa: S101 - matcher guarantees it
        target = node.targets[0].target
        assert isinstance(target, cst.Name)  # noqa: S101
        if target.value in names or not m.matches(node.value, empty):
            continue
        binds = scope.fn.binds(target.value)
        if all(isinstance(b, cst.AssignTarget) for b in binds) and all(
            isinstance(p := scope.fn.parent(b), cst.Assign) and m.matches(p.value, empty)
            for b in binds
        ):
            names.append(target.value)
    return names


def _loop_sites(
    scope: Scope, d: str, defaultdict: bool = False
) -> Iterator[tuple[_Site | None, cst.For, str]]:
    """Every plain `for` whose body only counts into `d`: (site or None for get-form, loop, key).
    For a `defaultdict(int)`, the body is a bare `d[k] += 1` (or `d[k] = d[k] + 1`)."""
    for loop in m.findall(scope.function, m.For(orelse=None, asynchronous=None)):
        assert isinstance(loop, cst.For)  # noqa: S101
        body = loop.body
        if not isinstance(body, cst.IndentedBlock):
            continue
        if defaultdict:
            key = _increment(_small(body), d)
            if key is not None:
                yield None, loop, key
            continue
        key = _get_form(_small(body), d)
        if key is not None:
            yield None, loop, key
            continue
        sites = list(_sites(body.body, body, d))
        if len(sites) == 1 and sites[0].size == len(body.body):
            yield sites[0], loop, sites[0].key


def _counter_ok(scope: Scope, loop: cst.For, d: str) -> bool:
    if m.findall(loop.iter, m.Name(d)) or scope.fn.inside(loop, (cst.Try, cst.TryStar, cst.With)):
        return False
    block = scope.fn.parent(loop)
    if not isinstance(block, cst.IndentedBlock):
        return False
    at = list(block.body).index(loop)
    for stmt in reversed(block.body[:at]):  # the dict must be fresh and empty at the loop
        if m.findall(stmt, m.Name(d)):
            return m.matches(stmt, m.SimpleStatementLine(body=[m.Assign()])) and bool(
                m.findall(stmt, m.AssignTarget(target=m.Name(d)))
            )
    return False


def _loop_var_free(scope: Scope, loop: cst.For) -> bool:
    """The loop variables are not used outside the loop (a generator would not bind them)."""
    for target in m.findall(loop.target, m.Name()):
        assert isinstance(target, cst.Name)  # noqa: S101
        if any(loop not in scope.fn.ancestors(r) for r in scope.fn.references(target.value)):
            return False
    return True


def _counter_source(loop: cst.For, key: str) -> str:
    target, iterable = text_of(loop.target), text_of(loop.iter)
    if key == target:
        return iterable
    return f"{key} for {target} in {iterable}"


class _Rewrite(cst.CSTTransformer):
    def __init__(self, loops: dict[cst.For, str], sites: list[_Site]) -> None:
        self.loops, self.sites = loops, sites

    def leave_For(
        self, original_node: cst.For, updated_node: cst.For
    ) -> cst.BaseStatement | cst.RemovalSentinel:
        text = self.loops.get(original_node)
        if text is None:
            return updated_node
        stmt = statements(text)[0]
        return stmt.with_changes(leading_lines=original_node.leading_lines)

    def leave_IndentedBlock(
        self, original_node: cst.IndentedBlock, updated_node: cst.IndentedBlock
    ) -> cst.IndentedBlock:
        body = list(updated_node.body)
        for site in sorted(
            (s for s in self.sites if s.block is original_node), key=lambda s: -s.start
        ):
            line = statements(f"{site.d}[{site.key}] = {site.d}.get({site.key}, 0) + 1\n")[0]
            body[site.start : site.start + site.size] = [line]
        return updated_node.with_changes(body=body)


def _count_defaultdict(scope: Scope) -> Outcome | None:
    """`d = collections.defaultdict(int)` and a loop of `d[k] += 1` → the same defaultdict
    filled by one `collections.Counter` pass (type, default factory, order, counts kept);
    None when there is no such dict."""
    dicts = _local_dicts(scope, _INT_DEFAULTDICT)
    if not dicts:
        return None
    if not scope.builtins_free("int") or not scope.module_import_only("collections", required=True):
        return "`int` or `collections` is rebound"
    loops: dict[cst.For, str] = {}
    for d in dicts:
        for _, loop, key in _loop_sites(scope, d, defaultdict=True):
            if _counter_ok(scope, loop, d) and _loop_var_free(scope, loop):
                counted = _counter_source(loop, key)
                loops[loop] = (
                    f"{d} = collections.defaultdict(int, collections.Counter({counted}))\n"
                )
    if not loops:
        return "no loop that only counts into the `defaultdict(int)` with `d[k] += 1`"
    new = scope.function.visit(_Rewrite(loops, []))
    assert isinstance(new, cst.FunctionDef)  # noqa: S101
    return Applied(
        new,
        f"counting loop into `{dicts[0]}` (a `defaultdict(int)`) → one C-level"
        " `collections.Counter` pass into the same `defaultdict(int)`: same type, order, counts",
    )


def count_dict(scope: Scope) -> Outcome:
    """Counting into a fresh local dict → `dict(collections.Counter(...))` or `d.get`."""
    dicts = _local_dicts(scope)
    if not dicts:
        counted = _count_defaultdict(scope)
        if counted is not None:
            return counted
        return "no local dict (`d = {}` or `collections.defaultdict(int)`) that could be a counter"
    if not scope.builtins_free("dict") or not scope.module_import_only(
        "collections", required=False
    ):
        return "`dict` or `collections` is rebound"
    loops: dict[cst.For, str] = {}
    whole: set[cst.IndentedBlock] = set()
    for d in dicts:
        for site, loop, key in _loop_sites(scope, d):
            if _counter_ok(scope, loop, d) and _loop_var_free(scope, loop):
                loops[loop] = f"{d} = dict(collections.Counter({_counter_source(loop, key)}))\n"
                if site is not None:
                    whole.add(site.block)
    sites = [
        s
        for d in dicts
        for block in m.findall(scope.function, m.IndentedBlock())
        if isinstance(block, cst.IndentedBlock) and block not in whole
        for s in _sites(block.body, block, d)
    ]
    if not loops and not sites:
        return (
            "no counting into a fresh local dict (`if k in d: d[k] += 1 …`,"
            " `d[k] = d.get(k, 0) + 1`, `setdefault`) that can be rewritten"
        )
    new = scope.function.visit(_Rewrite(loops, sites))
    assert isinstance(new, cst.FunctionDef)  # noqa: S101
    if loops:
        name = dicts[0]
        return Applied(
            new,
            f"counting loop into `{name}` → `dict(collections.Counter(...))`: one C-level pass,"
            " same dict type, order and keys",
            ("import collections",),
        )
    return Applied(
        new,
        f"counting with `in`/`setdefault` → `{sites[0].d}[k] = {sites[0].d}.get(k, 0) + 1`:"
        " one lookup fewer",
    )
