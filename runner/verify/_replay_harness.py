"""Replay recorded calls of one target function and time them or count them.

STANDALONE: this file runs with the *project's* interpreter inside the sandbox, where
optirunner is not importable. Standard library only, and no syntax newer than Python 3.8
(annotations are strings thanks to the __future__ import).

The runner copies it to `<checkout>/.optirunner/replay_harness.py` and runs, with
cwd = the checkout's project root:

    python .optirunner/replay_harness.py --target pkg/mod.py::Class.method \
        --inputs /path/inputs.pkl MODE ...

`inputs.pkl` is `pickle.dumps([(args, kwargs), ...])`, the arguments as they were before
each recorded call (for a method, args[0] is the instance).

Modes (each prints one JSON line on stdout):
    calibrate --round-ms 200       {"loops": N, "per_pass_s": x, "calls": C,
                                    "overhead_per_pass_s": o, "prepare_per_pass_s": p,
                                    "prepare_limited": bool}
    time --loops N --rounds R      {"rounds_s": [...], "calls": C, "loops": N, "raised": n}
    count --calls K --prepare P    {"called": K, "raised": n}   (for callgrind)

A failure of the harness itself (target not found, inputs unreadable, bad arguments) exits
2 with {"error": "..."}. A recorded call that raises is not a failure: tests record expected
exceptions too, so it is caught and counted in "raised".
"""

from __future__ import annotations

import argparse
import collections
import gc
import importlib
import itertools
import json
import math
import os
import pickle
import sys
import time
import types
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # never evaluated: builtin generics fail at runtime before Python 3.9
    Call = tuple[tuple[Any, ...], dict[str, Any]]  # (args, kwargs) of one recorded call

# Pickled bytes of prepared arguments held at once. Cheap targets on big arguments would
# otherwise need millions of live copies for one 200 ms round; above this the round is
# timed in several batches and the batch times are summed (copying stays untimed).
BATCH_BYTES = 16 * 1024 * 1024
GENERATOR_ITEMS = 1000  # the recorder's budget of items per returned generator
_GENERATOR = types.GeneratorType
_DRAIN = collections.deque
_ITEMS = itertools.islice

# Calibration measures until a round lasts at least this fraction of the requested round,
# so the per-pass estimate is not dominated by timer resolution or a single hiccup.
CALIBRATE_MIN_FRACTION = 0.25
PREPARE_LIMIT = 5.0  # a round's untimed preparation, at most, in round lengths


class HarnessError(Exception):
    """A failure of the harness itself: reported as {"error": ...} with exit code 2."""


def module_name(relpath: str) -> tuple[str, str]:
    """Return (sys.path root relative to cwd, dotted module name) for a target file path.

    `inventory/stock.py` -> ("", "inventory.stock"); `pkg/__init__.py` -> ("", "pkg").
    A leading `src/` that is not itself a package is the src layout: its contents are
    imported from `src/`, as the project's own tests and the recorded pickles see them.
    """
    parts = relpath.replace(os.sep, "/").strip("/").split("/")
    if not parts[-1].endswith(".py"):
        raise HarnessError(f"target file is not a .py file: {relpath}")
    parts[-1] = parts[-1][: -len(".py")]
    if parts[-1] == "__init__":
        parts.pop()
    root = ""
    if len(parts) > 1 and parts[0] == "src" and not os.path.exists("src/__init__.py"):
        root, parts = "src", parts[1:]
    if not parts:
        raise HarnessError(f"cannot derive a module name from {relpath}")
    return root, ".".join(parts)


def _prepare_sys_path(root: str) -> None:
    """Import from the project root (cwd), never from the harness's own folder."""
    here = os.path.dirname(os.path.abspath(__file__))
    if sys.path and os.path.abspath(sys.path[0] or os.curdir) == here:
        sys.path.pop(0)
    cwd = os.getcwd()
    sys.path.insert(0, cwd)
    if root:
        sys.path.insert(0, os.path.join(cwd, root))


