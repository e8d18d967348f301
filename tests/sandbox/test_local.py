"""The local sandbox, run for real: bubblewrap and plain subprocesses, same contract."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from runner.errors import MemoryLimitExceeded, SandboxError, SandboxTimeout
from runner.sandbox import interpreter_roots, unprivileged
from runner.sandbox.base import Limits, RunRequest
from runner.sandbox.cgroup import PidsCgroup
from runner.sandbox.local import LocalSandbox, bwrap_argv, looks_out_of_memory, scrubbed_env

HAS_BWRAP = shutil.which("bwrap") is not None


def _python_nobody_can_run() -> str:
    """This interpreter, unless the tests run as root and it lives where `nobody` (the
    user of backend "none") cannot pass, e.g. pyenv under /root: then Debian's python3."""
    if os.geteuid() != 0:
        return sys.executable
    nobody = pwd.getpwnam("nobody")
    for folder in Path(sys.executable).resolve().parents:
        info = folder.stat()
        mode, owner, group = info.st_mode, info.st_uid, info.st_gid
        if not unprivileged.can_search(mode, owner, group, nobody.pw_uid, nobody.pw_gid):
            return "/usr/bin/python3"
    return sys.executable


PY = _python_nobody_can_run()


def _cgroup_available() -> bool:
    probe = PidsCgroup.create(f"optirunner-probe-{uuid.uuid4().hex[:8]}", 10)
    if probe is None:
        return False
    probe.close()
    return True


# Where neither a pids cgroup nor RLIMIT_NPROC (not applied to root) can cap processes.
PROCESS_CAP = _cgroup_available() or os.geteuid() != 0


@pytest.fixture(params=["bubblewrap", "none"])
def sandbox(request: pytest.FixtureRequest) -> LocalSandbox:
    if request.param == "bubblewrap" and not HAS_BWRAP:
        pytest.skip("bubblewrap is not installed")
    return LocalSandbox(
        use_bwrap=request.param == "bubblewrap", extra_ro_binds=interpreter_roots(PY)
    )


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    path = tmp_path / "work"
    path.mkdir()
    return path


@pytest.fixture
def listener() -> Iterator[int]:
    """A real TCP server on 127.0.0.1, port 0."""
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen()
        yield srv.getsockname()[1]


def _py(code: str, workdir: Path, **limits: float) -> RunRequest:
    return RunRequest([PY, "-c", code], workdir, limits=Limits(**limits))  # type: ignore[arg-type]


def _alive(marker: str) -> list[int]:
    """PIDs whose command line contains `marker`."""
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


def test_runs_a_command_and_keeps_its_output_and_exit_code(
    sandbox: LocalSandbox, workdir: Path
) -> None:
    result = sandbox.run(
        _py("import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)", workdir)
    )
    assert (result.returncode, result.stdout, result.stderr) == (3, "out\n", "err\n")
    assert not result.ok
    assert result.tail() == "out\nerr"


def test_workdir_is_writable_and_is_the_cwd(sandbox: LocalSandbox, workdir: Path) -> None:
    result = sandbox.run(
        _py("import os; open('f.txt', 'w').write('x'); print(os.getcwd())", workdir)
    )
    assert result.ok, result.tail()
    assert result.stdout.strip() == str(workdir)
    assert (workdir / "f.txt").read_text() == "x"


