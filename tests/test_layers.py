"""The import layers and the settings layer, each also shown to fail on a tree that breaks it.

The layers are the `[tool.importlinter]` contracts of pyproject.toml (`make check` runs
`lint-imports`); these tests run the same contracts over a copy of runner/ with one bad
import added. The environment rule is checked here alone: only the settings layer touches
`os.environ`, and everything else receives what a command read (`runner.config.read_environ`).
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUNNER = ROOT / "runner"
CONTRACTS = {
    c["id"]: c["name"]
    for c in tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"][
        "importlinter"
    ]["contracts"]
}

# --- environment reads --------------------------------------------------------------------

# The settings layer: the only modules that read the process environment.
SETTINGS_LAYER = frozenset(
    {
        "runner/config.py",
        "runner/agent/settings.py",
        "runner/forge/settings.py",
        "runner/telemetry/settings.py",
    }
)
# Modules that read it all the same, and why.
EXCEPTIONS = {
    "runner/faults.py": "fault injection for the crash-safety tests: any process of the "
    "service (serve, a worker, the store and spool inside them) stops at a point named by a "
    "file in $OPTIRUNNER_FAULTS_DIR, with no settings passed that far; never a setting",
    "runner/verify/_record_plugin.py": "runs in the project's test process, not the "
    "runner's: its instructions are variables the runner set (recording.record_env), and it "
    "records the project's own reads of os.environ",
    "runner/verify/_workload_boot.py": "runs in the project's workload process: its "
    "instructions are variables the runner set (recording.record_env)",
}
ENVIRONMENT_NAMES = frozenset({"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"})
OS_MODULES = frozenset({"os", "posix", "nt"})


def environment_reads(source: str) -> list[int]:
    """The lines of `source` that touch the process environment: `os.environ`, `os.getenv`
    and the like, through any alias of `os`, or imported from it by name."""
    tree = ast.parse(source)
    aliases = {
        alias.asname or alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
        if alias.name.split(".")[0] in OS_MODULES
    }
    return sorted(node.lineno for node in ast.walk(tree) if _reads(node, aliases))


def _reads(node: ast.AST, os_aliases: set[str]) -> bool:
    if isinstance(node, ast.ImportFrom) and node.module in OS_MODULES:
        return any(a.name in ENVIRONMENT_NAMES or a.name == "*" for a in node.names)
    return (
        isinstance(node, ast.Attribute)
        and node.attr in ENVIRONMENT_NAMES
        and isinstance(node.value, ast.Name)
        and node.value.id in os_aliases
    )


def test_only_the_settings_layer_reads_the_environment() -> None:
    found = {}
    for path in sorted(RUNNER.rglob("*.py")):
        lines = environment_reads(path.read_text(encoding="utf-8"))
        if lines:
            found[path.relative_to(ROOT).as_posix()] = lines
    allowed = SETTINGS_LAYER | EXCEPTIONS.keys()
    outside = {p: lines for p, lines in found.items() if p not in allowed}
    assert not outside, (
        f"the environment is read outside the settings layer: {outside}; take the value from "
        "runner.config.read_environ() in the command and pass it down"
    )
    stale = EXCEPTIONS.keys() - found.keys()
    assert not stale, f"these exceptions no longer read the environment: {sorted(stale)}"
    assert "runner/config.py" in found  # the scan sees the reads it allows


@pytest.mark.parametrize(
    ("source", "lines"),
    [
        pytest.param("import os\nos.environ['HOME']\n", [2], id="os.environ"),
        pytest.param("import os\n\nos.getenv('HOME')\n", [3], id="os.getenv"),
        pytest.param("import os as o\no.environ.get('HOME')\n", [2], id="alias"),
        pytest.param("import os.path\nos.environ\n", [2], id="import os.path"),
        pytest.param("def f():\n    import os\n    return dict(os.environ)\n", [3], id="lazy"),
        pytest.param("from os import environ\n", [1], id="from os import environ"),
        pytest.param("from os import getenv as g, sep\n", [1], id="from os import getenv"),
        pytest.param("from posix import *\n", [1], id="star"),
        pytest.param("import os\nos.putenv('A', 'b')\n", [2], id="os.putenv"),
        pytest.param("import os\nos.path.join('a', 'b')\n", [], id="other os attributes"),
        pytest.param("settings.ai.environ\nenviron = {}\nenviron.get('A')\n", [], id="not os"),
    ],
)
def test_the_scan_finds_every_spelling_of_an_environment_read(
    source: str, lines: list[int]
) -> None:
    assert environment_reads(source) == lines


# --- import layers ------------------------------------------------------------------------


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of runner/ and pyproject.toml (the contracts) for `lint-imports` to check."""
    shutil.copytree(RUNNER, tmp_path / "runner", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    """`lint-imports` in `tree`: the `runner` it analyses is the copy (cwd comes first)."""
    main = "from importlinter.cli import lint_imports_command; lint_imports_command()"
    return subprocess.run(
        [sys.executable, "-c", main, "--no-cache", "--no-logo"],
        cwd=tree,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_contracts_hold_on_the_copy(tree: Path) -> None:
    """The control for the test below: unchanged, the copy keeps every contract."""
    run = lint_imports(tree)
    assert run.returncode == 0, run.stdout + run.stderr
    for name in CONTRACTS.values():
        assert f"{name} KEPT" in run.stdout
    assert f"Contracts: {len(CONTRACTS)} kept, 0 broken." in run.stdout


@pytest.mark.parametrize(
    ("module", "code", "contract", "message"),
    [
        pytest.param(
            "runner/webhooks/app.py",
            "from runner.service import listener\n",
            "layers",
            "runner.webhooks is not allowed to import runner.service",
            id="a layer importing one above it",
        ),
        pytest.param(
            "runner/store/db.py",
            "def _reaches_up() -> None:\n    from runner.service import listener\n",
            "layers",
            "runner.store is not allowed to import runner.service",
            id="a lazy import inside a function",
        ),
        pytest.param(
            "runner/store/queue.py",
            "from runner.telemetry import damage\n",
            "layers",
            "runner.store is not allowed to import runner.telemetry",
            id="independent siblings",
        ),
        pytest.param(
            "runner/errors.py",
            "from runner import paths\n",
            "layers",
            "runner.errors is not allowed to import runner.paths",
            id="the bottom layer",
        ),
        pytest.param(
            "runner/unplaced.py",
            "VALUE = 1\n",
            "layers",
            "- runner.unplaced",
            id="a module without a layer",
        ),
        pytest.param(
            "runner/agent/settings.py",
            "from runner.agent import secrets\n",
            "settings",
            "runner.agent.settings is not allowed to import runner.agent.secrets",
            id="a settings module importing its own subpackage",
        ),
        pytest.param(
            "runner/telemetry/settings.py",
            "from runner.config import Settings\n",
            "settings",
            "runner.telemetry.settings is not allowed to import runner.config",
            id="a settings module importing config",
        ),
    ],
)
def test_a_bad_import_breaks_its_contract(
    tree: Path, module: str, code: str, contract: str, message: str
) -> None:
    path = tree / module
    before = path.read_text(encoding="utf-8") if path.exists() else ""
    path.write_text(before + "\n\n" + code, encoding="utf-8")
    run = lint_imports(tree)
    assert run.returncode == 1, run.stdout + run.stderr
    assert f"{CONTRACTS[contract]} BROKEN" in run.stdout
    assert message in run.stdout
    others = CONTRACTS.keys() - {contract}
    assert all(f"{CONTRACTS[other]} KEPT" in run.stdout for other in others), run.stdout
