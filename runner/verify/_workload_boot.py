"""Run a workload script with the behaviour recorder on, as `coverage run` runs one.

STANDALONE: runs with the *project's* interpreter inside the sandbox, where optirunner is
not importable. Standard library only, syntax that Python 3.8 still runs. The runner copies
it to `<checkout>/.optirunner/workload_boot.py` and turns the user's workload command
``python [options] script.py args...`` / ``python [options] -m module args...`` into

    python [options] .optirunner/workload_boot.py script.py args...
    python [options] .optirunner/workload_boot.py -m module args...

with cwd = the checkout's project root and the recorder's settings in the environment
(the same OPTIRUNNER_RECORD_* variables as the tests' recording). The targets are wrapped
before the script runs, so `from pkg import target` in the script gets the recording
wrapper; the calls are written when the script ends, however it ends, under the site
``<workload>``. The script's exit status is kept: a failing workload fails here too.
Calls made in subprocesses of the script are not recorded.
"""

from __future__ import annotations

import importlib.util
import json
import os
import random
import runpy
import sys
from pathlib import Path
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
RECORDER = os.path.join(HERE, "plugins", "optirunner_record.py")
SITE = "<workload>"
DEFAULT_MAX_INPUTS = 1000  # the workload's calls are what the verdict is timed on
USAGE = "usage: workload_boot.py (script.py | -m module) [args...]"


class BootError(Exception):
    """The workload could not be started: printed as one line, exit code 2."""


def _load_recorder() -> Any:
    spec = importlib.util.spec_from_file_location("optirunner_record", RECORDER)
    if spec is None or spec.loader is None:
        raise BootError(f"cannot load the recorder {RECORDER}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["optirunner_record"] = module
    spec.loader.exec_module(module)
    return module


def _int(environ: Any, name: str, default: int) -> int:
    text = environ.get(name, "").strip()
    try:
        return int(text) if text else default
    except ValueError:
        raise BootError(f"{name} must be an integer, got {text!r}") from None


def _required(environ: Any, name: str) -> str:
    text = environ.get(name, "")
    if not text:
        raise BootError(f"{name} is required")
    return str(text)


def _targets(environ: Any, name: str) -> list[str]:
    try:
        targets = json.loads(environ.get(name, ""))
    except ValueError:
        raise BootError(f"{name} is not JSON") from None
    if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
        raise BootError(f"{name} must be a JSON list of strings")
    return targets


def _exit_code(exc: SystemExit) -> int:
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    print(exc.code, file=sys.stderr)  # what `sys.exit("message")` prints
    return 1


def _start(argv: list[str]) -> None:
    """Run the script or module as `__main__`, as `python script.py` / `python -m` would."""
    if argv[0] == "-m":
        if len(argv) < 2:
            raise BootError(USAGE)
        sys.argv = [argv[1], *argv[2:]]
        runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
        return
    script = os.path.abspath(argv[0])
    if not os.path.isfile(script):
        raise BootError(f"workload script {argv[0]!r} does not exist")
    sys.argv = list(argv)
    sys.path[0] = os.path.dirname(script)
    runpy.run_path(script, run_name="__main__")


def _run(argv: list[str]) -> int:
    """The workload's exit status."""
    try:
        _start(argv)
    except SystemExit as exc:
        return _exit_code(exc)
    return 0


def main(argv: list[str]) -> int:
    if not argv:
        print(USAGE, file=sys.stderr)
        return 2
    environ = os.environ
    try:
        record = _load_recorder()
        out_text = _required(environ, record.ENV_OUT)
        targets = _targets(environ, record.ENV_TARGETS)
        recorder = record.Recorder(
            max_calls=_int(environ, record.ENV_MAX_CALLS, record.DEFAULT_MAX_CALLS),
            max_elements=_int(environ, record.ENV_MAX_ELEMENTS, record.MAX_ELEMENTS),
            max_target_elements=_int(
                environ, record.ENV_MAX_TARGET_ELEMENTS, record.MAX_TARGET_ELEMENTS
            ),
        )
        seed = _int(environ, record.ENV_SEED, 0) if environ.get(record.ENV_SEED) else None
        inputs_dir = environ.get(record.ENV_INPUTS, "")
        if inputs_dir:
            recorder.max_inputs = _int(environ, record.ENV_MAX_INPUTS, DEFAULT_MAX_INPUTS)
    except BootError as exc:
        print(f"optirunner workload: {exc}", file=sys.stderr)
        return 2
    root = Path.cwd().resolve()
    recorder.log_accesses()
    installer = record.Installer(recorder, root)
    for target in targets:
        installer.install(target)
    installer.wrap_copies()
    installer.rebind([])
    recorder.site = SITE
    if seed is not None:
        random.seed(seed)
    status = 1
    try:
        status = _run(argv)
    except BootError as exc:
        print(f"optirunner workload: {exc}", file=sys.stderr)
        status = 2
    except BaseException:  # the script's own error: shown as Python would show it
        import traceback  # noqa: PLC0415 - only on failure

        traceback.print_exc()
        status = 1
    finally:
        recorder.site = record.SESSION_SITE
        kept: dict[str, int] = {}
        if inputs_dir:
            kept = recorder.write_inputs(Path(inputs_dir).resolve(), targets)
        document = recorder.document(
            seed=seed, exitstatus=status, unpicklable=recorder.unpicklable, inputs=kept
        )
        record.write_document(document, Path(out_text).resolve())
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
