"""The shared machinery of the rules: parsed trees with parent links, scopes, helpers."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import libcst as cst
import libcst.matchers as m

LOOPS = (cst.For, cst.While, cst.ListComp, cst.SetComp, cst.DictComp, cst.GeneratorExp)
SCOPES = (cst.FunctionDef, cst.Lambda, cst.ClassDef)
EMPTY = cst.Module(body=[])


def text_of(node: cst.CSTNode) -> str:
    return EMPTY.code_for_node(node)


@dataclass(frozen=True)
class Applied:
    """One rule's result: the new definition and what to tell the user about it."""

    function: cst.FunctionDef
    description: str
    imports: tuple[str, ...] = ()
    helpers: tuple[str, ...] = ()  # new private module-level functions, as source


#: What a rule returns: the rewrite, or the reason it declined.
Outcome = Applied | str


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
            cst.Del,
        )
        out: list[cst.CSTNode] = []
        for ref in self.references(name):
            parent = self.parent(ref)
            if (
                isinstance(parent, binding)
                or _is_target_of(parent, ref)
                or (isinstance(parent, cst.Element | cst.StarredElement) and self._unpacked(parent))
            ):
                assert parent is not None  # noqa: S101 - a bound name always has a parent
                out.append(parent)
        return out

    def _unpacked(self, element: cst.CSTNode) -> bool:
        """Whether a tuple/list element is (part of) an assignment or loop target."""
        node: cst.CSTNode = element
        while isinstance(node, cst.Element | cst.StarredElement | cst.Tuple | cst.List):
            parent = self.parent(node)
            if parent is None:
                return False
            if isinstance(parent, cst.AssignTarget | cst.AsName | cst.Del) or _is_target_of(
                parent, node
            ):
                return True
            node = parent
        return False

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
    qualname: str = ""

    @classmethod
    def of(cls, function: cst.FunctionDef, module: cst.Module | None, qualname: str = "") -> Scope:
        """Build the parent maps for `function` and `module`."""
        tree = None if module is None else Tree(module)
        return cls(function, Tree(function), tree, qualname or function.name.value)

    def owner_index(self) -> int | None:
        """Index of the module statement that holds the target (its class for a method)."""
        if self.module is None or not isinstance(self.module.root, cst.Module):
            return None
        top = self.qualname.split(".", 1)[0]
        for i, stmt in enumerate(self.module.root.body):
            if isinstance(stmt, cst.FunctionDef | cst.ClassDef) and stmt.name.value == top:
                return i
        return None

    def top_statement_index(self, node: cst.CSTNode) -> int | None:
        """Index of the module statement that contains `node` (a node of the module tree)."""
        if self.module is None or not isinstance(self.module.root, cst.Module):
            return None
        body = self.module.root.body
        for candidate in [node, *self.module.ancestors(node)]:
            for i, stmt in enumerate(body):
                if stmt is candidate:
                    return i
        return None

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


def docstring_offset(body: Sequence[cst.BaseStatement]) -> int:
    first = body[0] if body else None
    if (
        isinstance(first, cst.SimpleStatementLine)
        and len(first.body) == 1
        and isinstance(first.body[0], cst.Expr)
        and isinstance(first.body[0].value, cst.SimpleString | cst.ConcatenatedString)
    ):
        return 1
    return 0


def insert(
    function: cst.FunctionDef, at: int, statements: Sequence[cst.BaseStatement]
) -> cst.FunctionDef:
    block = function.body
    assert isinstance(block, cst.IndentedBlock)  # noqa: S101 - rules check this first
    body = list(block.body)
    return function.with_changes(
        body=block.with_changes(body=[*body[:at], *statements, *body[at:]])
    )


def statements(code: str) -> list[cst.BaseStatement]:
    return list(cst.parse_module(code).body)


def contains(root: cst.CSTNode, kinds: tuple[type[cst.CSTNode], ...]) -> bool:
    """Whether any node below `root` is one of `kinds`."""
    return any(isinstance(c, kinds) or contains(c, kinds) for c in root.children)


def in_loop(tree: Tree, node: cst.CSTNode) -> bool:
    for ancestor in tree.ancestors(node):
        if isinstance(ancestor, LOOPS):
            return True
        if isinstance(ancestor, SCOPES):
            return False
    return False