def resolve_target(target: str) -> Callable[..., Any]:
    """Import `path.py::Name[.attr...]` and return the callable to call with recorded args.

    For `Class.method`, `getattr(Class, "method")` already gives the right callable for
    every kind: the plain function for instance methods (args[0] is self), the function
    for staticmethods, a bound method for classmethods (see `_callable_for`).
    """
    owner, attr, obj = _resolve(target)
    return _callable_for(owner, attr, obj)


def resolve_for_timing(target: str) -> tuple[Callable[..., Any], type | None]:
    """Like `resolve_target`, without a wrapper in the timed calls: for a classmethod, its
    underlying function and the class, which `with_class` puts first in every call before
    timing. (`_callable_for`'s per-call check, a Python frame plus isinstance and
    issubclass, cost as much as a cheap classmethod itself: sqlparse's
    `Lexer.get_default_instance` read 1.75x where callers see 3.96x.)"""
    owner, attr, obj = _resolve(target)
    if _is_classmethod(owner, attr):
        return obj.__func__, owner  # type: ignore[attr-defined]
    return obj, None


def with_class(calls: list[Call], owner: type) -> list[Call]:
    """Every call with the class as its first argument, as the classmethod's function takes
    it: recorded calls hold `cls` already when the recorder wrapped the function."""
    return [
        (args if _holds_class(args, owner) else (owner, *args), kwargs) for args, kwargs in calls
    ]


def _resolve(target: str) -> tuple[Any, str, Callable[..., Any]]:
    """(owner, attribute name, the attribute) of `path.py::Name[.attr...]`, imported."""
    path, sep, qualname = target.partition("::")
    if not sep or not qualname:
        raise HarnessError(f"target must be 'path.py::name', got {target!r}")
    root, name = module_name(path)
    _prepare_sys_path(root)
    try:
        obj: Any = importlib.import_module(name)
    except BaseException as exc:  # any failure at import time is the project's
        raise HarnessError(f"cannot import {name} ({path}): {type(exc).__name__}: {exc}") from exc
    owner: Any = None
    for attr in qualname.split("."):
        owner = obj
        try:
            obj = getattr(obj, attr)
        except AttributeError:
            raise HarnessError(f"{qualname} not found in {name} ({path})") from None
    if not callable(obj):
        raise HarnessError(f"{qualname} in {name} is not callable")
    return owner, qualname.rsplit(".", 1)[-1], obj


def _raw_attribute(owner: type, attr: str) -> Any:
    """The class attribute as stored in the class body (no descriptor binding)."""
    for klass in owner.__mro__:
        if attr in vars(klass):
            return vars(klass)[attr]
    return None


def _is_classmethod(owner: Any, attr: str) -> bool:
    """Whether `attr` of `owner` is a classmethod (as stored in the class body)."""
    return isinstance(owner, type) and isinstance(_raw_attribute(owner, attr), classmethod)


def _holds_class(args: tuple[Any, ...], owner: type) -> bool:
    """Whether a recorded call already holds `cls` first (the recorder wrapped the
    classmethod's function): the diff harness and the timing both decide by this."""
    return bool(args) and isinstance(args[0], type) and issubclass(args[0], owner)


def _callable_for(owner: Any, attr: str, obj: Callable[..., Any]) -> Callable[..., Any]:
    """Undo classmethod binding when the recorder saw `cls` as args[0].

    A recorder that wraps the underlying function of a classmethod records `cls` as the
    first argument; calling the bound method with it would pass `cls` twice. (`inspect`
    would do this too, but importing it costs ~18M instructions per run under callgrind.)
    """
    if not _is_classmethod(owner, attr):
        return obj
    bound: Any = obj
    func = bound.__func__

    def call(*args: Any, **kwargs: Any) -> Any:
        if _holds_class(args, owner):
            return func(*args, **kwargs)
        return bound(*args, **kwargs)

    return call


_ATOMS = (int, float, complex, str, bytes, bool, type(None))


