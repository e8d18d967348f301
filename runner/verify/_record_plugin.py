"""Behaviour recorder: a standalone pytest plugin that records every call of the target functions.

The runner copies this single file to ``<checkout>/.optirunner/plugins/optirunner_record.py``
and runs the project's own test command with ``-p optirunner_record``, in the project's own
interpreter, which may not have optirunner installed. So this module imports only the standard
library and pytest, and keeps to syntax that older Pythons still run.

Configuration (environment variables; the plugin does nothing without the first one):

* ``OPTIRUNNER_RECORD_TARGETS`` — JSON list of ``"path/to/module.py::Qual.name"``, with
  paths relative to the project root (the working directory of the test run);
* ``OPTIRUNNER_RECORD_OUT`` — where to write the recording (JSON, written once, atomically);
* ``OPTIRUNNER_RECORD_MAX_CALLS`` — calls recorded per target (default 2000), the rest counted;
* ``OPTIRUNNER_RECORD_MAX_ELEMENTS`` — elements encoded per value (default 250000);
* ``OPTIRUNNER_RECORD_MAX_TARGET_ELEMENTS`` — elements encoded per target in one run (default
  2000000): once a target's calls have cost that much, its further calls are counted, not
  recorded, like calls past ``MAX_CALLS`` (a token whose parent pointer leads to a whole
  statement costs thousands of elements per call; this bounds the time and size of a run);
* ``OPTIRUNNER_SEED`` — ``random.seed(seed)`` before each test, so both arms see one stream;
* ``OPTIRUNNER_RECORD_INPUTS`` — a folder: also keep the arguments of up to
  ``OPTIRUNNER_RECORD_MAX_INPUTS`` calls per target (default 200) as pickles, for the replay
  harness that times the target on them (``<folder>/<n>.pkl``, n = the target's index).

Values are encoded here into a tagged JSON structure (never pickled): a value with no faithful
encoding becomes ``{"t": "unknown", ...}``, which the comparator never calls equal to anything
else (the same type on both sides is counted as not comparable). Named module-level objects
and functions are their qualified names (``{"t": "global"}``), bound methods their function
and ``self`` (``"method"``), builtin iterators what they have left (``"iterator"``),
a returned generator what it yields as the caller consumes it (``"generator"``, through a
tap).

Targets are wrapped where the tests find them: the attribute of the module (``pkg/__init__.py``
is the package ``pkg``) or class, every other module object loaded from the same file, and
references elsewhere (``from pkg.mod import f`` in any module or conftest, and the values of
module-level dicts and lists, ``HANDLERS = {"a": f}``; never tuples; identity only). A target
that cannot be wrapped gets an entry in ``"errors"``; one never called has an empty call list.

The document: ``{"version": 1, "targets": {target: [call, ...]}, "truncated": {target: n},
"errors": {target: message}, "accesses": {target: [entry, ...]}, "seed", "exitstatus",
"unpicklable", "inputs"}``. ``"accesses"`` has every target, with the sorted, distinct
things its recorded calls touched (calls nested in a recorded call count for it; threads it
starts do not):

* ``file:read``, ``file:write`` (an ``open`` audit event, by mode or flags), ``file:list``
  (``os.listdir``/``os.scandir``); what the import system opens or writes, reads of
  ``.py``/``.pyc`` files under ``sys.path`` (linecache, inspect), and file objects opened on
  a descriptor (pipes) are not accesses;
* ``fs:modify`` (``os.remove``, ``os.rename``, ``os.mkdir``, ``shutil.*``...), ``process``
  (``subprocess.Popen``, ``os.system``, ``os.exec*``, ``os.spawn*``, ``os.fork``...),
  ``network`` (``socket.connect``, ``socket.getaddrinfo``... and the stdlib clients);
* ``env:NAME`` for a read of ``os.environ[NAME]``, ``os.environ.get``, ``os.getenv``, ``NAME
  in os.environ``; ``env-write:NAME`` for setting or deleting one;
* ``global-write:NAME`` when a call rebinds, adds or deletes a global of the target's module
  (``global-write:Class.NAME`` for a class attribute of a method's class; binding a module,
  as a lazy import of a submodule does, is not one), and
  ``global-mutate:NAME`` when a module-level dict, list, set, bytearray, deque or
  ``functools`` cache of it changes size in place; both only for the first
  ``MAX_WATCHED_CALLS`` calls of each target, to bound the cost.

The audit hook (one per process: they cannot be removed) and the ``os.environ`` hook are
installed only while recording; outside a recorded call each costs one thread-local read.
"""

from __future__ import annotations

import collections
import contextlib
import copyreg
import dataclasses
import datetime
import decimal
import enum
import fractions
import functools
import importlib
import inspect
import io
import json
import operator
import os
import pathlib
import pickle
import random
import re
import sys
import threading
import types
import uuid
from collections.abc import (
    AsyncIterator,
    Callable,
    Coroutine,
    Generator,
    Iterable,
    Iterator,
)
from pathlib import Path
from typing import Any

import pytest

FORMAT_VERSION = 1
ENV_TARGETS = "OPTIRUNNER_RECORD_TARGETS"
ENV_OUT = "OPTIRUNNER_RECORD_OUT"
ENV_MAX_CALLS = "OPTIRUNNER_RECORD_MAX_CALLS"
ENV_MAX_ELEMENTS = "OPTIRUNNER_RECORD_MAX_ELEMENTS"
ENV_MAX_TARGET_ELEMENTS = "OPTIRUNNER_RECORD_MAX_TARGET_ELEMENTS"
ENV_SEED = "OPTIRUNNER_SEED"
ENV_INPUTS = "OPTIRUNNER_RECORD_INPUTS"
ENV_MAX_INPUTS = "OPTIRUNNER_RECORD_MAX_INPUTS"
DEFAULT_MAX_INPUTS = 200
DEFAULT_MAX_CALLS = 2000
MAX_DEPTH = 60  # token trees with parent pointers nest 2 levels per tree level
MAX_ELEMENTS = 250_000
MAX_TARGET_ELEMENTS = 2_000_000  # ~10 s of encoding, ~60 MB of JSON
REPR_LIMIT = 200
SESSION_SITE = "<outside any test>"

# Ints past this are stored as hex: JSON readers lose precision on them, and str() of a
# huge int is refused by Python's digit limit while hex is not.
_SMALL_INT = 2**53
# Types whose repr is a faithful, deterministic rendering of their value.
_REPR_TYPES: tuple[type, ...] = (
    complex,
    decimal.Decimal,
    fractions.Fraction,
    datetime.date,
    datetime.time,
    datetime.timedelta,
    datetime.tzinfo,
    pathlib.PurePath,
    uuid.UUID,
    range,
)
# Iterators of these modules say what they have left through __reduce__, without advancing.
_REDUCIBLE_ITERATORS = frozenset({"builtins", "itertools", "collections"})
# Callables and lazy values: their state is code or a stream, never a comparable value.
# (Bound methods and partials never get here: _encode_special encodes them all.)
_OPAQUE_TYPES: tuple[type, ...] = (
    types.FunctionType,  # lambdas and closures: no qualified name leads back to them
    types.BuiltinFunctionType,
    types.ModuleType,
    Iterator,
    AsyncIterator,
    Coroutine,
)


# -- encoding ---------------------------------------------------------------------------------


