"""runner.verify.behaviour: strict comparison of recorded calls, and the recorder's encoder."""

from __future__ import annotations

import copy
import dataclasses
import json
import math
from collections import namedtuple
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runner.verify import _record_plugin as plugin
from runner.verify.behaviour import (
    Comparison,
    Recording,
    RecordingError,
    compare,
    load_recording,
    recording_from_document,
    render,
    shorten,
)

TARGET = "pkg/mod.py::f"
Invocation = tuple[str, tuple[Any, ...], dict[str, Any]]


def record(func: Callable[..., Any], invocations: list[Invocation]) -> Recording:
    """Record `func` as the plugin would, through a JSON round trip like the real file."""
    recorder = plugin.Recorder()
    wrapped = recorder.wrap(TARGET, func)
    for site, args, kwargs in invocations:
        recorder.site = site
        try:
            wrapped(*args, **kwargs)
        except Exception:  # noqa: S112 - the exception is what was recorded
            continue
    return recording_from_document(json.loads(json.dumps(recorder.document())))


def once(*args: Any, **kwargs: Any) -> list[Invocation]:
    return [("tests/test_mod.py::test_one", args, kwargs)]


def check(
    original: Callable[..., Any],
    rewrite: Callable[..., Any],
    invocations: list[Invocation],
    **options: Any,
) -> Comparison:
    # Each run gets its own copy of the inputs, as each arm's test run builds its own.
    baseline = record(original, copy.deepcopy(invocations))
    return compare(baseline, record(rewrite, copy.deepcopy(invocations)), **options)


# -- what must be rejected ----------------------------------------------------------------------


def test_identical_behaviour_is_accepted() -> None:
    calls = [*once([3, 1, 2]), ("tests/test_mod.py::test_two", ([],), {})]
    result = check(sorted, lambda xs: sorted(xs, key=None), calls)
    assert result.ok
    assert result.calls_compared == 2
    assert result.first_mismatch is None
    assert result.describe() == "behaviour identical over 2 recorded calls"


def test_a_changed_return_value_is_rejected() -> None:
    result = check(lambda x: x + 1, lambda x: x + 2, once(1))
    assert not result.ok
    mismatch = result.first_mismatch
    assert mismatch is not None
    assert (mismatch.target, mismatch.field) == (TARGET, "return")
    assert mismatch.call_site == "tests/test_mod.py::test_one call #1"
    assert (mismatch.expected, mismatch.actual) == ("2", "3")
    assert "tests/test_mod.py::test_one call #1: return: expected 2, got 3" in result.describe()


def test_a_different_in_place_mutation_is_rejected() -> None:
    def original(items: list[int]) -> int:
        items.append(0)
        return len(items)

    def rewrite(items: list[int]) -> int:
        return len(items) + 1  # same result, but no longer mutates its argument

    result = check(original, rewrite, once([5]))
    assert result.first_mismatch is not None
    assert result.first_mismatch.field == "argument after call items"
    assert (result.first_mismatch.expected, result.first_mismatch.actual) == ("[5, 0]", "[5]")


def test_a_different_exception_type_is_rejected() -> None:
    def original(key: str) -> int:
        raise KeyError(key)

    def rewrite(key: str) -> int:
        raise LookupError(key)

    result = check(original, rewrite, once("sku"))
    assert result.first_mismatch is not None
    assert result.first_mismatch.field == "exception"
    assert result.first_mismatch.expected == "raised KeyError: 'sku'"
    assert result.first_mismatch.actual == "raised LookupError: sku"
    assert result.first_mismatch.reason == "exception type differs"


def test_a_different_exception_message_or_a_return_instead_is_rejected() -> None:
    def original(x: int) -> int:
        raise ValueError(f"bad {x}")

    message = check(original, lambda x: original(x + 1), once(1)).first_mismatch
    assert message is not None
    assert message.reason == "exception message differs"
    returned = check(original, lambda x: x, once(1)).first_mismatch
    assert returned is not None
    assert (returned.field, returned.actual) == ("exception", "returned 1")


