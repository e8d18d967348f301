"""The contract every `Sandbox` backend passes (runner/sandbox/base.py).

A backend's test module subclasses `SandboxContract` (named `Test...`) and provides two
fixtures: `sandbox`, the backend under test, and `python`, the path of a Python 3 its
commands can run. `workdir` and `listener` come from tests/sandbox/conftest.py:

    class TestDaggerContract(SandboxContract):
        @pytest.fixture
        def sandbox(self) -> Sandbox: ...

        @pytest.fixture
        def python(self) -> str:
            return "/usr/local/bin/python"

Tests of a limit the backend does not claim (`describe().enforced`) or of the network
where it does not claim isolation are skipped, with the reason: a claim is what is tested.
"""

from __future__ import annotations

import dataclasses
import json
import os
import uuid
from pathlib import Path

import pytest

from runner.errors import (
    MemoryLimitExceeded,
    SandboxError,
    SandboxFileNotFound,
    SandboxPathError,
    SandboxTimeout,
)
from runner.sandbox.base import BASE_ENV_NAMES, Limits, RunRequest, Sandbox

DUMP_ENV = "import json, os; print(json.dumps(dict(os.environ)))"
MEMORY_HOG = "blocks = []\nwhile True:\n    blocks.append(bytearray(64 * 1024 * 1024))"
#: Paths put/get refuse before looking at any file.
ESCAPES = ("/etc/passwd", "../outside.txt", "a/../../outside.txt", "a/../b.txt", "", ".")


