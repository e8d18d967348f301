"""Every command a job runs goes through here to the executor (`runner.sandbox`): the
environment it gets, its limits, its trace span, and a candidate's scaled timeout."""

from __future__ import annotations

import os
import shlex
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from runner.config import Settings
from runner.errors import OptirunnerError, SandboxError, SandboxFileNotFound, SandboxTimeout
from runner.result import JobResult
from runner.sandbox.base import CommandResult, Limits, RunRequest, Sandbox
from runner.sandbox.local import BASE_PATH
from runner.telemetry.policy import output_tail
from runner.verify import recording, timeouts
from runner.verify.replay import CommandRunner

if TYPE_CHECKING:
    from runner.pipeline.context import Checkout
    from runner.telemetry.tracing import Tracer

SEED = 20261124  # one seed for every run of a job, so baseline and candidate see the same
SHIM_DIR = Path(".optirunner") / "bin"
# Variables the runner sets for a command itself: their values are not secrets (masking
# PYTHONHASHSEED's value masked the seed in every harness command line of the trace).
RUNNER_ENV = frozenset({"PATH", "PYTHONHASHSEED", "PYTHONDONTWRITEBYTECODE", "PYTHONPATH"})


def secret_env_values(env: dict[str, str]) -> list[str]:
    """The values of a command's environment that traces must mask."""
    return [v for k, v in env.items() if not k.startswith("OPTIRUNNER_") and k not in RUNNER_ENV]


class Commands:
    """Runs a job's commands in its sandbox, each traced as one `sandbox.run` span."""

    def __init__(
        self, settings: Settings, sandbox: Sandbox, tracer: Tracer, result: JobResult
    ) -> None:
        self.settings = settings
        self.sandbox = sandbox
        self.tracer = tracer
        self.result = result  # the baseline's durations scale a candidate's timeouts

    @property
    def python(self) -> str:
        """The interpreter the project's commands run with."""
        return self.settings.python or sys.executable

    def run(
        self, argv: list[str], project: Path, env: dict[str, str], timeout: float, *, check: bool
    ) -> CommandResult:
        """Run `argv` in `project`; with `check`, a non-zero exit is an error."""
        full_env = {
            "PATH": command_path(project, self.python),
            "PYTHONHASHSEED": str(SEED),
            "PYTHONDONTWRITEBYTECODE": "1",
            **env,
        }
        # Values the command sees in its environment are masked in every trace (the
        # variables the runner sets itself are not secrets).
        self.tracer.add_secrets(secret_env_values(env))
        with self.tracer.span(
            "sandbox.run", argv=" ".join(argv), cwd=project.name, timeout_s=timeout
        ) as span:
            started = time.monotonic()
            try:
                result = self.sandbox.run(RunRequest(argv, project, full_env, self.limits(timeout)))
            except SandboxTimeout:
                span.set(timed_out=True, duration_s=round(time.monotonic() - started, 4))
                raise
            # stdout/stderr are content: redacted, hashed or dropped per telemetry.content.
            span.set(
                returncode=result.returncode,
                duration_s=round(result.duration_s, 4),
                timed_out=False,
                stdout=output_tail(result.stdout),
                stderr=output_tail(result.stderr),
            )
        if check and not result.ok:
            raise OptirunnerError(
                f"{' '.join(argv)} failed while measuring (exit {result.returncode}): "
                f"{result.tail(3)}"
            )
        return result

    def run_tests(
        self, checkout: Checkout, argv: list[str], env: dict[str, str] | None = None
    ) -> CommandResult:
        """The test command (or the workload, or a variant of either); never raises on a
        failing exit.

        The baseline's run has `sandbox.test_timeout_s`. A candidate's stops at its first
        failure (pytest) and has a limit scaled from the baseline's time of the same command
        (runner/verify/timeouts.py), which its timeout message names.
        """
        if checkout.is_baseline:
            timeout = self.settings.sandbox.test_timeout_s
            return self.run(argv, checkout.project, env or {}, timeout, check=False)
        timeout, rule = self.candidate_timeout(argv)
        argv = recording.with_first_failure(argv)
        try:
            return self.run(argv, checkout.project, env or {}, timeout, check=False)
        except SandboxTimeout as exc:
            raise SandboxTimeout(f"{exc} (a candidate's limit: {rule})") from exc

    def candidate_timeout(self, argv: list[str]) -> tuple[float, str]:
        """A candidate's limit from the baseline's time of the same command, and its rule."""
        sb = self.settings.sandbox
        baseline = self.result.baseline
        workload = str(recording.WORKLOAD_BOOT) in argv
        source = baseline.get("workload") if workload else baseline
        seconds = source.get("duration_s") if isinstance(source, dict) else None
        return timeouts.candidate_timeout(
            float(seconds) if isinstance(seconds, int | float) else None,
            factor=sb.candidate_test_factor,
            margin_s=sb.candidate_test_margin_s,
            cap_s=sb.test_timeout_s,
        )

    def put(self, project: Path, files: Mapping[str, bytes]) -> None:
        """Files into a checkout, as its next command sees them (through the executor)."""
        self.sandbox.put(project, files)

    def get(self, project: Path, relative: str) -> bytes | None:
        """A file a command left in a checkout (None: there is none)."""
        try:
            return self.sandbox.get(project, relative)
        except SandboxFileNotFound:
            return None

    def copy(self, source: Path, target: Path, relatives: Iterable[Path]) -> None:
        """The same files, at the same paths, from one checkout into another."""
        files: dict[str, bytes] = {}
        for relative in relatives:
            data = self.get(source, relative.as_posix())
            if data is None:
                raise SandboxError(f"{relative} is missing from the {source.name} checkout")
            files[relative.as_posix()] = data
        self.put(target, files)

    def runner(self, timeout: float) -> CommandRunner:
        """A harness's way to run its commands: argv and folder in, exit and output out."""

        def run(argv: list[str], cwd: Path) -> tuple[int, str, str]:
            done = self.run(argv, cwd, {}, timeout, check=False)
            return done.returncode, done.stdout, done.stderr

        return run

    def limits(self, timeout: float) -> Limits:
        sb = self.settings.sandbox
        return Limits(
            timeout_s=timeout,
            memory_bytes=sb.memory_mb * 1024**2,
            cpu_seconds=sb.cpu_seconds,
            file_size_bytes=sb.file_size_mb * 1024**2,
            open_files=sb.open_files,
            processes=sb.processes,
        )


def write_python_shim(folder: Path, python: str) -> None:
    """`python` and `python3` scripts that run the job's interpreter.

    Scripts, not symlinks: a symlink to a virtualenv's python found through another
    folder would not find the venv's `pyvenv.cfg` and lose its packages.
    """
    folder.mkdir(parents=True, exist_ok=True)
    script = f'#!/bin/sh\nexec {shlex.quote(python)} "$@"\n'
    for name in ("python", "python3"):
        (folder / name).write_text(script, encoding="utf-8")
        (folder / name).chmod(0o755)


def command_path(project: Path, python: str) -> str:
    """PATH of a job's commands: the shim, then the interpreter's own scripts (pytest...)."""
    return os.pathsep.join([str(project / SHIM_DIR), str(Path(python).parent), BASE_PATH])