def test_an_unknown_return_is_not_compared_and_says_so() -> None:
    class Opaque:
        __slots__ = ()

    alive: list[Opaque] = []  # two live objects: two addresses in their reprs, as in two runs

    def make() -> Opaque:
        alive.append(Opaque())
        return alive[-1]

    result = check(make, make, once())
    assert result.ok  # not comparable is not unequal: the candidate is not blamed for it
    assert result.not_compared == {
        f"values of type `{plugin.type_name(Opaque)}`: no faithful recording": 1
    }
    assert "not compared: 1 values of type" in result.describe()
    assert "Opaque" in result.describe()


def test_an_unknown_return_of_another_type_is_rejected() -> None:
    class Opaque:
        __slots__ = ()

    result = check(Opaque, lambda: (x for x in [1]), once())
    assert not result.ok
    assert "type differs" in result.describe()


def test_a_differing_iterator_return_is_rejected() -> None:
    result = check(lambda: iter([1]), lambda: iter([2]), once())
    assert not result.ok
    assert result.first_mismatch is not None
    assert result.first_mismatch.expected == "<list_iterator of [1]>"


def test_missing_and_extra_calls_are_rejected() -> None:
    two = [*once(1), *once(2)]
    missing = check(abs, abs, two).first_mismatch
    assert missing is None
    short = compare(record(abs, two), record(abs, once(1))).first_mismatch
    assert short is not None
    assert (short.field, short.call_site) == ("missing call", "tests/test_mod.py::test_one call #2")
    assert short.expected == "call(x=2) returned 2"
    extra = compare(record(abs, once(1)), record(abs, two)).first_mismatch
    assert extra is not None
    assert (extra.field, extra.actual) == ("extra call", "call(x=2) returned 2")


def test_calls_from_another_test_are_extra() -> None:
    baseline = record(abs, once(1))
    candidate = record(abs, [*once(1), ("tests/test_mod.py::test_new", (1,), {})])
    mismatch = compare(baseline, candidate).first_mismatch
    assert mismatch is not None
    assert (mismatch.field, mismatch.call_site) == (
        "extra call",
        "tests/test_mod.py::test_new call #1",
    )


def test_list_and_tuple_differ() -> None:
    result = check(lambda: [1, 2], lambda: (1, 2), once())
    assert result.first_mismatch is not None
    assert result.first_mismatch.reason == "type differs: list vs tuple"
    assert (result.first_mismatch.expected, result.first_mismatch.actual) == ("[1, 2]", "(1, 2)")


def test_negative_zero_differs_and_nan_equals_nan() -> None:
    assert not check(lambda: -0.0, lambda: 0.0, once()).ok
    assert check(lambda: math.nan, lambda: float("nan"), once()).ok
    assert not check(lambda: 1, lambda: 1.0, once()).ok
    assert not check(lambda: True, lambda: 1, once()).ok


def test_float_tolerance_is_relative_and_opt_in() -> None:
    original, rewrite = (lambda: [1.0, 1e6]), (lambda: [1.0 + 1e-12, 1e6 * (1 + 1e-10)])
    assert not check(original, rewrite, once()).ok
    assert check(original, rewrite, once(), float_tolerance=1e-9).ok
    assert not check(lambda: 1.0, lambda: 1.001, once(), float_tolerance=1e-9).ok
    assert not check(lambda: math.inf, lambda: math.nan, once(), float_tolerance=1.0).ok


def test_dict_order_and_set_contents() -> None:
    assert not check(lambda: {"a": 1, "b": 2}, lambda: {"b": 2, "a": 1}, once()).ok
    assert check(lambda: {3, 1, 2}, lambda: {2, 3, 1}, once()).ok
    assert not check(lambda: {1, 2}, lambda: frozenset({1, 2}), once()).ok


