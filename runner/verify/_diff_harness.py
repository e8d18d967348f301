"""Run one target on generated calls and record what each call did (for the comparison).

STANDALONE: runs with the *project's* interpreter inside the sandbox, where optirunner is
not importable. Standard library only, syntax that Python 3.8 still runs. It sits next to
the replay harness (`replay_harness.py`, for resolving the target and reading the pickled
inputs) and uses the behaviour recorder (`plugins/optirunner_record.py`) to encode values
exactly as the tests' recording does. The runner copies it to
`<checkout>/.optirunner/diff_harness.py` and runs, with cwd = the checkout's project root:

    python .optirunner/diff_harness.py --target pkg/mod.py::name --specs specs.json \
        --out outputs.json [--inputs inputs.pkl] [--seed N] [--call-timeout S] \
        [--budget-s S] [--timing '{"path/to/set.pkl": [0, 3, 7], ...}']

`specs.json` is a list of generated calls (see `runner/verify/generate.py`):
``{"base": i | null, "set": {key: tagged value}, "repeat": {key: factor}}``, optionally
with ``"take": {key: j}`` and ``"link": {key: [other key, attribute]}``. Each call starts
from the arguments of recorded call `base` (a fresh unpickled copy), replaces the `take`
arguments by those of recorded call j (a fresh copy of its pickle), repeats the `repeat`
ones, replaces the `link` arguments by that attribute of the other argument and the `set`
arguments by the decoded values; ``{"skip": reason}`` is a call this arm does not run.
`outputs.json` gets one entry per call: the encoded arguments before, and after only when
the call changed them, the return value or exception, and the seconds the call took; a
call whose arguments cannot be built, or that is not run, says so ("skipped").
`--timing` also pickles the built arguments of the listed calls into each named file, as the
replay harness reads them, so that the runner can time the target on representative inputs.

Prints one JSON line: {"calls": n, "done": d, "seconds": s}, or {"error": ...} with exit 2.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import itertools
import json
import os
import pickle
import random
import signal
import sys
import time
import types
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
RECORDER = os.path.join(HERE, "plugins", "optirunner_record.py")
REPLAY = os.path.join(HERE, "replay_harness.py")


class HarnessError(Exception):
    """A failure of the harness itself: reported as {"error": ...} with exit code 2."""


class CallTimeout(BaseException):
    """One call ran past --call-timeout (a BaseException: the target must not catch it)."""


def _load(name: str, path: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise HarnessError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def decode(node: Any) -> Any:  # noqa: PLR0911 - one return per tag
    """A builtin value from the recorder's tagged JSON (the runner only sends builtins)."""
    tag = node.get("t") if isinstance(node, dict) else None
    if tag == "none":
        return None
    if tag in ("bool", "str"):
        return node["v"]
    if tag == "int":
        return int(node["hex"], 16) if "hex" in node else int(node["v"])
    if tag == "float":
        return float(node["v"])
    if tag == "bytes":
        return bytes.fromhex(node["v"])
    if tag in ("list", "tuple", "set", "frozenset"):
        items = [decode(item) for item in node["items"]]
        kinds = {"list": list, "tuple": tuple, "set": set, "frozenset": frozenset}
        return kinds[tag](items)
    if tag == "dict":
        return {decode(k): decode(v) for k, v in node["items"]}
    raise HarnessError(f"cannot decode a value tagged {tag!r}")


def build(spec: dict[str, Any], blobs: list[bytes]) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """(args, kwargs) of one generated call."""
    base = spec.get("base")
    if base is None:
        args: list[Any] = []
        kwargs: dict[str, Any] = {}
    else:
        recorded_args, kwargs = _unpickle(blobs, base)
        args = list(recorded_args)
    for key in sorted(spec.get("take", {}), key=_key_order):
        other_args, other_kwargs = _unpickle(blobs, spec["take"][key])
        _put(args, kwargs, key, _get(list(other_args), other_kwargs, key))
    for key, factor in spec.get("repeat", {}).items():
        _put(args, kwargs, key, _get(args, kwargs, key) * int(factor))
    for key in sorted(spec.get("link", {}), key=_key_order):
        source, name = spec["link"][key]
        _put(args, kwargs, key, getattr(_get(args, kwargs, source), str(name)))
    for key in sorted(spec.get("set", {}), key=_key_order):
        _put(args, kwargs, key, decode(spec["set"][key]))
    return tuple(args), kwargs


def _unpickle(blobs: list[bytes], index: Any) -> tuple[Any, Any]:
    if not isinstance(index, int) or not 0 <= index < len(blobs):
        raise HarnessError(f"no recorded call {index}")
    found: tuple[Any, Any] = pickle.loads(blobs[index])  # noqa: S301 - our own pickles
    return found


def _key_order(key: str) -> tuple[int, int, str]:
    return (0, int(key), "") if key.isdigit() else (1, 0, key)


def _get(args: list[Any], kwargs: dict[str, Any], key: str) -> Any:
    if key.isdigit():
        return args[int(key)]
    return kwargs[key]


def _put(args: list[Any], kwargs: dict[str, Any], key: str, value: Any) -> None:
    if not key.isdigit():
        kwargs[key] = value
        return
    index = int(key)
    if index < len(args):
        args[index] = value
    elif index == len(args):
        args.append(value)
    else:
        raise HarnessError(f"argument {index} given without argument {len(args)}")


def _seed(seed: int) -> None:
    random.seed(seed)
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed(seed % 2**32)


