"""Inputs beyond the tests: new calls of a target derived from its recorded calls.

The project's tests pass the inputs their authors thought of; a rewrite that is only right
on those (``str.isdigit()`` for an anchored ``[0-9]+``, say) passes them and is still wrong.
This module derives, from the recorded calls (the recorder's tagged JSON, never a pickle),
*generated* calls that both arms then run on, in the sandbox:

* **generated** — hypothesis strategies built per argument from the recorded values: the
  recorded values themselves, mutated copies (a non-ASCII digit, whitespace or a newline
  inserted, case changed, stripped, doubled, reversed, shortened), boundary integers, NaN
  and infinities, ``None`` where the recording has it, empty and larger containers;
  for calls with object arguments (``self``, project objects), also the objects of other
  recorded calls (*recombined*), an object argument replaced by an attribute of another
  argument where the recording shows that relation (``tok.match(tok.ttype, ...)``), and
  builtin arguments drawn from the state of the call's objects with their case changed or
  off by one (*related* values: a name compared with ``self.name``);
* **scaled** — the largest recorded calls with every sized argument (str, bytes, list,
  tuple) repeated ×10 and ×100, for timing on representative sizes (and checked too).

A generated call is a *spec*: the index of a recorded call whose pickled arguments it starts
from (``base``; needed for arguments that are not plain builtins, such as ``self``), the
arguments it takes from other recorded calls' pickles (``take``), the ones it replaces by an
attribute of another argument (``link``), the ones it replaces with new builtin values
(``set``, tagged JSON) and the ones it repeats (``repeat``). The sandboxed harness
(`_diff_harness.py`) builds the real arguments from it.

Objects are never altered: a copy of ``self`` with one attribute replaced could be in a state
that no real instance is in (a token whose ``normalized`` does not match its ``value``), and
a correct rewrite may rely on the invariants that the class keeps. Every object in a
generated call is one that a recorded call had, so only the combinations are new.

Everything here is pure and deterministic (hypothesis runs derandomized).
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import threading
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from runner.verify.behaviour import Call, Encoded

#: Characters that expose rewrites which only hold for ASCII or for the test data:
#: digits of other scripts and superscripts (``str.isdigit`` vs ``[0-9]``), every kind of
#: whitespace and line break (``\s``, ``strip``, ``$`` before a trailing newline), case
#: pairs that do not round-trip (ß, İ, final sigma, ligatures), combining marks, NUL, emoji.
SPECIAL_CHARACTERS = (
    "0", "7", "9", "²", "³", "½", "١", "٣", "۵", "०", "߁", "𝟙", "Ⅻ",
    " ", "\t", "\n", "\r", "\x0b", "\x0c", "\x85", "\u00a0", "\u2003", "\u2028", "\u3000",
    "ß", "İ", "ı", "Σ", "ς", "ﬁ", "é", "e\u0301", "ǅ", "Ω",
    "_", "-", ".", ",", "/", "\\", "'", '"', "\x00", "😀",
)  # fmt: skip
MAX_DEPTH = 3
SMALL_INT_LIMIT = 1000
DEFAULT_SCALE_FACTORS = (10, 100)
DEFAULT_MAX_SCALED_SIZE = 100_000
LARGEST_CALLS = 5
_SIZED = frozenset({"str", "bytes", "list", "tuple"})


class NotGenerated(Exception):
    """A recorded value that this module cannot rebuild (an object, an enum, ...)."""


# -- tagged JSON <-> builtins -----------------------------------------------------------------


def decode(node: Encoded) -> Any:  # noqa: PLR0911 - one return per tag
    """The builtin value of a tagged node; `NotGenerated` for anything else.

    Only exact builtins are decoded: a node carrying a ``type`` (a subclass, an object,
    an enum) stays with the recorded pickle, which alone can rebuild it faithfully.
    """
    if not isinstance(node, Mapping) or "type" in node:
        raise NotGenerated("not a plain builtin")
    tag = node.get("t")
    if tag == "none":
        return None
    if tag == "bool":
        return bool(node["v"])
    if tag == "int":
        return int(node["hex"], 16) if "hex" in node else int(node["v"])
    if tag == "float":
        return float(node["v"])
    if tag == "str":
        return str(node["v"])
    if tag == "bytes":
        return bytes.fromhex(node["v"])
    if tag in ("list", "tuple", "set", "frozenset"):
        items = [decode(item) for item in node["items"]]
        if tag == "list":
            return items
        if tag == "tuple":
            return tuple(items)
        return set(items) if tag == "set" else frozenset(items)
    if tag == "dict":
        return {decode(key): decode(value) for key, value in node["items"]}
    raise NotGenerated(f"tag {tag!r}")


def encode(value: object) -> Encoded:  # noqa: PLR0911 - one return per builtin type
    """Tagged JSON of a builtin value, in the recorder's format (see `_record_plugin`)."""
    if value is None:
        return {"t": "none"}
    if isinstance(value, bool):
        return {"t": "bool", "v": value}
    if isinstance(value, int):
        if -(2**53) < value < 2**53:
            return {"t": "int", "v": value}
        return {"t": "int", "hex": format(value, "x")}
    if isinstance(value, float):
        return {"t": "float", "v": repr(value)}
    if isinstance(value, str):
        return {"t": "str", "v": value}
    if isinstance(value, bytes):
        return {"t": "bytes", "v": value.hex()}
    if isinstance(value, (list, tuple)):
        return {"t": type(value).__name__, "items": [encode(item) for item in value]}
    if isinstance(value, (set, frozenset)):
        # Sorted as the recorder sorts them: set order depends on the hash seed.
        items = sorted((encode(item) for item in value), key=_sort_key)
        return {"t": type(value).__name__, "items": items}
    if isinstance(value, dict):
        return {"t": "dict", "items": [[encode(k), encode(v)] for k, v in value.items()]}
    raise NotGenerated(f"cannot encode {type(value).__name__}")


