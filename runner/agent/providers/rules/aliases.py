"""local-alias: attribute and global lookups repeated in a loop → local names bound before it.

Aliased, in the outermost loop statement of the function that contains them:

* module functions (`math.sqrt(...)`, `os.path.join(...)`) of a name the module binds only
  by a top-level `import`;
* methods of a local list/dict/set (`out.append(...)`) bound once, before the loop;
* methods of `self` (`self.emit(...)`) that the class defines with a plain `def`, when
  nothing in the function assigns `self.<that name>`;
* data reads `self.x` when the loop assigns no attribute of `self` and calls nothing but
  effect-free builtins, and the class does not define `x` (no property);
* builtins (`len`, `isinstance`, ...) called in the loop, only together with one of the above
  (CPython 3.11+ already specialises builtin lookups, so alone they gain too little).
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator
from dataclasses import dataclass, field

import libcst as cst
import libcst.matchers as m

from runner.agent.providers.rules._tree import SCOPES, Applied, Outcome, Scope, text_of

_CONTAINER_METHODS = {
    "list": {"append", "extend", "pop", "insert", "remove", "index", "count"},
    "dict": {"get", "setdefault", "pop", "update", "items", "keys", "values"},
    "set": {"add", "discard", "remove", "update", "pop"},
}
_PURE_BUILTINS = {
    "len", "isinstance", "abs", "min", "max", "ord", "chr", "int", "float", "str", "bool",
    "round", "divmod", "hash", "repr", "range", "enumerate", "zip",
}  # fmt: skip
_DYNAMIC = {"__getattr__", "__getattribute__", "__setattr__", "__slots__"}


@dataclass
class _Aliases:
    """Source text of a looked-up expression → its alias, and what to replace."""

    names: dict[str, str] = field(default_factory=dict)
    nodes: dict[cst.CSTNode, str] = field(default_factory=dict)
    strong: bool = False  # at least one non-builtin alias

    def add(self, scope: Scope, taken: set[str], node: cst.BaseExpression, base: str) -> None:
        text = text_of(node)
        if text not in self.names:
            self.names[text] = scope.unique(f"_{base.strip('_')}", taken)
        self.nodes[node] = self.names[text]


def _outer_loops(scope: Scope) -> Iterator[cst.For | cst.While]:
    """Loop statements of the function that are not inside another loop or a nested scope."""
    for loop in m.findall(scope.function, m.For() | m.While()):
        assert isinstance(loop, cst.For | cst.While)  # noqa: S101 - matcher guarantees it
        if isinstance(loop, cst.For) and loop.asynchronous is not None:
            continue
        if not any(isinstance(a, (cst.For, cst.While, *SCOPES)) for a in _up_to_fn(scope, loop)):
            yield loop


def _up_to_fn(scope: Scope, node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    for ancestor in scope.fn.ancestors(node):
        if ancestor is scope.function:
            return
        yield ancestor


def _hot(loop: cst.For | cst.While) -> list[cst.CSTNode]:
    """The parts of a loop evaluated on every iteration."""
    parts: list[cst.CSTNode] = [loop.body]
    if isinstance(loop, cst.While):
        parts.append(loop.test)
    return parts


def _dotted_root(node: cst.BaseExpression) -> cst.Name | None:
    while isinstance(node, cst.Attribute):
        node = node.value
    return node if isinstance(node, cst.Name) else None


def _module_function(scope: Scope, func: cst.BaseExpression) -> bool:
    root = _dotted_root(func)
    if not isinstance(func, cst.Attribute) or root is None or scope.module is None:
        return False
    if not scope.module_import_only(root.value, required=True):
        return False
    uses = m.findall(scope.function, m.Call(func=m.Name("hasattr") | m.Name("getattr")))
    return not any(m.findall(u, m.Name(root.value)) for u in uses)


def _container(scope: Scope, name: str, loop: cst.CSTNode) -> str | None:
    """'list'/'dict'/'set' when `name` is bound once, by a display or call, before `loop`."""
    binds = scope.fn.binds(name)
    assign = scope.fn.parent(binds[0]) if len(binds) == 1 else None
    if not isinstance(binds[0] if binds else None, cst.AssignTarget):
        return None
    if not isinstance(assign, cst.Assign) or len(assign.targets) != 1:
        return None
    line, block = scope.fn.parent(assign), scope.fn.parent(loop)
    if not isinstance(block, cst.IndentedBlock) or line not in block.body:
        return None
    if list(block.body).index(line) >= list(block.body).index(loop):  # type: ignore[arg-type]
        return None
    return _kind(assign.value)


def _kind(value: cst.BaseExpression) -> str | None:
    if isinstance(value, cst.List | cst.ListComp):
        return "list"
    if isinstance(value, cst.Dict | cst.DictComp):
        return "dict"
    if isinstance(value, cst.Set | cst.SetComp):
        return "set"
    if isinstance(value, cst.Call) and isinstance(value.func, cst.Name):
        return value.func.value if value.func.value in _CONTAINER_METHODS else None
    return None


def _owner_class(scope: Scope) -> cst.ClassDef | None:
    """The class a method target is defined in (None for a function or a decorated method)."""
    if scope.module is None or "." not in scope.qualname or scope.function.decorators:
        return None
    body: Iterator[cst.CSTNode] = iter(getattr(scope.module.root, "body", ()))
    found: cst.ClassDef | None = None
    for part in scope.qualname.split(".")[:-1]:
        found = next(
            (n for n in body if isinstance(n, cst.ClassDef) and n.name.value == part), None
        )
        if found is None or not isinstance(found.body, cst.IndentedBlock):
            return None
        body = iter(found.body.body)
    return found


def _class_names(cls: cst.ClassDef) -> dict[str, cst.CSTNode]:
    names: dict[str, cst.CSTNode] = {}
    for stmt in cls.body.body if isinstance(cls.body, cst.IndentedBlock) else ():
        if isinstance(stmt, cst.FunctionDef | cst.ClassDef):
            names[stmt.name.value] = stmt
        for target in (
            m.findall(stmt, m.AssignTarget(target=m.Name()))
            if not isinstance(stmt, cst.FunctionDef | cst.ClassDef)
            else ()
        ):
            assert isinstance(target, cst.AssignTarget)  # noqa: S101
            assert isinstance(target.target, cst.Name)  # noqa: S101
            names[target.target.value] = stmt
    return names


def _self_name(scope: Scope) -> str | None:
    params = scope.function.params.params
    return params[0].name.value if params else None


def _self_assigned(scope: Scope, self_name: str) -> set[str]:
    """Attributes of self that the function stores, deletes or sets dynamically."""
    stored: set[str] = set()
    attr = m.Attribute(value=m.Name(self_name))
    stores = m.AssignTarget(target=attr) | m.AugAssign(target=attr) | m.AnnAssign(target=attr)
    for node in m.findall(scope.function, stores | m.Del(target=attr)):
        target = getattr(node, "target")  # noqa: B009 - every matched kind has one
        if isinstance(target, cst.Attribute):
            stored.add(target.attr.value)
    if m.findall(scope.function, m.Call(func=m.Name("setattr") | m.Name("delattr"))):
        stored.add("*")
    return stored


def _calls_only_pure(node: cst.CSTNode) -> bool:
    for call in m.findall(node, m.Call()):
        assert isinstance(call, cst.Call)  # noqa: S101
        if not (isinstance(call.func, cst.Name) and call.func.value in _PURE_BUILTINS):
            return False
    return True


@dataclass
class _Context:
    scope: Scope
    taken: set[str]
    self_name: str | None
    class_names: dict[str, cst.CSTNode]
    self_stored: set[str]


def _context(scope: Scope) -> _Context:
    cls = _owner_class(scope)
    self_name = _self_name(scope) if cls is not None else None
    names = _class_names(cls) if cls is not None else {}
    stored = _self_assigned(scope, self_name) if self_name else set()
    return _Context(scope, scope.taken(), self_name, names, stored)


def _self_method(ctx: _Context, func: cst.Attribute) -> bool:
    method = ctx.class_names.get(func.attr.value)
    plain = isinstance(method, cst.FunctionDef) and not method.decorators
    free = func.attr.value not in ctx.self_stored and "*" not in ctx.self_stored
    return plain and free and not (_DYNAMIC & ctx.class_names.keys())


def _call_alias(ctx: _Context, loop: cst.CSTNode, func: cst.BaseExpression) -> str | None:
    """The alias base name for a called expression, or None to leave it alone."""
    scope = ctx.scope
    if isinstance(func, cst.Name):
        known = func.value in _PURE_BUILTINS and hasattr(builtins, func.value)
        return func.value if known and scope.builtins_free(func.value) else None
    if not isinstance(func, cst.Attribute):
        return None
    attr = func.attr.value
    if _module_function(scope, func):
        return attr
    owner = func.value.value if isinstance(func.value, cst.Name) else None
    if owner is None:
        return None
    if owner == ctx.self_name and _self_method(ctx, func):
        return attr
    kind = _container(scope, owner, loop)
    return f"{owner}_{attr}" if attr in _CONTAINER_METHODS.get(kind or "", ()) else None


def _collect_calls(ctx: _Context, loop: cst.For | cst.While, found: _Aliases) -> None:
    for part in _hot(loop):
        for call in m.findall(part, m.Call()):
            assert isinstance(call, cst.Call)  # noqa: S101
            base = _call_alias(ctx, loop, call.func)
            if base is not None:
                found.add(ctx.scope, ctx.taken, call.func, base)
                found.strong = found.strong or not isinstance(call.func, cst.Name)


def _collect_reads(ctx: _Context, loop: cst.For | cst.While, found: _Aliases) -> None:
    if ctx.self_name is None or ctx.self_stored or _DYNAMIC & ctx.class_names.keys():
        return
    if not all(_calls_only_pure(p) for p in _hot(loop)):
        return
    if m.findall(loop, m.AssignTarget(target=~m.Name()) | m.AugAssign(target=~m.Name())):
        return
    for part in _hot(loop):
        for node in m.findall(part, m.Attribute(value=m.Name(ctx.self_name))):
            assert isinstance(node, cst.Attribute)  # noqa: S101
            parent = ctx.scope.fn.parent(node)
            if isinstance(parent, cst.Call) and parent.func is node:
                continue
            if node.attr.value not in ctx.class_names:
                found.add(ctx.scope, ctx.taken, node, node.attr.value)
                found.strong = True


class _Replace(cst.CSTTransformer):
    def __init__(self, nodes: dict[cst.CSTNode, str]) -> None:
        self.nodes = nodes

    def leave_Attribute(
        self, original_node: cst.Attribute, updated_node: cst.Attribute
    ) -> cst.BaseExpression:
        alias = self.nodes.get(original_node)
        return updated_node if alias is None else cst.Name(alias)

    def leave_Name(self, original_node: cst.Name, updated_node: cst.Name) -> cst.Name:
        alias = self.nodes.get(original_node)
        return updated_node if alias is None else cst.Name(alias)


class _Prepend(_Replace):
    """Replace the lookups and put each loop's alias assignments right before it."""

    def __init__(
        self, nodes: dict[cst.CSTNode, str], setups: dict[cst.CSTNode, list[cst.BaseStatement]]
    ) -> None:
        super().__init__(nodes)
        self.setups = setups

    def leave_IndentedBlock(
        self, original_node: cst.IndentedBlock, updated_node: cst.IndentedBlock
    ) -> cst.IndentedBlock:
        body: list[cst.BaseStatement] = []
        for old, new in zip(original_node.body, updated_node.body, strict=True):
            body.extend(self.setups.get(old, ()))
            body.append(new)
        return updated_node.with_changes(body=body)


def local_alias(scope: Scope) -> Outcome:
    """Repeated attribute/global lookups in a loop → local aliases bound before the loop."""
    loops = list(_outer_loops(scope))
    if not loops:
        return "no for/while loop"
    ctx = _context(scope)
    nodes: dict[cst.CSTNode, str] = {}
    setups: dict[cst.CSTNode, list[cst.BaseStatement]] = {}
    for loop in loops:
        found = _Aliases()
        _collect_calls(ctx, loop, found)
        _collect_reads(ctx, loop, found)
        if not found.strong:
            continue
        nodes.update(found.nodes)
        setups[loop] = [cst.parse_statement(f"{a} = {t}\n") for t, a in found.names.items()]
    if not setups:
        return (
            "no module function, local container method or self attribute looked up in a loop"
            " (builtins alone are already fast)"
        )
    new = scope.function.visit(_Prepend(nodes, setups))
    assert isinstance(new, cst.FunctionDef)  # noqa: S101
    first = next(iter(setups))
    example = ", ".join(text_of(s).strip() for s in setups[first][:3])
    return Applied(new, f"lookups hoisted out of the loop into locals: `{example}`")
