"""The replay harness's no-op stand-in has the target's own parameters, so the overhead it
measures is the call's, not the cost of packing arguments into *args/**kwargs."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pytest

from runner.verify import measure

HARNESS = Path(measure.__file__).with_name("_replay_harness.py")


@pytest.fixture(scope="module")
def harness() -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": "optirunner_replay_harness_overhead_test"}
    exec(compile(HARNESS.read_text(), str(HARNESS), "exec"), namespace)  # noqa: S102
    return namespace


def plain(a, b, c=3):  # type: ignore[no-untyped-def]
    return a + b + c


def every_kind(a, /, b, *rest, c, d=4, **extra):  # type: ignore[no-untyped-def]
    return a


def keyword_only(a, *, b=2):  # type: ignore[no-untyped-def]
    return a


class Token:
    def match(self, ttype, values, regex=False):  # type: ignore[no-untyped-def]
        return ttype in values

    @classmethod
    def make(cls, value):  # type: ignore[no-untyped-def]
        return cls()


@pytest.mark.parametrize("func", [plain, every_kind, keyword_only, Token.match, Token().match])
def test_the_no_op_has_the_target_s_parameters(harness: dict[str, Any], func: Any) -> None:
    null = harness["null_like"](func)
    assert null is not harness["_null"]
    assert inspect.signature(null) == inspect.signature(func)


def test_it_binds_what_the_target_binds_and_does_nothing(harness: dict[str, Any]) -> None:
    null = harness["null_like"]
    assert null(plain)(1, 2) is None
    assert null(every_kind)(1, 2, 3, c=5, z=6) is None
    assert null(Token.make)("v") is None  # bound to the class, as the target is
    with pytest.raises(TypeError):
        null(keyword_only)(1, 2)  # as keyword_only(1, 2) would


@pytest.mark.parametrize("func", [len, print, type("C", (), {"__call__": lambda s: 0})()])
def test_callables_without_code_get_the_catch_all(harness: dict[str, Any], func: Any) -> None:
    assert harness["null_like"](func) is harness["_null"]


def test_calibration_uses_the_target_s_parameters(harness: dict[str, Any]) -> None:
    inputs = harness["Inputs"]([((i, "x"), {}) for i in range(50)])
    answer = harness["calibrate"](lambda a, b: sum(range(200)), inputs, 0.02)
    assert 0 < answer["overhead_per_pass_s"] < answer["per_pass_s"]