def _on_alarm(_signum: int, _frame: Any) -> None:
    raise CallTimeout()


def _drained(recorder: Any, generator: types.GeneratorType[Any, Any, Any]) -> dict[str, Any]:
    """A returned generator, consumed as a caller would (up to the recorder's item budget)
    through the recorder's tap: the items it yields and how it ended, raising included."""
    node = recorder.generator_node(generator)
    tapped = recorder.tap(generator, node, recorder.MAX_ELEMENTS)
    with contextlib.suppress(Exception):  # recorded in the node (a timeout is not caught)
        for _ in itertools.islice(tapped, recorder.GENERATOR_ITEMS):
            pass
    return dict(node)


def run_one(
    func: Any,
    recorder: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    seed: int,
    timeout: float,
) -> dict[str, Any]:
    """Call the target once; the entry for outputs.json."""
    named = [(str(i), v) for i, v in enumerate(args)] + list(kwargs.items())
    entry: dict[str, Any] = {"args": {k: recorder.encode(v) for k, v in named}}
    _seed(seed)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    started = time.perf_counter()
    try:
        try:
            value = func(*args, **kwargs)
            if isinstance(value, types.GeneratorType):  # within the timeout: an endless
                value = _drained(recorder, value)  # one stops at the recorder's budget
            else:
                value = recorder.encode(value)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        entry["outcome"] = "return"
        entry["value"] = value
    except CallTimeout:
        entry["outcome"] = "timeout"
    except (Exception, SystemExit) as exc:  # an exception is behaviour: compare it
        entry["outcome"] = "raise"
        entry["exception"] = recorder.encode_exception(exc)
    entry["seconds"] = time.perf_counter() - started
    after = {k: recorder.encode(v) for k, v in named}
    if after != entry["args"]:  # left out when unchanged: the reader takes "args" for it
        entry["args_after"] = after
    return entry


def _read_blobs(path: str, recorder: Any, replay: Any) -> list[bytes]:
    if not path:
        return []
    try:
        calls = replay.load_pickle(path)
    except BaseException as exc:
        raise HarnessError(f"cannot read inputs {path}: {type(exc).__name__}: {exc}") from exc
    return [recorder.dumps(call) for call in calls]  # the recorder's pickler: re.Match too


def run(options: argparse.Namespace) -> dict[str, Any]:
    """Build and run every call; write outputs (and timing pickles)."""
    recorder = _load("optirunner_record_encoding", RECORDER)
    replay = sys.modules["optirunner_replay_harness"]
    func = replay.resolve_target(options.target)
    blobs = _read_blobs(options.inputs, recorder, replay)
    try:
        with open(options.specs, encoding="utf-8") as handle:
            specs = json.load(handle)
    except (OSError, ValueError) as exc:
        raise HarnessError(f"cannot read specs {options.specs}: {exc}") from exc
    signal.signal(signal.SIGALRM, _on_alarm)
    try:
        timing = {str(p): [int(i) for i in v] for p, v in json.loads(options.timing).items()}
    except (ValueError, TypeError, AttributeError) as exc:
        raise HarnessError(f"--timing must map file names to call indices: {exc}") from exc
    wanted = {i for indices in timing.values() for i in indices}
    built: dict[int, bytes] = {}
    outputs: list[dict[str, Any]] = []
    started = time.perf_counter()
    for index, spec in enumerate(specs):
        if time.perf_counter() - started > options.budget_s:
            break
        if spec.get("skip"):  # not compared in this arm (the baseline timed out on it, ...)
            outputs.append({"outcome": "skipped", "reason": str(spec["skip"])})
            continue
        try:
            args, kwargs = build(spec, blobs)
        except Exception as exc:  # the spec does not fit this call: say so, go on
            outputs.append({"outcome": "skipped", "reason": f"{type(exc).__name__}: {exc}"})
            continue
        if index in wanted:
            built[index] = recorder.dumps((args, kwargs))
        outputs.append(run_one(func, recorder, args, kwargs, options.seed, options.call_timeout))
    _write_json(options.out, outputs)
    for path, indices in timing.items():
        calls = [pickle.loads(built[i]) for i in indices if i in built]  # noqa: S301 - ours
        with open(path, "wb") as handle:
            handle.write(recorder.dumps(calls))
    return {"calls": len(specs), "done": len(outputs), "seconds": time.perf_counter() - started}


def _write_json(path: str, document: Any) -> None:
    temporary = f"{path}.{os.getpid()}.tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(json.dumps(document))  # dumps: the C encoder (dump is pure Python)
    os.replace(temporary, path)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:
        raise HarnessError(f"bad arguments: {message}")


def parse_args(argv: list[str]) -> argparse.Namespace:
    """The command line described in the module docstring."""
    parser = _Parser(prog="diff_harness.py")
    parser.add_argument("--target", required=True)
    parser.add_argument("--specs", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--inputs", default="")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--call-timeout", type=float, default=2.0)
    parser.add_argument("--budget-s", type=float, default=60.0)
    parser.add_argument("--timing", default="{}")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point: 0 with a summary line, 2 with {"error": ...} (the replay harness's
    protocol, run by its own `main` so that fd 1 stays ours and the target's prints go
    to /dev/null)."""
    replay = _load("optirunner_replay_harness", REPLAY)
    replay.HarnessError = HarnessError  # one error type for both harnesses' messages
    replay.run = run
    replay.parse_args = parse_args
    code: int = replay.main(sys.argv[1:] if argv is None else argv)
    return code


if __name__ == "__main__":
    sys.exit(main())
