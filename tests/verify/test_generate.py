"""Generated and scaled-up calls derived from recorded calls (`runner/verify/generate.py`):
the tagged-JSON round trip, what generation produces for a string-taking target, methods
whose instance stays with the pickle, scaling, and shrinking to the smallest input."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from runner.verify import generate
from runner.verify.behaviour import Call, Encoded
from runner.verify.generate import NotGenerated, Spec
from tests.verify.test_differential import token_calls

REPO = Path(__file__).resolve().parents[2]
NON_ASCII_DIGITS = "²³١٣۵०߁𝟙"


def _call(*positional: Encoded, seq: int = 0, **keywords: Encoded) -> Call:
    """A recorded call whose arguments are given as tagged nodes (the recorder's format)."""
    args: dict[str, Encoded] = {str(i): node for i, node in enumerate(positional)}
    args.update(keywords)
    return Call("tests/test_mod.py::test_it", seq, args, "return", {"t": "bool", "v": True})


def _str(value: str) -> Encoded:
    return {"t": "str", "v": value}


def _texts(specs: list[Spec], key: str = "0") -> list[str]:
    return [generate.decode(spec.set[key]) for spec in specs if key in spec.set]


STRING_CALLS = [_call(_str("12"), seq=0), _call(_str("7"), seq=1), _call(_str("abc"), seq=2)]


# -- tagged JSON <-> builtins -----------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        False,
        0,
        -7,
        2**53 - 1,
        2**53,  # the first int the recorder writes as hex
        -(2**70),
        1.5,
        -0.0,
        math.inf,
        -math.inf,
        "",
        "a²\n\x00😀",
        b"",
        b"\x00\xffab",
        [],
        [1, "x", [2.5, None]],
        (),
        (1, ("a", b"b")),
        {"a", "b"},
        frozenset({1, 2}),
        {},
        {"k": [1, 2], 3: (None,)},
    ],
    ids=repr,
)
def test_decode_encode_round_trip(value: object) -> None:
    node = generate.encode(value)
    json.dumps(node)  # tagged JSON, nothing else
    back = generate.decode(node)
    assert back == value
    assert type(back) is type(value)
    assert generate.encode(back) == node


def test_decode_of_recorder_nodes() -> None:
    assert generate.decode({"t": "int", "hex": "ff"}) == 255
    assert generate.decode({"t": "int", "hex": "-20000000000000"}) == -(2**53)
    assert math.isnan(generate.decode({"t": "float", "v": "nan"}))
    assert generate.decode({"t": "bytes", "v": "00ff"}) == b"\x00\xff"
    pairs = {"t": "dict", "items": [[_str("a"), {"t": "int", "v": 1}]]}
    assert generate.decode(pairs) == {"a": 1}


def test_encode_matches_the_recorder_on_builtins() -> None:
    """The generated values must be tagged exactly as the harness's recorder tags them."""
    sys.path.insert(0, str(REPO / "runner" / "verify"))
    try:
        import _record_plugin as recorder  # a standalone module, by path
    finally:
        sys.path.pop(0)
    for value in [None, True, 3, -(2**60), 2.5, "x²", b"\x01", [1, (2, "a")], {"k": 1.0}]:
        assert generate.encode(value) == recorder.encode(value), value


@pytest.mark.parametrize(
    "node",
    [
        {"t": "object", "type": "pkg.mod.Box", "fields": {"items": {"t": "list", "items": []}}},
        {"t": "str", "type": "pkg.mod.Name", "v": "abc"},  # a str subclass
        {"t": "tuple", "type": "pkg.mod.Point", "items": [{"t": "int", "v": 1}]},  # namedtuple
        {"t": "dict", "type": "collections.OrderedDict", "items": []},
        {"t": "enum", "type": "pkg.mod.Color", "name": "RED"},
        {"t": "unknown", "type": "builtins.generator", "repr": "<generator>"},
        {"t": "bytearray", "v": "00"},
        {"t": "truncated", "type": "builtins.list", "reason": "too big"},
        {"t": "list", "items": [{"t": "object", "type": "pkg.mod.Box", "fields": {}}]},
        "not a node",
        None,
    ],
    ids=repr,
)
def test_decode_refuses_what_only_the_pickle_can_rebuild(node: Any) -> None:
    with pytest.raises(NotGenerated):
        generate.decode(node)


