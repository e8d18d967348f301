"""report.json of a real job on the bundled example, against a checked-in golden copy.

The job runs the example's own tests with the behaviour recorder, generates inputs and
measures, exactly as `make demo` does for two of its targets. What varies between two
runs of the same job (clock times, durations, timings, paths, pytest's output tail) is
replaced by its type before comparing; everything else — statuses, diffs, behaviour
notes, input counts, declines — must be identical to the golden copy.

To refresh the golden copy after an intended change of the report:
    UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_report_golden.py
and review the diff of tests/golden/inventory-report.json.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from runner.config import Settings
from runner.job import OptimizeJob
from runner.sandbox import make_sandbox
from runner.spec import JobSpec, Target

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).parent / "golden" / "inventory-report.json"
TARGETS = ("inventory/reports.py::low_stock", "inventory/parsing.py::parse_bin_codes")
# Values that differ between two runs of one job on one machine: times and paths, and
# what follows from timings (the verdicts, so the winners and the summary message).
VOLATILE = frozenset(
    {
        *("job_id", "started", "finished", "duration_s", "tail", "repo", "apply_dir"),
        *("measurement", "best", "message"),
    }
)


# What the executor says of this machine (`Sandbox.describe()`): the same backend, but
# another host's platform, kernel, interpreter and cgroup support.
MACHINE = frozenset({"platform", "kernel", "interpreter", "limits", "enforced"})


def normalise(value: Any, key: str = "") -> Any:
    """`value` with every run-dependent part replaced by the name of its type."""
    if key in VOLATILE:
        return f"<{type(value).__name__}>"
    if isinstance(value, dict):
        return {k: normalise(v, k) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return [normalise(v) for v in value]
    return value


def test_the_example_report_matches_the_golden_copy(tmp_path: Path) -> None:
    project = tmp_path / "inventory"
    shutil.copytree(ROOT / "examples" / "inventory", project)
    settings = Settings(
        state_dir=tmp_path / "state",
        measure={"budget_s": 8, "instructions": "never", "noise_check": False},
    )
    spec = JobSpec(
        repo=str(project),
        targets=tuple(Target.parse(t) for t in TARGETS),
        test_cmd=f"{sys.executable} -m pytest -q -p no:cacheprovider tests",
    )
    result = OptimizeJob(settings, spec, make_sandbox(settings), job_id="golden").run()
    report = json.loads((settings.state_dir / "jobs" / "golden" / "report.json").read_text())
    assert report == result.to_dict()
    # The test command names this checkout's interpreter.
    report["spec"]["test_cmd"] = report["spec"]["test_cmd"].replace(sys.executable, "<python>")
    report["sandbox"] = {k: f"<{k}>" if k in MACHINE else v for k, v in report["sandbox"].items()}
    got = normalise(report)
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.write_text(json.dumps(got, indent=2, ensure_ascii=False) + "\n", "utf-8")
    assert got == json.loads(GOLDEN.read_text("utf-8"))