def test_a_target_that_could_not_be_recorded_fails_the_comparison() -> None:
    recorder = plugin.Recorder()
    recorder.fail_target(TARGET, "ImportError: no module named pkg")
    broken = recording_from_document(recorder.document())
    result = compare(broken, broken)
    assert result.first_mismatch is not None
    assert result.first_mismatch.field == "recording error"
    assert "ImportError" in result.describe()


def test_calls_past_the_cap_are_counted_and_compared() -> None:
    def capped(count: int) -> Recording:
        recorder = plugin.Recorder(max_calls=1)
        wrapped = recorder.wrap(TARGET, abs)
        for value in range(count):
            wrapped(value)
        return recording_from_document(recorder.document())

    assert capped(3).dropped == {TARGET: 2}
    assert compare(capped(3), capped(3)).ok
    mismatch = compare(capped(3), capped(2)).first_mismatch
    assert mismatch is not None
    assert mismatch.field == "missing call"


def test_summaries_are_shortened() -> None:
    result = check(lambda: "x" * 500, lambda: "y" * 500, once())
    assert result.first_mismatch is not None
    assert len(result.first_mismatch.expected) == 120
    assert result.first_mismatch.expected.endswith("…")
    assert shorten("abc", 5) == "abc"


def test_no_calls_compares_ok_but_says_so() -> None:
    empty = record(abs, [])
    result = compare(empty, empty)
    assert result.ok
    assert "nothing was compared" in result.describe()


def test_load_recording_reads_files_and_merges_workers(tmp_path: Path) -> None:
    out = tmp_path / "rec.json"
    with pytest.raises(RecordingError, match="no behaviour recording"):
        load_recording(out)
    recorder = plugin.Recorder()
    wrapped = recorder.wrap(TARGET, abs)
    plugin.write_document(recorder.document(), out)
    recorder.site = "tests/test_a.py::test_a"
    wrapped(-1)
    plugin.write_document(recorder.document(), tmp_path / "rec.json.gw0")
    loaded = load_recording(out)
    assert loaded.call_count == 1
    assert loaded.targets[TARGET][0].value == {"t": "int", "v": 1}
    (tmp_path / "bad.json").write_text('{"version": 99}')
    with pytest.raises(RecordingError, match="version"):
        load_recording(tmp_path / "bad.json")


# -- the encoder --------------------------------------------------------------------------------


@dataclasses.dataclass
class Line:
    sku: str
    quantity: int


Point = namedtuple("Point", "x y")


def test_encoder_scalars() -> None:
    assert plugin.encode(None) == {"t": "none"}
    assert plugin.encode(-0.0) == {"t": "float", "v": "-0.0"}
    assert plugin.encode(math.inf) == {"t": "float", "v": "inf"}
    assert plugin.encode(b"\x00\xff") == {"t": "bytes", "v": "00ff"}
    assert plugin.encode(2**100) == {"t": "int", "hex": format(2**100, "x")}
    assert plugin.encode(10**5000)["t"] == "int"  # past Python's str() digit limit
    assert plugin.encode(Path("a/b")) == {
        "t": "repr",
        "type": "pathlib.PosixPath",
        "v": "PosixPath('a/b')",
    }


def test_encoder_objects_and_subclasses() -> None:
    line = plugin.encode(Line("A", 2))
    assert line["t"] == "object"
    assert line["type"].endswith("Line")
    assert line["fields"] == {"sku": {"t": "str", "v": "A"}, "quantity": {"t": "int", "v": 2}}
    assert plugin.encode(Point(1, 2))["type"].endswith("Point")
    assert render(plugin.encode([Line("A", 2)])).endswith("Line(sku='A', quantity=2)]")