@pytest.mark.parametrize("value", [object(), bytearray(b"x"), complex(1, 2), [1, object()]])
def test_encode_refuses_non_builtins(value: object) -> None:
    with pytest.raises(NotGenerated):
        generate.encode(value)


def test_sizes() -> None:
    assert generate.size_of(_str("abcd")) == 4
    assert generate.size_of({"t": "bytes", "v": "00ff00"}) == 3
    assert generate.size_of(generate.encode([1, 2, 3])) == 3
    assert generate.size_of(generate.encode({"a": 1})) == 1
    assert generate.size_of({"t": "int", "v": 10**6}) == 0
    box = {"t": "object", "type": "m.Box", "fields": {"items": generate.encode([0] * 7)}}
    assert generate.size_of(box) == 7
    assert generate.call_size({"0": _str("ab"), "k": generate.encode([0] * 5)}) == 5
    assert generate.call_size({}) == 0


# -- generation -------------------------------------------------------------------------------


def test_generated_strings_carry_the_characters_rewrites_get_wrong() -> None:
    specs = generate.generate(STRING_CALLS, kept=3, count=200)
    texts = _texts(specs)
    assert 50 <= len(specs) <= 200
    assert all(set(spec.set) == {"0"} and not spec.repeat for spec in specs)
    assert all(spec.origin == "generated" for spec in specs)
    assert {spec.base for spec in specs} == {0, 1, 2}
    assert any(ch in text for text in texts for ch in NON_ASCII_DIGITS)
    assert any("²" in text or "١" in text or "٣" in text for text in texts)
    assert any(text.endswith("\n") for text in texts)  # `$` matches before a final newline
    assert any(ch in text for text in texts for ch in " \t\u00a0\u2003\u3000")
    assert "" in texts
    assert any(text.isdigit() and not text.isascii() for text in texts), "the isdigit trap"
    assert {"12", "7", "abc"} & set(texts)  # recorded values, on other bases


def test_generated_specs_are_distinct_and_sized() -> None:
    specs = generate.generate(STRING_CALLS, kept=3, count=200)
    as_json = [json.dumps(spec.to_json(), sort_keys=True) for spec in specs]
    assert len(set(as_json)) == len(as_json)
    for spec in specs:
        assert spec.size == generate.call_size(spec.set)
        # A generated call identical to its own recorded base adds nothing.
        assert spec.set["0"] != STRING_CALLS[spec.base].args["0"]  # type: ignore[index]


def test_generation_is_deterministic() -> None:
    first = generate.generate(STRING_CALLS, kept=3, count=100)
    second = generate.generate(STRING_CALLS, kept=3, count=100)
    assert [s.to_json() for s in first] == [s.to_json() for s in second]
    assert generate.generate(STRING_CALLS, kept=3, count=0) == []
    assert generate.generate([], kept=0, count=50) == []


_SET_PROGRAM = """
import hashlib, json, sys
sys.path.insert(0, sys.argv[1])
from runner.verify import generate
from runner.verify.behaviour import Call
def recorded(*words):
    # The recorder writes set items sorted.
    return {"t": "set", "items": [{"t": "str", "v": w} for w in sorted(words)]}
calls = [
    Call("t", 0, {"0": recorded("apple", "pear", "fig", "kiwi")}, "return"),
    Call("t", 1, {"0": recorded("plum", "lime")}, "return"),
]
specs = generate.generate(calls, 0, 30)
print(hashlib.sha1(json.dumps([s.to_json() for s in specs]).encode()).hexdigest())
"""