def alive(marker: str) -> list[int]:
    """PIDs on this host whose command line contains `marker`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if marker in cmdline and str(os.getpid()) != entry.name:
            found.append(int(entry.name))
    return found


def unique_sleep() -> str:
    """A sleep duration no other process uses: `alive(f"sleep {it}")` finds only ours."""
    return f"{uuid.uuid4().int % 10**6 + 1000}.5"


class SandboxContract:
    """The same tests on every backend (not collected itself: its name lacks `Test`)."""

    def test_exit_code_stdout_and_stderr_come_back(self, sandbox: Sandbox, workdir: Path) -> None:
        argv = ["sh", "-c", "echo out; echo err >&2; exit 3"]
        result = sandbox.run(RunRequest(argv, workdir))
        assert (result.returncode, result.stdout, result.stderr) == (3, "out\n", "err\n")
        assert result.argv == tuple(argv)
        assert result.tail() == "out\nerr"

    def test_a_non_zero_exit_is_a_result_not_an_error(
        self, sandbox: Sandbox, workdir: Path
    ) -> None:
        assert not sandbox.run(RunRequest(["sh", "-c", "exit 1"], workdir)).ok
        assert sandbox.run(RunRequest(["sh", "-c", "kill -9 $$"], workdir)).returncode != 0
        assert sandbox.run(RunRequest(["sh", "-c", "exit 0"], workdir)).ok

    def test_the_command_sees_the_env_it_was_given_and_nothing_of_the_runners(
        self, sandbox: Sandbox, workdir: Path, python: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("OPTIRUNNER_CONTRACT_TOKEN", "glpat-must-never-leak")
        given = {"WANTED": "yes", "EMPTY": "", "PATH": f"{Path(python).parent}:/usr/bin:/bin"}
        result = sandbox.run(RunRequest([python, "-c", DUMP_ENV], workdir, env=given))
        assert result.ok, result.tail()
        seen = json.loads(result.stdout)
        assert {name: seen.get(name) for name in given} == given  # the request's values win
        assert set(seen) - set(given) <= BASE_ENV_NAMES
        assert "glpat-must-never-leak" not in result.stdout
        for name in ("HOME", "TMPDIR"):
            assert name not in seen or seen[name] != os.environ.get(name), name
        assert seen.get("PWD", str(workdir)) == str(workdir)

    def test_a_timeout_raises_and_leaves_no_process_alive(
        self, sandbox: Sandbox, workdir: Path
    ) -> None:
        sleep = unique_sleep()
        request = RunRequest(
            ["sh", "-c", f"sleep {sleep} & sleep {sleep}"], workdir, limits=Limits(timeout_s=0.5)
        )
        with pytest.raises(SandboxTimeout, match="timeout"):
            sandbox.run(request)
        assert alive(f"sleep {sleep}") == []

    def test_the_memory_limit_raises_memory_limit_exceeded(
        self, sandbox: Sandbox, workdir: Path, python: str
    ) -> None:
        if not sandbox.describe().enforces("memory_bytes"):
            pytest.skip("the backend does not claim to enforce memory_bytes")
        limits = Limits(memory_bytes=256 * 1024**2, timeout_s=60)
        with pytest.raises(MemoryLimitExceeded, match="256 MiB"):
            sandbox.run(RunRequest([python, "-c", MEMORY_HOG], workdir, limits=limits))

    def test_a_command_sees_the_files_put_into_its_folder(
        self, sandbox: Sandbox, workdir: Path
    ) -> None:
        sandbox.put(workdir, {"top.txt": b"old\n"})
        sandbox.put(workdir, {"top.txt": b"one\n", "sub/dir/two.txt": b"two\n"})
        result = sandbox.run(RunRequest(["cat", "top.txt", "sub/dir/two.txt"], workdir))
        assert (result.returncode, result.stdout) == (0, "one\ntwo\n")

    def test_get_returns_a_file_a_command_wrote(
        self, sandbox: Sandbox, workdir: Path, python: str
    ) -> None:
        code = "import os; os.mkdir('out'); open('out/data.bin', 'wb').write(bytes(range(256)))"
        assert sandbox.run(RunRequest([python, "-c", code], workdir)).ok
        assert sandbox.get(workdir, "out/data.bin") == bytes(range(256))

    @pytest.mark.parametrize("relative", ["missing.txt", "no/such/dir/file.txt"])
    def test_get_of_a_missing_file_raises_sandbox_file_not_found(
        self, sandbox: Sandbox, workdir: Path, relative: str
    ) -> None:
        with pytest.raises(SandboxFileNotFound, match=relative) as caught:
            sandbox.get(workdir, relative)
        assert isinstance(caught.value, SandboxError)

    @pytest.mark.parametrize("relative", ESCAPES)
    def test_put_and_get_refuse_paths_outside_the_folder(
        self, sandbox: Sandbox, workdir: Path, relative: str
    ) -> None:
        with pytest.raises(SandboxPathError):
            sandbox.put(workdir, {relative: b"x"})
        with pytest.raises(SandboxPathError):
            sandbox.get(workdir, relative)
        assert not (workdir.parent / "outside.txt").exists()

    def test_put_and_get_refuse_symlinks_a_command_left_leading_out(
        self, sandbox: Sandbox, workdir: Path, tmp_path: Path
    ) -> None:
        outside = tmp_path / "outside"
        outside.mkdir()
        secret = outside / "secret.txt"
        secret.write_bytes(b"s3cret")
        plant = f"ln -s {outside} dir && ln -s {secret} file && ln -s ../outside up"
        assert sandbox.run(RunRequest(["sh", "-c", plant], workdir)).ok
        for relative in ("file", "dir/secret.txt", "up/secret.txt"):
            with pytest.raises(SandboxPathError, match="symlink"):
                sandbox.get(workdir, relative)
        for files in ({"file": b"pwned"}, {"ok.txt": b"x", "dir/new.txt": b"x"}):
            with pytest.raises(SandboxPathError, match="symlink"):
                sandbox.put(workdir, files)
        assert secret.read_bytes() == b"s3cret"
        assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
        assert not (workdir / "ok.txt").exists()  # every path is checked before any write

    def test_describe_agrees_with_isolates_network_and_run(
        self, sandbox: Sandbox, workdir: Path
    ) -> None:
        env = sandbox.describe()
        result = sandbox.run(RunRequest(["true"], workdir))
        assert env.network_isolated is sandbox.isolates_network is result.isolated_network
        assert env.name == sandbox.name
        report = json.loads(json.dumps(env.to_dict()))
        assert report["name"] == sandbox.name
        assert report["network_isolated"] is result.isolated_network
        assert env.backend
        assert env.platform
        assert set(env.enforced) <= {f.name for f in dataclasses.fields(Limits)}

    def test_the_network_is_unreachable_when_the_backend_says_so(
        self, sandbox: Sandbox, workdir: Path, python: str, listener: int
    ) -> None:
        if not sandbox.isolates_network:
            pytest.skip("the backend does not claim network isolation (the report says so)")
        code = f"import socket; socket.create_connection(('127.0.0.1', {listener}), timeout=5)"
        result = sandbox.run(RunRequest([python, "-c", code], workdir))
        assert result.returncode != 0
        assert "ConnectionRefusedError" in result.stderr or "unreachable" in result.stderr