def _sort_key(node: Encoded) -> str:
    return json.dumps(node, sort_keys=True)


def size_of(node: Encoded) -> int:
    """The length of a value (str, bytes, containers), the largest field's for an object."""
    if not isinstance(node, Mapping):
        return 0
    tag = node.get("t")
    if tag == "str":
        return len(node["v"])
    if tag == "bytes":
        return len(node["v"]) // 2
    if tag in ("list", "tuple", "set", "frozenset", "dict"):
        return len(node["items"])
    if tag == "object":
        return max((size_of(field) for field in node.get("fields", {}).values()), default=0)
    return 0


def call_size(arguments: Mapping[str, Encoded]) -> int:
    """A call's size: its largest argument's."""
    return max((size_of(node) for node in arguments.values()), default=0)


# -- specs ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    """One generated call, as the sandboxed harness builds it.

    `base`: the index of the recorded call (in the pickled inputs) whose arguments it
    starts from, or None when every argument is in `set`; `set`: argument key ("0", "1",
    ... or a keyword) -> tagged value; `repeat`: key -> factor applied to the base's value;
    `take`: key -> index of another recorded call whose argument (same key) replaces the
    base's; `link`: key -> (other key, attribute): the argument is that attribute of the
    other argument (after `take`). The harness applies take, repeat, link, then set.
    """

    base: int | None
    set: Mapping[str, Encoded] = field(default_factory=dict)
    repeat: Mapping[str, int] = field(default_factory=dict)
    origin: str = "generated"  # "generated", "x10", "x100", ...
    size: int = 0
    take: Mapping[str, int] = field(default_factory=dict)
    link: Mapping[str, tuple[str, str]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The form the harness reads (`take` and `link` only when there are any)."""
        document: dict[str, Any] = {
            "base": self.base,
            "set": dict(self.set),
            "repeat": dict(self.repeat),
            "origin": self.origin,
            "size": self.size,
        }
        if self.take:
            document["take"] = dict(self.take)
        if self.link:
            document["link"] = {key: list(pair) for key, pair in self.link.items()}
        return document

    def how(self) -> str:
        """How the objects of the call were put together, for reports ("" for a base's)."""
        parts = [f"argument {key} from recorded call #{i + 1}" for key, i in self.take.items()]
        parts += [f"argument {key} = argument {o}.{a}" for key, (o, a) in self.link.items()]
        return "; ".join(parts)


def _decodable(call: Call, key: str) -> bool:
    try:
        decode(call.args[key])
    except (NotGenerated, KeyError, TypeError, ValueError):
        return False
    return True


@dataclass
class _Group:
    """Recorded calls with the same argument keys: one shape of call."""

    keys: tuple[str, ...]
    indices: list[int]  # positions in the recorded calls
    generated: tuple[str, ...]  # keys whose every recorded value is a plain builtin


def _groups(calls: Sequence[Call]) -> list[_Group]:
    """The recorded calls by shape: the same argument keys, and the same of them plain
    builtins. One test passing a `date` where the others pass strings (to check the
    TypeError) is a shape of its own, not a reason to generate nothing for the strings."""
    by_shape: dict[tuple[tuple[str, ...], tuple[str, ...]], list[int]] = {}
    for index, call in enumerate(calls):
        keys = tuple(call.args)
        generated = tuple(k for k in keys if _decodable(call, k))
        by_shape.setdefault((keys, generated), []).append(index)
    return [_Group(keys, indices, generated) for (keys, generated), indices in by_shape.items()]