def test_environment_is_scrubbed(
    sandbox: LocalSandbox, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITLAB_TOKEN", "glpat-should-never-leak")
    request = RunRequest(
        [PY, "-c", "import os, json; print(json.dumps(dict(os.environ)))"],
        workdir,
        env={"WANTED": "yes"},
    )
    env = __import__("json").loads(sandbox.run(request).stdout)
    assert "GITLAB_TOKEN" not in env
    assert env["WANTED"] == "yes"
    assert set(env) <= {"PATH", "HOME", "TMPDIR", "LANG", "LC_ALL", "PWD", "WANTED"}
    assert env["HOME"] != os.environ.get("HOME")


@pytest.mark.needs_bwrap
def test_tcp_to_localhost_fails_inside_bubblewrap(workdir: Path, listener: int) -> None:
    if not HAS_BWRAP:
        pytest.skip("bubblewrap is not installed")
    sandbox = LocalSandbox(use_bwrap=True, extra_ro_binds=interpreter_roots(PY))
    code = f"import socket; socket.create_connection(('127.0.0.1', {listener}), timeout=5)"
    result = sandbox.run(_py(code, workdir))
    assert result.returncode != 0
    assert "ConnectionRefusedError" in result.stderr or "unreachable" in result.stderr
    assert result.isolated_network
    assert sandbox.isolates_network


def test_without_bubblewrap_the_network_is_reported_as_not_isolated(
    workdir: Path, listener: int
) -> None:
    sandbox = LocalSandbox(use_bwrap=False)
    code = f"import socket; socket.create_connection(('127.0.0.1', {listener}), timeout=5)"
    result = sandbox.run(_py(code, workdir))
    assert result.ok  # the same connection succeeds: this is what the report warns about
    assert not result.isolated_network
    assert not sandbox.isolates_network


@pytest.mark.needs_bwrap
def test_bubblewrap_hides_the_rest_of_the_host(workdir: Path, tmp_path: Path) -> None:
    if not HAS_BWRAP:
        pytest.skip("bubblewrap is not installed")
    secret = tmp_path / "secret.txt"
    secret.write_text("s3cret")
    sandbox = LocalSandbox(use_bwrap=True, extra_ro_binds=interpreter_roots(PY))
    code = (
        "import os\n"
        f"print(os.path.exists({str(secret)!r}), os.path.exists('/etc/shadow'))\n"
        "try:\n    open('/usr/optirunner-test', 'w')\nexcept OSError as e:\n    print(e.errno)\n"
    )
    result = sandbox.run(_py(code, workdir))
    assert result.stdout.split() == ["False", "False", "30"]  # EROFS


def test_an_infinite_loop_is_killed_at_its_timeout(sandbox: LocalSandbox, workdir: Path) -> None:
    marker = f"optirunner-loop-{uuid.uuid4().hex}"
    with pytest.raises(SandboxTimeout, match="timeout"):
        sandbox.run(
            RunRequest(
                ["sh", "-c", f"while :; do :; done # {marker}"], workdir, limits=Limits(timeout_s=1)
            )
        )
    assert _alive(marker) == []


def test_cpu_time_limit(sandbox: LocalSandbox, workdir: Path) -> None:
    with pytest.raises(SandboxTimeout, match="CPU time"):
        sandbox.run(_py("while True: pass", workdir, cpu_seconds=1, timeout_s=30))


def test_a_memory_hog_hits_its_limit_and_is_reported_as_such(
    sandbox: LocalSandbox, workdir: Path
) -> None:
    hog = "blocks = []\nwhile True:\n    blocks.append(bytearray(64 * 1024 * 1024))"
    with pytest.raises(MemoryLimitExceeded, match="256 MiB"):
        sandbox.run(_py(hog, workdir, memory_bytes=256 * 1024**2))


def test_a_file_size_limit_stops_a_runaway_writer(sandbox: LocalSandbox, workdir: Path) -> None:
    code = "f = open('big', 'wb')\nfor _ in range(100): f.write(b'x' * 1024 * 1024)"
    result = sandbox.run(_py(code, workdir, file_size_bytes=4 * 1024**2))
    assert result.returncode != 0
    assert (workdir / "big").stat().st_size <= 4 * 1024**2


@pytest.mark.skipif(not PROCESS_CAP, reason="no pids cgroup and root ignores RLIMIT_NPROC")
def test_a_fork_bomb_is_contained(sandbox: LocalSandbox, workdir: Path) -> None:
    marker = f"optirunner-bomb-{uuid.uuid4().hex}"
    script = workdir / "bomb.sh"
    script.write_text(f"# {marker}\nb() {{ b | b & }}\nb\nsleep 30\n")
    with pytest.raises(SandboxTimeout):
        sandbox.run(
            RunRequest(
                ["sh", str(script), marker], workdir, limits=Limits(timeout_s=3, processes=64)
            )
        )
    assert _alive(marker) == []


@pytest.mark.skipif(not PROCESS_CAP, reason="no pids cgroup and root ignores RLIMIT_NPROC")
def test_the_process_limit_caps_how_many_processes_a_command_gets(
    sandbox: LocalSandbox, workdir: Path
) -> None:
    code = (
        "import os, time\nn = 0\nwhile n < 500:\n    try:\n        pid = os.fork()\n"
        "    except OSError:\n        break\n    if pid == 0:\n        time.sleep(5)\n"
        "        os._exit(0)\n    n += 1\nprint(n)"
    )
    result = sandbox.run(_py(code, workdir, processes=40, timeout_s=60))
    assert 0 < int(result.stdout) < 40


def test_no_process_outlives_its_command(sandbox: LocalSandbox, workdir: Path) -> None:
    marker = f"{uuid.uuid4().int % 10**6 + 1000}.5"  # a unique sleep duration to look for
    result = sandbox.run(RunRequest(["sh", "-c", f"sleep {marker} & echo started"], workdir))
    assert result.stdout == "started\n"
    assert _alive(f"sleep {marker}") == []


@pytest.mark.skipif(not PROCESS_CAP, reason="setsid escapes a process group without a cgroup")
def test_a_process_that_left_the_session_is_killed_too(
    sandbox: LocalSandbox, workdir: Path
) -> None:
    marker = f"{uuid.uuid4().int % 10**6 + 1000}.25"
    sandbox.run(RunRequest(["sh", "-c", f"setsid sleep {marker} & echo started"], workdir))
    assert _alive(f"sleep {marker}") == []


def test_stdin_is_passed(sandbox: LocalSandbox, workdir: Path) -> None:
    request = RunRequest(
        [PY, "-c", "import sys; print(sys.stdin.read().upper())"], workdir, stdin=b"abc"
    )
    assert sandbox.run(request).stdout == "ABC\n"


def test_a_missing_program_is_a_sandbox_error_or_a_failed_result(workdir: Path) -> None:
    with pytest.raises(SandboxError, match="cannot start 'no-such-program-xyz'"):
        LocalSandbox(use_bwrap=False).run(RunRequest(["no-such-program-xyz"], workdir))


def test_asking_for_bubblewrap_where_it_is_missing_is_a_clear_error() -> None:
    with pytest.raises(SandboxError, match="bubblewrap is not installed"):
        LocalSandbox(use_bwrap=True, bwrap="/nonexistent/bwrap")


def test_bwrap_argv_isolates_and_binds_the_workdir_last(tmp_path: Path) -> None:
    argv = bwrap_argv("bwrap", tmp_path, [Path("/opt/py")], as_root=True)
    for flag in ("--unshare-net", "--unshare-pid", "--die-with-parent", "--new-session"):
        assert flag in argv
    assert argv[argv.index("--cap-drop") + 1] == "ALL"
    assert argv[-6:] == ["--bind", str(tmp_path), str(tmp_path), "--chdir", str(tmp_path), "--"]
    assert argv[argv.index("/opt/py") - 1 : argv.index("/opt/py") + 2] == [
        "--ro-bind",
        "/opt/py",
        "/opt/py",
    ]
    assert "/etc" not in argv  # never the whole of /etc: it holds the runner's credentials


def test_scrubbed_env_starts_from_nothing() -> None:
    env = scrubbed_env({"PATH": "/x:/usr/bin", "A": "1"}, "/h", "/t")
    assert env == {
        "PATH": "/x:/usr/bin",
        "HOME": "/h",
        "TMPDIR": "/t",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "A": "1",
    }


@pytest.mark.parametrize(
    ("code", "stderr", "expected"),
    [
        (1, "Traceback...\nMemoryError\n", True),
        (0, "MemoryError", False),
        (1, "AssertionError", False),
    ],
)
def test_looks_out_of_memory(code: int, stderr: str, expected: bool) -> None:
    assert looks_out_of_memory(code, stderr) is expected
