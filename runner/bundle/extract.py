"""Tree shaking: the smallest self-contained copy of the code the targets need.

From each target, follow the names it uses: repository-local functions, classes,
constants and imports, transitively and across the repository's modules. A target method
keeps a skeleton of its class (header, decorators, the target and the members it reaches
through `self.`/`cls.`). Every extracted definition is the original text, byte for byte;
imports are regenerated with only the names that are needed. Standard-library imports stay
imports; any other import that is not in the repository becomes a requirement.

This module reads the repository's files and returns data; it writes nothing.
"""

from __future__ import annotations

import ast
import copy
import importlib.metadata
import itertools
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from runner.bundle.outline import (
    CONSTRUCTORS,
    Shown,
    attribute_stores,
    class_outline,
    constructor_body,
    instance_names,
)
from runner.errors import TargetError
from runner.spec import Target, validate_target

Uses = dict[str, set[tuple[str, ...]]]
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)
_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)


@dataclass(frozen=True)
class ExtractedDefinition:
    """One top-level statement (or class skeleton) copied into the bundle."""

    path: str
    name: str
    kind: str
    first_line: int
    last_line: int
    text: str

    @property
    def lines(self) -> int:
        """Lines of this definition in the bundle."""
        return self.text.count("\n") + (0 if self.text.endswith("\n") else 1)


@dataclass(frozen=True)
class ExtractedFile:
    """The bundle's copy of one repository file: only what the targets need."""

    path: str
    text: str
    definitions: tuple[ExtractedDefinition, ...]
    original_size: int

    @property
    def size(self) -> int:
        """Bytes of the extracted text (UTF-8)."""
        return len(self.text.encode())


@dataclass(frozen=True)
class Requirement:
    """A third-party import of the extracted code, with its distribution when known."""

    module: str
    distribution: str
    version: str | None = None

    @property
    def line(self) -> str:
        """The `requirements.txt` line."""
        return f"{self.distribution}=={self.version}" if self.version else self.distribution


@dataclass(frozen=True)
class Extraction:
    """Everything that would leave the host for a set of targets."""

    targets: tuple[Target, ...]
    files: tuple[ExtractedFile, ...]
    requirements: tuple[Requirement, ...]
    import_roots: tuple[str, ...]

    @property
    def original_bytes(self) -> int:
        """Bytes of the original files the bundle takes something from."""
        return sum(f.original_size for f in self.files)

    @property
    def code_bytes(self) -> int:
        """Bytes of the extracted code."""
        return sum(f.size for f in self.files)

    @property
    def share(self) -> float:
        """Extracted bytes as a share of the original files' bytes."""
        return self.code_bytes / self.original_bytes if self.original_bytes else 0.0


Resolver = Callable[[Iterable[str]], tuple[Requirement, ...]]


def extract(
    repo: Path,
    targets: Sequence[Target],
    resolver: Resolver | None = None,
    *,
    outline: bool = False,
    roots: Sequence[str] | None = None,
) -> Extraction:
    """Extract the code `targets` need from `repo` (validated targets, read-only).

    By default the result runs on its own (the bundle). With `outline`, it is what a model
    reads about the targets (a request): every class an outline (runner/bundle/outline.py)
    with the other methods by signature only. `roots` are the import roots when known (a
    bundle's), instead of being found from the targets' packages.
    """
    for target in targets:
        validate_target(repo, target)
    index = _Repo(repo, [t.path for t in targets], roots)
    shaker = _Outliner(index) if outline else _Shaker(index)
    for target in targets:
        shaker.add_target(target)
    files = tuple(_emit(index.by_path[p], shaker.kept[p], shaker) for p in sorted(shaker.kept))
    resolve = resolver or resolve_requirements
    return Extraction(
        targets=tuple(targets),
        files=files,
        requirements=resolve(shaker.external),
        import_roots=index.used_roots(shaker.kept),
    )


def resolve_requirements(
    modules: Iterable[str],
    distributions: Mapping[str, list[str]] | None = None,
    version: Callable[[str], str | None] | None = None,
) -> tuple[Requirement, ...]:
    """Map third-party top-level modules to distributions (and installed versions)."""
    dists = importlib.metadata.packages_distributions() if distributions is None else distributions
    get_version = version or _installed_version
    found = {
        Requirement(name, dist, get_version(dist))
        for name in set(modules)
        if name not in sys.stdlib_module_names
        for dist in dists.get(name, [name])
    }
    return tuple(sorted(found, key=lambda r: (r.distribution.lower(), r.module)))


def _installed_version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


# --- the repository's modules -------------------------------------------------------------


@dataclass
class _Module:
    name: str
    path: str
    source: str
    tree: ast.Module
    binders: dict[str, list[int]] = field(default_factory=dict)
    stars: list[int] = field(default_factory=list)
    lines: list[str] = field(init=False)

    def __post_init__(self) -> None:
        self.lines = self.source.splitlines(keepends=True)

    @property
    def units(self) -> list[ast.stmt]:
        return self.tree.body

    @property
    def is_package(self) -> bool:
        return self.path.endswith("__init__.py")

    @property
    def future_annotations(self) -> bool:
        return any(
            isinstance(u, ast.ImportFrom)
            and u.module == "__future__"
            and any(a.name == "annotations" for a in u.names)
            for u in self.units
        )