def type_name(value_type: type) -> str:
    """``module.Qualname`` of a type, without the ``builtins.`` prefix."""
    module = getattr(value_type, "__module__", "") or ""
    qualname = getattr(value_type, "__qualname__", None) or value_type.__name__
    return qualname if module == "builtins" else f"{module}.{qualname}"


def _safe_repr(value: object) -> str:
    try:
        text = repr(value)
    except Exception:  # a broken __repr__ must not break the project's test
        text = f"<{type_name(type(value))} with a failing repr>"
    return text[:REPR_LIMIT]


def unknown(value: object, note: str = "") -> dict[str, Any]:
    """The encoding of a value that cannot be compared faithfully."""
    node = {"t": "unknown", "type": type_name(type(value)), "repr": _safe_repr(value)}
    if note:
        node["note"] = note
    return node


class _Truncated(Exception):
    """The value is larger or deeper than the caps; it is recorded as truncated."""


def _with_type(node: dict[str, Any], value: object, base: type) -> dict[str, Any]:
    # Subclasses (namedtuple, OrderedDict, str enums...) keep their type name, so that the
    # comparator tells them apart from the plain builtin.
    if type(value) is not base:
        node["type"] = type_name(type(value))
    return node


def _encode_int(value: int) -> dict[str, Any]:
    number = int(value)
    if -_SMALL_INT < number < _SMALL_INT:
        return _with_type({"t": "int", "v": number}, value, int)
    return _with_type({"t": "int", "hex": format(number, "x")}, value, int)


def _encode_scalar(value: object) -> dict[str, Any] | None:  # noqa: PLR0911 - one return per kind
    """Encode an atomic value, or return None when it is not one."""
    if value is None:
        return {"t": "none"}
    if isinstance(value, bool):
        return {"t": "bool", "v": value}
    if isinstance(value, enum.Enum):  # before int: IntEnum members are ints too
        return {"t": "enum", "type": type_name(type(value)), "name": value.name}
    if isinstance(value, int):
        return _encode_int(value)
    if isinstance(value, float):
        # repr keeps nan, inf and -0.0 and round-trips exactly.
        return _with_type({"t": "float", "v": repr(float(value))}, value, float)
    if isinstance(value, str):
        return _with_type({"t": "str", "v": str(value)}, value, str)
    if isinstance(value, (bytes, bytearray)):
        tag = "bytearray" if isinstance(value, bytearray) else "bytes"
        return {"t": tag, "v": bytes(value).hex()}
    if isinstance(value, type):
        return {"t": "type", "v": type_name(value)}
    if isinstance(value, _REPR_TYPES):
        return {"t": "repr", "type": type_name(type(value)), "v": repr(value)}
    return None


def _slot_names(value_type: type) -> list[str]:
    names: list[str] = []
    for klass in value_type.__mro__:
        slots = klass.__dict__.get("__slots__", ())
        for name in [slots] if isinstance(slots, str) else slots:
            if name not in ("__dict__", "__weakref__") and name not in names:
                names.append(name)
    return names


def _object_fields(value: object) -> dict[str, object] | None:
    """The attributes that make up a plain object's state, or None if it has none to read."""
    if dataclasses.is_dataclass(value):
        return {field.name: getattr(value, field.name) for field in dataclasses.fields(value)}
    state: dict[str, object] = {}
    missing = object()
    for name in _slot_names(type(value)):
        slot_value = getattr(value, name, missing)
        if slot_value is not missing:
            state[name] = slot_value
    instance_dict = getattr(value, "__dict__", None)
    if isinstance(instance_dict, dict):
        state.update(instance_dict)
    elif not state and not _slot_names(type(value)):
        return None
    # Sorted: the order attributes were assigned in is not behaviour.
    return {name: state[name] for name in sorted(state)}


