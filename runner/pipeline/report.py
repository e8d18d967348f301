"""Stage 7, report: report.json, report.md, patch.diff and the round plots, written to the
job directory whatever way the job ended (a newer attempt's job excepted)."""

from __future__ import annotations

import json

from runner import faults, paths
from runner.pipeline.context import JobContext


def write(ctx: JobContext, patch: str) -> None:
    from runner.report.render import render_markdown  # noqa: PLC0415 - report is optional

    faults.reached("stage:report")
    with ctx.tracer.span("report"):
        if not ctx.result.finished:
            ctx.result.finished = ctx.clock()
        ctx.dir.write(paths.REPORT_JSON, json.dumps(ctx.result.to_dict(), indent=2) + "\n")
        ctx.dir.write(paths.REPORT_MD, render_markdown(ctx.result))
        ctx.dir.write(paths.PATCH, patch)
        _plots(ctx)


def _plots(ctx: JobContext) -> None:
    from runner.report.plot import round_plot  # noqa: PLC0415 - matplotlib is heavy

    for candidate in ctx.result.candidates:
        png = round_plot(candidate)
        if png is not None:
            ctx.dir.subdir(paths.PLOTS)
            ctx.dir.write(f"{paths.PLOTS}/{candidate.id}.png", png)
