"""The local sandbox, run for real: bubblewrap and plain subprocesses, same contract."""

from __future__ import annotations

import os
import shutil
import stat
import sys
import uuid
from pathlib import Path

import pytest

from runner.config import Settings
from runner.errors import SandboxError, SandboxTimeout
from runner.sandbox import interpreter_roots, make_sandbox
from runner.sandbox.base import Limits, RunRequest
from runner.sandbox.cgroup import PidsCgroup
from runner.sandbox.local import LocalSandbox, bwrap_argv, looks_out_of_memory, scrubbed_env
from tests.sandbox.conftest import PY
from tests.sandbox.contract import SandboxContract, alive, unique_sleep

HAS_BWRAP = shutil.which("bwrap") is not None
# Where neither a pids cgroup nor RLIMIT_NPROC (not applied to root) can cap processes.
PROCESS_CAP = PidsCgroup.available() or os.geteuid() != 0


@pytest.fixture(params=["bubblewrap", "none"])
def sandbox(request: pytest.FixtureRequest) -> LocalSandbox:
    if request.param == "bubblewrap" and not HAS_BWRAP:
        pytest.skip("bubblewrap is not installed")
    return LocalSandbox(
        use_bwrap=request.param == "bubblewrap", extra_ro_binds=interpreter_roots(PY)
    )


class TestBubblewrapContract(SandboxContract):
    pytestmark = pytest.mark.needs_bwrap

    @pytest.fixture
    def sandbox(self) -> LocalSandbox:
        if not HAS_BWRAP:
            pytest.skip("bubblewrap is not installed")
        return LocalSandbox(use_bwrap=True, extra_ro_binds=interpreter_roots(PY), interpreter=PY)

    @pytest.fixture
    def python(self) -> str:
        return PY


class TestNoneContract(SandboxContract):
    @pytest.fixture
    def sandbox(self) -> LocalSandbox:
        return LocalSandbox(use_bwrap=False, interpreter=PY)

    @pytest.fixture
    def python(self) -> str:
        return PY


def _py(code: str, workdir: Path, **limits: float) -> RunRequest:
    return RunRequest([PY, "-c", code], workdir, limits=Limits(**limits))  # type: ignore[arg-type]


def test_workdir_is_writable_and_is_the_cwd(sandbox: LocalSandbox, workdir: Path) -> None:
    result = sandbox.run(
        _py("import os; open('f.txt', 'w').write('x'); print(os.getcwd())", workdir)
    )
    assert result.ok, result.tail()
    assert result.stdout.strip() == str(workdir)
    assert (workdir / "f.txt").read_text() == "x"


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


def test_describe_names_the_backend_this_host_and_how_limits_apply(
    sandbox: LocalSandbox,
) -> None:
    env = sandbox.describe()
    assert env.backend == ("bubblewrap" if sandbox.isolates_network else "none")
    assert (env.kernel, env.image) == (os.uname().release, None)
    assert env.limits == ("rlimits+pids-cgroup" if PidsCgroup.available() else "rlimits")
    assert env.enforces("memory_bytes")
    assert env.enforces("processes") is PROCESS_CAP


def test_make_sandbox_names_the_jobs_interpreter(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path / "state", sandbox={"backend": "none"})
    assert make_sandbox(settings).describe().interpreter == sys.executable


def test_put_keeps_the_mode_of_a_file_it_replaces(sandbox: LocalSandbox, workdir: Path) -> None:
    script = workdir / "run.sh"
    script.write_text("#!/bin/sh\necho old\n")
    script.chmod(0o755)
    sandbox.put(workdir, {"run.sh": b"#!/bin/sh\necho new\n"})
    assert stat.S_IMODE(script.stat().st_mode) == 0o755
    assert sandbox.run(RunRequest(["./run.sh"], workdir)).stdout == "new\n"
    assert sorted(p.name for p in workdir.iterdir()) == ["run.sh"]  # no temporary file left


def test_get_never_blocks_on_a_fifo_or_reads_a_folder(sandbox: LocalSandbox, workdir: Path) -> None:
    assert sandbox.run(RunRequest(["sh", "-c", "mkfifo report.json && mkdir out"], workdir)).ok
    for relative in ("report.json", "out"):
        with pytest.raises(SandboxError, match="not a regular file"):
            sandbox.get(workdir, relative)


def test_get_follows_a_symlink_that_stays_inside(sandbox: LocalSandbox, workdir: Path) -> None:
    plant = "mkdir -p a/b && echo hi > a/b/f && ln -s a/b link && ln -s ../a/b/f a/g"
    assert sandbox.run(RunRequest(["sh", "-c", plant], workdir)).ok
    assert sandbox.get(workdir, "link/f") == sandbox.get(workdir, "a/g") == b"hi\n"


def test_cpu_time_limit(sandbox: LocalSandbox, workdir: Path) -> None:
    with pytest.raises(SandboxTimeout, match="CPU time"):
        sandbox.run(_py("while True: pass", workdir, cpu_seconds=1, timeout_s=30))


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
    assert alive(marker) == []


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
    marker = unique_sleep()
    result = sandbox.run(RunRequest(["sh", "-c", f"sleep {marker} & echo started"], workdir))
    assert result.stdout == "started\n"
    assert alive(f"sleep {marker}") == []


@pytest.mark.skipif(not PROCESS_CAP, reason="setsid escapes a process group without a cgroup")
def test_a_process_that_left_the_session_is_killed_too(
    sandbox: LocalSandbox, workdir: Path
) -> None:
    marker = f"{uuid.uuid4().int % 10**6 + 1000}.25"
    sandbox.run(RunRequest(["sh", "-c", f"setsid sleep {marker} & echo started"], workdir))
    assert alive(f"sleep {marker}") == []


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
