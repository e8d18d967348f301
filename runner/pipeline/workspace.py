"""Stage 1, workspace: validate the repository and the targets, read the targets' modules,
and check out the unchanged baseline (a killed attempt's checkouts are cleared first)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from runner import faults, paths
from runner.bundle import formatting
from runner.pipeline.commands import SHIM_DIR, write_python_shim
from runner.pipeline.context import BASELINE, Checkout, JobContext
from runner.spec import Target, validate_repo, validate_target
from runner.workspace import Workspace, inspect_source


@dataclass
class Sources:
    """The project as the job found it, and the way to more checkouts of it."""

    workspace: Workspace
    baseline: Checkout
    modules: dict[Target, str]  # each target's module, as it was at the start
    patch_prefix: Path  # the project's folder inside its git repository
    formatter: str | None  # the project's own: ruff or black
    python: str

    def checkout(self, name: str) -> Checkout:
        """A fresh worktree with `python` on its PATH meaning the job's interpreter."""
        return _checkout(self.workspace, name, self.python)


def run(ctx: JobContext) -> Sources:
    ctx.stage("workspace")
    with ctx.tracer.span("workspace") as span:
        repo = validate_repo(Path(ctx.spec.repo))
        modules: dict[Target, str] = {}
        for target in ctx.spec.targets:
            validate_target(repo, target)
            modules[target] = (repo / target.path).read_text(encoding="utf-8")
        source = inspect_source(repo)
        span.set(git=source.git_root is not None, commit=source.commit, dirty=source.dirty)
        # patch.diff paths are relative to where `git apply` runs: the repository root.
        apply_dir = source.git_root or source.project
        ctx.result.spec.update(commit=source.commit, dirty=source.dirty, apply_dir=str(apply_dir))
        workspace = Workspace(source, ctx.dir.root / paths.WORKTREES)
        ctx.workspace = workspace
        left = workspace.clear()  # a killed attempt's checkouts
        span.set(leftovers=len(left))
        baseline = _checkout(workspace, BASELINE, ctx.python)
        faults.reached("workspace:checkout")
        formatter = None
        pyproject = baseline.project / "pyproject.toml"
        if pyproject.is_file():
            formatter = formatting.configured_formatter(pyproject.read_text("utf-8"))
        span.set(formatter=formatter)
        return Sources(workspace, baseline, modules, source.subdir, formatter, ctx.python)


def _checkout(workspace: Workspace, name: str, python: str) -> Checkout:
    project = workspace.checkout(name)
    write_python_shim(project / SHIM_DIR, python)
    return Checkout(name, project)