class _Encoder:
    """One value's encoding pass: counts elements and tracks the path for cycles."""

    def __init__(self, max_depth: int, max_elements: int) -> None:
        self.max_depth = max_depth
        self.max_elements = max_elements
        self.remaining = max_elements
        self.path: list[int] = []

    def encode(self, value: object, depth: int) -> Any:  # noqa: PLR0911 - fast paths first
        self.remaining -= 1
        if self.remaining < 0:
            raise _Truncated(f"more than {self.max_elements} elements")
        if depth > self.max_depth:
            raise _Truncated(f"nested deeper than {self.max_depth} levels")
        kind = type(value)
        if kind is str:  # the commonest values first, by exact type (no isinstance chain)
            return {"t": "str", "v": value}
        if kind is int and -_SMALL_INT < value < _SMALL_INT:  # type: ignore[operator]
            return {"t": "int", "v": value}
        if value is None:
            return {"t": "none"}
        numpy_node = self._encode_numpy(value, depth)
        if numpy_node is not None:
            return numpy_node
        scalar = _encode_scalar(value)
        if scalar is not None:
            return scalar
        if id(value) in self.path:
            # A self-reference: recorded by how far up it points, which is comparable.
            return {"t": "cycle", "up": len(self.path) - self.path.index(id(value))}
        self.path.append(id(value))
        try:
            return self._encode_compound(value, depth + 1)
        finally:
            self.path.pop()

    def _items(self, values: Any, depth: int) -> list[Any]:
        return [self.encode(item, depth) for item in values]

    def _encode_compound(self, value: object, depth: int) -> Any:
        if isinstance(value, (list, tuple, collections.deque)):
            sequence: type = tuple if isinstance(value, tuple) else list
            items = self._items(value, depth)
            return _with_type({"t": sequence.__name__, "items": items}, value, sequence)
        if isinstance(value, dict):
            pairs = [[self.encode(k, depth), self.encode(v, depth)] for k, v in value.items()]
            return _with_type({"t": "dict", "items": pairs}, value, dict)
        if isinstance(value, (set, frozenset)):
            kind: type = frozenset if isinstance(value, frozenset) else set
            # Sorted: a set's iteration order depends on hashing, not on the code under test.
            items = sorted(self._items(value, depth), key=_sort_key)
            return _with_type({"t": kind.__name__, "items": items}, value, kind)
        return self._encode_other(value, depth)

    def _encode_other(self, value: object, depth: int) -> Any:
        if isinstance(value, BaseException):
            # Its state is in .args, which the instance __dict__ does not hold.
            state: dict[str, object] = {"args": value.args}
            state["message"] = encode_exception(value)["message"]
            return self._encode_object(value, state, depth)
        mock = sys.modules.get("unittest.mock")
        if mock is not None and isinstance(value, mock.NonCallableMock):
            # A mock's observable behaviour is the calls made on it, in order.
            calls = [(str(name), tuple(args), dict(kw)) for name, args, kw in value.mock_calls]
            return {"t": "mock", "type": type_name(type(value)), "calls": self.encode(calls, depth)}
        special = self._encode_special(value, depth)
        if special is not None:
            return special
        if isinstance(value, _OPAQUE_TYPES):
            return unknown(value)  # never consume an iterator: the caller may still need it
        fields = _object_fields(value)
        if fields is None:
            return unknown(value)
        return self._encode_object(value, fields, depth)

    def _encode_special(self, value: object, depth: int) -> Any:  # noqa: PLR0911 - per kind
        """Values with identity or code in them, encoded by what identifies them: a named
        module-level object (``_nothing = object()``) or function by its qualified name, a
        bound method by its function's name and its ``self``, a regex by pattern and flags,
        a match by its pattern, string and group spans, a partial by its parts."""
        if isinstance(value, (types.FunctionType, types.BuiltinFunctionType)):
            owner = getattr(value, "__self__", None)
            if owner is not None and not isinstance(owner, types.ModuleType):
                name = f"{type_name(type(owner))}.{getattr(value, '__name__', '?')}"
                return {"t": "method", "name": name, "self": self.encode(owner, depth)}
            known = qualified_name(value) or _NAMES.name_of(value)
            return None if known is None else {"t": "global", "type": "function", "v": known}
        if isinstance(value, (types.MethodDescriptorType, types.WrapperDescriptorType)):
            name = f"{type_name(value.__objclass__)}.{value.__name__}"  # str.lower, unbound
            return {"t": "global", "type": type_name(type(value)), "v": name}
        if isinstance(value, types.MethodType):
            function = value.__func__
            label = qualified_name(function) or str(getattr(function, "__qualname__", "?"))
            return {"t": "method", "name": label, "self": self.encode(value.__self__, depth)}
        if isinstance(value, re.Pattern):
            fields: dict[str, object] = {"pattern": value.pattern, "flags": value.flags}
            return self._encode_object(value, fields, depth)
        if isinstance(value, re.Match):
            fields = {"re": value.re, "string": value.string, "pos": value.pos}
            fields.update(endpos=value.endpos, regs=value.regs)
            return self._encode_object(value, fields, depth)
        if isinstance(value, Iterator) and type(value).__module__ in _REDUCIBLE_ITERATORS:
            return self._encode_iterator(value, depth)
        if isinstance(value, functools.partial):
            fields = {"func": value.func, "args": value.args, "keywords": value.keywords}
            return self._encode_object(value, fields, depth)
        if type(value).__eq__ is object.__eq__:  # an object with a value of its own is
            found = _NAMES.name_of(value)  # compared by that value, wherever it lives
            if found is not None:
                return {"t": "global", "type": type_name(type(value)), "v": found}
        return None

    def _encode_iterator(self, value: Iterator[Any], depth: int) -> Any:
        """A builtin or itertools iterator by what it has left to yield, read from its
        ``__reduce__`` (as pickle does), which never advances it: ``iter([1, 2])`` is its
        items, ``map(f, it)`` is ``f`` and the encoding of ``it``."""
        try:
            reduced = value.__reduce__()
        except Exception:  # not reducible (or a warning turned into an error): unknown
            return None
        if not isinstance(reduced, tuple) or len(reduced) < 2:
            return None
        node: dict[str, Any] = {"t": "iterator", "type": type_name(type(value))}
        args, state = reduced[1], reduced[2:]
        if reduced[0] is iter and len(args) == 1:  # a sequence iterator and its position
            start = state[0] if state and isinstance(state[0], int) else 0
            node["items"] = self._items(list(args[0])[start:], depth)
        else:
            node["state"] = self.encode([*args, *state], depth)
        return node

    def _encode_object(self, value: object, fields: dict[str, object], depth: int) -> Any:
        encoded = {name: self.encode(field, depth) for name, field in fields.items()}
        return {"t": "object", "type": type_name(type(value)), "fields": encoded}

    def _encode_numpy(self, value: object, depth: int) -> dict[str, Any] | None:
        # Only if the project already imported numpy: importing it here would cost seconds.
        numpy = sys.modules.get("numpy")
        if numpy is None:
            return None
        if isinstance(value, numpy.ndarray):
            if value.size > self.remaining:
                raise _Truncated(f"array of {value.size} elements")
            data = self.encode(value.tolist(), depth + 1)
            return {
                "t": "ndarray",
                "dtype": str(value.dtype),
                "shape": list(value.shape),
                "data": data,
            }
        if isinstance(value, numpy.generic):
            return {
                "t": "npscalar",
                "dtype": str(value.dtype),
                "v": self.encode(value.item(), depth + 1),
            }
        return None


def qualified_name(value: object) -> str | None:
    """``module.Qual.name`` when that name leads back to `value` (or to the recorder's
    wrapper of it), else None: lambdas, closures and local classes have no such name."""
    module_name = getattr(value, "__module__", None)
    qualname = getattr(value, "__qualname__", None)
    if not isinstance(module_name, str) or not isinstance(qualname, str) or "<" in qualname:
        return None
    found: object = sys.modules.get(module_name)
    for part in qualname.split("."):
        found = getattr(found, part, _MISSING)
        if found is _MISSING:
            return None
    if found is value or getattr(found, "__wrapped__", None) is value:
        return qualname if module_name == "builtins" else f"{module_name}.{qualname}"
    return None


class _Names:
    """Module-level objects by identity, in the project's own modules and the value's type's
    module: a sentinel (``_nothing = object()``) or a singleton has no value to compare,
    only a name, the same in every run. Identity is checked again on each lookup."""

    def __init__(self) -> None:
        self.root = ""
        # module name -> ((id of the module, its size), index of its globals by id)
        self._modules: dict[str, tuple[tuple[int, int], dict[int, str]]] = {}
        self._project: list[str] = []
        self._seen: tuple[int, str] = (-1, "")  # (len(sys.modules), root) of _project

    def name_of(self, value: object) -> str | None:
        if isinstance(value, (types.ModuleType, int, str, bytes, tuple, frozenset)):
            return None  # modules are not values; small values are interned, not named
        for module_name in [getattr(type(value), "__module__", ""), *self._project_modules()]:
            module = sys.modules.get(module_name)
            name = self._index(module_name, module).get(id(value)) if module else None
            if name is not None and module is not None and module.__dict__.get(name) is value:
                return name if module_name == "builtins" else f"{module_name}.{name}"
        return None

    def _project_modules(self) -> list[str]:
        root = self.root or os.getcwd()
        if (len(sys.modules), root) != self._seen:
            self._seen = (len(sys.modules), root)
            self._project = [
                name
                for name, module in list(sys.modules.items())
                if _is_project_file(getattr(module, "__file__", None), root)
            ]
        return self._project

    def _index(self, module_name: str, module: types.ModuleType) -> dict[int, str]:
        namespace = getattr(module, "__dict__", {})
        key = (id(module), len(namespace))
        known, index = self._modules.get(module_name, ((-1, -1), {}))
        if known != key:
            index = {}
            for name, member in list(namespace.items()):
                if not name.startswith("__") and not isinstance(member, types.ModuleType):
                    index.setdefault(id(member), name)
            self._modules[module_name] = (key, index)
        return index


def _is_project_file(path: object, root: str) -> bool:
    if not isinstance(path, str) or not path.startswith(root + os.sep):
        return False
    return "site-packages" not in path and "/.optirunner/" not in path


_NAMES = _Names()


def _sort_key(node: Any) -> str:
    return json.dumps(node, sort_keys=True)


def encode(value: object, *, max_depth: int = MAX_DEPTH, max_elements: int = MAX_ELEMENTS) -> Any:
    """Encode `value` into the tagged JSON structure; never raises, never consumes iterators."""
    return encode_counted(value, max_depth=max_depth, max_elements=max_elements)[0]