def test_encoder_exceptions_deques_and_mocks() -> None:
    from collections import deque
    from unittest import mock

    assert not check(lambda: ValueError("a"), lambda: ValueError("b"), once()).ok
    assert check(lambda: KeyError("a"), lambda: KeyError("a"), once()).ok
    assert plugin.encode(deque([1]))["type"] == "collections.deque"

    def notify(sink: mock.Mock) -> None:
        sink.send("done")

    def notify_twice(sink: mock.Mock) -> None:
        sink.send("done")
        sink.send("done")

    calls = once(mock.Mock())
    assert check(notify, notify, calls).ok
    mismatch = check(notify, notify_twice, calls).first_mismatch
    assert mismatch is not None
    assert mismatch.field == "argument after call sink"


def test_encoder_never_consumes_iterators() -> None:
    def numbers() -> Iterator[int]:
        yield 1

    generator = numbers()
    assert plugin.encode(generator)["t"] == "unknown"
    assert next(generator) == 1
    assert plugin.encode(lambda: 1)["t"] == "unknown"


def test_encoder_caps_depth_size_and_cycles() -> None:
    nested: list[Any] = []
    for _ in range(70):
        nested = [nested]
    assert plugin.encode(nested)["t"] == "truncated"
    assert plugin.encode(list(range(300_000)))["reason"] == "more than 250000 elements"
    loop: list[Any] = [1]
    loop.append(loop)
    assert plugin.encode(loop)["items"][1] == {"t": "cycle", "up": 1}
    both_truncated = compare(r := record(lambda: list(range(300_000)), once()), r)
    assert both_truncated.ok  # too large on both sides: not compared, and counted
    assert both_truncated.not_compared == {"values of type `list`: more than 250000 elements": 1}
    smaller = compare(r, record(lambda: list(range(10)), once()))
    assert not smaller.ok
    assert "cannot compare values of type list" in smaller.describe()


def test_encoder_numpy_arrays() -> None:
    numpy = pytest.importorskip("numpy")
    encoded = plugin.encode(numpy.array([[1.0, -0.0]], dtype=numpy.float32))
    assert encoded["dtype"] == "float32"
    assert encoded["shape"] == [1, 2]
    assert plugin.encode(numpy.float64(1.5))["t"] == "npscalar"


# -- equivalence over generated inputs ------------------------------------------------------------


def missing_skus(wanted: list[str], stock: dict[str, int]) -> list[str]:
    """The original: skus out of stock, in first-seen order, without repeats."""
    result = []
    for sku in wanted:
        if stock.get(sku, 0) <= 0 and sku not in result:
            result.append(sku)
    return result


def missing_skus_fast(wanted: list[str], stock: dict[str, int]) -> list[str]:
    """An equivalent rewrite: a set for membership, dict.fromkeys for order."""
    return list(dict.fromkeys(sku for sku in wanted if stock.get(sku, 0) <= 0))


def missing_skus_sorted(wanted: list[str], stock: dict[str, int]) -> list[str]:
    """A subtly different rewrite: right contents, wrong order."""
    return sorted({sku for sku in wanted if stock.get(sku, 0) <= 0})


skus = st.sampled_from(["A", "B", "C", "D", "É", ""])


@settings(max_examples=1000, deadline=None)
@given(wanted=st.lists(skus, max_size=12), stock=st.dictionaries(skus, st.integers(-2, 3)))
def test_an_equivalent_rewrite_is_accepted_on_generated_inputs(
    wanted: list[str], stock: dict[str, int]
) -> None:
    calls = once(wanted, stock)
    assert check(missing_skus, missing_skus_fast, calls).ok


def test_a_subtly_different_rewrite_is_caught() -> None:
    result = check(missing_skus, missing_skus_sorted, once(["B", "A", "B"], {}))
    assert result.first_mismatch is not None
    assert result.first_mismatch.field == "return"
    assert (result.first_mismatch.expected, result.first_mismatch.actual) == (
        "['B', 'A']",
        "['A', 'B']",
    )