def test_generation_of_sets_does_not_depend_on_the_hash_seed() -> None:
    """ "pure and deterministic": the same recording gives the same specs in every process.

    The runner's own process has randomized string hashing; a set's iteration order (its
    elements sampled, its items encoded) must not leak into the specs.
    """
    digests = set()
    for seed in ("1", "2", "3"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run(
            [sys.executable, "-c", _SET_PROGRAM, str(REPO)],
            capture_output=True,
            text=True,
            env=env,
            check=True,
            timeout=120,
        )
        digests.add(done.stdout.strip())
    assert len(digests) == 1


def test_only_the_first_kept_calls_serve_as_bases() -> None:
    specs = generate.generate(STRING_CALLS, kept=1, count=60)
    assert specs
    assert {spec.base for spec in specs} == {0}
    # Nothing pickled: every argument is a builtin, so calls are built from `set` alone.
    unpickled = generate.generate(STRING_CALLS, kept=0, count=60)
    assert unpickled
    assert {spec.base for spec in unpickled} == {None}
    assert all(set(spec.set) == {"0"} for spec in unpickled)


def _box(items: list[int]) -> Encoded:
    return {"t": "object", "type": "pkg.mod.Box", "fields": {"items": generate.encode(items)}}


METHOD_CALLS = [
    _call(_box([1, 2, 3]), {"t": "int", "v": 2}, seq=0),
    _call(_box([4, 5]), {"t": "int", "v": 9}, seq=1),
]


def test_methods_keep_the_instance_from_the_pickle() -> None:
    specs = generate.generate(METHOD_CALLS, kept=2, count=50)
    assert specs
    for spec in specs:
        assert spec.base in (0, 1)
        assert set(spec.set) == {"1"}  # only the builtin argument is replaced
        assert isinstance(generate.decode(spec.set["1"]), int)
    assert any(generate.decode(spec.set["1"]) in (0, -1, 1) for spec in specs)


def test_methods_without_pickled_instances_are_not_generated() -> None:
    assert generate.generate(METHOD_CALLS, kept=0, count=50) == []


def test_keyword_arguments_and_shapes_of_call() -> None:
    calls = [
        _call(_str("a b"), sep=_str(" "), seq=0),
        _call(_str("x,y"), sep=_str(","), seq=1),
        _call(_str("solo"), seq=2),
    ]
    specs = generate.generate(calls, kept=3, count=90)
    shapes = {tuple(sorted(spec.set)) for spec in specs}
    assert shapes == {("0", "sep"), ("0",)}
    for spec in specs:
        assert tuple(sorted(spec.set)) == tuple(sorted(calls[spec.base].args))  # type: ignore[index]


def test_numbers_in_other_scripts_are_drawn_from_recorded_digits() -> None:
    # parse's int_convert: a `str.isdigit()` fast path accepts '٣٤' where [0-9] does not.
    assert generate._other_digits("-42") == ["-٤٢", "-４２", "-४2", "-42²", "-४२"]
    assert generate._other_digits("abc") == []
    calls = [_call(_str(text), seq=i) for i, text in enumerate(["1", "42", "-7", "0x1f"])]
    texts = _texts(generate.generate(calls, kept=4, count=60))
    foreign = [
        t for t in texts if any(ch in t for ch in "٠١٢٣٤٥٦٧٨٩０１２３４５６７８９०१२३४५६७८९")
    ]
    assert len(foreign) >= 5


def test_every_kind_of_variant_is_tried_before_any_random_draw() -> None:
    # Found by luck before: a lowercase fast path keeping '-' (inflection underscore), a
    # dropped decimal comma (isodate parse_duration). Now every run tries them first.
    calls = [_call(_str(t), seq=i) for i, t in enumerate(["DeviceType", "P0.5Y", "x9"])]
    texts = _texts(generate.generate(calls, kept=3, count=120))
    assert "devic-etype" in texts  # lower-cased, a separator in the middle
    assert "P0,5Y" in texts  # the other decimal separator
    assert "P٠.٥Y" in texts  # the digits of another script
    first = _texts(generate.generate(calls, kept=3, count=120))
    assert first[:3] == ["DeviceType\n", " DeviceType ", "DEVICETYPE"]  # the kinds, in order


def test_one_call_with_an_object_does_not_stop_generation_for_the_others() -> None:
    # isodate's suite passes a date to parse_duration once, to check the TypeError; the
    # 80 string calls must still get generated strings (they got none).
    date = {"t": "repr", "type": "datetime.date", "v": "datetime.date(2000, 1, 1)"}
    calls = [*STRING_CALLS, _call(date, seq=3)]
    specs = generate.generate(calls, kept=4, count=60)
    assert len(specs) > 30
    assert all(spec.base != 3 and set(spec.set) == {"0"} for spec in specs)
    assert all(isinstance(text, str) for text in _texts(specs))


def test_boundary_numbers_and_containers() -> None:
    calls = [
        _call(generate.encode([3, 1, 2]), {"t": "int", "v": 5}, {"t": "float", "v": "0.5"}),
    ]
    specs = generate.generate(calls, kept=0, count=200)
    lists = [generate.decode(s.set["0"]) for s in specs]
    ints = [generate.decode(s.set["1"]) for s in specs]
    floats = [generate.decode(s.set["2"]) for s in specs]
    assert [] in lists
    assert any(len(value) > 3 for value in lists)
    assert {0, -1, 4, 6} & set(ints)
    assert all(abs(i) <= 100 for i in ints)  # an int that sizes a loop must not hang it
    assert any(math.isnan(f) for f in floats)
    assert any(math.isinf(f) for f in floats)


def test_none_where_the_recording_has_it() -> None:
    calls = [_call(_str("a"), seq=0), _call({"t": "none"}, seq=1)]
    values = [generate.decode(s.set["0"]) for s in generate.generate(calls, kept=0, count=80)]
    assert None in values
    assert any(isinstance(v, str) for v in values)


# -- scaling ----------------------------------------------------------------------------------


def test_scaled_repeats_sized_builtins_x10_and_x100() -> None:
    calls = [
        _call(_str("ab"), {"t": "int", "v": 3}, seq=0),
        _call(_str("hello"), {"t": "int", "v": 4}, seq=1),
    ]
    specs = generate.scaled(calls, kept=2)
    by_origin = {(spec.base, spec.origin): spec for spec in specs}
    x10 = by_origin[(1, "x10")]
    assert generate.decode(x10.set["0"]) == "hello" * 10
    assert "1" not in x10.set  # an int is not sized: the base's value stays
    assert x10.size == 50
    x100 = by_origin[(1, "x100")]
    assert generate.decode(x100.set["0"]) == "hello" * 100
    assert x100.size == 500
    assert generate.decode(by_origin[(0, "x10")].set["0"]) == "ab" * 10
    # The largest recorded call comes first.
    assert specs[0].base == 1


def test_scaled_respects_the_maximum_size() -> None:
    calls = [_call(_str("x" * 40))]
    specs = generate.scaled(calls, kept=1, factors=(10, 100), max_size=1000)
    sizes = [(spec.origin, spec.size, len(generate.decode(spec.set["0"]))) for spec in specs]
    assert sizes == [("x10", 400, 400), ("x100", 1000, 1000)]
    assert all(spec.size <= 1000 for spec in specs)
    # Not even doubled within the cap: no scaled call at all.
    assert generate.scaled([_call(_str("x" * 600))], kept=1, max_size=1000) == []


def test_scaled_objects_are_repeated_by_the_harness() -> None:
    objects = {"t": "list", "type": "pkg.mod.Items", "items": [_box([1])] * 3}
    calls = [_call(objects, _str("ab"))]
    specs = generate.scaled(calls, kept=1, factors=(10,))
    assert len(specs) == 1
    assert specs[0].repeat == {"0": 10}
    assert generate.decode(specs[0].set["1"]) == "ab" * 10
    # Without a pickle there is nothing to repeat an object list from.
    assert generate.scaled(calls, kept=0, factors=(10,)) == []


def test_scaled_without_pickles_gives_every_argument() -> None:
    calls = [_call(_str("abc"), {"t": "int", "v": 2}, seq=0)]
    specs = generate.scaled(calls, kept=0, factors=(10,))
    assert len(specs) == 1
    assert specs[0].base is None
    assert generate.decode(specs[0].set["0"]) == "abc" * 10
    assert specs[0].set["1"] == {"t": "int", "v": 2}


def test_largest_ranks_by_size_then_order() -> None:
    calls = [_call(_str("a" * n), seq=i) for i, n in enumerate([3, 9, 1, 9, 5, 7, 2])]
    assert generate.largest(calls, kept=7, limit=3) == [1, 3, 5]
    assert generate.scaled([_call({"t": "int", "v": 10**6})], kept=1) == []


# -- shrinking --------------------------------------------------------------------------------


def _spec(text: str, base: int | None = 0) -> Spec:
    values = {"0": _str(text)}
    return Spec(base, values, origin="generated", size=generate.call_size(values))


def _differs_when(predicate: Any, log: list[int] | None = None, key: str = "0") -> Any:
    def differs(batch: list[Spec]) -> int | None:
        if log is not None:
            log.append(len(batch))
        for index, spec in enumerate(batch):
            if predicate(generate.decode(spec.set[key])):
                return index
        return None

    return differs


def test_simplifications_are_one_step_smaller_smallest_first() -> None:
    spec = _spec("ab²cd\n")
    variants = generate.simplifications(spec)
    texts = [generate.decode(v.set["0"]) for v in variants]
    assert texts
    assert "ab²cd\n" not in texts
    assert "ab²" in texts
    assert "cd\n" in texts
    assert "b²cd\n" in texts
    assert "ab0cd\n" in texts  # a non-ASCII digit becomes an ASCII one
    weights = [(v.size, len(repr(v.set["0"]))) for v in variants]
    assert weights == sorted(weights)
    assert all(v.base == 0 and v.origin == "generated" for v in variants)
    assert len(generate.simplifications(spec, limit=3)) == 3


def test_shrink_reaches_the_smallest_differing_input() -> None:
    log: list[int] = []
    smallest, rounds = generate.shrink(
        _spec("  xy²z١\n abc"), _differs_when(lambda text: "²" in text, log)
    )
    assert generate.decode(smallest.set["0"]) == "²"
    assert smallest.size == 1
    assert smallest.base == 0
    assert 1 <= rounds <= 10
    assert len(log) == rounds


def test_shrink_stops_when_nothing_simpler_differs() -> None:
    start = _spec("12²")
    smallest, rounds = generate.shrink(start, _differs_when(lambda text: text == "12²"))
    assert smallest == start
    assert rounds == 1


def test_shrink_is_bounded_by_rounds() -> None:
    start = _spec("x" * 40 + "²")
    smallest, rounds = generate.shrink(start, _differs_when(lambda t: "²" in t), rounds=2)
    assert rounds == 2
    assert "²" in generate.decode(smallest.set["0"])
    assert smallest.size < start.size


def test_shrink_other_kinds() -> None:
    values: Mapping[str, Encoded] = {"0": generate.encode([5, 0, -3, 8, 2])}
    spec = Spec(None, values, size=5)

    def has_negative(batch: list[Spec]) -> int | None:
        for index, candidate in enumerate(batch):
            if any(x < 0 for x in generate.decode(candidate.set["0"])):
                return index
        return None

    smallest, _ = generate.shrink(spec, has_negative)
    assert generate.decode(smallest.set["0"]) == [-3]  # one element: the one that matters


def test_shrink_leaves_objects_alone() -> None:
    spec = Spec(0, {}, {"0": 10}, origin="x10", size=30)
    assert generate.simplifications(spec) == []
    assert generate.shrink(spec, lambda _batch: 0) == (spec, 0)


# -- objects: recombined, linked, related values ----------------------------------------------


def test_case_changed_strings_and_containers() -> None:
    assert generate.case_changed("Foo") == ["FOO", "foo", "fOO"]
    assert generate.case_changed("foo") == ["FOO"]  # swapcase is upper here: once
    assert generate.case_changed("(") == []
    assert generate.case_changed(("a", "B", 1)) == [("A", "B", 1), ("a", "b", 1), ("A", "b", 1)]
    assert generate.case_changed({"x"}) == [{"X"}]
    assert generate.case_changed(3) == []


def test_links_are_the_relations_the_recording_shows() -> None:
    calls = token_calls()
    # Recorded call #2 asks a token about its own kind: argument 1 is argument 0's `kind`.
    assert generate.links(("0", "1", "2"), ("0", "1"), calls) == [("1", "0", "kind")]
    assert generate.links(("0", "1", "2"), ("0", "1"), calls[:1]) == []


def test_related_values_are_the_state_of_the_other_arguments() -> None:
    calls = token_calls()
    strings, ints = generate.related_values(calls[3].args, exclude="2")
    # The token's own attributes (not those of the objects it holds), then the kind's.
    assert strings == ["bar", "Keyword"]
    assert ints == []
    box = {"t": "object", "type": "m.Box", "fields": {"items": generate.encode([4, 5, "x"])}}
    assert generate.related_values({"0": box, "1": _str("y")}, exclude="1") == (["x"], [4, 5])


def test_methods_on_object_state_recombine_link_and_relate() -> None:
    calls = token_calls()
    specs = generate.generate(calls, kept=5, count=200)
    assert len(specs) >= 100
    assert all(set(spec.set) == {"2"} for spec in specs)  # objects only ever from pickles
    assert all(spec.base in range(5) for spec in specs)
    assert all(set(spec.take) <= {"0", "1"} for spec in specs)
    assert all(i in range(5) and i != spec.base for spec in specs for i in spec.take.values())
    assert all(spec.link in ({}, {"1": ("0", "kind")}) for spec in specs)
    assert sum(1 for spec in specs if spec.link) > len(specs) / 3
    assert any(spec.take for spec in specs)
    # The trap's input: a name token asked about its own kind, with its own text re-cased.
    hits = []
    for spec in specs:
        token = calls[spec.take.get("0", spec.base)].args["0"]["fields"]  # type: ignore[arg-type]
        values = generate.decode(spec.set["2"])
        values = (values,) if isinstance(values, str) else values or ()
        own = token["normalized"]["v"]
        if spec.link and not token["is_keyword"]["v"] and own.isalpha():
            hits += [v for v in values if isinstance(v, str) and v != own and v.lower() == own]
    assert hits, "no name token was asked about a re-cased copy of its own text"


def test_take_and_link_are_kept_by_shrinking_and_in_the_json() -> None:
    spec = Spec(0, {"2": _str("FOOx")}, take={"0": 3}, link={"1": ("0", "kind")}, size=4)
    assert spec.to_json()["take"] == {"0": 3}
    assert spec.to_json()["link"] == {"1": ["0", "kind"]}
    assert spec.how() == "argument 0 from recorded call #4; argument 1 = argument 0.kind"
    assert Spec(0).how() == ""
    for simpler in generate.simplifications(spec):
        assert (simpler.take, simpler.link) == (spec.take, spec.link)
    smallest, _ = generate.shrink(spec, _differs_when(lambda text: "FOO" in text, None, "2"))
    assert generate.decode(smallest.set["2"]) == "FOO"
    assert smallest.link == spec.link


_LOCAL_PROGRAM = """
import hashlib, json, sys
sys.path.insert(0, sys.argv[1])
if len(sys.argv) > 2:
    sys.path.insert(0, sys.argv[2])
    import local_constants  # a local module full of literals
from runner.verify import generate
from runner.verify.behaviour import Call
words = ["12", "7", "abc", "Hello World"]
calls = [Call("t", i, {"0": generate.encode(s), "1": generate.encode(i)}, "return")
         for i, s in enumerate(words)]
specs = generate.generate(calls, 4, 200)
print(hashlib.sha1(json.dumps([s.to_json() for s in specs]).encode()).hexdigest())
"""


def test_generation_does_not_depend_on_the_modules_loaded(tmp_path: Path) -> None:
    """Hypothesis mixes in literals from the source of the "local" modules it finds
    loaded; the runner's generated inputs must not depend on which ones those are."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    literals = ", ".join(repr(f"word{i}") for i in range(200))
    numbers = ", ".join(str(7919 * i) for i in range(200))
    (folder / "local_constants.py").write_text(f"WORDS = [{literals}]\nNUMBERS = [{numbers}]\n")
    digests = set()
    for extra in ([], [str(folder)]):
        done = subprocess.run(
            [sys.executable, "-c", _LOCAL_PROGRAM, str(REPO), *extra],
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
            cwd=tmp_path,
        )
        digests.add(done.stdout.strip())
    assert len(digests) == 1