def encode_counted(
    value: object, *, max_depth: int = MAX_DEPTH, max_elements: int = MAX_ELEMENTS
) -> tuple[Any, int]:
    """`encode`, and how many elements the encoding visited (what it cost)."""
    encoder = _Encoder(max_depth, max_elements)
    try:
        node = encoder.encode(value, 0)
    except _Truncated as exc:
        node = {"t": "truncated", "type": type_name(type(value)), "reason": str(exc)}
    except RecursionError:
        node = {"t": "truncated", "type": type_name(type(value)), "reason": "too deep"}
    except Exception as exc:  # a property that raises must not break the test
        node = unknown(value, f"encoding failed: {type_name(type(exc))}")
    return node, min(max_elements, max_elements - encoder.remaining)


GENERATOR_ITEMS = 1000  # items of a returned generator recorded (the rest are counted)


class _GeneratorNode(dict[str, Any]):
    """The encoding of a returned generator: a plain dict in the document (``t`` is
    ``generator``), typed so that `_store` knows its tap fills it in."""


def generator_node(generator: types.GeneratorType[Any, Any, Any]) -> _GeneratorNode:
    """The node a tap fills in: the items yielded so far and how the generator ended
    (``"end"``: ``"return"`` with its value, ``"raise"`` with the exception, or
    ``"unfinished"`` while the caller has not run it to its end — also when the caller
    closes it early, which garbage collection may do at any time)."""
    node = _GeneratorNode(t="generator", type=type_name(type(generator)), items=[])
    node.update(more=0, end="unfinished")
    return node


def tap(
    generator: types.GeneratorType[Any, Any, Any], node: _GeneratorNode, max_elements: int
) -> Generator[Any, Any, Any]:
    """Yield what `generator` yields, forwarding ``send``/``throw``/``close``, and record
    each item (encoded as it is yielded: a later mutation is the caller's) into `node`."""
    items: list[Any] = node["items"]
    sent: Any = None
    thrown: BaseException | None = None
    while True:
        try:
            item = generator.send(sent) if thrown is None else generator.throw(thrown)
        except StopIteration as stop:
            node.update(end="return", value=encode(stop.value, max_elements=max_elements))
            return stop.value  # a generator's return value is forwarded
        except BaseException as exc:
            node.update(end="raise", exception=encode_exception(exc))
            raise
        if len(items) < GENERATOR_ITEMS:
            items.append(encode(item, max_elements=max_elements))
        else:
            node["more"] += 1
        sent, thrown = None, None
        try:
            sent = yield item
        except GeneratorExit:
            generator.close()
            raise
        except BaseException as exc:  # thrown in by the caller: into the generator
            thrown = exc


def encode_exception(exc: BaseException) -> dict[str, str]:
    """An exception as its type's qualified name and its message."""
    try:
        message = str(exc)
    except Exception:  # a broken __str__ is recorded, not raised
        message = _safe_repr(exc)
    return {"type": type_name(type(exc)), "message": message}


# -- the access log ---------------------------------------------------------------------------

MAX_WATCHED_CALLS = 50  # calls per target whose globals are snapshotted (the cost is bounded)
_MISSING = object()
# Module-level containers whose growth is a cache filling up (global-mutate).
_SIZED_TYPES: tuple[type, ...] = (dict, list, set, bytearray, collections.deque)
_PROCESS_EVENTS = frozenset(
    {"subprocess.Popen", "os.system", "os.exec", "os.spawn", "os.posix_spawn", "os.fork"}
    | {"os.forkpty", "os.startfile", "os.kill", "os.killpg", "pty.spawn"}
)
_NETWORK_EVENTS = frozenset(
    {"urllib.Request", "http.client.connect", "http.client.send", "ftplib.connect"}
    | {"smtplib.connect", "poplib.connect", "imaplib.open", "nntplib.connect"}
    | {"telnetlib.Telnet.open", "webbrowser.open"}
)
_FS_EVENTS = frozenset(
    {"os.remove", "os.rename", "os.mkdir", "os.rmdir", "os.chmod", "os.chown", "os.link"}
    | {"os.symlink", "os.truncate", "os.utime", "os.chflags", "os.lchflags", "os.lchmod"}
    | {"os.setxattr", "os.removexattr", "shutil.copyfile", "shutil.copymode"}
    | {"shutil.copystat", "shutil.copytree", "shutil.chown", "shutil.move", "shutil.rmtree"}
    | {"shutil.make_archive", "shutil.unpack_archive", "tempfile.mkstemp", "tempfile.mkdtemp"}
)
_LIST_EVENTS = frozenset({"os.listdir", "os.scandir"})
_SOURCE_SUFFIXES = (".py", ".pyc", ".pyo", ".pyd", ".so")
# Frames of the import system: what it opens, lists, writes (.pyc) is not the target's doing.
_IMPORT_FILES = (
    "<frozen importlib",
    "<frozen zipimport",
    os.path.join("importlib", "_bootstrap.py"),
    os.path.join("importlib", "_bootstrap_external.py"),
    "zipimport.py",
    os.path.join("_pytest", "assertion", "rewrite.py"),
)


class _CallState(threading.local):
    """Per thread: the target whose outermost recorded call is running (None outside)."""

    target: str | None = None


class _Logging(threading.local):
    """Per thread: the recorder whose call is running, if it logs accesses (None outside)."""

    recorder: Recorder | None = None
    busy = False  # inside our own audit hook: events raised there are ignored


class _Snapshot:
    """A namespace's globals (the objects, so ids are never reused) and container sizes."""

    def __init__(self, namespace: Any) -> None:
        self.namespace = namespace
        self.values, self.sizes = _globals_of(namespace)

    def changes(self, prefix: str) -> set[str]:
        """``global-write:NAME`` for each name rebound, added or deleted since the snapshot,
        ``global-mutate:NAME`` for each container that changed size in place."""
        values, sizes = _globals_of(self.namespace)
        found = set()
        for name in set(self.values) | set(values):
            value = values.get(name, _MISSING)
            if self.values.get(name, _MISSING) is not value:
                if not isinstance(value, types.ModuleType):  # a lazy import is no state
                    found.add(f"global-write:{prefix}{name}")
            elif self.sizes.get(name) != sizes.get(name):
                found.add(f"global-mutate:{prefix}{name}")
        return found


def _globals_of(namespace: Any) -> tuple[dict[str, object], dict[str, int]]:
    values: dict[str, object] = {}
    sizes: dict[str, int] = {}
    # A container with a broken __len__ is not worth a failed test.
    with contextlib.suppress(Exception):
        for name, value in list(namespace.items()):
            if not isinstance(name, str) or name.startswith("__"):
                continue  # __warningregistry__, __builtins__...: the interpreter's, not state
            values[name] = value
            if isinstance(value, _SIZED_TYPES):
                sizes[name] = len(value)  # type: ignore[arg-type]
            elif type(value).__name__ == "_lru_cache_wrapper":  # a functools cache filling up
                sizes[name] = value.cache_info().currsize
    return values, sizes


_NOW = _Logging()  # all the hooks below look at when nothing is recorded
_HOOKS_INSTALLED: list[bool] = []


def _install_access_hooks() -> None:
    """One audit hook for the process and a narrow hook on ``os.environ`` reads (once)."""
    if _HOOKS_INSTALLED:
        return
    _HOOKS_INSTALLED.append(True)
    environ_type = type(os.environ)
    for method in ("__getitem__", "get", "__contains__"):
        setattr(environ_type, method, _environ_reader(getattr(environ_type, method)))
    if hasattr(sys, "addaudithook"):  # Python 3.8+
        sys.addaudithook(_audit)


