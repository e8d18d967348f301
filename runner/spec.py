"""What one job optimizes: targets, commands and budget (pure data and parsing)."""

from __future__ import annotations

import ast
import json
import shlex
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from runner.errors import SpecError, TargetError
from runner.verify import recording

DEFAULT_TEST_CMD = "python -m pytest -x -q"


@dataclass(frozen=True, order=True)
class Target:
    """A function or method in a repository: `path/to/module.py::func` or `::Class.method`."""

    path: str
    qualname: str

    @classmethod
    def parse(cls, text: str) -> Target:
        """Parse `path/to/module.py::function` (the path is relative to the repository)."""
        path, sep, qualname = text.partition("::")
        if not sep or not path or not qualname:
            raise SpecError(
                f"target {text!r} must look like path/to/module.py::function (or ::Class.method)"
            )
        pure = PurePosixPath(path)
        if pure.is_absolute() or ".." in pure.parts:
            raise SpecError(f"target {text!r}: the path must be relative to the repository")
        if not all(part.isidentifier() for part in qualname.split(".")):
            raise SpecError(f"target {text!r}: {qualname!r} is not a Python name")
        return cls(path=str(pure), qualname=qualname)

    def __str__(self) -> str:
        return f"{self.path}::{self.qualname}"

    @property
    def slug(self) -> str:
        """A file-name-safe identifier for this target."""
        stem = self.path.removesuffix(".py").replace("/", "-")
        return f"{stem}-{self.qualname}".replace(".", "-")


@dataclass(frozen=True)
class JobSpec:
    """Everything a job needs to know about what to do, independent of where it runs."""

    repo: str
    targets: tuple[Target, ...]
    test_cmd: str = DEFAULT_TEST_CMD
    bench_cmd: str | None = None
    workload_cmd: str | None = None  # `python script.py ...`: its calls of the targets are recorded
    provider: str = "rules"
    max_candidates: int = 8
    float_tolerance: float | None = None  # relative; None: floats must be identical
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        """The `spec.json` of the job directory."""
        data = asdict(self)
        data["targets"] = [str(t) for t in self.targets]
        return json.dumps(data, indent=2, sort_keys=True) + "\n"

    def test_argv(self) -> list[str]:
        """The test command as an argument vector."""
        return split_command(self.test_cmd, "--test-cmd")

    def bench_argv(self) -> list[str] | None:
        """The benchmark command as an argument vector, if there is one."""
        return None if self.bench_cmd is None else split_command(self.bench_cmd, "--bench-cmd")

    def workload_argv(self) -> list[str] | None:
        """The workload command rewritten to run under the recorder, if there is one."""
        if self.workload_cmd is None:
            return None
        return workload_argv(self.workload_cmd)


def workload_argv(cmd: str) -> list[str]:
    """`--workload CMD` as the argument vector that runs it under the recorder."""
    argv = split_command(cmd, "--workload")
    rewritten = recording.workload_argv(argv)
    if rewritten is None:
        raise SpecError(
            f"--workload {cmd!r} must run Python: `python script.py [args]` or "
            "`python -m module [args]` (its calls of the targets are recorded as the "
            "tests' are; code after -c and other programs cannot be)"
        )
    return rewritten


def split_command(cmd: str, option: str) -> list[str]:
    """Split a shell-like command line; a command is never run through a shell."""
    try:
        argv = shlex.split(cmd)
    except ValueError as exc:
        raise SpecError(f"{option} {cmd!r} cannot be parsed: {exc}") from None
    if not argv:
        raise SpecError(f"{option} must not be empty")
    return argv


def validate_repo(repo: Path) -> Path:
    """Return the repository folder, resolved, or say why it cannot be used."""
    if not repo.exists():
        raise SpecError(f"repository {str(repo)!r} does not exist")
    if not repo.is_dir():
        raise SpecError(f"repository {str(repo)!r} is not a folder")
    return repo.resolve()


def validate_target(repo: Path, target: Target) -> None:
    """Check that the target file exists, is Python, and defines the named function."""
    file = repo / target.path
    if not file.name.endswith(".py"):
        raise TargetError(f"target {target}: {target.path} is not a Python file (.py)")
    if not file.is_file():
        raise TargetError(f"target {target}: {target.path} does not exist in {repo}")
    try:
        tree = ast.parse(file.read_bytes(), filename=target.path)
    except (SyntaxError, ValueError) as exc:
        raise TargetError(f"target {target}: {target.path} is not valid Python: {exc}") from None
    names = defined_functions(tree)
    if target.qualname not in names:
        known = ", ".join(sorted(names)) or "none"
        raise TargetError(
            f"target {target}: no function {target.qualname!r} in {target.path} "
            f"(functions defined there: {known})"
        )


def defined_functions(tree: ast.Module) -> set[str]:
    """Qualified names of the module-level functions and the methods of its classes."""
    names: set[str] = set()
    todo: list[tuple[str, list[ast.stmt]]] = [("", tree.body)]
    while todo:  # classes nested in classes too (`Outer.Inner.method`), not in functions
        prefix, body = todo.pop()
        for node in body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                names.add(prefix + node.name)
            elif isinstance(node, ast.ClassDef):
                todo.append((f"{prefix}{node.name}.", node.body))
    return names
