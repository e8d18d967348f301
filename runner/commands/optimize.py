"""`optirunner optimize`: run one job in the foreground with a progress display."""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Any

from rich import box
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from runner import paths
from runner.agent.providers import check_provider
from runner.config import load_settings, read_environ
from runner.job import OptimizeJob
from runner.report.render import measurement_text, speedup_text
from runner.result import CandidateStatus, JobOutcome, JobResult
from runner.sandbox import make_sandbox
from runner.spec import JobSpec, Target, validate_repo

EXIT_BY_OUTCOME = {
    JobOutcome.SUCCEEDED: 0,
    JobOutcome.BASELINE_FAILING: 1,
    JobOutcome.FAILED: 1,
    JobOutcome.CANCELLED: 130,
}


def run(
    *,
    repo: Path,
    targets: list[str],
    test_cmd: str | None,
    bench_cmd: str | None,
    workload: str | None = None,
    provider: str | None,
    max_candidates: int | None,
    python: str | None,
    as_json: bool,
    config: Path | None,
    show_report: bool = False,
    model: str | None = None,
    base_url: str | None = None,
) -> int:
    """Build the settings and spec, run the job, print the result; returns the exit code."""
    ai = {k: v for k, v in (("model", model), ("base_url", base_url)) if v is not None}
    settings = load_settings(
        config,
        provider=provider,
        max_candidates=max_candidates,
        python=python,
        ai=ai or None,
    )
    settings.ai.bind_environ(read_environ())  # the API key may come from OPTIRUNNER_AI_API_KEY
    spec = JobSpec(
        repo=str(validate_repo(repo)),
        targets=tuple(Target.parse(t) for t in targets),
        test_cmd=test_cmd or settings.test_cmd,
        bench_cmd=bench_cmd,
        workload_cmd=workload,
        provider=check_provider(settings.provider),
        max_candidates=settings.max_candidates,
    )
    spec.test_argv()
    spec.bench_argv()
    spec.workload_argv()
    sandbox = make_sandbox(settings)
    console = Console(stderr=as_json, highlight=False)
    with _Display(console, enabled=not as_json) as display, _sigterm_as_interrupt():
        result = OptimizeJob(settings, spec, sandbox, observer=display.on_event).run()
    job_dir = settings.state_dir / "jobs" / result.job_id
    if as_json:
        sys.stdout.write((job_dir / paths.REPORT_JSON).read_text())
    else:
        _print_summary(console, result, job_dir)
        if show_report:
            console.print()
            console.print((job_dir / paths.REPORT_MD).read_text(), markup=False, soft_wrap=True)
    if result.outcome is not JobOutcome.SUCCEEDED:
        Console(stderr=True, highlight=False).print(
            f"optirunner: {result.outcome.value}: {result.message}", markup=False
        )
        if result.outcome is JobOutcome.BASELINE_FAILING and result.baseline.get("tail"):
            Console(stderr=True, highlight=False).print(result.baseline["tail"], markup=False)
    return EXIT_BY_OUTCOME[result.outcome]


class _sigterm_as_interrupt:
    """Treat SIGTERM like Ctrl-C, so the job is recorded as cancelled and cleaned up."""

    def __enter__(self) -> None:
        self._old = signal.signal(signal.SIGTERM, self._handle)

    @staticmethod
    def _handle(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    def __exit__(self, *_exc: object) -> None:
        signal.signal(signal.SIGTERM, self._old)


class _Display:
    """A rich progress line per stage and per candidate."""

    def __init__(self, console: Console, *, enabled: bool) -> None:
        self.enabled = enabled
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
            disable=not enabled,
        )
        self._task: Any = None

    def __enter__(self) -> _Display:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._finish()
        self.progress.__exit__(None, None, None)

    def _start(self, text: str) -> None:
        self._finish()
        self._task = self.progress.add_task(text, total=1)

    def _finish(self) -> None:
        if self._task is not None:
            self.progress.update(self._task, completed=1)
            self._task = None

    def on_event(self, event: str, data: dict[str, Any]) -> None:
        if event == "stage":
            extra = f" ({data['count']} candidates)" if "count" in data else ""
            self._start(f"{data['name']}{extra}")
        elif event == "candidate":
            self._start(f"verify {data['id']}: {data['description']}")
        elif event == "measured":
            m = data["measurement"]
            self.progress.console.print(
                f"  measured {data['id']}: {measurement_text(m)} ({m.verdict})", markup=False
            )


def _print_summary(console: Console, result: JobResult, job_dir: Path) -> None:
    table = Table(
        title=f"job {result.job_id}: {result.outcome.value}",
        box=box.SIMPLE_HEAD,
        padding=(0, 1),
        pad_edge=False,
    )
    table.add_column("id", no_wrap=True, min_width=2)
    table.add_column("target", max_width=20, overflow="ellipsis", no_wrap=True)
    for column in ("behaviour", "speedup [95% CI]", "verdict"):
        table.add_column(column, no_wrap=True)
    for c in result.candidates:
        verdict = c.verdict if c.measurement else c.status.value
        behaviour = (
            "same"
            if c.calls_compared and c.status is not CandidateStatus.BEHAVIOUR_CHANGED
            else "-"
        )
        if c.status is CandidateStatus.BEHAVIOUR_CHANGED:
            behaviour = "changed"
        table.add_row(c.id, c.target.split("::")[-1], behaviour, speedup_text(c), verdict)
    if result.candidates:
        console.print(table)
        for c in result.candidates:
            console.print(f"  {c.id}: {c.description}", markup=False, highlight=False)
    console.print(f"{result.message}")
    console.print(f"report: {job_dir / paths.REPORT_MD}", soft_wrap=True)
    if result.best:
        apply_dir = result.spec.get("apply_dir", result.spec["repo"])
        console.print(f"patch:  {job_dir / paths.PATCH}", soft_wrap=True)
        console.print(f"apply:  git -C {apply_dir} apply {job_dir / paths.PATCH}", soft_wrap=True)