def _positional_complete(keys: Sequence[str]) -> bool:
    positional = sorted(int(k) for k in keys if k.isdigit())
    return positional == list(range(len(positional)))


# -- strategies -------------------------------------------------------------------------------


def _hypothesis() -> Any:
    import hypothesis.strategies as st  # noqa: PLC0415 - costs ~0.3 s, only when generating

    return st


def _mutations(text: str) -> list[str]:
    """Deterministic variants of a recorded string that rewrites often get wrong."""
    return [v for v in dict.fromkeys(mutation_kinds(text)) if v is not None and v != text]


#: Separators put in the middle of a lower-cased recorded string (a fast path for "plain"
#: lowercase words often forgets the `-` or the space that the slow path handled).
_SEPARATORS = ("-", "_", " ", ".")


def mutation_kinds(text: str) -> list[str | None]:
    """Every kind of variant of `text`, in a fixed order (None: the kind does not apply),
    so that the systematic pass tries each kind on several recorded values."""
    middle = len(text) // 2
    lowered = text.lower()
    separated = [lowered[:middle] + sep + lowered[middle:] for sep in _SEPARATORS]
    digits: list[str | None] = list(_other_digits(text)) or [None] * 5
    # The other decimal separator ("0.5" -> "0,5"): ISO 8601 and most of Europe allow both.
    decimal = [text.replace(".", ",") if "." in text else None]
    decimal.append(text.replace(",", ".") if "," in text else None)
    return [
        text + "\n",
        " " + text + " ",
        text.upper(),
        text.lower(),
        text.swapcase(),
        text.title(),
        text.casefold(),
        text.strip(),
        text[:-1],
        text[1:],
        text * 2,
        text[::-1],
        "",
        *separated,
        *digits,
        *decimal,
    ]


#: ASCII digits to the same digits of other scripts: Arabic-Indic, fullwidth, Devanagari.
_DIGIT_SCRIPTS = tuple(
    str.maketrans("0123456789", digits)
    for digits in ("٠١٢٣٤٥٦٧٨٩", "０１２３４５６７８９", "०१२३४५६७८९")
)


def _other_digits(text: str) -> list[str]:
    r"""Where `text` has ASCII digits: the same number in other scripts (all of it, and only
    its first digit) and with a superscript after it, which ``str.isdigit`` and ``\d``
    accept and ``[0-9]`` does not. A rewrite from one test to the other shows on these."""
    first = next((i for i, ch in enumerate(text) if "0" <= ch <= "9"), None)
    if first is None:
        return []
    arabic, fullwidth, devanagari = (text.translate(table) for table in _DIGIT_SCRIPTS)
    mixed = text[:first] + text[first].translate(_DIGIT_SCRIPTS[2]) + text[first + 1 :]
    return [arabic, fullwidth, mixed, text + "²", devanagari]


