"""The safety check on untrusted candidate code."""

from __future__ import annotations

import pytest

from runner.agent.safety import SafetyPolicy, check_candidate, check_target_path
from runner.config import Settings
from runner.errors import OptirunnerError, SecurityViolation

MODULE = """import os
import subprocess


def keep(items):
    return [i for i in items if i]


def runs():
    return subprocess.run(["true"], check=False)


def _existing():
    return 1
"""
POLICY = SafetyPolicy()


def check(
    code: str, imports: tuple[str, ...] = (), qualname: str = "keep", **policy: object
) -> None:
    check_candidate(MODULE, qualname, code, imports, SafetyPolicy(**policy) if policy else POLICY)


def body(line: str) -> str:
    return f"def keep(items):\n    {line}\n    return list(items)\n"


FORBIDDEN = {
    "import socket": "socket",
    "import urllib.request": "urllib",
    "from http import client": "http",
    "import requests": "requests",
    "import ctypes": "ctypes",
    "import importlib": "importlib",
    "subprocess.run(['ls'])": "subprocess",
    "os.system('ls')": "os.system",
    "os.execv('/bin/sh', [])": "os.execv",
    "os.fork()": "os.fork",
    "os.spawnl(0, 'x')": "os.spawnl",
    "os.popen('ls')": "os.popen",
    "os.remove('x')": "os.remove",
    "os.unlink('x')": "os.unlink",
    "open('x', 'w')": "open(..., 'w')",
    "open('x', mode='a')": "open(..., 'a')",
    "open('x', 'r+')": "open(..., 'r+')",
    "open('x', m)": "open",
    "eval('1')": "eval",
    "exec('1')": "exec",
    "compile('1', 'f', 'exec')": "compile",
    "__import__('os')": "__import__",
    "globals()['x'] = 1": "globals",
    "import sys; sys.modules['json'] = None": "sys.modules",
    "import sys; sys.modules.pop('json')": "sys.modules.pop",
    "setattr(os, 'sep', '/')": "setattr(os, ...)",
    "os.sep = '/'": "os.sep",
    "print(__builtins__)": "__builtins__",
    "object.__subclasses__()": "__subclasses__",
    "print(keep.__globals__)": "__globals__",
    "print(keep.__code__)": "__code__",
    "getattr(keep, '__globals__')": "__globals__",
    "import shutil; shutil.rmtree('/')": "shutil.rmtree",
    "from os import system as s; s('x')": "os.system",
    "items.write_text('x')": "items.write_text",
}


@pytest.mark.parametrize(("line", "construct"), FORBIDDEN.items())
def test_forbidden_construct_is_rejected(line: str, construct: str) -> None:
    with pytest.raises(SecurityViolation) as info:
        check(body(line))
    assert construct in info.value.construct
    assert info.value.reason
    assert isinstance(info.value, OptirunnerError)


def test_forbidden_added_import() -> None:
    with pytest.raises(SecurityViolation, match="socket"):
        check(body("pass"), imports=("import socket",))
    with pytest.raises(SecurityViolation, match="not an import"):
        check(body("pass"), imports=("x = 1",))


@pytest.mark.parametrize(
    "line",
    [
        "import collections",
        "from itertools import chain",
        "x = open('data.txt').read()",
        "x = open('data.txt', 'rb').read()",
        "x = os.path.join('a', 'b')",
        "x = sorted(items, key=len)",
        "x = getattr(items, 'append', None)",
        "x = {k: v for k, v in enumerate(items)}",
    ],
)
def test_allowed_code_passes(line: str) -> None:
    check(body(line))


def test_added_safe_import_passes() -> None:
    check(body("x = collections.Counter(items)"), imports=("import collections",))


def test_what_the_original_already_used_is_allowed() -> None:
    check("def runs():\n    return subprocess.run(['true', '1'], check=False)\n", qualname="runs")
    with pytest.raises(SecurityViolation, match=r"os\.system"):
        check("def runs():\n    return os.system('true')\n", qualname="runs")


def test_policy_allowlist_and_custom_lists() -> None:
    check(body("os.remove('cache')"), allow=["os.remove"])
    with pytest.raises(SecurityViolation, match="json"):
        check(body("import json"), forbidden_modules=["json"])
    check(body("eval('1')"), forbidden_calls=[])


def test_does_not_parse() -> None:
    with pytest.raises(SecurityViolation, match="does not parse") as info:
        check("def keep(items:\n    pass\n")
    assert info.value.reason == "the candidate does not parse"


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("def other(items):\n    return 1\n", "public function"),
        ("def keep(i):\n    return i\ndef keep(i):\n    return i\n", "exactly once"),
        ("def keep(i):\n    return i\ndef runs():\n    return 0\n", "public function"),
        ("def keep(i):\n    return i\ndef _existing():\n    return 2\n", "other than the target"),
        ("X = 1\ndef keep(i):\n    return i\n", "other than functions"),
        ("import os\ndef keep(i):\n    return i\n", "other than functions"),
        ("class keep:\n    pass\n", "other than functions"),
    ],
)
def test_other_definitions_are_rejected(code: str, reason: str) -> None:
    with pytest.raises(SecurityViolation, match=reason):
        check(code)


def test_new_private_helpers_are_allowed() -> None:
    check("def _fast(i):\n    return i\n\n\ndef keep(items):\n    return _fast(items)\n")


def test_import_may_not_rebind_a_definition() -> None:
    with pytest.raises(SecurityViolation, match="rebinds"):
        check(body("pass"), imports=("from json import loads as _existing",))


def test_method_target() -> None:
    module = "import os\n\n\nclass A:\n    def m(self):\n        return 1\n"
    check_candidate(module, "A.m", "def m(self):\n    return 2\n", (), POLICY)
    with pytest.raises(SecurityViolation):
        check_candidate(module, "A.m", "def m(self):\n    os.system('x')\n", (), POLICY)


@pytest.mark.parametrize(
    "path",
    ["tests/test_a.py", "src/tests/helpers.py", "test_shop.py", "shop_test.py", "conftest.py"],
)
def test_targets_in_tests_are_rejected(path: str) -> None:
    with pytest.raises(SecurityViolation, match="edits tests"):
        check_target_path(path)


def test_ordinary_paths_pass() -> None:
    check_target_path("shop/core.py")
    check_target_path("testing_utils.py")


def test_policy_is_a_setting() -> None:
    settings = Settings(safety={"allow": ["os.remove"]})
    assert settings.safety.allow == ["os.remove"]
    assert "socket" in settings.safety.forbidden_modules
