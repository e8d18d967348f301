"""Test and workload runs with the behaviour recorder (runner/verify/recording.py): the
files they leave in a checkout, and the recording kept in the job directory."""

from __future__ import annotations

from pathlib import Path

from runner.pipeline.commands import SEED
from runner.pipeline.context import Checkout, JobContext
from runner.sandbox.base import CommandResult
from runner.verify import recording
from runner.verify.behaviour import Recording, RecordingError, load_recording

RECORD_FILE = Path(".optirunner") / "record.json"
INPUTS_DIR = Path(".optirunner") / "inputs"
WORKLOAD_RECORD = Path(".optirunner") / "workload-record.json"
AA_RECORD_FILE = Path(".optirunner") / "record-aa.json"  # the A/A pass's second recording
WORKLOAD_AA_RECORD = Path(".optirunner") / "workload-record-aa.json"
WORKLOAD_INPUTS = Path(".optirunner") / "workload-inputs"

Recorded = tuple[CommandResult, Recording | None]


def tests(ctx: JobContext, checkout: Checkout, *, keep_inputs: bool, again: bool) -> Recorded:
    """Run the tests with the behaviour recorder when the command is pytest."""
    argv = ctx.spec.test_argv()
    with_plugin = recording.with_plugin(argv)
    if with_plugin is None:
        return ctx.commands.run_tests(checkout, argv), None
    if again:
        return _run(ctx, checkout, with_plugin, AA_RECORD_FILE, None, "tests-aa")
    inputs = INPUTS_DIR if keep_inputs else None
    return _run(ctx, checkout, with_plugin, RECORD_FILE, inputs, "tests")


def workload(ctx: JobContext, checkout: Checkout, *, keep_inputs: bool, again: bool) -> Recorded:
    """Run the --workload with the recorder (runner/verify/_workload_boot.py)."""
    argv = ctx.spec.workload_argv()
    assert argv is not None  # noqa: S101 - only called with a workload
    recording.install_workload_boot(checkout.project)
    if again:
        return _run(ctx, checkout, argv, WORKLOAD_AA_RECORD, None, "workload-aa")
    inputs = WORKLOAD_INPUTS if keep_inputs else None
    return _run(ctx, checkout, argv, WORKLOAD_RECORD, inputs, "workload")


def _run(
    ctx: JobContext,
    checkout: Checkout,
    argv: list[str],
    record: Path,
    inputs: Path | None,
    what: str,
) -> Recorded:
    """Run `argv` with the recorder's settings; the recording when it passes."""
    plugins = recording.install_plugin(checkout.project)
    out = checkout.project / record
    targets = [str(t) for t in ctx.spec.targets]
    env = recording.record_env(targets, out, plugins, SEED, None)
    if inputs is not None:
        env["OPTIRUNNER_RECORD_INPUTS"] = str(checkout.project / inputs)
    run = ctx.commands.run_tests(checkout, argv, env)
    if not run.ok:
        return run, None
    try:
        found = load_recording(out)
    except RecordingError as exc:
        ctx.warn(f"{what}: {exc}")
        return run, None
    suffix = "" if what == "tests" else f"-{what}"
    ctx.dir.subdir("behaviour")
    ctx.dir.write(f"behaviour/{checkout.name}{suffix}.json", out.read_bytes())
    return run, found


def behaviour_note(ctx: JobContext, baseline: Recording | None) -> str:
    """What the report says of the baseline's recording."""
    if recording.with_plugin(ctx.spec.test_argv()) is None:
        return "not recorded: the test command is not pytest"
    if baseline is None:
        return "not recorded: the recorder produced no file"
    return f"recorded {baseline.call_count} calls of the targets at baseline"
