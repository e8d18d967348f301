"""The --workload command: which commands can be recorded, and the boot script for real
(a real interpreter runs a real script with the recorder on)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from runner.errors import SpecError
from runner.spec import JobSpec, Target, workload_argv
from runner.verify import recording
from runner.verify.behaviour import load_recording
from runner.webhooks import specsource
from tests.projects import write_files

BOOT = str(recording.WORKLOAD_BOOT)


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("python bench.py -n 3", ["python", BOOT, "bench.py", "-n", "3"]),
        ("python -O -m bench x", ["python", "-O", BOOT, "-m", "bench", "x"]),
        ("python3.11 -mbench", ["python3.11", BOOT, "-m", "bench"]),
        ("python -W error bench.py", ["python", "-W", "error", BOOT, "bench.py"]),
        ("uv run python bench.py", ["uv", "run", "python", BOOT, "bench.py"]),
        ("/opt/venv/bin/python bench.py", ["/opt/venv/bin/python", BOOT, "bench.py"]),
    ],
)
def test_python_commands_run_under_the_boot_script(command: str, expected: list[str]) -> None:
    assert workload_argv(command) == expected


@pytest.mark.parametrize(
    "command", ["make bench", "python -c 'import x'", "python -m", "python", "python - < x"]
)
def test_other_commands_are_refused_with_the_forms_that_work(command: str) -> None:
    with pytest.raises(SpecError, match=r"must run Python: `python script.py \[args\]`"):
        workload_argv(command)


def test_an_unparsable_workload_is_a_spec_error() -> None:
    with pytest.raises(SpecError, match=r"--workload .* cannot be parsed"):
        workload_argv("python 'bench.py")


def test_the_spec_checks_its_workload() -> None:
    spec = JobSpec(repo=".", targets=(Target("m.py", "f"),), workload_cmd="bash run.sh")
    with pytest.raises(SpecError, match="must run Python"):
        spec.workload_argv()
    assert JobSpec(repo=".", targets=()).workload_argv() is None


def test_an_issue_may_name_a_workload() -> None:
    spec = specsource.parse_command('m.py::f --workload "python bench.py --size 1000"')
    assert spec["workload_cmd"] == "python bench.py --size 1000"
    block = specsource.validate({"workload_cmd": "python -m bench"}, "the optirunner block")
    assert block == {"workload_cmd": "python -m bench"}
    with pytest.raises(SpecError, match="the optirunner block: --workload 'make' must run"):
        specsource.validate({"workload_cmd": "make"}, "the optirunner block")
    with pytest.raises(SpecError, match="workload_cmd must be a string"):
        specsource.validate({"workload_cmd": ["python", "b.py"]}, "the optirunner block")


# -- the boot script, for real ----------------------------------------------------------------

PROJECT = {
    "lib/__init__.py": "from .text import shout\n",
    "lib/text.py": """def shout(word, times=1):
    if not word:
        raise ValueError("empty")
    return (word.upper() + "!") * times
""",
    "bench/run.py": """import sys
from lib import shout

for word in sys.argv[1:]:
    shout(word, times=2)
try:
    shout("")
except ValueError:
    pass
print("done", len(sys.argv) - 1)
""",
    "bench/__init__.py": "",
    "bench/fails.py": """from lib.text import shout
shout("a")
raise SystemExit(3)
""",
    "bench/__main__.py": """from lib.text import shout
print(shout("module"))
""",
}
TARGET = "lib/text.py::shout"


def _boot(
    project: Path, argv: list[str], tmp: Path
) -> tuple[subprocess.CompletedProcess[str], Path]:
    plugins = recording.install_workload_boot(project)
    out = tmp / "workload.json"
    env = recording.record_env([TARGET], out, plugins, 7, None)
    env["OPTIRUNNER_RECORD_INPUTS"] = str(tmp / "inputs")
    rewritten = recording.workload_argv([sys.executable, *argv])
    assert rewritten is not None
    done = subprocess.run(
        rewritten, cwd=project, env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    return done, out


def test_a_script_s_calls_are_recorded_through_a_re_export(tmp_path: Path) -> None:
    project = write_files(tmp_path / "project", PROJECT)
    done, out = _boot(project, ["bench/run.py", "ab", "cd", "ef"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "done 3"  # the script saw its own arguments
    recorded = load_recording(out)
    calls = recorded.targets[TARGET]
    assert [c.outcome for c in calls] == ["return", "return", "return", "raise"]
    assert {c.site for c in calls} == {"<workload>"}
    assert json.loads(out.read_text())["inputs"] == {TARGET: 4}
    assert (tmp_path / "inputs" / "0.pkl").is_file()


def test_a_module_runs_with_dash_m(tmp_path: Path) -> None:
    project = write_files(tmp_path / "project", PROJECT)
    done, out = _boot(project, ["-m", "bench"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "MODULE!"
    assert len(load_recording(out).targets[TARGET]) == 1


def test_a_failing_workload_keeps_its_exit_status_and_its_calls(tmp_path: Path) -> None:
    project = write_files(tmp_path / "project", PROJECT)
    done, out = _boot(project, ["bench/fails.py"], tmp_path)
    assert done.returncode == 3
    document = json.loads(out.read_text())
    assert document["exitstatus"] == 3
    assert len(document["targets"][TARGET]) == 1


def test_a_missing_script_is_one_clear_line(tmp_path: Path) -> None:
    project = write_files(tmp_path / "project", PROJECT)
    done, _ = _boot(project, ["bench/nope.py"], tmp_path)
    assert done.returncode == 2
    assert "optirunner workload: workload script 'bench/nope.py' does not exist" in done.stderr
    assert "Traceback" not in done.stderr
