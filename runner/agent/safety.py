"""The safety check: code coming back from a provider is untrusted.

A candidate must be exactly one definition of the target (plus, optionally, new private
helper functions), must not touch tests, and must not reach the network, processes, the
file system or the interpreter's internals, unless the original definition already did or
the client's policy allows it. The policy is data (`Settings.safety`).

This module imports nothing from `runner.config` (config imports it).
"""

from __future__ import annotations

import ast
import fnmatch
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

from pydantic import BaseModel, ConfigDict, Field

from runner.errors import SecurityViolation

__all__ = [
    "Finding",
    "SafetyPolicy",
    "SecurityViolation",
    "check_candidate",
    "check_target_path",
    "find_constructs",
]

DEFAULT_MODULES = [
    "socket", "ssl", "socketserver", "http", "urllib", "urllib3", "requests", "httpx",
    "aiohttp", "ftplib", "smtplib", "poplib", "imaplib", "telnetlib", "xmlrpc", "webbrowser",
    "subprocess", "multiprocessing", "pty", "signal", "resource", "fcntl", "mmap", "posix",
    "ctypes", "cffi", "importlib", "builtins", "code", "codeop", "runpy", "gc", "inspect",
    "pickle", "marshal", "shelve", "tempfile",
]  # fmt: skip
DEFAULT_CALLS = [
    "eval", "exec", "compile", "__import__", "globals", "breakpoint", "exit", "quit",
    "os.system", "os.exec*", "os.fork*", "os.spawn*", "os.popen", "os.posix_spawn*",
    "os.kill*", "os.remove", "os.unlink", "os.rmdir", "os.removedirs", "os.rename",
    "os.renames", "os.replace", "os.mkdir", "os.makedirs", "os.chmod", "os.chown",
    "os.truncate", "os.putenv", "os.unsetenv", "os.write", "os.open", "os._exit",
    "os.environ.*", "shutil.*", "asyncio.create_subprocess_*",
    "sys.modules.*", "sys.setrecursionlimit", "sys.settrace", "sys.setprofile",
    "sys._getframe", "sys.exit", "*.write_text", "*.write_bytes", "*.unlink", "*.rmdir",
]  # fmt: skip
DEFAULT_ATTRIBUTES = [
    "__builtins__", "__subclasses__", "__globals__", "__code__", "__closure__", "__bases__",
    "__mro__", "__import__", "__loader__", "__spec__", "__reduce__", "__reduce_ex__",
    "f_globals", "f_locals", "f_back", "f_builtins", "gi_frame", "cr_frame", "tb_frame",
    "co_code",
]  # fmt: skip
DEFAULT_PROTECTED = ["sys.modules", "os.environ", "builtins"]
_OPENERS = {"open", "io.open", "builtins.open", "codecs.open", "os.fdopen"}
_ATTRIBUTE_FUNCTIONS = {"getattr", "setattr", "delattr", "hasattr"}


class SafetyPolicy(BaseModel):
    """What candidate code may not do; `allow` lists constructs the client accepts anyway.

    `forbidden_calls` are shell-style patterns (`os.exec*`) matched against the dotted name
    of the called function after resolving imports (`from os import system` → `os.system`).
    """

    model_config = ConfigDict(extra="forbid")

    forbidden_modules: list[str] = Field(
        default_factory=lambda: list(DEFAULT_MODULES),
        description="modules (and their submodules) a candidate may not import or use",
    )
    forbidden_calls: list[str] = Field(
        default_factory=lambda: list(DEFAULT_CALLS),
        description="functions a candidate may not call (shell-style patterns)",
    )
    forbidden_attributes: list[str] = Field(
        default_factory=lambda: list(DEFAULT_ATTRIBUTES),
        description="attributes and names of interpreter internals a candidate may not touch",
    )
    protected_objects: list[str] = Field(
        default_factory=lambda: list(DEFAULT_PROTECTED),
        description="objects a candidate may not write to (items or attributes)",
    )
    allow: list[str] = Field(
        default_factory=list, description="constructs accepted anyway (e.g. 'os.remove')"
    )

    def allows(self, construct: str) -> bool:
        """True when the client's allowlist accepts `construct`."""
        return any(fnmatch.fnmatchcase(construct, pattern) for pattern in self.allow)


@dataclass(frozen=True, order=True)
class Finding:
    """One forbidden construct in a piece of code: what rule, and the construct."""

    reason: str
    construct: str


def check_target_path(path: str) -> None:
    """Reject targets in tests: a `tests`/`test` folder, `test_*.py`, `*_test.py`, conftest."""
    pure = PurePosixPath(path)
    in_tests = any(part in ("tests", "test") for part in pure.parts[:-1])
    test_file = pure.name.startswith("test_") or pure.name.endswith("_test.py")
    if in_tests or test_file or pure.name == "conftest.py":
        raise SecurityViolation("edits tests", path)