def _environ_reader(original: Callable[..., Any]) -> Callable[..., Any]:
    def read(self: Any, key: Any, *rest: Any) -> Any:
        recorder = _NOW.recorder
        if recorder is not None:
            name = os.fsdecode(key) if isinstance(key, (str, bytes)) else _safe_repr(key)
            recorder.note(f"env:{name}")
        return original(self, key, *rest)

    return read


def _audit(event: str, args: tuple[Any, ...]) -> None:
    recorder = _NOW.recorder
    if recorder is None or _NOW.busy:
        return
    _NOW.busy = True
    try:
        # An exception here would surface in the project's code, at the audited call.
        with contextlib.suppress(Exception):
            for entry in _classify(event, args):
                recorder.note(entry)
    finally:
        _NOW.busy = False


def _classify(event: str, args: tuple[Any, ...]) -> list[str]:  # noqa: PLR0911 - one per kind
    """The access entries of one audit event (none for the events that are not accesses)."""
    if event == "open":
        entries = _open_entries(*args[:3])
    elif event in _LIST_EVENTS:
        entries = ["file:list"]
    elif event in _FS_EVENTS:
        entries = ["fs:modify"]
    elif event in _PROCESS_EVENTS:
        return ["process"]
    elif event in _NETWORK_EVENTS or (event.startswith("socket.") and event != "socket.__new__"):
        return ["network"]
    elif event in ("os.putenv", "os.unsetenv") and args:
        return [f"env-write:{os.fsdecode(args[0])}"]
    else:
        return []
    if _importing(sys._getframe(2)):  # 0 is this function, 1 _audit, 2 the code raising it
        return []
    if event == "open" and entries == ["file:read"] and _is_source_file(args[0]):
        return []  # linecache, inspect, warnings reading the project's source
    return entries


def _open_entries(path: Any, mode: Any, flags: Any) -> list[str]:
    if isinstance(path, int):
        return []  # a file object around a descriptor (a pipe...): its opening was logged
    if isinstance(mode, str):
        read = "r" in mode or "+" in mode
        write = any(letter in mode for letter in "wax+")
    else:  # os.open: the flags say it
        flags = int(flags or 0)
        access = flags & (os.O_RDONLY | os.O_WRONLY | os.O_RDWR)
        creating = flags & (os.O_CREAT | os.O_TRUNC | os.O_APPEND)
        read = access in (os.O_RDONLY, os.O_RDWR)
        write = access != os.O_RDONLY or bool(creating)
    return (["file:read"] if read else []) + (["file:write"] if write else [])


def _importing(frame: Any) -> bool:
    """True when `frame`, the innermost one of the event, belongs to the import system."""
    return frame is not None and any(marker in frame.f_code.co_filename for marker in _IMPORT_FILES)


def _is_source_file(path: Any) -> bool:
    if not isinstance(path, (str, bytes, os.PathLike)):
        return False
    text = os.path.abspath(os.fsdecode(path))
    if not text.endswith(_SOURCE_SUFFIXES):
        return False
    roots = [os.path.abspath(entry) for entry in sys.path if isinstance(entry, str)]
    return any(text.startswith(os.path.join(root, "")) for root in roots)


# -- recording --------------------------------------------------------------------------------


def _signature(func: Callable[..., Any]) -> inspect.Signature | None:
    try:
        return inspect.signature(func)
    except (TypeError, ValueError):
        return None