def _immutable(value: Any) -> bool:
    """True for atoms and tuples/frozensets of them: no call can mutate such a value. A
    class counts too: pickle copies it by reference, so a copy would be the same object."""
    if isinstance(value, (tuple, frozenset)) and type(value) in (tuple, frozenset):
        return all(_immutable(item) for item in value)
    return type(value) in _ATOMS or isinstance(value, type)


class Inputs:
    """The recorded calls, ready to hand out fresh arguments for any number of calls.

    Each call is re-pickled on its own: every replayed call then gets private arguments
    (two recorded calls that shared one list do not share it here), and `pickle.loads` of
    a small blob is 10-19x faster than `copy.deepcopy` of the same objects (measured, see
    docs/verification.md), which keeps the untimed preparation short. Calls whose
    arguments are all immutable are shared instead: copying them protects nothing, and
    for cheap targets on scalars the copying would dominate the process's run time.
    (The callee always gets a fresh **kwargs dict, so a shared kwargs dict is safe.)
    """

    def __init__(self, calls: list[Call], share_all: bool = False) -> None:
        # share_all: the runner saw no recorded call mutate its arguments (baseline and
        # candidate alike, or the behaviour check would have failed), so copies are waste.
        # A call that plain pickle cannot copy (an re.Match argument, which the recorder's
        # own pickler wrote) is shared too: both arms get the same objects every pass.
        self.blobs = [_blob(call) for call in calls]
        self.shared = [
            call
            if share_all
            or not blob
            or (_immutable(call[0]) and _immutable(tuple(call[1].values())))
            else None
            for call, blob in zip(calls, self.blobs)  # noqa: B905 - Python < 3.10 too
        ]

    def __len__(self) -> int:
        return len(self.blobs)

    def bytes_per_pass(self) -> int:
        """Rough memory of one pass's prepared arguments (pickled size as the proxy)."""
        per_call = 100  # the list slot, the (args, kwargs) pair and its dict, at least
        # No zip(strict=): it needs Python 3.10 and the project's Python may be older.
        copied = (len(b) for b, s in zip(self.blobs, self.shared) if s is None)  # noqa: B905
        return per_call * len(self.blobs) + sum(copied)

    def prepare(self, count: int) -> list[Call]:
        """Fresh arguments for `count` calls, cycling through the recorded calls."""
        loads, blobs, shared = pickle.loads, self.blobs, self.shared
        n = len(blobs)
        out = []
        for i in range(count):
            call = shared[i % n]
            out.append(call if call is not None else loads(blobs[i % n]))
        return out