class _Repo:
    """Lazily parsed modules of one repository, found by dotted name or by path."""

    def __init__(
        self, root: Path, target_paths: Sequence[str], roots: Sequence[str] | None = None
    ) -> None:
        self.root = root
        self.roots = list(roots) if roots else _import_roots(root, target_paths)
        self.by_name: dict[str, _Module | None] = {}
        self.by_path: dict[str, _Module] = {}

    def module(self, name: str) -> _Module | None:
        """The repository module `name`, or None when it is not in the repository."""
        if name not in self.by_name:
            self.by_name[name] = self._load(name)
        return self.by_name[name]

    def module_at(self, path: str) -> _Module:
        """The module of a repository file (a target's path)."""
        for root in self.roots:
            if _is_under(path, root):
                rel = Path(path) if root == "." else Path(path).relative_to(root)
                found = self.module(_dotted(rel))
                if found is not None and found.path == path:
                    return found
        raise TargetError(f"{path} is not importable from the repository's import roots")

    def used_roots(self, paths: Iterable[str]) -> tuple[str, ...]:
        """The import roots (relative folders, '' for the top) the kept files need."""
        return tuple(sorted({self._root_of(p) for p in paths}))

    def _root_of(self, path: str) -> str:
        module = self.by_path[path]
        depth = len(module.name.split(".")) + (1 if module.is_package else 0)
        parts = Path(path).parts[:-depth]
        return "/".join(parts) or "."

    def _load(self, name: str) -> _Module | None:
        rel = Path(*name.split("."))
        for root in self.roots:
            for candidate in (rel.with_suffix(".py"), rel / "__init__.py"):
                file = self.root / root / candidate
                if file.is_file():
                    return self._parse(name, str(Path(root, candidate).as_posix()), file)
        return None

    def _parse(self, name: str, path: str, file: Path) -> _Module:
        path = path.removeprefix("./")
        source = file.read_text(encoding="utf-8")
        try:
            tree = ast.parse(source, filename=path)
        except SyntaxError as exc:
            raise TargetError(f"{path} is not valid Python: {exc}") from None
        module = _Module(name, path, source, tree)
        _index_bindings(module)
        self.by_path[path] = module
        return module


def _import_roots(root: Path, target_paths: Sequence[str]) -> list[str]:
    """Folders that imports are resolved from: each target's package root, `src`, the top."""
    roots: list[str] = []
    for path in target_paths:
        folder = Path(path).parent
        while (root / folder / "__init__.py").is_file() and folder != Path():
            folder = folder.parent
        roots.append(folder.as_posix())
    roots += ["src", "."] if (root / "src").is_dir() else ["."]
    return list(dict.fromkeys(r if r != "" else "." for r in roots))


def _is_under(path: str, root: str) -> bool:
    return root == "." or Path(path).is_relative_to(root)


def _dotted(rel: Path) -> str:
    parts = list(rel.with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _index_bindings(module: _Module) -> None:
    for index, unit in enumerate(module.units):
        if isinstance(unit, ast.ImportFrom) and any(a.name == "*" for a in unit.names):
            module.stars.append(index)
        for name in _bound_names(unit):
            module.binders.setdefault(name, []).append(index)


def _bound_names(stmt: ast.stmt) -> set[str]:
    """Names a top-level statement binds, or mutates (`X[k] = v`, `X.update(...)`)."""
    if isinstance(stmt, (*_FUNCTIONS, ast.ClassDef)):
        return {stmt.name}
    if isinstance(stmt, ast.Expr):
        return _mutated_root(stmt.value.func) if isinstance(stmt.value, ast.Call) else set()
    names: set[str] = set()
    for node in _walk_outside_scopes(stmt):
        names |= _names_bound_by(node)
    return names


def _names_bound_by(node: ast.AST) -> set[str]:
    if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del):
        return {node.id}
    if isinstance(node, ast.Subscript | ast.Attribute) and isinstance(node.ctx, ast.Store):
        return _mutated_root(node)
    if isinstance(node, ast.Import | ast.ImportFrom):
        return {_alias_binding(a) for a in node.names if a.name != "*"}
    if isinstance(node, (*_FUNCTIONS, ast.ClassDef)):
        return {node.name}
    return set()


def _mutated_root(node: ast.expr) -> set[str]:
    while isinstance(node, ast.Attribute | ast.Subscript):
        node = node.value
    return {node.id} if isinstance(node, ast.Name) else set()


def _walk_outside_scopes(node: ast.AST) -> Iterator[ast.AST]:
    """`ast.walk` that does not enter function, lambda or class bodies."""
    yield node
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (*_SCOPES, *_COMPREHENSIONS)):
            yield child
        else:
            yield from _walk_outside_scopes(child)