def check_candidate(
    original_module: str,
    qualname: str,
    candidate_code: str,
    imports: Sequence[str],
    policy: SafetyPolicy,
) -> None:
    """Raise SecurityViolation (with `.reason` and `.construct`) unless the candidate is safe."""
    module_tree = ast.parse(original_module)
    candidate = _parse(candidate_code, "the candidate does not parse")
    import_trees = [_parse_import(text) for text in imports]
    _check_shape(module_tree, qualname, candidate)
    _check_import_bindings(module_tree, import_trees)
    aliases = {**import_aliases(module_tree), **_aliases_of(import_trees)}
    original = _original_definition(module_tree, qualname)
    already = {f.construct for f in find_constructs(original, aliases, policy)}
    for tree in [*import_trees, candidate]:
        for finding in find_constructs(tree, aliases, policy):
            if finding.construct not in already and not policy.allows(finding.construct):
                raise SecurityViolation(finding.reason, finding.construct)


def _parse(code: str, reason: str) -> ast.Module:
    try:
        return ast.parse(code)
    except (SyntaxError, ValueError) as exc:
        where = f"line {exc.lineno}: " if isinstance(exc, SyntaxError) else ""
        raise SecurityViolation(reason, f"{where}{getattr(exc, 'msg', exc)}") from None


def _parse_import(text: str) -> ast.Module:
    tree = _parse(text, "an import does not parse")
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.Import | ast.ImportFrom):
        raise SecurityViolation("not an import statement", text.strip())
    return tree


# --- shape: only the target, plus new private helpers -------------------------------------


def _check_shape(module: ast.Module, qualname: str, candidate: ast.Module) -> None:
    name = qualname.rsplit(".", 1)[-1]
    existing = _module_names(module)
    targets = 0
    for stmt in candidate.body:
        if not isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
            raise SecurityViolation("defines something other than functions", _describe(stmt))
        if stmt.name == name:
            targets += 1
        elif not stmt.name.startswith("_"):
            raise SecurityViolation("defines a public function besides the target", stmt.name)
        elif stmt.name in existing:
            raise SecurityViolation("changes a definition other than the target", stmt.name)
    if targets != 1:
        raise SecurityViolation("must define the target exactly once", f"{name} × {targets}")


def _describe(stmt: ast.stmt) -> str:
    first_line = ast.unparse(stmt).splitlines()[0]
    return first_line if len(first_line) <= 60 else first_line[:57] + "..."