def _blob(call: Call) -> bytes:
    try:
        return pickle.dumps(call, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # not copyable by plain pickle: shared instead (b"")
        return b""


#: Folders never searched for a module a pickle needs (their modules are not the tests').
_NOT_SEARCHED = frozenset({".git", ".optirunner", ".tox", ".nox", "node_modules", "site-packages"})
MAX_MODULE_SEARCHES = 10


def _module_folder(name: str) -> str | None:
    """The project folder holding `name` (a test module: ``test_recipes``, or a package),
    as pytest put it on sys.path for the tests; None when there is none."""
    top = name.split(".", maxsplit=1)[0]
    for folder, dirs, files in os.walk(os.getcwd()):
        dirs[:] = sorted(d for d in dirs if d not in _NOT_SEARCHED and not d.startswith("."))
        if f"{top}.py" in files or os.path.isfile(os.path.join(folder, top, "__init__.py")):
            return folder
    return None


def load_pickle(path: str) -> Any:
    """Unpickle our own file. Arguments the tests built from their own modules (a helper
    class in ``tests/test_recipes.py``) need the folders pytest put on sys.path: each
    missing module is looked for under the project and its folder appended."""
    for _ in range(MAX_MODULE_SEARCHES):
        try:
            with open(path, "rb") as handle:
                return pickle.load(handle)  # noqa: S301 - written by our own recorder
        except ModuleNotFoundError as exc:
            folder = _module_folder(exc.name or "") if exc.name else None
            if folder is None or folder in sys.path:
                raise
            sys.path.append(folder)
    raise ModuleNotFoundError(f"more than {MAX_MODULE_SEARCHES} modules missing in {path}")


def load_inputs(path: str, share_all: bool = False, owner: type | None = None) -> Inputs:
    """Read and check inputs.pkl: a non-empty list of (args tuple, kwargs dict) pairs
    (with `owner` first in each when the target is a classmethod's function)."""
    try:
        calls = load_pickle(path)
    except BaseException as exc:  # a missing module or class in the pickle lands here too
        raise HarnessError(f"cannot read inputs {path}: {type(exc).__name__}: {exc}") from exc
    if not isinstance(calls, list) or not calls:
        raise HarnessError(f"inputs {path} hold no recorded calls")
    for index, call in enumerate(calls):
        if not (
            isinstance(call, tuple)
            and len(call) == 2
            and isinstance(call[0], tuple)
            and isinstance(call[1], dict)
        ):
            raise HarnessError(f"inputs {path}: call {index} is not an (args, kwargs) pair")
    return Inputs(calls if owner is None else with_class(calls, owner), share_all)


def run_calls(func: Callable[..., Any], batch: list[Call]) -> tuple[float, int]:
    """Call `func` once per prepared call; return (seconds, how many raised).

    The try block costs nothing on the no-exception path (3.11 zero-cost exceptions) and
    little before; the loop overhead is the same for baseline and candidate. A returned
    generator is consumed (up to GENERATOR_ITEMS items, as the recorder records them), so a
    rewrite that returns one instead of doing the work is timed doing it.
    """
    raised = 0
    clock = time.perf_counter
    generator, drain, items = _GENERATOR, _DRAIN, _ITEMS
    start = clock()
    for args, kwargs in batch:
        try:
            result = func(*args, **kwargs)
            if type(result) is generator:  # its work is done as it is consumed: time that
                drain(items(result, GENERATOR_ITEMS), 0)
        except (Exception, SystemExit):  # expected exceptions were recorded too: count them
            raised += 1
    return clock() - start, raised


def _quiet_heap() -> None:
    """Collect, then freeze everything alive (including the prepared arguments).

    Why gc stays ENABLED in the timed region: like pyperf's default, a candidate that
    allocates more should pay for the collections it triggers. Why freeze: the prepared
    copies are many long-lived objects; without freezing, a full collection during the
    round would traverse all of them, a cost of the harness that real callers never pay.
    """
    gc.collect()
    gc.freeze()


def time_round(
    func: Callable[..., Any], inputs: Inputs, loops: int, preparing: list[float] | None = None
) -> tuple[float, int]:
    """Time `loops` passes over all calls; preparation happens between timed batches (its
    seconds are appended to `preparing` when given)."""
    per_batch = max(1, min(loops, BATCH_BYTES // inputs.bytes_per_pass()))
    total, raised, done = 0.0, 0, 0
    clock = time.perf_counter
    while done < loops:
        passes = min(per_batch, loops - done)
        started = clock()
        batch = inputs.prepare(passes * len(inputs))
        if preparing is not None:
            preparing.append(clock() - started)
        _quiet_heap()
        try:
            elapsed, errors = run_calls(func, batch)
        finally:
            gc.unfreeze()
        del batch  # free the used arguments outside the timed region
        total += elapsed
        raised += errors
        done += passes
    return total, raised


def calibrate(func: Callable[..., Any], inputs: Inputs, round_s: float) -> dict[str, Any]:
    """Find `loops` so that one round of `loops` passes lasts about `round_s`, and its
    untimed preparation (fresh copies of arguments the target mutates) at most
    PREPARE_LIMIT times that: sqlparse's whitespace filter mutates token lists whose copies
    (whole statements, through parent pointers) cost 300 times the call, and rounds of
    timed length took a minute of unpickling each. Such rounds are shorter, and say so."""
    time_round(func, inputs, 1)  # warm-up: imports, caches, specialisation
    loops = 1
    while True:
        spent: list[float] = []
        elapsed, _ = time_round(func, inputs, loops, spent)
        preparing = sum(spent)
        if elapsed >= round_s * CALIBRATE_MIN_FRACTION or preparing >= round_s * PREPARE_LIMIT:
            break
        # Aim at half the round next, growing at most 10x per step in case the first
        # tiny measurement was a fluke.
        wanted = math.ceil(loops * round_s * 0.5 / max(elapsed, 1e-9))
        loops = min(loops * 10, max(loops * 2, wanted))
    per_pass = elapsed / loops
    prepare_per_pass = preparing / loops
    by_time = round_s / max(per_pass, 1e-12)
    by_prepare = round_s * PREPARE_LIMIT / max(prepare_per_pass, 1e-12)
    return {
        "loops": max(1, round(min(by_time, by_prepare))),
        "per_pass_s": per_pass,
        "prepare_per_pass_s": prepare_per_pass,
        "prepare_limited": by_prepare < by_time,
        "calls": len(inputs),
        "overhead_per_pass_s": overhead_per_pass(inputs, loops, func),
    }


def _null(*_args: Any, **_kwargs: Any) -> None:
    """What the harness costs per call without the target: the loop, the call, the unpacking."""


_CO_VARARGS, _CO_VARKEYWORDS = 0x04, 0x08


def null_like(func: Callable[..., Any]) -> Callable[..., Any]:
    """A function that does nothing, with the parameters (and defaults) of `func`.

    Binding arguments costs what the parameters say: `f(a, b)` into `def f(x, y)` builds
    nothing, into `def f(*args, **kwargs)` a tuple and a dict per call. A no-op with the
    target's own parameters is what the call costs without the target's body; `_null`'s
    catch-all would overstate the overhead of a cheap method by its packing (measured: it
    put Token.match's harness share at 100%). Functions only: other callables get `_null`.
    """
    if hasattr(func, "__self__") and hasattr(func, "__func__"):  # a bound method
        method: Any = func
        null = null_like(method.__func__)
        return null.__get__(method.__self__) if null is not _null else _null
    code = getattr(func, "__code__", None)
    if code is None or not hasattr(func, "__defaults__"):
        return _null
    names = code.co_varnames
    positional = list(names[: code.co_argcount])
    if code.co_posonlyargcount:
        positional.insert(code.co_posonlyargcount, "/")
    index = code.co_argcount + code.co_kwonlyargcount
    keyword = list(names[code.co_argcount : index])
    star = ["*"] if keyword else []
    if code.co_flags & _CO_VARARGS:
        star = ["*" + names[index]]
        index += 1
    rest = ["**" + names[index]] if code.co_flags & _CO_VARKEYWORDS else []
    namespace: dict[str, Any] = {}
    source = f"def null({', '.join(positional + star + keyword + rest)}):\n    return None\n"
    exec(compile(source, "<null>", "exec"), namespace)  # noqa: S102 - parameter names only
    null = namespace["null"]
    null.__defaults__ = func.__defaults__
    null.__kwdefaults__ = getattr(func, "__kwdefaults__", None)
    return null  # type: ignore[no-any-return]


def overhead_per_pass(inputs: Inputs, loops: int, func: Callable[..., Any] | None = None) -> float:
    """The harness's own seconds per pass: the same loop calling a function that does
    nothing (with `func`'s parameters), on the same arguments (the smallest of 3 rounds:
    overhead has no slow tail)."""
    null = _null if func is None else null_like(func)
    rounds = [time_round(null, inputs, loops)[0] / loops for _ in range(3)]
    return min(rounds)


def time_rounds(
    func: Callable[..., Any], inputs: Inputs, loops: int, rounds: int
) -> dict[str, Any]:
    """One untimed warm-up pass, then `rounds` rounds of `loops` passes (s per pass)."""
    time_round(func, inputs, 1)
    rounds_s: list[float] = []
    raised = 0
    for _ in range(rounds):
        elapsed, errors = time_round(func, inputs, loops)
        rounds_s.append(elapsed / loops)
        raised += errors
    return {"rounds_s": rounds_s, "calls": len(inputs), "loops": loops, "raised": raised}


def count(func: Callable[..., Any], inputs: Inputs, calls: int, prep: int) -> dict[str, Any]:
    """Everything `time` does except timing, with exactly `calls` calls at the end.

    Runs with calls=K and calls=0 differ only in those K calls (same imports, same
    unpickling of `prep` argument sets, same warm-up), so callgrind's difference of the
    two totals divided by K is the instruction count of one call. The warm-up pass (one
    call per recorded input, on its own copies) is in both runs so that first-call costs
    (lazy imports, caches, bytecode specialisation) are not attributed to the K calls.
    """
    if not 0 <= calls <= prep:
        raise HarnessError(f"count needs 0 <= --calls <= --prepare, got {calls} and {prep}")
    warm = inputs.prepare(len(inputs))
    batch = inputs.prepare(prep)
    run_calls(func, warm)
    todo = batch[:calls]
    _quiet_heap()
    _, raised = run_calls(func, todo)
    # Collect right after the calls in both runs: otherwise a collection that the calls'
    # allocations brought forward, or pushed back, lands in different later code and
    # shows up as a constant error of some 10k instructions in the difference.
    gc.collect()
    gc.unfreeze()
    return {"called": calls, "raised": raised}


class _Parser(argparse.ArgumentParser):
    """Report bad arguments as a harness error (one JSON line), not argparse's usage."""

    def error(self, message: str) -> Any:
        raise HarnessError(f"bad arguments: {message}")


def parse_args(argv: list[str]) -> argparse.Namespace:
    """The command line described in the module docstring."""
    parser = _Parser(prog="replay_harness.py")
    parser.add_argument("--target", required=True, help="path.py::name or path.py::Class.attr")
    parser.add_argument("--inputs", required=True, help="pickle of [(args, kwargs), ...]")
    parser.add_argument(
        "--share-arguments", action="store_true", help="no fresh copies: the target mutates none"
    )
    modes = parser.add_subparsers(dest="mode", required=True)
    cal = modes.add_parser("calibrate")
    cal.add_argument("--round-ms", type=float, default=200.0)
    tim = modes.add_parser("time")
    tim.add_argument("--loops", type=int, required=True)
    tim.add_argument("--rounds", type=int, default=1)
    cnt = modes.add_parser("count")
    cnt.add_argument("--calls", type=int, required=True)
    cnt.add_argument("--prepare", type=int, required=True)
    return parser.parse_args(argv)


def run(options: argparse.Namespace) -> dict[str, Any]:
    """Resolve the target, load the inputs (after the import: pickles refer to its
    classes) and run the chosen mode."""
    func, owner = resolve_for_timing(options.target)
    inputs = load_inputs(options.inputs, options.share_arguments, owner)
    if options.mode == "calibrate":
        if options.round_ms <= 0:
            raise HarnessError("--round-ms must be positive")
        return calibrate(func, inputs, options.round_ms / 1000.0)
    if options.mode == "time":
        if options.loops < 1 or options.rounds < 1:
            raise HarnessError("--loops and --rounds must be at least 1")
        return time_rounds(func, inputs, options.loops, options.rounds)
    return count(func, inputs, options.calls, options.prepare)


def _private_stdout() -> Any:
    """Keep fd 1 for our JSON; the target's own prints (even from C) go to /dev/null."""
    sys.stdout.flush()
    ours = os.fdopen(os.dup(1), "w")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)
    return ours


def main(argv: list[str] | None = None) -> int:
    """Entry point: 0 with the mode's JSON, 2 with {"error": ...}."""
    out = _private_stdout()
    try:
        try:
            result = run(parse_args(sys.argv[1:] if argv is None else argv))
        except HarnessError as exc:
            out.write(json.dumps({"error": str(exc)}) + "\n")
            return 2
        out.write(json.dumps(result) + "\n")
        return 0
    finally:
        out.flush()


if __name__ == "__main__":
    sys.exit(main())
