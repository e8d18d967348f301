"""End to end: `optirunner optimize` as a user runs it, in a real subprocess."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ..projects import SHOP, SLOW_MODULE, TESTS, write_files

pytestmark = pytest.mark.slow

# Short measuring budgets: these tests check the pipeline, not the statistics.
FAST = {"OPTIRUNNER_MEASURE__BUDGET_S": "20", "OPTIRUNNER_MEASURE__INSTRUCTIONS": "never"}


def cli(
    *args: str, cwd: Path | None = None, timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runner", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        check=False,
        env={**os.environ, "COLUMNS": "200", **FAST},
    )


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@e", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = write_files(tmp_path / "shop-project", SHOP)
    git(root, "init", "-q")
    git(root, "add", ".")
    git(root, "commit", "-qm", "init")
    return root


def snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(root).parts and "__pycache__" not in p.parts
    }


def job_dirs() -> list[Path]:
    jobs = Path(os.environ["XDG_STATE_HOME"]) / "optirunner" / "jobs"
    return sorted(jobs.iterdir()) if jobs.exists() else []


def test_optimize_finds_verifies_and_reports(project: Path) -> None:
    before = snapshot(project)
    proc = cli(
        "optimize",
        str(project),
        "--target",
        "shop.py::common",
        "--bench-cmd",
        "python bench.py",
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["outcome"] == "succeeded"
    assert report["best"], report
    best = next(c for c in report["candidates"] if c["id"] == report["best"][0])
    assert best["tests"] == "passed"
    assert best["measurement"]["verdict"].startswith("faster")
    assert best["measurement"]["speedup"] > 1.5
    assert len(best["measurement"]["baseline_rounds"]) >= 5
    # The user's tree is untouched and git knows of no leftover worktree.
    assert snapshot(project) == before
    assert git(project, "worktree", "list").count("\n") == 1
    # The job directory contract.
    (job,) = job_dirs()
    names = {p.name for p in job.iterdir()}
    assert {"spec.json", "report.md", "report.json", "patch.diff", "events.jsonl"} <= names
    assert all((job / n).stat().st_mode & 0o077 == 0 for n in names if (job / n).is_file())
    assert job.stat().st_mode & 0o777 == 0o700
    stages = [json.loads(line)["name"] for line in (job / "events.jsonl").read_text().splitlines()]
    for stage in ("job", "workspace", "baseline", "generate", "verify", "measure", "report"):
        assert stage in stages
    # The patch applies to a copy of the user's tree and the tests still pass there.
    copy = project.parent / "copy"
    shutil.copytree(project, copy)
    subprocess.run(["git", "apply", str(job / "patch.diff")], cwd=copy, check=True)
    assert (copy / "shop.py").read_text() != SLOW_MODULE
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=copy, check=False
    )
    assert tests.returncode == 0


def test_summary_table_and_report(project: Path) -> None:
    proc = cli("optimize", str(project), "--target", "shop.py::common", "--max-candidates", "2")
    assert proc.returncode == 0, proc.stderr
    assert "speedup" in proc.stdout
    assert "report:" in proc.stdout
    (job,) = job_dirs()
    assert "# optirunner report" in (job / "report.md").read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["/nonexistent/repo", "--target", "a.py::f"], "does not exist"),
        (["{project}/shop.py", "--target", "a.py::f"], "is not a folder"),
        (["{project}", "--target", "missing.py::f"], "missing.py does not exist"),
        (["{project}", "--target", "shop.py::nope"], "functions defined there: common"),
        (["{project}", "--target", "bench.txt::f"], "is not a Python file"),
        (["{project}", "--target", "shop.py"], "must look like"),
        (["{project}", "--target", "shop.py::common", "--provider", "magic"], "unknown provider"),
    ],
)
def test_bad_input_is_one_line_exit_1(project: Path, args: list[str], message: str) -> None:
    proc = cli("optimize", *[a.format(project=project) for a in args])
    assert proc.returncode == 1, proc.stderr
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert len(proc.stderr.strip().splitlines()) == 1


def test_baseline_failing_runs_no_candidate(project: Path) -> None:
    (project / "test_shop.py").write_text(
        TESTS + "\n\ndef test_broken():\n    assert 1 == 2, 'broken on purpose'\n"
    )
    proc = cli("optimize", str(project), "--target", "shop.py::common", "--json")
    assert proc.returncode == 1
    report = json.loads(proc.stdout)
    assert report["outcome"] == "baseline failing"
    assert report["candidates"] == []
    assert "broken on purpose" in report["baseline"]["tail"]
    assert "baseline failing" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_hanging_tests_time_out(project: Path, tmp_path: Path) -> None:
    (project / "test_shop.py").write_text("import time\n\ndef test_hang():\n    time.sleep(600)\n")
    config = tmp_path / "c.toml"
    config.write_text("[sandbox]\ntest_timeout_s = 2\n")
    start = time.monotonic()
    proc = cli("optimize", str(project), "--target", "shop.py::common", "--config", str(config))
    assert time.monotonic() - start < 60
    assert proc.returncode == 1
    assert "timed out" in proc.stderr or "timeout" in proc.stderr
    assert "Traceback" not in proc.stderr


def _marker_processes(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker in (entry / "cmdline").read_bytes().decode(errors="replace"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_ctrl_c_cancels_cleanly(project: Path) -> None:
    marker = "optirunner-ctrlc-marker"
    (project / "test_shop.py").write_text(
        f"import subprocess, sys, time\n\ndef test_slow():\n"
        "    subprocess.Popen(\n"
        f"        [sys.executable, '-c', 'import time; time.sleep(300)', '{marker}']\n"
        "    )\n"
        "    time.sleep(300)\n"
    )
    git(project, "commit", "-qam", "slow tests")
    before = snapshot(project)
    assert _marker_processes(marker) == [], "a marker process of an earlier run is alive"
    # A shell's background job (`cmd &`) inherits SIGINT ignored, and an ignored SIGINT
    # stays ignored across exec: Python would never raise KeyboardInterrupt. A handled
    # signal is reset to the default at exec, so handle it here while the child starts.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "runner", "optimize", str(project), "-t", "shop.py::common"],
            env={**os.environ, **FAST},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    finally:
        signal.signal(signal.SIGINT, previous)
    with proc:  # closes the pipes and reaps the child even when an assertion fails
        try:
            deadline = time.monotonic() + 60
            while not _marker_processes(marker) and time.monotonic() < deadline:
                time.sleep(0.2)
            assert _marker_processes(marker), "the test command never started"
            proc.send_signal(signal.SIGINT)
            _out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 130
    assert "Traceback" not in err
    time.sleep(0.5)
    assert _marker_processes(marker) == []
    assert snapshot(project) == before
    assert git(project, "worktree", "list").count("\n") == 1
    (job,) = job_dirs()
    assert json.loads((job / "report.json").read_text())["outcome"] == "cancelled"


def test_secrets_of_the_settings_never_reach_events(project: Path) -> None:
    secret = "s3cr3t-Value-9f2b7c"  # noqa: S105 - planted, must never be written
    env = {**os.environ, **FAST, "OPTIRUNNER_SERVICE__GITLAB__TOKEN": secret}
    test_cmd = f"python -m pytest -q -k 'common or {secret}'"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "runner",
            "optimize",
            str(project),
            "-t",
            "shop.py::common",
            "--test-cmd",
            test_cmd,
            "--max-candidates",
            "1",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    (job,) = job_dirs()
    events = (job / "events.jsonl").read_text()
    assert "sandbox.run" in events
    assert secret not in events


def test_the_projects_formatter_shapes_the_candidate(project: Path) -> None:
    # ruff with a 40-column limit: the candidate's long new line comes out wrapped, and the
    # lines it did not change keep their original form.
    (project / "pyproject.toml").write_text("[tool.ruff]\nline-length = 40\n")
    git(project, "add", ".")
    git(project, "commit", "-qm", "ruff config")
    proc = cli("optimize", str(project), "--target", "shop.py::common", "--json")
    assert proc.returncode == 0, proc.stderr
    (job,) = job_dirs()
    patch = (job / "patch.diff").read_text()
    assert "+        _right_set = (\n+            set(right)\n" in patch  # wrapped by ruff
    assert ' """Items of `left` that are also in `right`, in order."""' in patch  # untouched
