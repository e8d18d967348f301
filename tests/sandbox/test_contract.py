"""The contract itself: its pure parts, and that it fails backends that break it.

Each broken backend below is the local one with one promise undone; the contract test
that guards that promise must fail on it (the honest backends pass it in test_local.py).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from runner.errors import SandboxPathError
from runner.sandbox.base import CommandResult, Environment, RunRequest, relative_parts
from runner.sandbox.local import LocalSandbox
from tests.sandbox.conftest import PY
from tests.sandbox.contract import ESCAPES, SandboxContract

CONTRACT = SandboxContract()


def fails(test: Callable[..., None], *args: Any) -> None:
    """`test` (a contract test, called with its fixtures) fails."""
    with pytest.raises((AssertionError, pytest.fail.Exception)):
        test(*args)


class LeaksEnv(LocalSandbox):
    def run(self, request: RunRequest) -> CommandResult:
        return super().run(dataclasses.replace(request, env={**os.environ, **request.env}))


class ClaimsIsolation(LocalSandbox):
    @property
    def isolates_network(self) -> bool:
        return True


class DescribesAnother(LocalSandbox):
    def describe(self) -> Environment:
        env = super().describe()
        return dataclasses.replace(env, network_isolated=not env.network_isolated)


class PlainJoin(LocalSandbox):
    """put/get as `workdir / relative`: no check at all."""

    def put(self, workdir: Path, files: Mapping[str, bytes]) -> None:
        for relative, data in files.items():
            (workdir / relative).write_bytes(data)

    def get(self, workdir: Path, relative: str) -> bytes:
        return (workdir / relative).read_bytes()


def test_a_backend_that_passes_the_runners_environment_fails(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    test = CONTRACT.test_the_command_sees_the_env_it_was_given_and_nothing_of_the_runners
    fails(test, LeaksEnv(use_bwrap=False), workdir, PY, monkeypatch)


def test_a_backend_that_claims_isolation_it_lacks_fails(workdir: Path, listener: int) -> None:
    test = CONTRACT.test_the_network_is_unreachable_when_the_backend_says_so
    fails(test, ClaimsIsolation(use_bwrap=False), workdir, PY, listener)


def test_a_backend_whose_description_disagrees_with_its_runs_fails(workdir: Path) -> None:
    test = CONTRACT.test_describe_agrees_with_isolates_network_and_run
    fails(test, DescribesAnother(use_bwrap=False), workdir)


def test_a_backend_that_follows_symlinks_out_fails(workdir: Path, tmp_path: Path) -> None:
    test = CONTRACT.test_put_and_get_refuse_symlinks_a_command_left_leading_out
    fails(test, PlainJoin(use_bwrap=False), workdir, tmp_path)


def test_a_backend_that_writes_through_dot_dot_fails(workdir: Path) -> None:
    test = CONTRACT.test_put_and_get_refuse_paths_outside_the_folder
    fails(test, PlainJoin(use_bwrap=False), workdir, "../outside.txt")


@pytest.mark.parametrize("relative", ESCAPES)
def test_relative_parts_refuses_what_could_leave_the_folder(relative: str) -> None:
    with pytest.raises(SandboxPathError, match=r"absolute|'\.\.'|folder"):
        relative_parts(relative)


def test_relative_parts_keeps_a_plain_path() -> None:
    assert relative_parts("a/./b//c.txt") == ("a", "b", "c.txt")
    with pytest.raises(SandboxPathError):
        relative_parts("a\0b")


def test_environment_is_frozen_and_reports_the_two_keys_of_old() -> None:
    env = Environment(name="bubblewrap", network_isolated=True, backend="bubblewrap", platform="p")
    with pytest.raises(dataclasses.FrozenInstanceError):
        env.name = "other"  # type: ignore[misc]
    report = env.to_dict()
    assert (report["name"], report["network_isolated"]) == ("bubblewrap", True)
    assert report["enforced"] == []
    assert not env.enforces("memory_bytes")
