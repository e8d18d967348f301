"""Independent check of one candidate, without the runner: behaviour probe and A/B timing.

Run with the eval venv's interpreter, cwd = a pristine copy of the project:

    python _independent.py CASES_PY TARGET CANDIDATE_PY WORKLOAD PROBE PAIRS

The baseline is the project's own function; the candidate is the fixture's code executed
in a copy of the target module's namespace, so both are loaded side by side in one process.
Timing is interleaved: each pair times one pass of the baseline and one of the candidate
over the same calls, in alternating order, after a warm-up; speedup = median(baseline) /
median(candidate). Prints one JSON object.
"""

from __future__ import annotations

import gc
import importlib
import importlib.util
import json
import os
import random
import statistics
import sys
import time
from functools import partial
from typing import Any


def load_cases(path: str) -> Any:
    spec = importlib.util.spec_from_file_location("realworld_cases", path)
    if spec is None or spec.loader is None:
        raise ImportError(path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["realworld_cases"] = module
    spec.loader.exec_module(module)
    return module


def module_name(path: str) -> str:
    parts = path[:-3].split("/")
    if parts[0] == "src":
        parts = parts[1:]
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def callable_of(raw: Any, owner: type | None) -> Any:
    """A plain callable for a function, instance method, staticmethod or classmethod."""
    if isinstance(raw, classmethod):
        return raw.__get__(owner, owner)
    if isinstance(raw, staticmethod):
        return raw.__func__
    return raw


def resolve(target: str, candidate_path: str) -> tuple[Any, Any, Any]:
    path, qualname = target.split("::")
    mod = importlib.import_module(module_name(path))
    *owners, name = qualname.split(".")
    owner: Any = None
    for part in owners:
        owner = getattr(owner or mod, part)
    raw_base = owner.__dict__[name] if owner is not None else getattr(mod, name)
    namespace = dict(vars(mod))
    with open(candidate_path, encoding="utf-8") as handle:
        code = compile(handle.read(), candidate_path, "exec")
    exec(code, namespace)  # noqa: S102 - a fixture file of this repository
    return mod, callable_of(raw_base, owner), callable_of(namespace[name], owner)


def outcome(call: Any) -> str:
    try:
        return repr(call())
    except Exception as exc:  # an exception is a behaviour too
        return f"raises {type(exc).__name__}: {exc}"


def one_pass(f: Any, calls: list[tuple[Any, ...]], loops: int) -> float:
    gc.collect()
    start = time.perf_counter()
    for _ in range(loops):
        for args in calls:
            f(*args)
    return (time.perf_counter() - start) / loops


def timing(base: Any, cand: Any, calls: list[tuple[Any, ...]], pairs: int) -> dict[str, Any]:
    loops = 1
    while one_pass(base, calls, loops) * loops < 0.02 and loops < 1 << 16:
        loops *= 2
    one_pass(base, calls, loops)
    one_pass(cand, calls, loops)
    a: list[float] = []
    b: list[float] = []
    for i in range(pairs):
        if i % 2:
            b.append(one_pass(cand, calls, loops))
            a.append(one_pass(base, calls, loops))
        else:
            a.append(one_pass(base, calls, loops))
            b.append(one_pass(cand, calls, loops))
    return {
        "pairs": pairs,
        "calls": len(calls),
        "loops": loops,
        "baseline_s": statistics.median(a),
        "candidate_s": statistics.median(b),
        "speedup": statistics.median(a) / statistics.median(b),
        "pair_speedup_median": statistics.median(x / y for x, y in zip(a, b, strict=True)),
    }


def main() -> int:
    cases_path, target, candidate_path, workload, probe, pairs = sys.argv[1:7]
    sys.path[:0] = [os.getcwd(), os.path.join(os.getcwd(), "src")]
    cases = load_cases(cases_path)
    mod, base, cand = resolve(target, candidate_path)
    result: dict[str, Any] = {}
    if probe:
        check = cases.PROBES[probe]
        result["probe"] = {
            "baseline": outcome(lambda: check(base, mod)),
            "candidate": outcome(lambda: check(cand, mod)),
        }
        result["probe"]["differs"] = result["probe"]["baseline"] != result["probe"]["candidate"]
    if workload:
        calls = cases.WORKLOADS[workload](mod, random.Random(17))
        mismatches = [
            i
            for i, args in enumerate(calls)
            if outcome(partial(base, *args)) != outcome(partial(cand, *args))
        ]
        result["workload_mismatches"] = len(mismatches)
        result["timing"] = timing(base, cand, calls, int(pairs))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