def _recase(value: Any, change: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return change(value)
    if isinstance(value, (list, tuple, set, frozenset)):
        return type(value)(_recase(item, change) for item in value)
    return value


def case_changed(value: Any) -> list[Any]:
    """`value` with every string in it (containers too) upper-, lower- and swap-cased:
    the variants a case-sensitivity bug shows on, deduplicated, the unchanged left out."""
    variants: list[Any] = []
    for change in (str.upper, str.lower, str.swapcase):
        changed = _recase(value, change)
        if changed != value and changed not in variants:
            variants.append(changed)
    return variants


def _insert(text: str, position: int, character: str) -> str:
    cut = position % (len(text) + 1)
    return text[:cut] + character + text[cut:]


def _string_strategy(values: list[str]) -> Any:
    st = _hypothesis()
    specials = {ch for special in SPECIAL_CHARACTERS for ch in special}  # one code point each
    alphabet = sorted({ch for value in values for ch in value} | specials)
    longest = max((len(v) for v in values), default=0)
    strategies = [st.text(alphabet=st.sampled_from(alphabet), max_size=max(8, 2 * longest))]
    if values:
        recorded = st.sampled_from(values)
        distinct = list(dict.fromkeys(values))[:50]
        mutated = [m for v in distinct for m in _mutations(v)]
        strategies += [
            recorded,
            st.builds(
                _insert, recorded, st.integers(0, 10_000), st.sampled_from(SPECIAL_CHARACTERS)
            ),
        ]
        if mutated:
            strategies.append(st.sampled_from(mutated))
        digits = [d for v in distinct for d in _other_digits(v)]
        if digits:  # a branch of their own: isdigit/\d vs [0-9] is the commonest such bug
            strategies.append(st.sampled_from(digits))
    strategies.append(st.text(max_size=12))
    return st.one_of(strategies)


def _int_strategy(values: list[int]) -> Any:
    st = _hypothesis()
    biggest = max((abs(v) for v in values), default=0)
    # Keep magnitudes near the recorded ones: an int that sizes a loop must not hang it.
    bound = max(100, 10 * biggest) if biggest <= SMALL_INT_LIMIT else 2**64
    boundaries = {0, 1, -1, 2, bound, -bound}
    boundaries |= {v + d for v in values[:50] for d in (-1, 1)}
    strategies = [st.sampled_from(sorted(boundaries)), st.integers(-bound, bound)]
    if values:
        strategies.insert(0, st.sampled_from(values))
    return st.one_of(strategies)


def _float_strategy(values: list[float]) -> Any:
    st = _hypothesis()
    specials = [0.0, -0.0, 0.1, 1e-9, 1e300, math.inf, -math.inf, math.nan]
    specials += [v * 10 for v in values[:20]] + [-v for v in values[:20]]
    strategies = [st.sampled_from(specials), st.floats(allow_nan=True, allow_infinity=True)]
    if values:
        strategies.insert(0, st.sampled_from(values))
    return st.one_of(strategies)


def _sequence_strategy(values: list[Any], kind: type, depth: int) -> Any:
    st = _hypothesis()
    elements = [item for value in values for item in value]
    longest = max((len(v) for v in values), default=0)
    strategies = [st.sampled_from(values)]
    variants = [kind(v[:-1]) for v in values[:50] if v]
    variants += [kind(list(v)[::-1]) for v in values[:50] if len(v) > 1]
    variants += [kind([*v, v[0]]) for v in values[:50] if v]
    variants += [changed for v in values[:50] for changed in case_changed(v)]
    if variants:
        strategies.append(st.sampled_from(variants))
    if elements:
        element = strategy_for(elements, depth + 1)
        strategies.append(st.lists(element, max_size=max(4, 2 * longest)).map(kind))
    strategies.append(st.just(kind()))
    return st.one_of(strategies)


def _tuple_strategy(values: list[tuple[Any, ...]], depth: int) -> Any:
    st = _hypothesis()
    lengths = {len(v) for v in values}
    if len(lengths) != 1 or not values[0]:
        return _sequence_strategy(values, tuple, depth)
    # Fixed-length tuples are records: vary each field on its own.
    columns = [[v[i] for v in values] for i in range(len(values[0]))]
    fields = st.tuples(*(strategy_for(column, depth + 1) for column in columns))
    recased = [changed for v in values[:50] for changed in case_changed(v)]
    if recased:
        return st.one_of(st.sampled_from(values), fields, st.sampled_from(recased))
    return st.one_of(st.sampled_from(values), fields)


def _hashable(values: list[Any]) -> bool:
    try:
        for value in values:
            hash(value)
    except TypeError:
        return False
    return True


def _dict_strategy(values: list[dict[Any, Any]], depth: int) -> Any:
    st = _hypothesis()
    keys = [k for value in values for k in value]
    items = [v for value in values for v in value.values()]
    strategies = [st.sampled_from(values), st.just({})]
    if keys and _hashable(keys):
        largest = max(len(v) for v in values)
        pairs = st.dictionaries(
            strategy_for(keys, depth + 1).filter(_is_hashable),
            strategy_for(items, depth + 1),
            max_size=max(4, 2 * largest),
        )
        strategies.append(pairs)
    return st.one_of(strategies)


def _is_hashable(value: object) -> bool:
    return _hashable([value])


def _set_strategy(values: list[Any], kind: type, depth: int) -> Any:
    st = _hypothesis()
    elements = [item for value in values for item in sorted(value, key=repr)]
    strategies = [st.sampled_from(values), st.just(kind())]
    recased = [changed for v in values[:50] for changed in case_changed(v)]
    if recased:
        strategies.append(st.sampled_from(recased))
    if elements:
        element = strategy_for(elements, depth + 1).filter(_is_hashable)
        strategies.append(st.lists(element, max_size=max(4, 2 * len(elements))).map(kind))
    return st.one_of(strategies)


def strategy_for(values: Sequence[Any], depth: int = 0) -> Any:
    """A hypothesis strategy for one argument, from the values it was called with."""
    st = _hypothesis()
    if depth > MAX_DEPTH:
        return st.sampled_from(list(values)) if values else st.none()
    by_type: dict[type, list[Any]] = {}
    for value in values:
        by_type.setdefault(type(value), []).append(value)
    builders: dict[type, Callable[[list[Any]], Any]] = {
        type(None): lambda _v: st.none(),
        bool: lambda _v: st.booleans(),
        int: _int_strategy,
        float: _float_strategy,
        str: _string_strategy,
        bytes: lambda v: st.one_of(st.sampled_from(v), st.binary(max_size=32)),
        list: lambda v: _sequence_strategy(v, list, depth),
        tuple: lambda v: _tuple_strategy(v, depth),
        dict: lambda v: _dict_strategy(v, depth),
        set: lambda v: _set_strategy(v, set, depth),
        frozenset: lambda v: _set_strategy(v, frozenset, depth),
    }
    strategies = [builders[kind](found) for kind, found in by_type.items() if kind in builders]
    return st.one_of(strategies) if strategies else st.none()


def _draw(strategy: Any, count: int) -> list[Any]:
    """`count` examples of `strategy`, the same ones on every run (derandomized)."""
    from hypothesis import HealthCheck, Phase, given, settings  # noqa: PLC0415

    examples: list[Any] = []

    @settings(
        max_examples=count,
        derandomize=True,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        deadline=None,
    )
    @given(strategy)
    def collect(example: Any) -> None:
        examples.append(example)

    with warnings.catch_warnings(), _without_local_constants():
        warnings.simplefilter("ignore")
        collect()
    return examples


_CONSTANTS_LOCK = threading.Lock()


@contextlib.contextmanager
def _without_local_constants() -> Iterator[None]:
    """Hypothesis without the constants it reads from the source of the "local" modules
    loaded in this process (hypothesis >= 6.131): with them, what it draws depends on
    which of the runner's own modules happen to be imported, and on their literals, so
    that the same recording gave different inputs in different processes. Only the
    recorded values and the fixed characters above should shape what is drawn."""
    try:
        from hypothesis.internal.conjecture import providers  # noqa: PLC0415
    except ImportError:  # pragma: no cover - an older hypothesis has no such constants
        yield
        return
    original = getattr(providers, "_get_local_constants", None)
    empty = getattr(providers, "Constants", None)
    cache = getattr(getattr(providers, "CONSTANTS_CACHE", None), "cache", None)
    if original is None or empty is None:  # pragma: no cover - another hypothesis
        yield
        return
    with _CONSTANTS_LOCK:
        providers._get_local_constants = empty  # no public switch
        if cache is not None:
            cache.clear()
        try:
            yield
        finally:
            providers._get_local_constants = original
            if cache is not None:
                cache.clear()


# -- generation -------------------------------------------------------------------------------


_Drawn = tuple[int | None, dict[str, Any], dict[str, int], dict[str, tuple[str, str]]]


def _group_strategy(group: _Group, calls: Sequence[Call], kept: int) -> Any | None:
    """A strategy of (base, values, take, link) for one shape of call, or None when
    nothing can vary."""
    st = _hypothesis()
    bases = [i for i in group.indices if i < kept]
    if not group.generated or (not bases and set(group.generated) != set(group.keys)):
        return None
    if not bases and not _positional_complete(group.keys):
        return None
    recorded = {key: [decode(calls[i].args[key]) for i in group.indices] for key in group.generated}
    columns = {key: strategy_for(values) for key, values in recorded.items()}
    if bases and len(group.generated) < len(group.keys):
        return _object_strategy(group, calls, bases, columns, recorded)
    base = st.sampled_from(bases) if bases else st.none()
    return st.builds(lambda b, values: (b, values, {}, {}), base, st.fixed_dictionaries(columns))


# -- calls with objects: recombined, linked, and related values --------------------------------

#: Nodes never taken for a relation between arguments: too common to mean anything, or
#: relative to where they sit in the value.
_UNLINKABLE = frozenset({"none", "bool", "cycle", "truncated"})
#: How many scalars of a call's objects are offered as related values, and their longest.
MAX_RELATED = 24
MAX_RELATED_LENGTH = 200
_ELEMENTS_SCANNED = 32


def _fields(node: Encoded) -> Mapping[str, Encoded]:
    if isinstance(node, Mapping) and node.get("t") == "object":
        fields = node.get("fields")
        if isinstance(fields, Mapping):
            return fields
    return {}


def links(
    group_keys: Sequence[str], objects: Sequence[str], calls: Sequence[Call]
) -> list[tuple[str, str, str]]:
    """(key, other key, attribute) where a recorded call passed, as argument `key`, a value
    equal to that attribute of its argument `other key` (``tok.match(tok.ttype, ...)``),
    for the object arguments `objects`; in the order first seen."""
    found: dict[tuple[str, str, str], None] = {}
    for call in calls:
        for key in objects:
            node = call.args.get(key)
            if not isinstance(node, Mapping) or node.get("t") in _UNLINKABLE:
                continue
            for source in group_keys:
                if source == key:
                    continue
                for name, value in _fields(call.args.get(source)).items():
                    if value == node:
                        found.setdefault((key, source, name), None)
    return list(found)


def _scalars(node: Encoded, depth: int = 0) -> Iterator[Any]:
    """The str and int values in an argument: itself, an object's attributes, the items of
    a container (one level into an object's attributes; other objects are not entered)."""
    if not isinstance(node, Mapping):
        return
    tag = node.get("t")
    if tag == "str" and len(node["v"]) <= MAX_RELATED_LENGTH:
        yield str(node["v"])
    elif tag == "int" and "v" in node:
        yield int(node["v"])
    elif tag in ("list", "tuple", "set", "frozenset") and depth < 2:
        for item in node["items"][:_ELEMENTS_SCANNED]:
            if isinstance(item, Mapping) and item.get("t") in ("str", "int"):
                yield from _scalars(item, depth + 1)
    elif tag == "object" and depth == 0:
        for value in _fields(node).values():
            yield from _scalars(value, depth + 1)


def related_values(arguments: Mapping[str, Encoded], exclude: str) -> tuple[list[str], list[int]]:
    """The strings and ints found in the other arguments of a call (their objects' state
    included), first seen first, at most `MAX_RELATED` in all."""
    strings: dict[str, None] = {}
    ints: dict[int, None] = {}
    for key, node in arguments.items():
        if key == exclude:
            continue
        for value in _scalars(node):
            if len(strings) + len(ints) >= MAX_RELATED:
                break
            if isinstance(value, str):
                strings.setdefault(value, None)
            else:
                ints.setdefault(value, None)
    return list(strings), list(ints)


def _near(text: str) -> list[str]:
    return [text + " ", " " + text, text[:-1], text + text[-1:], ""]


def _shapes(values: Sequence[Any]) -> list[tuple[type, Callable[[Any], Any]]]:
    """How a related scalar is put in this argument: as itself where the recording has a
    str or int, as the one item of a list/tuple/set where it has those of strs or ints."""
    shapes: dict[tuple[type, type], Callable[[Any], Any]] = {}
    for value in values:
        kind = type(value)
        if kind in (str, int):
            shapes.setdefault((kind, kind), _itself)
        elif kind in (list, tuple, set, frozenset):
            for item in list(value)[:_ELEMENTS_SCANNED]:
                if type(item) in (str, int):
                    shapes.setdefault((type(item), kind), functools.partial(_alone, kind))
    return [(element, wrap) for (element, _), wrap in shapes.items()]


def _itself(value: Any) -> Any:
    return value


def _alone(kind: type, value: Any) -> Any:
    return kind([value])


def _related_strategy(
    shapes: Sequence[tuple[type, Callable[[Any], Any]]], strings: list[str], ints: list[int]
) -> Any | None:
    """Related values in this argument's shapes: the same, case changed, or slightly off."""
    st = _hypothesis()
    families: list[list[Any]] = []
    for element, wrap in shapes:
        if element is str and strings:
            recased = [wrap(c) for s in strings for c in case_changed(s)]
            if recased:  # as likely as all the others: case is what this is most for
                families.append(recased)
            families.append(
                [wrap(s) for s in strings] + [wrap(n) for s in strings for n in _near(s)]
            )
        elif element is int and ints:
            families.append([wrap(i) for i in ints])
            families.append([wrap(i + d) for i in ints for d in (-1, 1)])
    if not families:
        return None
    return st.one_of([st.sampled_from(family) for family in families])


def _object_strategy(
    group: _Group,
    calls: Sequence[Call],
    bases: list[int],
    columns: Mapping[str, Any],
    recorded: Mapping[str, list[Any]],
) -> Any:
    """Calls of a shape with object arguments, which only the pickles can rebuild.

    Each draw starts from a recorded call (`base`); an object argument may be replaced by
    an attribute of another argument, where some recorded call shows that relation
    (`link`), or, when there are several, by the same argument of another recorded call
    (`take`); each builtin argument is then drawn either from its own strategy or from the
    values related to the objects now in the call.
    """
    st = _hypothesis()
    objects = [k for k in group.keys if k not in group.generated]
    found = links(group.keys, objects, [calls[i] for i in group.indices])
    shapes = {key: _shapes(values) for key, values in recorded.items()}

    def draw(data: Any) -> _Drawn:
        base = data(st.sampled_from(bases))
        arguments = dict(calls[base].args)
        link: dict[str, tuple[str, str]] = {}
        usable = [(k, o, a) for k, o, a in found if a in _fields(arguments.get(o))]
        if usable:
            chosen = data(st.sampled_from([None, *usable, *usable, *usable]))
            if chosen is not None:
                key, source, name = chosen
                link[key] = (source, name)
        take: dict[str, int] = {}
        if len(objects) > 1:
            for key in objects:
                if key not in link and data(st.booleans()):
                    other = data(st.sampled_from(bases))
                    if other != base:
                        take[key] = other
                        arguments[key] = calls[other].args[key]
        for key, (source, name) in link.items():
            arguments[key] = _fields(arguments[source])[name]
        values: dict[str, Any] = {}
        for key in group.generated:
            strings, ints = related_values(arguments, exclude=key)
            related = _related_strategy(shapes[key], strings, ints)
            if related is not None and data(st.booleans()):
                values[key] = data(related)
            else:
                values[key] = data(columns[key])
        return base, values, take, link

    return st.composite(draw)()


def generate(calls: Sequence[Call], kept: int, count: int) -> list[Spec]:
    """Up to `count` distinct generated calls, shared out over the shapes of call.

    `kept`: how many leading recorded calls have pickled arguments (the recorder's
    ``inputs`` count for the target); only those can serve as a base.
    """
    groups = [(g, s) for g in _groups(calls) if (s := _group_strategy(g, calls, kept)) is not None]
    if not groups or count <= 0:
        return []
    total = sum(len(g.indices) for g, _ in groups)
    specs: list[Spec] = []
    seen: set[str] = set()
    for group, strategy in groups:
        share = max(1, round(count * len(group.indices) / total))
        systematic = _systematic(group, calls, kept, share // SYSTEMATIC_SHARE)
        drawn = _draw(strategy, share - len(systematic))
        for base, values, take, link in [*systematic, *drawn]:
            try:
                encoded = {key: encode(value) for key, value in values.items()}
            except NotGenerated:
                continue
            size = call_size(encoded)
            spec = Spec(base, encoded, origin="generated", size=size, take=take, link=link)
            key = repr(spec.to_json())
            if key not in seen and not _is_recorded(spec, calls):
                seen.add(key)
                specs.append(spec)
    return specs[:count]


#: The share of a shape's generated calls given to the systematic pass (1 in this many).
SYSTEMATIC_SHARE = 4
#: How many recorded values each kind of string variant is tried on.
VALUES_PER_KIND = 2


def _systematic(group: _Group, calls: Sequence[Call], kept: int, budget: int) -> list[_Drawn]:
    """Each kind of string variant (mutation_kinds) tried on the first recorded values it
    applies to, before any random draw: a bug that one kind shows is found on every run,
    whatever hypothesis draws. The other arguments stay as recorded."""
    bases = [i for i in group.indices if i < kept]
    complete = set(group.generated) == set(group.keys)
    if not bases and not (complete and _positional_complete(group.keys)):
        return []
    usable = bases or group.indices
    rounds: list[list[_Drawn]] = [[] for _ in range(VALUES_PER_KIND)]
    for key in group.generated:
        texts = [(i, decode(calls[i].args[key])) for i in usable]
        texts = [(i, t) for i, t in texts if isinstance(t, str)]
        if not texts:
            continue
        kinds = {i: mutation_kinds(t) for i, t in texts}
        for kind in range(len(next(iter(kinds.values())))):
            tried: set[str] = set()
            for i, text in texts:
                variant = kinds[i][kind]
                if variant is None or variant == text or variant in tried:
                    continue
                values = {k: decode(calls[i].args[k]) for k in group.generated}
                values[key] = variant
                rounds[len(tried)].append((i if bases else None, values, {}, {}))
                tried.add(variant)
                if len(tried) >= VALUES_PER_KIND:
                    break
    return [drawn for one in rounds for drawn in one][:budget]  # every kind once, then again


def _is_recorded(spec: Spec, calls: Sequence[Call]) -> bool:
    """A generated call identical to its base recorded call adds nothing."""
    if spec.base is None or spec.take or spec.link:
        return False
    recorded = calls[spec.base].args
    return all(recorded.get(key) == value for key, value in spec.set.items())


def largest(calls: Sequence[Call], kept: int, limit: int = LARGEST_CALLS) -> list[int]:
    """Indices of the largest recorded calls (ties: first recorded first)."""
    sized = [(call_size(call.args), i) for i, call in enumerate(calls)]
    usable = [
        (s, i) for s, i in sized if i < kept or all(_decodable(calls[i], k) for k in calls[i].args)
    ]
    usable.sort(key=lambda pair: (-pair[0], pair[1]))
    return [i for _, i in usable[:limit]]


def scaled(
    calls: Sequence[Call],
    kept: int,
    factors: Sequence[int] = DEFAULT_SCALE_FACTORS,
    max_size: int = DEFAULT_MAX_SCALED_SIZE,
) -> list[Spec]:
    """The largest recorded calls with every sized argument repeated by each factor.

    A plain builtin argument is repeated here (``set``); any other sized one (a list of
    objects) by the harness from the pickle (``repeat``). Sizes are capped at `max_size`.
    """
    specs: list[Spec] = []
    for index in largest(calls, kept):
        call = calls[index]
        sized = {
            k: n for k in call.args if (n := size_of(call.args[k])) and _tag(call, k) in _SIZED
        }
        if not sized:
            continue
        for factor in factors:
            spec = _scaled_call(call, index if index < kept else None, sized, factor, max_size)
            if spec is not None:
                specs.append(spec)
    return specs


def _tag(call: Call, key: str) -> str:
    node = call.args[key]
    return str(node.get("t")) if isinstance(node, Mapping) else ""


def _scaled_call(
    call: Call, base: int | None, sized: Mapping[str, int], factor: int, max_size: int
) -> Spec | None:
    values: dict[str, Encoded] = {}
    repeat: dict[str, int] = {}
    size = 0
    for key, length in sized.items():
        times = min(factor, max_size // length)
        if times < 2:
            continue
        size = max(size, length * times)
        if _decodable(call, key):
            values[key] = encode(decode(call.args[key]) * times)
        elif base is not None:
            repeat[key] = times
    if not values and not repeat:
        return None
    if base is None:  # every argument must then be given explicitly
        for key in call.args:
            values.setdefault(key, call.args[key])
    return Spec(base, values, repeat, origin=f"x{factor}", size=size)


# -- shrinking --------------------------------------------------------------------------------


def _smaller(value: Any) -> Iterator[Any]:  # noqa: PLR0912 - one branch per kind
    """Simpler values than `value`, simplest first (the shrinker tries them in order)."""
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, int):
        for candidate in (0, 1, -1, value // 2, value - 1 if value > 0 else value + 1):
            if abs(candidate) < abs(value) or (candidate == -value and value < 0):
                yield candidate
    elif isinstance(value, float):
        if math.isfinite(value) and value != int(value):
            yield float(int(value))
        if value not in (0.0,):
            yield 0.0
    elif isinstance(value, (str, bytes)):
        yield from _smaller_text(value)
    elif isinstance(value, (list, tuple)):
        kind = type(value)
        n = len(value)
        if n:
            yield kind(value[: n // 2])
            yield kind(value[n // 2 :])
            for i in range(min(n, 8)):
                yield kind([*value[:i], *value[i + 1 :]])
            for i, item in enumerate(value[:8]):
                for simpler in list(_smaller(item))[:2]:
                    yield kind([*value[:i], simpler, *value[i + 1 :]])
    elif isinstance(value, (set, frozenset)):
        items = sorted(value, key=repr)
        for i in range(min(len(items), 8)):
            yield type(value)(items[:i] + items[i + 1 :])
    elif isinstance(value, dict):
        keys = list(value)
        for i in range(min(len(keys), 8)):
            yield {k: v for k, v in value.items() if k != keys[i]}


def _smaller_text(value: str | bytes) -> Iterator[Any]:
    n = len(value)
    if not n:
        return
    yield value[: n // 2]
    yield value[n // 2 :]
    for i in range(min(n, 16)):
        yield value[:i] + value[i + 1 :]  # type: ignore[operator]  # both halves share a type
    if isinstance(value, str):
        text: str = value
        for i, ch in enumerate(text[:16]):
            if ch not in "a0":
                yield text[:i] + ("0" if ch.isdigit() else "a") + text[i + 1 :]


def _weight(spec: Spec) -> tuple[int, int]:
    """How big a spec's generated values are: size first, then the length of their text."""
    return spec.size, sum(len(repr(node)) for node in spec.set.values())


def simplifications(spec: Spec, limit: int = 64) -> list[Spec]:
    """Specs one step simpler than `spec` (one argument simplified), smallest first."""
    variants: list[Spec] = []
    for key, node in spec.set.items():
        try:
            value = decode(node)
        except NotGenerated:
            continue
        for simpler in _smaller(value):
            try:
                encoded = encode(simpler)
            except NotGenerated:
                continue
            values = {**spec.set, key: encoded}
            variants.append(replace(spec, set=values, size=call_size(values)))
    variants.sort(key=_weight)
    return variants[:limit]


def shrink(
    spec: Spec, differs: Callable[[list[Spec]], int | None], *, rounds: int = 10
) -> tuple[Spec, int]:
    """The smallest spec found that still differs, and the rounds it took.

    `differs(batch)` runs both arms on `batch` and returns the index of the first spec
    whose outcomes differ, or None. Each round tries one batch of simplifications.
    """
    current = spec
    for done in range(rounds):
        batch = simplifications(current)
        if not batch:
            return current, done
        found = differs(batch)
        if found is None:
            return current, done + 1
        current = batch[found]
    return current, rounds