def _module_names(module: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in module.body:
        for sub in ast.walk(node) if not isinstance(node, ast.ClassDef) else [node]:
            names |= _binds(sub)
    return names


def _binds(node: ast.AST) -> set[str]:
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return {node.name}
    if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
        return {node.id}
    if isinstance(node, ast.Import | ast.ImportFrom):
        return {a.asname or a.name.split(".")[0] for a in node.names}
    return set()


def _check_import_bindings(module: ast.Module, imports: Sequence[ast.Module]) -> None:
    """An added import must not rebind a name the module defines (that changes other code)."""
    defined = {n for n in _module_names(module) if n not in import_aliases(module)}
    for tree in imports:
        for name in _binds(tree.body[0]) & defined:
            raise SecurityViolation("an import rebinds a module-level name", name)


def _original_definition(module: ast.Module, qualname: str) -> ast.AST:
    body: list[ast.stmt] = module.body
    found: ast.AST = ast.Module(body=[], type_ignores=[])
    for part in qualname.split("."):
        match = next((n for n in body if getattr(n, "name", None) == part), None)
        if match is None:
            return ast.Module(body=[], type_ignores=[])
        found, body = match, getattr(match, "body", [])
    return found


# --- forbidden constructs ----------------------------------------------------------------


def import_aliases(tree: ast.AST) -> dict[str, str]:
    """Names bound by the imports in `tree`, mapped to the dotted names they stand for."""
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                aliases[a.asname or a.name.split(".")[0]] = (
                    a.name if a.asname else a.name.split(".")[0]
                )
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for a in node.names:
                aliases[a.asname or a.name] = f"{node.module}.{a.name}"
    return aliases


def _aliases_of(trees: Sequence[ast.Module]) -> dict[str, str]:
    merged: dict[str, str] = {}
    for tree in trees:
        merged.update(import_aliases(tree))
    return merged


def find_constructs(
    tree: ast.AST, aliases: Mapping[str, str], policy: SafetyPolicy
) -> list[Finding]:
    """Every forbidden construct in `tree`, names resolved through `aliases` and local imports."""
    resolved = {**aliases, **import_aliases(tree)}
    checker = _Checker(resolved, policy)
    return sorted(set(checker.run(tree)))


class _Checker:
    def __init__(self, aliases: Mapping[str, str], policy: SafetyPolicy) -> None:
        self.aliases = aliases
        self.policy = policy

    def run(self, tree: ast.AST) -> Iterator[Finding]:
        for node in ast.walk(tree):
            yield from self._imports(node)
            yield from self._names(node)
            yield from self._calls(node)
            yield from self._writes(node)

    def dotted(self, node: ast.AST) -> str | None:
        """`a.b.c` with `a` resolved through the imports, or None for other expressions."""
        parts: list[str] = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if not isinstance(node, ast.Name):
            return None
        root = self.aliases.get(node.id, node.id)
        return ".".join([root, *reversed(parts)])

    def module_of(self, node: ast.AST) -> str | None:
        """The forbidden module an expression rooted at an import reaches, if any."""
        root: ast.AST = node
        while isinstance(root, ast.Attribute):
            root = root.value
        if not isinstance(root, ast.Name) or root.id not in self.aliases:
            return None
        dotted = self.dotted(node) or ""
        return next((m for m in self.policy.forbidden_modules if _within(dotted, m)), None)

    def _imports(self, node: ast.AST) -> Iterator[Finding]:
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level:
            names = [f"{node.module}.{a.name}" for a in node.names]
        else:
            return
        for name in names:
            for module in self.policy.forbidden_modules:
                if _within(name, module):
                    yield Finding("imports a forbidden module", module)

    def _names(self, node: ast.AST) -> Iterator[Finding]:
        forbidden = self.policy.forbidden_attributes
        if isinstance(node, ast.Attribute) and node.attr in forbidden:
            yield Finding("touches interpreter internals", node.attr)
        if isinstance(node, ast.Name) and node.id in forbidden:
            yield Finding("touches interpreter internals", node.id)
        if isinstance(node, ast.Attribute | ast.Name) and (module := self.module_of(node)):
            yield Finding("uses a forbidden module", module)

    def _calls(self, node: ast.AST) -> Iterator[Finding]:
        if not isinstance(node, ast.Call):
            return
        name = self.dotted(node.func)
        if name is None:
            return
        if any(fnmatch.fnmatchcase(name, p) for p in self.policy.forbidden_calls):
            yield Finding("calls a forbidden function", name)
        if name in _OPENERS or (isinstance(node.func, ast.Attribute) and node.func.attr == "open"):
            yield from _open_mode(node, name)
        if name in _ATTRIBUTE_FUNCTIONS:
            yield from self._attribute_function(node, name)

    def _attribute_function(self, node: ast.Call, name: str) -> Iterator[Finding]:
        args = node.args
        attribute = args[1] if len(args) > 1 else None
        text = str(attribute.value) if isinstance(attribute, ast.Constant) else ""
        if text in self.policy.forbidden_attributes:
            yield Finding("touches interpreter internals", text)
        writes = name in ("setattr", "delattr")
        if writes and args and isinstance(args[0], ast.Name) and args[0].id in self.aliases:
            yield Finding("sets an attribute of a module", f"{name}({args[0].id}, ...)")

    def _writes(self, node: ast.AST) -> Iterator[Finding]:
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign | ast.Delete):
            targets = list(node.targets)
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets = [node.target]
        for target in targets:
            yield from self._write_target(target)

    def _write_target(self, target: ast.expr) -> Iterator[Finding]:
        if not isinstance(target, ast.Subscript | ast.Attribute):
            return
        owner = self.dotted(target.value) or ""
        if any(_within(owner, p) for p in self.policy.protected_objects):
            yield Finding("writes a protected object", owner)
        root: ast.expr = target
        while isinstance(root, ast.Attribute | ast.Subscript):
            root = root.value
        if isinstance(root, ast.Name) and root.id in self.aliases:
            yield Finding("writes to an imported module or object", self.dotted(target) or owner)


def _within(name: str, module: str) -> bool:
    return name == module or name.startswith(module + ".")


def _open_mode(node: ast.Call, name: str) -> Iterator[Finding]:
    """`open` for writing: a mode containing w, a, x or +, or a mode that is not a literal."""
    position = 0 if isinstance(node.func, ast.Attribute) and name not in _OPENERS else 1
    mode: ast.expr | None = node.args[position] if len(node.args) > position else None
    mode = next((k.value for k in node.keywords if k.arg == "mode"), mode)
    if mode is None:
        return
    if not isinstance(mode, ast.Constant) or not isinstance(mode.value, str):
        yield Finding("opens a file with a mode that cannot be checked", name)
    elif set(mode.value) & set("wax+"):
        yield Finding("opens a file for writing", f"{name}(..., {mode.value!r})")