def _keyed_arguments(args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[tuple[str, Any]]:
    """Arguments keyed as the caller passed them ("0", "1", ... then keyword names).

    The caller (a test) is the same in both runs, so these keys line up even when the rewrite
    renamed its parameters.
    """
    return [(str(index), value) for index, value in enumerate(args)] + list(kwargs.items())


def _argument_labels(
    signature: inspect.Signature | None, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> dict[str, str]:
    """A readable name per argument key: the parameter it binds to, for reports."""
    parameters = list(signature.parameters.values()) if signature else []
    positional = [
        p.name
        for p in parameters
        if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ]
    star = next((p.name for p in parameters if p.kind is inspect.Parameter.VAR_POSITIONAL), "")
    labels = {}
    for index in range(len(args)):
        if index < len(positional):
            labels[str(index)] = positional[index]
        else:
            labels[str(index)] = f"{star or 'args'}[{index - len(positional)}]"
    labels.update({name: name for name in kwargs})
    return labels


def _share_attributes(wrapper: Callable[..., Any], func: Callable[..., Any]) -> Callable[..., Any]:
    """Let the wrapper share the original's attributes rather than a copy of them.

    functools.wraps copies ``__dict__``: a decorator's call counter or a cache kept as a
    function attribute would then diverge between the wrapper and the original that the
    decorator's closure updates. Shared, the wrapper's ``__wrapped__`` is the original's own
    (a decorated function has one; an attribute-less function keeps the copy functools made).
    """
    if getattr(func, "__dict__", None):
        with contextlib.suppress(AttributeError, TypeError):
            wrapper.__dict__ = func.__dict__
    return wrapper


class Recorder:
    """Collects the calls of wrapped functions, keyed by the test that made them."""

    def __init__(
        self,
        max_calls: int = DEFAULT_MAX_CALLS,
        max_elements: int = MAX_ELEMENTS,
        max_target_elements: int = MAX_TARGET_ELEMENTS,
    ) -> None:
        self.max_calls = max_calls
        self.max_elements = max_elements
        self.max_target_elements = max_target_elements
        self.elements: dict[str, int] = {}  # encoded so far, per target
        self.site = SESSION_SITE
        self.calls: dict[str, list[dict[str, Any]]] = {}
        self.dropped: dict[str, int] = {}
        self.errors: dict[str, str] = {}
        self._sequence: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()
        self._inside = _CallState()
        self.max_inputs = 0  # > 0: keep pickled arguments for the replay harness
        self.inputs: dict[str, list[bytes]] = {}
        self.unpicklable: dict[str, int] = {}
        self.accesses: dict[str, set[str]] = {}
        # Namespaces whose globals a target's calls may rebind or fill: (prefix, namespace).
        self.watched: dict[str, list[tuple[str, Any]]] = {}
        self._watched_calls: dict[str, int] = {}
        self._logs = False  # log_accesses() was called

    def add_target(self, target: str) -> None:
        """Register a target so that it appears in the recording even when never called."""
        self.calls.setdefault(target, [])
        self.dropped.setdefault(target, 0)
        self.accesses.setdefault(target, set())

    def log_accesses(self) -> None:
        """Log what recorded calls touch (files, processes, network, environment) from now on.

        The hooks are process-wide and cannot be removed (audit hooks never can); outside
        a recorded call each costs one thread-local attribute read.
        """
        _install_access_hooks()
        self._logs = True

    def note(self, entry: str) -> None:
        """Add an access entry to the target whose recorded call runs in this thread, if any."""
        target = self._inside.target
        if target is not None:
            self.accesses.setdefault(target, set()).add(entry)

    def watch(self, target: str, prefix: str, namespace: Any) -> None:
        """Report rebinding (global-write) and filling (global-mutate) of `namespace` entries
        by the target's calls; `namespace` is a module's ``__dict__`` or a class's."""
        self.watched.setdefault(target, []).append((prefix, namespace))

    def fail_target(self, target: str, message: str) -> None:
        """Record that a target could not be wrapped (the test session goes on)."""
        self.add_target(target)
        self.errors[target] = message

    def wrap(self, target: str, func: Callable[..., Any]) -> Callable[..., Any]:
        """A wrapper of `func` that records its outermost calls under `target`."""
        self.add_target(target)
        signature = _signature(func)
        if inspect.iscoroutinefunction(func):
            return self._wrap_async(target, func, signature)

        @functools.wraps(func)
        def recorded(*args: Any, **kwargs: Any) -> Any:
            if not self._should_record(target):
                return func(*args, **kwargs)
            return self._run(target, signature, func, args, kwargs)

        return _share_attributes(recorded, func)

    def _wrap_async(
        self, target: str, func: Callable[..., Any], signature: inspect.Signature | None
    ) -> Callable[..., Any]:
        @functools.wraps(func)
        async def recorded(*args: Any, **kwargs: Any) -> Any:
            if not self._should_record(target):
                return await func(*args, **kwargs)
            named = _keyed_arguments(args, kwargs)
            labels = _argument_labels(signature, args, kwargs)
            before = self._encode_arguments(target, named)
            snapshots = self._enter(target)
            try:
                result = await func(*args, **kwargs)
            except BaseException as exc:
                self._leave(target, snapshots)
                self._store(target, named, labels, before, None, exc)
                raise
            self._leave(target, snapshots)
            self._store(target, named, labels, before, result, None)
            return result

        return _share_attributes(recorded, func)

    def _should_record(self, target: str) -> bool:
        # Only outermost calls: a rewrite may turn recursion into a loop, and that is fine.
        if self._inside.target is not None:
            return False
        with self._lock:
            full = len(self.calls[target]) >= self.max_calls
            if full or self.elements.get(target, 0) >= self.max_target_elements:
                self.dropped[target] += 1
                return False
        return True

    def _run(
        self,
        target: str,
        signature: inspect.Signature | None,
        func: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        named = _keyed_arguments(args, kwargs)
        labels = _argument_labels(signature, args, kwargs)
        before = self._encode_arguments(target, named)  # before: mutation shows after it
        self._keep_input(target, args, kwargs)
        snapshots = self._enter(target)
        try:
            result = func(*args, **kwargs)
        except BaseException as exc:
            self._leave(target, snapshots)
            self._store(target, named, labels, before, None, exc)
            raise
        self._leave(target, snapshots)
        if isinstance(result, types.GeneratorType):
            # A generator's behaviour is what it yields, as the caller consumes it: the
            # caller gets a tap that records each item (the call's value fills in later).
            node = generator_node(result)
            self._store(target, named, labels, before, node, None)
            return tap(result, node, self.max_elements)
        self._store(target, named, labels, before, result, None)
        return result

    def _enter(self, target: str) -> list[tuple[str, _Snapshot]]:
        """Start an outermost call: snapshot the watched globals (first calls only)."""
        snapshots: list[tuple[str, _Snapshot]] = []
        watched = self.watched.get(target)
        if watched:
            count = self._watched_calls.get(target, 0)
            if count < MAX_WATCHED_CALLS:
                self._watched_calls[target] = count + 1
                snapshots = [(prefix, _Snapshot(space)) for prefix, space in watched]
        self._inside.target = target
        if self._logs:
            _NOW.recorder = self
        return snapshots

    def _leave(self, target: str, snapshots: list[tuple[str, _Snapshot]]) -> None:
        self._inside.target = None
        if self._logs:
            _NOW.recorder = None
        for prefix, snapshot in snapshots:
            self.accesses[target].update(snapshot.changes(prefix))

    def _keep_input(self, target: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """Pickle the arguments as they are before the call (a snapshot, for replay)."""
        kept = self.inputs.setdefault(target, [])
        if len(kept) >= self.max_inputs:
            return
        try:
            kept.append(dumps((args, kwargs)))
        except Exception:  # lambdas, open files...: that call is not replayable
            self.unpicklable[target] = self.unpicklable.get(target, 0) + 1

    def write_inputs(self, folder: Path, targets: list[str]) -> dict[str, int]:
        """`<folder>/<index>.pkl`: the list of (args, kwargs) kept for each target.

        Returns the number of calls kept per target: the runner reads that from the
        recording and never unpickles anything itself.
        """
        folder.mkdir(parents=True, exist_ok=True)
        kept: dict[str, int] = {}
        for index, target in enumerate(targets):
            kept[target] = len(self.inputs.get(target, []))
            calls = [pickle.loads(blob) for blob in self.inputs.get(target, [])]  # noqa: S301 - our own pickles
            out = folder / f"{index}.pkl"
            temporary = out.with_name(f"{out.name}.{os.getpid()}.tmp")
            temporary.write_bytes(dumps(calls))
            os.replace(temporary, out)
        return kept

    def _encode(self, target: str, value: object) -> Any:
        node, cost = encode_counted(value, max_elements=self.max_elements)
        with self._lock:
            self.elements[target] = self.elements.get(target, 0) + cost
        return node

    def _encode_arguments(self, target: str, named: list[tuple[str, Any]]) -> dict[str, Any]:
        return {name: self._encode(target, value) for name, value in named}

    def _store(
        self,
        target: str,
        named: list[tuple[str, Any]],
        labels: dict[str, str],
        before: dict[str, Any],
        result: object,
        exc: BaseException | None,
    ) -> None:
        call: dict[str, Any] = {"site": self.site, "labels": labels, "args": before}
        if exc is None:
            call["outcome"] = "return"
            if isinstance(result, _GeneratorNode):
                call["value"] = result  # filled in by its tap as the caller consumes it
            else:
                call["value"] = self._encode(target, result)
        else:
            call["outcome"] = "raise"
            call["exception"] = encode_exception(exc)
        call["args_after"] = self._encode_arguments(target, named)
        with self._lock:
            key = (target, self.site)
            call["seq"] = self._sequence.get(key, 0)
            self._sequence[key] = call["seq"] + 1
            self.calls[target].append(call)

    def document(self, **extra: Any) -> dict[str, Any]:
        """The recording as the JSON document written at the end of the session."""
        with self._lock:
            return {
                "version": FORMAT_VERSION,
                "targets": {target: list(calls) for target, calls in self.calls.items()},
                "truncated": {target: n for target, n in self.dropped.items() if n},
                "errors": dict(self.errors),
                "accesses": {
                    target: sorted(self.accesses.get(target, ())) for target in self.calls
                },
                **extra,
            }


def _reduce_match(match: re.Match[Any]) -> tuple[Any, tuple[Any, ...]]:
    """A match, pickled as the call of its pattern that gives it again: ``fullmatch``,
    ``match`` or ``search`` on the same string, pos and endpos, whichever reproduces every
    group's span (parse passes the ``re.Match`` its pattern made to converters)."""
    pattern, string, pos, endpos = match.re, match.string, match.pos, match.endpos
    for method in ("fullmatch", "match", "search"):
        again = getattr(pattern, method)(string, pos, endpos)
        if again is not None and again.regs == match.regs:
            return operator.methodcaller(method, string, pos, endpos), (pattern,)
    raise pickle.PicklingError("this re.Match cannot be made again from its pattern")


_REDUCERS: dict[type, Callable[[Any], Any]] = {re.Match: _reduce_match}


def dumps(value: object) -> bytes:
    """``pickle.dumps``, with ``re.Match`` made picklable (for this pickler only: the
    project's own pickling is never changed)."""
    out = io.BytesIO()
    pickler = pickle.Pickler(out, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = {**copyreg.dispatch_table, **_REDUCERS}
    pickler.dump(value)
    return out.getvalue()


def write_document(document: dict[str, Any], out: Path) -> None:
    """Write the recording atomically: a reader never sees half a file."""
    out.parent.mkdir(parents=True, exist_ok=True)
    temporary = out.with_name(f"{out.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(document), encoding="utf-8")
    os.replace(temporary, out)


# -- finding and wrapping the targets ---------------------------------------------------------

# Module-level dicts and lists longer than this are not searched for a target's references.
MAX_REBIND_ITEMS = 100_000


def _package_name(path: Path) -> tuple[Path, str]:
    """The dotted name from the outermost package with an ``__init__.py``, and its base dir.

    A package's ``__init__.py`` is the package itself: ``pkg/__init__.py`` is ``pkg``.
    """
    parts = [] if path.stem == "__init__" else [path.stem]
    directory = path.parent
    while (directory / "__init__.py").is_file() and directory.parent != directory:
        parts.insert(0, directory.name)
        directory = directory.parent
    return directory, ".".join(parts)


def _candidate_names(path: Path, root: Path) -> list[str]:
    """Module names the tests may import `path` as, most likely first."""
    names = [name for name, module in list(sys.modules.items()) if _is_module_file(module, path)]
    names.append(_package_name(path)[1])
    try:
        parts = list(path.relative_to(root).with_suffix("").parts)
    except ValueError:
        parts = [path.stem]
    if parts and parts[-1] == "__init__":
        parts.pop()
    # Suffixes of the relative path cover src/ layouts and namespace packages.
    names += [".".join(parts[index:]) for index in range(len(parts))]
    return list(dict.fromkeys(name for name in names if name and "-" not in name))


def _module_file(module: object) -> str | None:
    """The real path of the file a module was loaded from, if any."""
    filename = getattr(module, "__file__", None)
    if not isinstance(filename, str) or not filename:
        return None
    try:
        return os.path.realpath(filename)
    except (OSError, ValueError):
        return None


def _is_module_file(module: object, path: Path) -> bool:
    return _module_file(module) == str(path)


def import_target_module(path: Path, root: Path) -> types.ModuleType:
    """Import the module defined by `path` under the name the project's tests use."""
    tried: list[str] = []
    for name in _candidate_names(path, root):
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError:
            tried.append(name)
            continue
        if _is_module_file(module, path):
            return module
        tried.append(f"{name} (another file)")
    # As pytest's own prepend mode would: make the package base importable, then retry.
    base, name = _package_name(path)
    if str(base) not in sys.path:
        sys.path.append(str(base))
        module = importlib.import_module(name)
        if _is_module_file(module, path):
            return module
    raise ImportError(f"cannot import {path} (tried {', '.join(tried) or 'nothing'})")


def _resolve_owner(module: types.ModuleType, qualname: str) -> tuple[Any, str]:
    *outer, name = qualname.split(".")
    owner: Any = module
    for part in outer:
        owner = getattr(owner, part)
    return owner, name


def _raw_attribute(owner: Any, name: str) -> Any:
    """The attribute as stored (staticmethod/classmethod objects unwrapped by nobody)."""
    if isinstance(owner, type):
        for klass in owner.__mro__:
            if name in klass.__dict__:
                return klass.__dict__[name]
        raise AttributeError(f"{type_name(owner)} has no attribute {name!r}")
    return getattr(owner, name)


def _function_of(attribute: Any) -> Any:
    """What a reference elsewhere holds: the function inside a static/classmethod object."""
    return attribute.__func__ if isinstance(attribute, (staticmethod, classmethod)) else attribute


def _rebind_aliases(replacements: dict[int, tuple[Any, Any]], namespaces: list[Any]) -> None:
    """Point module-level aliases of a target at its wrapper: ``from pkg.mod import f`` and
    dispatch tables (``HANDLERS = {"a": f}``, ``[f, g]``) one level down. Tuples cannot be
    changed and stay as they are; only the very object is replaced (identity, never ==)."""
    if not replacements:
        return
    for namespace in namespaces:
        with contextlib.suppress(Exception):  # an exotic namespace: its aliases stay as they are
            _rebind_in(namespace, replacements, nested=True)


def _rebind_in(container: Any, replacements: dict[int, tuple[Any, Any]], nested: bool) -> None:
    items = list(container.items() if isinstance(container, dict) else enumerate(container))
    for key, value in items:
        found = replacements.get(id(value))
        if found is not None and found[0] is value:
            container[key] = found[1]
        elif (
            nested
            and isinstance(value, (dict, list))
            and value is not container
            and len(value) <= MAX_REBIND_ITEMS
        ):
            with contextlib.suppress(Exception):  # a dict subclass that refuses the assignment
                _rebind_in(value, replacements, nested=False)


class Installer:
    """Wraps targets in place, in every module object loaded from a target's file."""

    def __init__(self, recorder: Recorder, root: Path) -> None:
        self.recorder = recorder
        self.root = root
        self.files: dict[str, str] = {}  # target -> the real path of its module
        # id(original) -> (original, wrapper), for rebinding references elsewhere.
        self.replacements: dict[int, tuple[Any, Any]] = {}
        self._done: set[tuple[str, int]] = set()  # (target, id(module)) already wrapped
        self._wrappers: dict[int, tuple[str, Any]] = {}  # id(wrapper) -> (target, wrapper)
        self._modules: list[types.ModuleType] = []  # alive, so that their ids stay unique

    def install(self, target: str) -> None:
        """Wrap one ``path.py::Qual.name`` target; record an error if it cannot be."""
        path_text, _, qualname = target.partition("::")
        try:
            if not qualname:
                raise ValueError("expected path/to/module.py::Qual.name")  # noqa: TRY301
            path = Path(os.path.realpath(self.root / path_text))
            module = import_target_module(path, self.root)
            self._wrap_in(target, module, watch=True)
            self.files[target] = str(path)
        except Exception as exc:  # reported in the recording; the tests still run
            self.recorder.fail_target(target, f"{type_name(type(exc))}: {exc}")

    def _wrap_in(self, target: str, module: types.ModuleType, watch: bool) -> None:
        qualname = target.partition("::")[2]
        owner, name = _resolve_owner(module, qualname)
        raw = _raw_attribute(owner, name)
        self._done.add((target, id(module)))
        self._modules.append(module)
        if self._wrappers.get(id(_function_of(raw)), ("", None))[0] == target:
            return  # this copy shares the class of one already wrapped
        if isinstance(raw, (staticmethod, classmethod)):
            wrapper: Any = type(raw)(self.recorder.wrap(target, raw.__func__))
        elif callable(raw) and not isinstance(raw, type):
            wrapper = self.recorder.wrap(target, raw)
        else:
            raise TypeError(f"{qualname} is a {type_name(type(raw))}, not a function")
        self._wrappers[id(_function_of(wrapper))] = (target, _function_of(wrapper))
        setattr(owner, name, wrapper)
        if isinstance(owner, types.ModuleType) or name in getattr(owner, "__dict__", {}):
            # Not an inherited method: references to it elsewhere are references to this.
            self.replacements[id(_function_of(raw))] = (_function_of(raw), _function_of(wrapper))
        if watch:
            self.recorder.watch(target, "", module.__dict__)
            if isinstance(owner, type):
                self.recorder.watch(target, f"{qualname.rsplit('.', 1)[0]}.", owner.__dict__)

    def wrap_copies(self) -> None:
        """Wrap the targets in module objects loaded from their files under other names
        since (``sys.path`` tricks give one file two module objects)."""
        by_file: dict[str, list[str]] = {}
        for target, filename in self.files.items():
            by_file.setdefault(filename, []).append(target)
        for module in list(sys.modules.values()):
            if not isinstance(module, types.ModuleType):
                continue
            for target in by_file.get(_module_file(module) or "", ()):
                if (target, id(module)) in self._done:
                    continue
                with contextlib.suppress(Exception):  # this copy lacks the target: the main
                    self._wrap_in(target, module, watch=False)  # one is wrapped, it is enough

    def rebind(self, plugins: Iterable[object]) -> None:
        """Rebind references to the originals in every loaded module and in `plugins`
        (conftest modules, which pytest imports before the recorder is configured)."""
        modules: list[Any] = list(sys.modules.values())
        loaded = {id(module) for module in modules}
        modules += [plugin for plugin in plugins if id(plugin) not in loaded]
        namespaces = [getattr(module, "__dict__", None) for module in modules]
        _rebind_aliases(self.replacements, [n for n in namespaces if isinstance(n, dict)])


# -- the pytest plugin ------------------------------------------------------------------------


def _int_env(environ: dict[str, str], name: str, default: int) -> int:
    text = environ.get(name, "").strip()
    try:
        return int(text) if text else default
    except ValueError:
        raise pytest.UsageError(f"{name} must be an integer, got {text!r}") from None


def _targets_env(environ: dict[str, str]) -> list[str]:
    try:
        targets = json.loads(environ[ENV_TARGETS])
    except ValueError:
        raise pytest.UsageError(f"{ENV_TARGETS} is not JSON") from None
    if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
        raise pytest.UsageError(f"{ENV_TARGETS} must be a JSON list of strings")
    return targets


def _seed_hypothesis(seed: int, items: Any) -> None:
    """Hypothesis draws its examples from its own entropy and replays those its database
    kept from the last run: two runs of the same tests then call the targets on different
    inputs (sympy's core tests: ~20 calls of `igcd` more or fewer from run to run). When
    the project uses it (imported by now), both runs get the seed (as `--hypothesis-seed`
    would) and no database, on top of the project's own profile; an explicit `@seed` stays.

    A test's settings are bound when `@given` decorates it, at import: the collected tests
    get theirs replaced, without derandomizing. Hypothesis's `ci` profile (loaded when it
    sees `CI` or a CI system's variable) derandomizes, and a derandomized test ignores the
    forced seed: the seed would no longer decide what the tests draw."""
    core: Any = sys.modules.get("hypothesis.core")
    hypothesis: Any = sys.modules.get("hypothesis")
    if core is None or hypothesis is None:
        return
    with contextlib.suppress(Exception):  # an old or unusual Hypothesis: left as it is
        if getattr(core, "global_force_seed", None) is None:
            core.global_force_seed = seed
        settings = hypothesis.settings
        settings.register_profile("optirunner-recording", database=None, derandomize=False)
        settings.load_profile("optirunner-recording")
        for item in items:
            test: Any = getattr(item, "function", None)
            bound = getattr(test, "_hypothesis_internal_use_settings", None)
            if bound is None or getattr(test, "_hypothesis_internal_use_seed", None) is not None:
                continue
            if bound.derandomize or bound.database is not None:
                test._hypothesis_internal_use_settings = settings(
                    bound, database=None, derandomize=False
                )


class RecordingSession:
    """The plugin object registered while recording: seeds, tracks the test, writes the file."""

    def __init__(
        self, recorder: Recorder, out: Path, seed: int | None, installer: Installer | None = None
    ) -> None:
        self.recorder = recorder
        self.installer = installer
        self.out = out
        self.seed = seed
        self.exitstatus: int | None = None
        self.inputs_dir: Path | None = None
        self.targets: list[str] = []

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """The test modules are imported now: wrap the copies and aliases they brought."""
        if self.installer is not None:
            self.installer.wrap_copies()
            self.installer.rebind(session.config.pluginmanager.get_plugins())
        if self.seed is not None:
            _seed_hypothesis(self.seed, session.items)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item) -> None:
        self.recorder.site = item.nodeid
        if self.seed is not None:
            random.seed(self.seed)
            numpy = sys.modules.get("numpy")
            if numpy is not None:  # the legacy global stream, for projects that use it
                numpy.random.seed(self.seed % 2**32)

    def pytest_runtest_logfinish(self) -> None:
        self.recorder.site = SESSION_SITE

    def pytest_sessionfinish(self, exitstatus: int) -> None:
        self.exitstatus = int(exitstatus)

    def pytest_unconfigure(self) -> None:
        inputs: dict[str, int] = {}
        if self.inputs_dir is not None:  # first, so that the document can say what is there
            inputs = self.recorder.write_inputs(self.inputs_dir, self.targets)
        document = self.recorder.document(
            seed=self.seed,
            exitstatus=self.exitstatus,
            unpicklable=self.recorder.unpicklable,
            inputs=inputs,
        )
        write_document(document, self.out)


def pytest_configure(config: pytest.Config) -> None:
    """Wrap the targets before collection, so test modules import the wrappers."""
    environ = dict(os.environ)
    if not environ.get(ENV_TARGETS):
        return
    out_text = environ.get(ENV_OUT)
    if not out_text:
        raise pytest.UsageError(f"{ENV_OUT} is required with {ENV_TARGETS}")
    out = Path(out_text).resolve()
    worker = getattr(config, "workerinput", None)
    if isinstance(worker, dict) and "workerid" in worker:  # pytest-xdist: one file per worker
        out = out.with_name(f"{out.name}.{worker['workerid']}")
    recorder = Recorder(
        max_calls=_int_env(environ, ENV_MAX_CALLS, DEFAULT_MAX_CALLS),
        max_elements=_int_env(environ, ENV_MAX_ELEMENTS, MAX_ELEMENTS),
        max_target_elements=_int_env(environ, ENV_MAX_TARGET_ELEMENTS, MAX_TARGET_ELEMENTS),
    )
    seed = _int_env(environ, ENV_SEED, 0) if environ.get(ENV_SEED) else None
    root = Path.cwd().resolve()
    targets = _targets_env(environ)
    recorder.log_accesses()
    installer = Installer(recorder, root)
    for target in targets:
        installer.install(target)
    installer.wrap_copies()
    # Conftest modules are imported already, and hold what they imported from the project.
    installer.rebind(config.pluginmanager.get_plugins())
    session = RecordingSession(recorder, out, seed, installer)
    if environ.get(ENV_INPUTS):
        recorder.max_inputs = _int_env(environ, ENV_MAX_INPUTS, DEFAULT_MAX_INPUTS)
        session.inputs_dir, session.targets = Path(environ[ENV_INPUTS]).resolve(), targets
    config.pluginmanager.register(session, "optirunner-recording")
