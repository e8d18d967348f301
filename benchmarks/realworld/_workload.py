"""The workload given to the runner with `--workload` in the evaluation: the same calls that
the independent timing makes (cases.WORKLOADS), through the project's own import of the
target, so that the runner's recorder sees them as it would see a user's workload script.

Run by the runner, inside its sandbox, with cwd = the project copy:

    python .optirunner-eval/workload.py TARGET WORKLOAD
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import random
import sys
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))


def _load(name: str, path: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def main() -> int:
    target, workload = sys.argv[1:3]
    sys.path[:0] = [os.getcwd(), os.path.join(os.getcwd(), "src")]
    independent = _load("realworld_independent", os.path.join(HERE, "_independent.py"))
    cases = _load("realworld_cases", os.path.join(HERE, "cases.py"))
    path, qualname = target.split("::")
    module = importlib.import_module(independent.module_name(path))
    *owners, name = qualname.split(".")
    owner: Any = None
    for part in owners:
        owner = getattr(owner or module, part)
    raw = owner.__dict__[name] if owner is not None else getattr(module, name)
    call = independent.callable_of(raw, owner)
    calls = cases.WORKLOADS[workload](module, random.Random(17))
    for args in calls:
        try:
            call(*args)
        except Exception:  # noqa: S112 - an exception is a recorded outcome too
            continue
    print(f"{len(calls)} calls of {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
