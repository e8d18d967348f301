"""The access log: what each target's recorded calls touch, from a real pytest run.

A tiny project's suite runs in a subprocess with the recorder; each target does one kind of
access (or none), and the recording's ``"accesses"`` must say exactly that.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.verify.test_record_targets import make_project, record

MODULE = """
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

_CACHE = {}
_COUNT = 0
SEEN = []
_LATE = set()


def reads(path):
    return Path(path).read_text()


def writes(path, text):
    Path(path).write_text(text)


def outer(path):
    return reads(path).upper()


async def areads(path):
    return Path(path).read_text()


def moves(path):
    shutil.copyfile(path, path + ".copy")
    os.remove(path + ".copy")


def home():
    return os.environ["HOME"]


def settings():
    return os.getenv("OPTI_MODE", "x"), "OPTI_FLAG" in os.environ, os.environ.get("OPTI_OTHER")


def cached(n):
    if n not in _CACHE:
        _CACHE[n] = n * n
    return _CACHE[n]


def counts():
    global _COUNT
    _COUNT += 1
    return _COUNT


def remembers(x):
    SEEN.append(x)
    return len(SEEN)


def late(i):
    if i == 55:  # past the calls whose globals are watched
        _LATE.add(i)
    return i


def runs():
    return subprocess.run([sys.executable, "-c", "print(1)"], capture_output=True).stdout


def resolves():
    try:
        socket.getaddrinfo("localhost", 80)
    except OSError:
        pass
    return 1


def pure(xs):
    from pkg import lazy  # imported on the first call: the import system's files are no access

    return lazy.ordered(xs)


def never():
    return 0


class Memo:
    _memo = {}

    def get(self, key):
        return self._memo.setdefault(key, len(key))
"""

LAZY = """
def ordered(xs):
    return sorted(xs)
"""

# A target in the package: importing a submodule sets an attribute of it, which is no state.
PACKAGE = """
def lazily(xs):
    from pkg import lazy2

    return lazy2.ordered(xs)
"""

TESTS = """
import asyncio
import os

import pkg
from pkg import acc


def test_files(tmp_path):
    data = tmp_path / "data.txt"
    acc.writes(str(data), "abc")
    assert acc.reads(str(data)) == "abc"
    assert acc.outer(str(data)) == "ABC"
    assert asyncio.run(acc.areads(str(data))) == "abc"
    acc.moves(str(data))


def test_environment():
    assert acc.home() == os.environ["HOME"]
    assert acc.settings() == ("x", False, None)


def test_state():
    assert [acc.cached(3), acc.cached(3)] == [9, 9]
    assert [acc.counts() for _ in range(3)] == [1, 2, 3]
    assert acc.remembers("a") == 1
    assert [acc.late(i) for i in range(60)] == list(range(60))
    assert acc.Memo().get("abc") == 3


def test_process_and_network():
    assert acc.runs().strip() == b"1"
    assert acc.resolves() == 1


def test_pure():
    assert acc.pure([3, 1, 2]) == [1, 2, 3]
    assert acc.pure([2, 1]) == [1, 2]
    assert pkg.lazily([2, 1]) == [1, 2]
"""

EXPECTED = {
    "reads": ["file:read"],
    "writes": ["file:write"],
    "outer": ["file:read"],  # the nested call of reads counts for outer
    "areads": ["file:read"],
    "moves": ["file:read", "file:write", "fs:modify"],
    "home": ["env:HOME"],
    "settings": ["env:OPTI_FLAG", "env:OPTI_MODE", "env:OPTI_OTHER"],
    "cached": ["global-mutate:_CACHE"],
    "counts": ["global-write:_COUNT"],
    "remembers": ["global-mutate:SEEN"],
    "late": [],
    "runs": ["process"],
    "resolves": ["network"],
    "pure": [],
    "never": [],
    "Memo.get": ["global-mutate:Memo._memo"],
}


@pytest.fixture(scope="module")
def accesses(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The recording of the project's suite with every function of `pkg/acc.py` a target."""
    files = {"pkg/__init__.py": PACKAGE, "pkg/acc.py": MODULE, "pkg/lazy.py": LAZY}
    files["pkg/lazy2.py"] = LAZY
    files["tests/test_acc.py"] = TESTS
    project = make_project(tmp_path_factory.mktemp("accesses") / "project", files)
    unset = ("OPTI_MODE", "OPTI_FLAG", "OPTI_OTHER", "PYTHONDONTWRITEBYTECODE")
    targets = [f"pkg/acc.py::{name}" for name in EXPECTED] + ["pkg/__init__.py::lazily"]
    document = record(project, targets, unset)
    assert document["errors"] == {}
    return document


@pytest.mark.slow
@pytest.mark.parametrize("name", list(EXPECTED))
def test_each_target_lists_exactly_what_it_touched(accesses: dict[str, Any], name: str) -> None:
    assert accesses["accesses"][f"pkg/acc.py::{name}"] == EXPECTED[name]


@pytest.mark.slow
def test_every_target_has_an_entry_and_calls_are_still_recorded(
    accesses: dict[str, Any],
) -> None:
    assert accesses["accesses"]["pkg/__init__.py::lazily"] == []
    assert set(accesses["accesses"]) == set(accesses["targets"])
    assert len(accesses["targets"]["pkg/acc.py::late"]) == 60
    assert accesses["targets"]["pkg/acc.py::reads"][0]["value"] == {"t": "str", "v": "abc"}
    assert len(accesses["targets"]["pkg/acc.py::outer"]) == 1
    assert len(accesses["targets"]["pkg/acc.py::reads"]) == 1  # not the call inside outer
