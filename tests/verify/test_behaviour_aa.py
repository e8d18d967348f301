"""runner.verify.behaviour: the A/A pass (issue 23, item 1).

Two recordings of the unchanged baseline are compared everywhere; whatever they disagree on
(per call and path in the value) is not reproducible, so a candidate is never judged on it,
and the report counts it. Everything the baseline does reproduce is still compared strictly.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

from runner.verify.behaviour import WHOLE_CALL, Instability, compare, instability
from tests.verify.test_behaviour import TARGET, Invocation, once, record

_ticks = itertools.count()


def _request_id() -> str:
    return f"req-{next(_ticks)}"  # differs on every run, as uuid4() or time.time() would


def handle(path: str) -> dict[str, Any]:
    return {"path": path.lower(), "id": _request_id(), "status": 200}


def handle_rewrite(path: str) -> dict[str, Any]:
    return {"path": path.casefold(), "id": _request_id(), "status": 200}


def handle_wrong(path: str) -> dict[str, Any]:
    return {"path": path, "id": _request_id(), "status": 200}


CALLS = [*once("/Users"), ("tests/test_mod.py::test_two", ("/Orders",), {})]


def test_two_baseline_runs_find_the_unreproducible_value() -> None:
    found = instability(record(handle, CALLS), record(handle, CALLS))
    assert not found.empty
    assert found.sites == frozenset()
    paths = found.paths[("pkg/mod.py::f", "tests/test_mod.py::test_one", 0)]
    assert paths == {("return", "items", 1, 1)}  # the "id" entry's value node, nothing else
    assert found.describe() == (
        "two baseline runs differ in 2 values in 2 calls: those are not compared"
    )


def test_an_identical_rewrite_is_not_rejected_on_what_the_baseline_does_not_reproduce() -> None:
    baseline = record(handle, CALLS)
    unstable = instability(baseline, record(handle, CALLS))
    without = compare(baseline, record(handle_rewrite, CALLS))
    assert not without.ok  # the request id differs: without the A/A pass, always rejected
    result = compare(baseline, record(handle_rewrite, CALLS), unstable=unstable)
    assert result.ok
    assert result.calls_compared == 2
    assert result.not_compared == {"values of type `str`: differ between two baseline runs": 2}
    assert "not compared: 2 values of type `str`: differ between two baseline runs" in (
        result.describe()
    )


def test_what_the_baseline_reproduces_is_still_compared_strictly() -> None:
    baseline = record(handle, CALLS)
    unstable = instability(baseline, record(handle, CALLS))
    result = compare(baseline, record(handle_wrong, CALLS), unstable=unstable)
    assert not result.ok
    assert result.first_mismatch is not None
    assert result.first_mismatch.expected.startswith("{'path': '/users'")


def test_a_test_whose_number_of_calls_differs_between_runs_is_left_out() -> None:
    def upper(text: str) -> str:
        return text.upper()

    three: list[Invocation] = [("tests/test_mod.py::test_retry", ("a",), {})] * 3
    two: list[Invocation] = [("tests/test_mod.py::test_retry", ("a",), {})] * 2
    stable: list[Invocation] = [("tests/test_mod.py::test_plain", ("b",), {})]
    baseline = record(upper, [*three, *stable])
    unstable = instability(baseline, record(upper, [*two, *stable]))
    assert unstable.sites == {("pkg/mod.py::f", "tests/test_mod.py::test_retry")}
    result = compare(baseline, record(upper, [*two, *stable]), unstable=unstable)
    assert result.ok
    assert result.calls_compared == 1
    reason = "calls in tests whose number of calls differs between two baseline runs"
    assert result.not_compared == {reason: 3}
    wrong = compare(baseline, record(str.lower, [*two, *stable]), unstable=unstable)
    assert not wrong.ok  # test_plain is stable and still compared


def test_an_exception_message_that_differs_between_runs_is_compared_by_type_only() -> None:
    def lookup(key: str) -> None:
        raise KeyError(f"{key} not in cache {_request_id()}")  # as an address or a time would

    baseline = record(lookup, once("x"))
    unstable = instability(baseline, record(lookup, once("x")))
    assert next(iter(unstable.paths.values())) == {("message",)}
    assert compare(baseline, record(lookup, once("x")), unstable=unstable).ok

    def lookup_value_error(key: str) -> None:
        raise ValueError(key)

    assert not compare(baseline, record(lookup_value_error, once("x")), unstable=unstable).ok


def test_a_call_that_raises_in_one_run_and_returns_in_the_other_is_left_out() -> None:
    flips = itertools.count()

    def sometimes(text: str) -> str:
        if next(flips) % 2:
            raise TimeoutError(text)
        return text

    baseline = record(sometimes, once("a"))
    unstable = instability(baseline, record(sometimes, once("a")))
    assert next(iter(unstable.paths.values())) == {WHOLE_CALL}
    result = compare(baseline, record(str.upper, once("a")), unstable=unstable)
    assert result.ok
    assert result.calls_compared == 0
    assert result.not_compared == {"calls whose outcome differs between two baseline runs": 1}


def test_two_agreeing_runs_change_nothing() -> None:
    baseline = record(str.upper, once("a"))
    found = instability(baseline, record(str.upper, once("a")))
    assert found.empty
    assert found == Instability()
    assert found.describe() == "two baseline runs agree on every recorded value"
    assert not compare(baseline, record(str.lower, once("a")), unstable=found).ok


def test_a_number_of_calls_past_the_cap_that_two_baseline_runs_disagree_on_is_left_out() -> None:
    """sympy's core tests call `igcd` about 110,000 times past the 2,000 recorded, and a
    different number in each run (its caches): an identical rewrite was rejected on that."""
    from runner.verify import _record_plugin as plugin
    from runner.verify.behaviour import recording_from_document

    def capped(extra: int, func: Any = str.upper) -> Any:
        recorder = plugin.Recorder(max_calls=2)
        wrapped = recorder.wrap(TARGET, func)
        for text in ["a", "b", *["c"] * extra]:
            wrapped(text)
        return recording_from_document(json.loads(json.dumps(recorder.document())))

    baseline, again = capped(10), capped(12)
    unstable = instability(baseline, again)
    assert unstable.dropped == {TARGET}
    assert "the number of calls past the recording cap of 1" in unstable.describe()
    result = compare(baseline, capped(11), unstable=unstable)
    assert result.ok
    reason = "calls past the recording cap, whose number differs between two baseline runs"
    assert result.not_compared == {reason: 11}
    assert not compare(baseline, capped(11, str.lower), unstable=unstable).ok  # still compared
    stable = instability(baseline, capped(10))
    assert not stable.dropped
    assert not compare(baseline, capped(11), unstable=stable).ok  # a real difference in count
