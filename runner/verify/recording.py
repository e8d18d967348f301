"""Installing the behaviour recorder into a checkout and adding it to a test command.

The recorder (`_record_plugin.py`) runs in the project's own interpreter, so it is copied into
the checkout as a standalone module and enabled with ``-p optirunner_record``; the settings
travel in environment variables.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

PLUGIN_MODULE = "optirunner_record"
PLUGIN_SOURCE = Path(__file__).with_name("_record_plugin.py")
PLUGINS_DIR = Path(".optirunner") / "plugins"
WORKLOAD_SOURCE = Path(__file__).with_name("_workload_boot.py")
WORKLOAD_BOOT = Path(".optirunner") / "workload_boot.py"

_PYTHON = re.compile(r"^(python|pypy)(\d+(\.\d+)?)?(\.exe)?$")
_PYTEST_SCRIPTS = frozenset({"pytest", "py.test"})
# Launchers that run the rest of the command line as given: `uv run pytest ...`.
_LAUNCHERS = frozenset({"uv", "poetry", "pipenv", "pdm", "rye"})
# Interpreter options that take a separate value (`python -W error -m pytest`).
_PYTHON_OPTIONS_WITH_VALUE = frozenset({"-W", "-X", "--check-hash-based-pycs"})


def install_plugin(checkout: Path) -> Path:
    """Copy the recorder into `<checkout>/.optirunner/plugins/`; return that folder."""
    plugins_dir = checkout / PLUGINS_DIR
    plugins_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(PLUGIN_SOURCE, plugins_dir / f"{PLUGIN_MODULE}.py")
    return plugins_dir


def install_workload_boot(checkout: Path) -> Path:
    """Copy the recorder and the workload boot script into the checkout; the plugins folder."""
    plugins_dir = install_plugin(checkout)
    shutil.copyfile(WORKLOAD_SOURCE, checkout / WORKLOAD_BOOT)
    return plugins_dir


def record_env(
    targets: list[str],
    out: Path,
    plugins_dir: Path,
    seed: int,
    existing_pythonpath: str | None,
    *,
    max_calls: int | None = None,
) -> dict[str, str]:
    """Environment variables that enable recording `targets` into `out` for one test run.

    PYTHONHASHSEED is pinned too: with randomized string hashing, set iteration order (and so
    the order of many results) would differ between the baseline and the candidate runs.
    """
    pythonpath = [str(plugins_dir)]
    if existing_pythonpath:
        pythonpath.append(existing_pythonpath)
    env = {
        "OPTIRUNNER_RECORD_TARGETS": json.dumps(list(targets)),
        "OPTIRUNNER_RECORD_OUT": str(out),
        "OPTIRUNNER_SEED": str(seed),
        "PYTHONHASHSEED": str(seed % 2**32),
        "PYTHONPATH": os.pathsep.join(pythonpath),
    }
    if max_calls is not None:
        env["OPTIRUNNER_RECORD_MAX_CALLS"] = str(max_calls)
    return env


def pytest_plugin_args() -> list[str]:
    """The pytest arguments that load the recorder."""
    return ["-p", PLUGIN_MODULE]


def _pytest_module_index(argv: list[str]) -> int | None:
    """For `python [options] -m pytest ...`, the index of `pytest`; None otherwise."""
    index = 1
    while index < len(argv) and argv[index].startswith("-"):
        option = argv[index]
        if option == "-m":
            following = argv[index + 1] if index + 1 < len(argv) else ""
            return index + 1 if following in _PYTEST_SCRIPTS else None
        if option in ("-mpytest", "-mpy.test"):
            return index
        if option == "-c":
            return None
        index += 2 if option in _PYTHON_OPTIONS_WITH_VALUE else 1
    return None


def _pytest_index(argv: list[str]) -> int | None:
    """Index of the token after which pytest's own arguments begin, or None if not pytest."""
    if not argv:
        return None
    program = Path(argv[0]).name
    if program in _PYTEST_SCRIPTS:
        return 0
    if _PYTHON.match(program):
        return _pytest_module_index(argv)
    if program in _LAUNCHERS and len(argv) > 1 and argv[1] == "run":
        inner = _pytest_index(argv[2:])
        return None if inner is None else inner + 2
    return None


def with_plugin(argv: list[str]) -> list[str] | None:
    """`argv` with ``-p optirunner_record`` added when it runs pytest; None when it does not.

    None means the behaviour of the targets cannot be recorded with this test command, and
    the report should say so rather than claim anything about behaviour.
    """
    index = _pytest_index(argv)
    if index is None:
        return None
    arguments = list(argv)
    already = (
        any(arguments[i : i + 2] == pytest_plugin_args() for i in range(len(arguments) - 1))
        or f"-p{PLUGIN_MODULE}" in arguments
    )
    if already:
        return arguments
    return [*arguments[: index + 1], *pytest_plugin_args(), *arguments[index + 1 :]]


def with_first_failure(argv: list[str]) -> list[str]:
    """`argv` with ``--maxfail=1`` when it runs pytest, so that a failing suite stops at its
    first failure; unchanged otherwise. Added right after pytest's name, so a ``--maxfail``
    that the command line gives itself still wins."""
    index = _pytest_index(argv)
    if index is None or "--maxfail=1" in argv:
        return list(argv)
    return [*argv[: index + 1], "--maxfail=1", *argv[index + 1 :]]


def _script_index(argv: list[str]) -> int | None:
    """For `python [options] script.py ...` / `python [options] -m module ...`, the index
    of the script (or of `-m`); None when `argv` does not run a Python script or module."""
    if not argv:
        return None
    program = Path(argv[0]).name
    if program in _LAUNCHERS and len(argv) > 2 and argv[1] == "run":
        inner = _script_index(argv[2:])
        return None if inner is None else inner + 2
    index = 1 if _PYTHON.match(program) else len(argv)
    while index < len(argv):
        option = argv[index]
        if option.startswith("-m") or not option.startswith("-"):
            return index
        if option.startswith("-c") or option == "-":
            break  # code on the command line or stdin: nothing to run as a script
        index += 2 if option in _PYTHON_OPTIONS_WITH_VALUE else 1
    return None


def workload_argv(argv: list[str]) -> list[str] | None:
    """`argv` rewritten to run its script or module under the workload recorder, as
    `coverage run` does; None when `argv` is not `python script.py ...` or `python -m ...`.

    ``python -O bench.py --n 10`` becomes ``python -O .optirunner/workload_boot.py bench.py
    --n 10``; ``python -mbench`` becomes ``python .optirunner/workload_boot.py -m bench``.
    """
    index = _script_index(argv)
    if index is None:
        return None
    rest = list(argv[index:])
    if rest[0].startswith("-m") and rest[0] != "-m":
        rest = ["-m", rest[0][2:], *rest[1:]]
    if rest[0] == "-m" and len(rest) < 2:
        return None
    return [*argv[:index], str(WORKLOAD_BOOT), *rest]
