"""`sandbox.backend = "none"` run by root, as in issue 24: what the command tried, for real.

The job's state directory, its spec, a real git source repository with a worktree of it:
the command runs as `nobody` (no capabilities, no_new_privs, Landlock where the kernel
has it) and none of the attempts of the issue gets through.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from runner.errors import SandboxError
from runner.paths import JobDir
from runner.sandbox.base import RunRequest
from runner.sandbox.local import LocalSandbox
from runner.workspace import Workspace, inspect_source

Job = tuple[LocalSandbox, Path, Path, Path]
pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the issue's case: the runner is root")


@pytest.fixture
def job(tmp_path: Path) -> Job:
    """(sandbox, the candidate's checkout, the job's spec.json, the source repository)."""
    source = tmp_path / "source"
    source.mkdir()
    (source / "mod.py").write_text("def f():\n    return 1\n")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    subprocess.run([*git, "init", "-q", str(source)], check=True)
    subprocess.run([*git, "-C", str(source), "add", "."], check=True)
    subprocess.run([*git, "-C", str(source), "commit", "-qm", "one"], check=True)
    state = tmp_path / "state"
    job_dir = JobDir.create(state, "job-1")
    spec = job_dir.write("spec.json", '{"targets": ["mod.py::f"]}')
    checkout = Workspace(inspect_source(source), job_dir.subdir("worktrees")).checkout("c1")
    return LocalSandbox(use_bwrap=False, state_dir=state), checkout, spec, source


def run(sandbox: LocalSandbox, workdir: Path, script: str) -> subprocess.CompletedProcess[str]:
    result = sandbox.run(RunRequest(["/bin/sh", "-c", script], workdir))
    return subprocess.CompletedProcess([], result.returncode, result.stdout, result.stderr)


def test_the_command_is_not_root_and_holds_no_privilege(job: Job) -> None:
    sandbox, checkout, _, _ = job
    done = run(
        sandbox, checkout, "id -u; grep -E '^(CapEff|CapBnd|CapAmb|NoNewPrivs)' /proc/self/status"
    )
    lines = done.stdout.split()
    assert lines[0] == "65534"
    assert done.stdout.count("0000000000000000") == 3
    assert "NoNewPrivs:\t1" in done.stdout.replace("NoNewPrivs: ", "NoNewPrivs:\t")
    assert sandbox.name.startswith("none (as nobody")


def test_it_cannot_write_usr(job: Job) -> None:
    sandbox, checkout, _, _ = job
    done = run(sandbox, checkout, "echo pwned > /usr/optirunner-pwned")
    assert done.returncode != 0
    assert not Path("/usr/optirunner-pwned").exists()


def test_it_cannot_overwrite_the_jobs_spec(job: Job) -> None:
    sandbox, checkout, spec, _ = job
    before = spec.read_text()
    done = run(sandbox, checkout, f"echo '{{}}' > {spec}; rm -f {spec}; mv {spec} {spec}.x")
    assert done.returncode != 0
    assert spec.read_text() == before


def test_it_cannot_plant_a_hook_in_the_source_repository(job: Job) -> None:
    sandbox, checkout, _, source = job
    hook = source / ".git" / "hooks" / "post-checkout"
    done = run(sandbox, checkout, f"printf '#!/bin/sh\\necho owned\\n' > {hook}; chmod +x {hook}")
    assert done.returncode != 0
    assert not hook.exists()
    gitdir = (checkout / ".git").read_text().split(":", 1)[1].strip()  # the worktree's own
    done = run(sandbox, checkout, f"echo x > {gitdir}/HEAD")
    assert done.returncode != 0


def test_it_cannot_read_etc_shadow(job: Job) -> None:
    sandbox, checkout, _, _ = job
    done = run(sandbox, checkout, "cat /etc/shadow")
    assert done.returncode != 0
    assert "root:" not in done.stdout


def test_it_cannot_mount(job: Job, tmp_path: Path) -> None:
    sandbox, checkout, _, _ = job
    target = tmp_path / "mnt"
    target.mkdir()
    done = run(sandbox, checkout, f"mount -t tmpfs none {target}")
    assert done.returncode != 0
    assert not os.path.ismount(target)


def test_its_folder_is_writable_and_the_runners_again_afterwards(job: Job) -> None:
    sandbox, checkout, _, _ = job
    done = run(
        sandbox, checkout, "echo new > made.txt && echo more >> mod.py && mkdir d && touch d/e"
    )
    assert done.returncode == 0, done.stderr
    for path in (checkout / "made.txt", checkout / "mod.py", checkout / "d" / "e", checkout):
        assert path.stat().st_uid == 0
    assert (checkout / "mod.py").read_text().endswith("more\n")


def test_root_is_never_the_sandbox_user() -> None:
    with pytest.raises(SandboxError, match="commands never run as root"):
        LocalSandbox(use_bwrap=False, user="root")
    with pytest.raises(SandboxError, match="does not exist"):
        LocalSandbox(use_bwrap=False, user="no-such-user-optirunner")


def test_a_folder_the_user_cannot_reach_is_a_clear_error(tmp_path: Path) -> None:
    closed = tmp_path / "closed"
    work = closed / "work"
    work.mkdir(parents=True)
    closed.chmod(0o700)
    sandbox = LocalSandbox(use_bwrap=False, state_dir=tmp_path / "elsewhere")
    with pytest.raises(
        SandboxError, match=f"nobody, who cannot reach {work}: {closed} is mode 0700"
    ):
        sandbox.run(RunRequest(["/bin/true"], work))