def _alias_binding(alias: ast.alias) -> str:
    return alias.asname or alias.name.split(".")[0]


# --- free names with the attribute chains they are used through ---------------------------


class _Scope(ast.NodeVisitor):
    """Loads, stores and nested scopes of one scope (not descending into nested scopes)."""

    def __init__(self, skip_annotations: bool) -> None:
        self.skip_annotations = skip_annotations
        self.loads: list[tuple[str, tuple[str, ...]]] = []
        self.stores: set[str] = set()
        self.declared: set[str] = set()
        self.nested: list[ast.AST] = []

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load):
            self.loads.append((node.id, ()))
        else:
            self.stores.add(node.id)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        chain: list[str] = []
        value: ast.expr = node
        while isinstance(value, ast.Attribute):
            chain.append(value.attr)
            value = value.value
        if isinstance(value, ast.Name):
            self.loads.append((value.id, tuple(reversed(chain))))
        else:
            self.visit(value)

    def visit_Global(self, node: ast.Global) -> None:
        self.declared.update(node.names)

    def visit_Nonlocal(self, node: ast.Nonlocal) -> None:
        self.declared.update(node.names)

    def visit_Import(self, node: ast.Import) -> None:
        self.stores.update(_alias_binding(a) for a in node.names)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        self.stores.update(_alias_binding(a) for a in node.names if a.name != "*")

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.stores.add(node.name)
        self._visit_all(node.decorator_list)
        self._visit_arguments(node.args)
        if not self.skip_annotations:
            self._visit_all([node.returns])
        self.nested.append(node)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self._visit_arguments(node.args)
        self.nested.append(node)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.stores.add(node.name)
        self._visit_all([*node.decorator_list, *node.bases, *(k.value for k in node.keywords)])
        self.nested.append(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self._visit_all([node.target, node.value])
        if not self.skip_annotations:
            self.visit(node.annotation)

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.name:
            self.stores.add(node.name)
        self.generic_visit(node)

    def visit_MatchAs(self, node: ast.MatchAs) -> None:
        self.stores.update([node.name] if node.name else [])
        self.generic_visit(node)

    def visit_MatchStar(self, node: ast.MatchStar) -> None:
        self.stores.update([node.name] if node.name else [])

    def _visit_comprehension(self, node: ast.AST) -> None:
        # The first iterable is evaluated in the enclosing scope.
        generators: list[ast.comprehension] = getattr(node, "generators", [])
        self.visit(generators[0].iter)
        self.nested.append(node)

    visit_ListComp = visit_SetComp = visit_GeneratorExp = visit_DictComp = _visit_comprehension

    def _visit_arguments(self, args: ast.arguments) -> None:
        self._visit_all([*args.defaults, *args.kw_defaults])
        if not self.skip_annotations:
            self._visit_all([a.annotation for a in _all_args(args)])

    def _visit_all(self, nodes: Iterable[ast.AST | None]) -> None:
        for node in nodes:
            if node is not None:
                self.visit(node)


def _all_args(args: ast.arguments) -> list[ast.arg]:
    extra = [a for a in (args.vararg, args.kwarg) if a is not None]
    return [*args.posonlyargs, *args.args, *args.kwonlyargs, *extra]


def _add(uses: Uses, name: str, chains: Iterable[tuple[str, ...]]) -> None:
    uses.setdefault(name, set()).update(chains)


def unit_uses(stmt: ast.AST, skip_annotations: bool = False) -> Uses:
    """Names a top-level statement uses from the module scope, each with its attribute chains."""
    scope = _Scope(skip_annotations)
    scope.visit(stmt)
    uses: Uses = {}
    for name, chain in scope.loads:
        _add(uses, name, [chain])
    for child in scope.nested:
        for name, chains in _free(child, skip_annotations).items():
            _add(uses, name, chains)
    return uses


def _free(node: ast.AST, skip_annotations: bool) -> Uses:
    """Free names of a nested scope (function, lambda, class body, comprehension)."""
    scope = _Scope(skip_annotations)
    bound = _enter(scope, node)
    local = (scope.stores | bound) - scope.declared
    is_class = isinstance(node, ast.ClassDef)
    uses: Uses = {}
    for name, chain in scope.loads:
        if name not in local:
            _add(uses, name, [chain])
    for child in scope.nested:
        for name, chains in _free(child, skip_annotations).items():
            # Names bound in a class body are not visible inside its methods.
            if is_class or name not in local:
                _add(uses, name, chains)
    return uses


def _enter(scope: _Scope, node: ast.AST) -> set[str]:
    """Visit the body of a scope node; return the names its parameters bind."""
    if isinstance(node, (*_FUNCTIONS, ast.Lambda)):
        body: list[ast.AST] = [node.body] if isinstance(node, ast.Lambda) else list(node.body)
        scope._visit_all(body)
        return {a.arg for a in _all_args(node.args)}
    if isinstance(node, ast.ClassDef):
        scope._visit_all(node.body)
        return set()
    generators: list[ast.comprehension] = getattr(node, "generators", [])
    for index, gen in enumerate(generators):
        scope._visit_all([gen.target, *gen.ifs, *([gen.iter] if index else [])])
    scope._visit_all([getattr(node, n, None) for n in ("elt", "key", "value")])
    return set()


# --- following the names ------------------------------------------------------------------


@dataclass
class _Kept:
    """What of one module goes into the bundle."""

    units: set[int] = field(default_factory=set)
    aliases: dict[int, set[int]] = field(default_factory=dict)
    members: dict[int, set[int]] = field(default_factory=dict)


class _Shaker:
    """The worklist: which units, import aliases and class members the targets reach."""

    def __init__(self, repo: _Repo) -> None:
        self.repo = repo
        self.kept: dict[str, _Kept] = {}
        self.external: set[str] = set()
        self._done: set[tuple[str, ...]] = set()

    def add_target(self, target: Target) -> None:
        """Keep a target and everything it reaches."""
        module = self.repo.module_at(target.path)
        self._keep(module)
        class_name, _, method = target.qualname.rpartition(".")
        outer, _, inner = class_name.partition(".")
        if inner:  # a method of a nested class: the nested class is kept whole
            _nested_classes(module, class_name)  # or say which class is missing
            self.member(module, outer, inner.split(".", 1)[0])
        elif class_name:
            self.member(module, class_name, method)
        else:
            self.name(module, method, {()})

    def _keep(self, module: _Module) -> _Kept:
        if module.path not in self.kept:
            self.kept[module.path] = _Kept()
            for index, unit in enumerate(module.units):
                if isinstance(unit, ast.ImportFrom) and unit.module == "__future__":
                    self.kept[module.path].units.add(index)
        return self.kept[module.path]

    def _once(self, *key: str) -> bool:
        if key in self._done:
            return False
        self._done.add(key)
        return True

    def name(self, module: _Module, name: str, chains: set[tuple[str, ...]]) -> None:
        """Keep what binds `name` at the top of `module`, used through `chains`."""
        binders = module.binders.get(name)
        if binders is None:
            self._from_stars(module, name, chains)
            return
        for index in binders:
            self.binder(module, index, name, chains)

    def binder(self, module: _Module, index: int, name: str, chains: set[tuple[str, ...]]) -> None:
        """Keep the top-level statement `index` that binds `name`."""
        if isinstance(module.units[index], ast.Import | ast.ImportFrom):
            self._alias(module, index, name, chains)
        else:
            self.unit(module, index)

    def imported(self, chains: set[tuple[str, ...]]) -> set[tuple[str, ...]]:
        """How a name imported from another module is used there: as a whole object."""
        return {()}

    def unit(self, module: _Module, index: int) -> None:
        """Keep one whole top-level statement and what it uses."""
        if not self._once(module.path, str(index)):
            return
        self._keep(module).units.add(index)
        unit = module.units[index]
        self.uses(module, unit_uses(unit, module.future_annotations))
        self._nested_imports(module, unit)

    def uses(self, module: _Module, uses: Uses) -> None:
        """Follow names used at the top of `module`."""
        for used, chains in sorted(uses.items()):
            self.name(module, used, chains)

    def whole_module(self, module: _Module) -> None:
        """Keep every statement of a module (it is used as an object)."""
        self._keep(module)
        for index in range(len(module.units)):
            self.unit(module, index)

    def _from_stars(self, module: _Module, name: str, chains: set[tuple[str, ...]]) -> None:
        for index in module.stars:
            unit = module.units[index]
            assert isinstance(unit, ast.ImportFrom)  # noqa: S101 - stars are ImportFrom
            source = self._resolve_from(module, unit)
            if source is None:
                continue
            other = self.repo.module(source)
            if other is not None and name in other.binders:
                self._keep(module).units.add(index)
                self._keep(other)
                self.name(other, name, self.imported(chains))

    def _alias(self, module: _Module, index: int, name: str, chains: set[tuple[str, ...]]) -> None:
        unit = module.units[index]
        assert isinstance(unit, ast.Import | ast.ImportFrom)  # noqa: S101 - by the caller
        for position, alias in enumerate(unit.names):
            if _alias_binding(alias) == name:
                self._keep(module).aliases.setdefault(index, set()).add(position)
                self._follow_alias(module, unit, alias, chains)

    def _follow_alias(
        self,
        module: _Module,
        unit: ast.Import | ast.ImportFrom,
        alias: ast.alias,
        chains: set[tuple[str, ...]],
    ) -> None:
        if isinstance(unit, ast.Import):
            base = alias.name if alias.asname else alias.name.split(".")[0]
            self._module_binding(base, chains, imported=alias.name)
            return
        source = self._resolve_from(module, unit)
        if source is None:
            return
        submodule = f"{source}.{alias.name}"
        if self.repo.module(submodule) is not None:
            self._module_binding(submodule, chains, imported=submodule)
        elif (other := self.repo.module(source)) is not None:
            self._keep(other)
            self.name(other, alias.name, self.imported(chains))
        else:
            self.external.add(source.split(".")[0])

    def _module_binding(self, base: str, chains: set[tuple[str, ...]], imported: str) -> None:
        """A name bound to a module: keep what its attribute chains reach."""
        if self.repo.module(imported) is None and self.repo.module(base) is None:
            self.external.add(base.split(".", maxsplit=1)[0])
            return
        self._ensure_modules(imported)
        for chain in chains:
            self._chain(base, chain)

    def _ensure_modules(self, dotted: str) -> None:
        """`import a.b` needs the file of `a.b` (its packages may stay namespace packages)."""
        found = self.repo.module(dotted)
        if found is not None:
            self._keep(found)

    def _chain(self, base: str, chain: tuple[str, ...]) -> None:
        current = base
        for position, attr in enumerate(chain):
            if self.repo.module(f"{current}.{attr}") is not None:
                current = f"{current}.{attr}"
                self._ensure_modules(current)
                continue
            module = self.repo.module(current)
            if module is not None:
                self._keep(module)
                self.name(module, attr, {chain[position + 1 :]})
            return
        module = self.repo.module(current)
        if module is not None:
            self.whole_module(module)

    def _nested_imports(self, module: _Module, unit: ast.stmt) -> None:
        """Imports inside a kept definition are kept verbatim: follow all of their names."""
        if isinstance(unit, ast.Import | ast.ImportFrom):
            return
        for node in ast.walk(unit):
            if isinstance(node, ast.Import | ast.ImportFrom):
                for alias in node.names:
                    if alias.name != "*":
                        self._follow_alias(module, node, alias, {()})

    def _resolve_from(self, module: _Module, unit: ast.ImportFrom) -> str | None:
        if unit.level == 0:
            return unit.module
        package = module.name.split(".") if module.is_package else module.name.split(".")[:-1]
        if unit.level - 1 > len(package):
            return None
        base = package[: len(package) - (unit.level - 1)]
        return ".".join([*base, *([unit.module] if unit.module else [])]) or None

    # --- class skeletons ---------------------------------------------------------------

    def member(self, module: _Module, class_name: str, member: str) -> None:
        """Keep one member of a class (the class keeps a skeleton unless kept whole)."""
        index, node = _class_unit(module, class_name)
        if not self._once(module.path, class_name, member):
            return
        members = self._keep(module).members.setdefault(index, set())
        if self._once(module.path, class_name):
            self._class_header(module, node, members)
        for position in _member_binders(node, member):
            if position not in members:
                members.add(position)
                self._member_uses(module, node, node.body[position])

    def _class_header(self, module: _Module, node: ast.ClassDef, members: set[int]) -> None:
        header = [*node.decorator_list, *node.bases, *(k.value for k in node.keywords)]
        for expr in header:
            self.uses(module, unit_uses(ast.Expr(expr), module.future_annotations))
        for name in _always_kept_members(node):
            self.member(module, node.name, name)

    def _member_uses(self, module: _Module, node: ast.ClassDef, stmt: ast.stmt) -> None:
        uses = unit_uses(stmt, module.future_annotations)
        own = uses.pop(node.name, set())
        if () in own:  # the class is used as an object: keep all of it
            self.unit(module, module.units.index(node))
        for name in sorted({c[0] for c in own if c} | _self_attributes(stmt)):
            self._class_attribute(module, node, name)
        class_scope = not isinstance(stmt, _FUNCTIONS)
        self._member_names(module, node, uses, class_scope, self._class_attribute)
        self._nested_imports(module, stmt)

    def _member_names(
        self,
        module: _Module,
        node: ast.ClassDef,
        uses: Uses,
        class_scope: bool,
        attribute: Callable[[_Module, ast.ClassDef, str], None],
    ) -> None:
        """Follow a member's names: first those bound in the class body, when the member
        sees the class scope (class-body statements, decorators), then the module's."""
        if class_scope:
            for name in [n for n in uses if _member_binders(node, n)]:
                uses.pop(name)
                attribute(module, node, name)
        self.uses(module, uses)

    def _class_attribute(self, module: _Module, node: ast.ClassDef, name: str) -> None:
        if _member_binders(node, name):
            self.member(module, node.name, name)
        elif _member_binders(node, "__init__"):
            # An instance attribute: it is set up by __init__.
            self.member(module, node.name, "__init__")

    def skeleton(self, module: _Module, node: ast.ClassDef, kept: _Kept) -> tuple[str, str]:
        """The kind and text of a class kept in part."""
        return "class skeleton", _skeleton(module, node, kept)


def _class_unit(module: _Module, class_name: str) -> tuple[int, ast.ClassDef]:
    for index, unit in enumerate(module.units):
        if isinstance(unit, ast.ClassDef) and unit.name == class_name:
            return index, unit
    raise TargetError(f"no class {class_name!r} in {module.path}")


def _nested_classes(module: _Module, class_path: str) -> list[ast.ClassDef]:
    """`Outer.Inner`'s classes, outermost first (the first a unit of the module)."""
    first, *rest = class_path.split(".")
    chain = [_class_unit(module, first)[1]]
    for name in rest:
        body = chain[-1].body
        inner = next((s for s in body if isinstance(s, ast.ClassDef) and s.name == name), None)
        if inner is None:
            raise TargetError(f"no class {class_path!r} in {module.path}")
        chain.append(inner)
    return chain


def _member_binders(node: ast.ClassDef, name: str) -> list[int]:
    return [i for i, stmt in enumerate(node.body) if name in _bound_names(stmt)]


def _always_kept_members(node: ast.ClassDef) -> list[str]:
    """`__slots__`, and the fields of decorated or derived classes (dataclasses, enums)."""
    names = ["__slots__"]
    if node.decorator_list or node.bases or node.keywords:
        for stmt in node.body:
            if isinstance(stmt, ast.Assign | ast.AnnAssign):
                names.extend(sorted(_bound_names(stmt)))
    return names


def _self_attributes(stmt: ast.stmt) -> set[str]:
    """Attributes a method reaches through its first parameter (`self.x`, `cls.x`)."""
    if not isinstance(stmt, _FUNCTIONS) or _is_static(stmt):
        return set()
    first = _first_parameter(stmt)
    return _attributes_on(stmt, {first}) if first else set()


def _first_parameter(stmt: ast.FunctionDef | ast.AsyncFunctionDef) -> str | None:
    params = [*stmt.args.posonlyargs, *stmt.args.args]
    return params[0].arg if params else None


def _attributes_on(node: ast.AST, names: set[str]) -> set[str]:
    """Attributes `node` reaches directly on one of `names` (`self.x` for {"self"})."""
    return {
        found.attr
        for found in ast.walk(node)
        if isinstance(found, ast.Attribute)
        and isinstance(found.value, ast.Name)
        and found.value.id in names
    }


def _is_static(stmt: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    return any(isinstance(d, ast.Name) and d.id == "staticmethod" for d in stmt.decorator_list)


# --- outlines: what a request shows of a class --------------------------------------------


class _Outliner(_Shaker):
    """The shaker of a request: the same names followed, but every class is an outline.

    A class reached by name shows its header, its constructor's signature when it is called
    or used as an object, and the members reached through it (`X.attr`); a base class shows
    its header. In a class, a method reached (`self.f()`, `cls.f`, `X.f`) shows its
    signature and is not followed into; an instance attribute shows the constructor
    statements that set it (a base class's when the class sets none); class constants
    show whole. The target, and the module-level functions and constants reached, are whole.
    """

    def __init__(self, repo: _Repo) -> None:
        super().__init__(repo)
        self.shown = Shown()

    def add_target(self, target: Target) -> None:
        """Keep a target: a method shows whole inside the outline of its class."""
        class_name, _, method = target.qualname.rpartition(".")
        if not class_name:
            super().add_target(target)
            return
        module = self.repo.module_at(target.path)
        self._keep(module)
        chain = _nested_classes(module, class_name)
        self._outline(module, chain[0])
        for parent, child in itertools.pairwise(chain):  # Outer.Inner.method
            self._show(module, parent, child.name)
        self._show(module, chain[-1], method, whole=True)

    def binder(self, module: _Module, index: int, name: str, chains: set[tuple[str, ...]]) -> None:
        """A class is outlined with what `chains` reach of it; anything else as in a bundle.

        A later statement that sets an attribute of a class (`X.attr = ...`) is kept only
        when that attribute is read.
        """
        unit = module.units[index]
        if isinstance(unit, ast.ClassDef):
            self._by_name(module, unit, chains)
        elif isinstance(unit, ast.Import | ast.ImportFrom) or _reaches(module, unit, name, chains):
            super().binder(module, index, name, chains)

    def imported(self, chains: set[tuple[str, ...]]) -> set[tuple[str, ...]]:
        """An imported class shows only what is used of it here."""
        return chains

    def skeleton(self, module: _Module, node: ast.ClassDef, kept: _Kept) -> tuple[str, str]:
        """A class as its outline."""
        return "class outline", class_outline(module.lines, node, self.shown)

    def _by_name(self, module: _Module, node: ast.ClassDef, chains: set[tuple[str, ...]]) -> None:
        self._outline(module, node)
        for chain in sorted(chains):
            if chain:
                self._attribute(module, node, chain[0])
            else:  # called, or used as an object
                self._constructor(module, node)

    def _outline(self, module: _Module, node: ast.ClassDef) -> None:
        """Show the class header, once; follow the names it uses."""
        if node in self.shown.classes:
            return
        self.shown.classes.add(node)
        if node in module.units:
            self._keep(module).members.setdefault(module.units.index(node), set())
        for expr in [*node.decorator_list, *(k.value for k in node.keywords)]:
            self.uses(module, unit_uses(ast.Expr(expr), module.future_annotations))
        for base in node.bases:
            uses = unit_uses(ast.Expr(base), module.future_annotations)
            if isinstance(base, ast.Name):
                uses[base.id].discard(())  # a base class shows its header only
            self.uses(module, uses)
        self._show(module, node, "__slots__")

    def _show(self, module: _Module, node: ast.ClassDef, name: str, *, whole: bool = False) -> None:
        """Show the members binding `name`: methods by signature unless `whole`."""
        for position in _member_binders(node, name):
            stmt = node.body[position]
            if isinstance(stmt, ast.ClassDef):
                self._outline(module, stmt)
                self._constructor(module, stmt)
            elif isinstance(stmt, _FUNCTIONS) and not whole:
                self._signature(module, node, stmt)
            elif stmt not in self.shown.whole:
                self.shown.whole.add(stmt)
                self._member_reads(module, node, stmt, unit_uses(stmt, module.future_annotations))

    def _signature(
        self, module: _Module, node: ast.ClassDef, function: ast.FunctionDef | ast.AsyncFunctionDef
    ) -> None:
        """Show a method by its signature: follow its decorators, defaults and annotations."""
        if function in self.shown.signatures:
            return
        self.shown.signatures.add(function)
        stub = copy.copy(function)
        stub.body = [ast.Pass()]
        uses = unit_uses(stub, module.future_annotations)  # decorators see the class: `@x.setter`
        self._member_names(module, node, uses, True, self._attribute)

    def _member_reads(
        self,
        module: _Module,
        node: ast.ClassDef,
        stmt: ast.stmt,
        uses: Uses,
        instance: set[str] | None = None,
    ) -> None:
        """Follow what a shown statement reads: its class's members, then module names."""
        if node in module.units:  # the class by its own name: `X.CONSTANT`, `X(...)`
            self._by_name(module, node, uses.pop(node.name, set()))
        attributes = _self_attributes(stmt) if instance is None else _attributes_on(stmt, instance)
        for name in sorted(attributes):
            self._attribute(module, node, name)
        if _constructs_cls(stmt):
            self._constructor(module, node)
        class_scope = not isinstance(stmt, _FUNCTIONS)
        self._member_names(module, node, uses, class_scope, self._attribute)
        self._nested_imports(module, stmt)

    def _attribute(self, module: _Module, node: ast.ClassDef, name: str) -> None:
        """`self.name` or `X.name`: the class's members, its constructors' stores, or a base's."""
        if not self._once(module.path, node.name, str(node.lineno), "attribute", name):
            return
        self._show(module, node, name)
        stored = self._stores(module, node, name)
        if not stored and not _member_binders(node, name):
            self._from_bases(module, node, (name,))

    def _stores(self, module: _Module, node: ast.ClassDef, name: str) -> bool:
        """Show the constructor statements that set `name` on the instance; False if none."""
        found = False
        for constructor in CONSTRUCTORS:
            for position in _member_binders(node, constructor):
                function = node.body[position]
                if not isinstance(function, _FUNCTIONS):
                    continue
                if attribute_stores(function, {name}):
                    found = True
                    self.shown.attributes.setdefault(function, set()).add(name)
                    self._store_reads(module, node, function)
        return found

    def _store_reads(
        self,
        module: _Module,
        node: ast.ClassDef,
        function: ast.FunctionDef | ast.AsyncFunctionDef,
    ) -> None:
        """Follow what the shown part of a constructor reads (stores and the tests around)."""
        skip = module.future_annotations
        free = _free(function, skip)  # the constructor's parameters and locals are not names
        instance = instance_names(function)
        for stmt in constructor_body(function, self.shown.attributes[function]):
            uses = {k: v for k, v in unit_uses(stmt, skip).items() if k in free}
            self._member_reads(module, node, stmt, uses, instance)

    def _constructor(self, module: _Module, node: ast.ClassDef) -> None:
        """Show the signatures of `__new__` and `__init__` (a base's when the class has none)."""
        if not self._once(module.path, node.name, str(node.lineno), "constructor"):
            return
        names = [n for n in ("__new__", "__init__") if _member_binders(node, n)]
        for name in [*_fields(node), *names]:
            self._show(module, node, name)
        if not names:
            self._from_bases(module, node, ())

    def _from_bases(self, module: _Module, node: ast.ClassDef, tail: tuple[str, ...]) -> None:
        """Look `tail` up on the base classes (`Base` or `module.Base`) instead."""
        for base in node.bases:
            if isinstance(base, ast.Name | ast.Attribute):
                uses = unit_uses(ast.Expr(base), module.future_annotations)
                self.uses(module, {n: {(*c, *tail) for c in chains} for n, chains in uses.items()})


def _reaches(module: _Module, unit: ast.stmt, name: str, chains: set[tuple[str, ...]]) -> bool:
    """Whether a statement binding `name` is needed: for a class, only `X.attr = ...` with
    `attr` read through `chains`."""
    if not any(isinstance(module.units[i], ast.ClassDef) for i in module.binders[name]):
        return True
    attributes = {
        node.attr
        for node in ast.walk(unit)
        if isinstance(node, ast.Attribute)
        and isinstance(node.ctx, ast.Store)
        and isinstance(node.value, ast.Name)
        and node.value.id == name
    }
    return any(chain and chain[0] in attributes for chain in chains)


def _fields(node: ast.ClassDef) -> list[str]:
    """The annotated fields of a decorated or derived class (dataclasses, named tuples,
    models): what its constructor may take."""
    if not (node.decorator_list or node.bases or node.keywords):
        return []
    return [n for s in node.body if isinstance(s, ast.AnnAssign) for n in sorted(_bound_names(s))]


def _constructs_cls(stmt: ast.stmt) -> bool:
    """A classmethod that calls its `cls(...)`."""
    if not isinstance(stmt, _FUNCTIONS) or not any(
        isinstance(d, ast.Name) and d.id == "classmethod" for d in stmt.decorator_list
    ):
        return False
    first = _first_parameter(stmt)
    return any(
        isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == first
        for n in ast.walk(stmt)
    )


# --- writing the extracted files ----------------------------------------------------------


def _emit(module: _Module, kept: _Kept, shaker: _Shaker) -> ExtractedFile:
    pieces: list[ExtractedDefinition] = []
    for index, unit in enumerate(module.units):
        piece = _piece(module, kept, index, unit, shaker)
        if piece is not None:
            pieces.append(piece)
    return ExtractedFile(
        path=module.path,
        text=_join(pieces),
        definitions=tuple(pieces),
        original_size=len(module.source.encode()),
    )


def _piece(
    module: _Module, kept: _Kept, index: int, unit: ast.stmt, shaker: _Shaker
) -> ExtractedDefinition | None:
    if index in kept.units:
        return _definition(module, unit, _kind(unit), _text(module, unit))
    if index in kept.aliases and isinstance(unit, ast.Import | ast.ImportFrom):
        positions = kept.aliases[index]
        piece = _definition(module, unit, "import", _import_text(unit, positions))
        names = [_alias_binding(a) for i, a in enumerate(unit.names) if i in positions]
        return replace(piece, name=", ".join(names))
    if index in kept.members and isinstance(unit, ast.ClassDef):
        return _definition(module, unit, *shaker.skeleton(module, unit, kept))
    return None


def _definition(module: _Module, unit: ast.stmt, kind: str, text: str) -> ExtractedDefinition:
    names = sorted(_bound_names(unit))
    return ExtractedDefinition(
        path=module.path,
        name=", ".join(names) or "(statement)",
        kind=kind,
        first_line=_first_line(unit),
        last_line=unit.end_lineno or unit.lineno,
        text=text,
    )


def _kind(unit: ast.stmt) -> str:
    kinds: dict[type[ast.stmt], str] = {
        ast.FunctionDef: "function",
        ast.AsyncFunctionDef: "function",
        ast.ClassDef: "class",
        ast.Assign: "constant",
        ast.AnnAssign: "constant",
        ast.Import: "import",
        ast.ImportFrom: "import",
    }
    return kinds.get(type(unit), "statement")


def _first_line(unit: ast.stmt) -> int:
    decorators: list[ast.expr] = getattr(unit, "decorator_list", [])
    return min([unit.lineno, *(d.lineno for d in decorators)])


def _text(module: _Module, unit: ast.stmt) -> str:
    """The original lines of a statement, byte-identical."""
    end = unit.end_lineno or unit.lineno
    return "".join(module.lines[_first_line(unit) - 1 : end])


def _skeleton(module: _Module, node: ast.ClassDef, kept: _Kept) -> str:
    members = kept.members[module.units.index(node)]
    first_body = _first_line(node.body[0])
    if first_body == node.lineno:  # `class A: x = 1` on one line: nothing to shake off
        return _text(module, node)
    header = "".join(module.lines[_first_line(node) - 1 : first_body - 1])
    bodies = [_text(module, node.body[i]) for i in sorted(members)]
    return header + "\n".join(bodies)


def _import_text(unit: ast.Import | ast.ImportFrom, positions: set[int]) -> str:
    names = ", ".join(
        f"{a.name} as {a.asname}" if a.asname else a.name
        for i, a in enumerate(unit.names)
        if i in positions
    )
    if isinstance(unit, ast.Import):
        return f"import {names}\n"
    return f"from {'.' * unit.level}{unit.module or ''} import {names}\n"


def _join(pieces: Sequence[ExtractedDefinition]) -> str:
    out = ""
    for previous, piece in zip([None, *pieces], pieces, strict=False):
        text = piece.text if piece.text.endswith("\n") else piece.text + "\n"
        if previous is not None:
            both_imports = previous.kind == piece.kind == "import"
            out += "" if both_imports else "\n\n"
        out += text
    return out
