"""What the runner writes on an issue and a merge request (markdown; Jira converts it).

Each kind of final note answers the question the engineer asked: a verified improvement
(with the merge request), no improvement (with the numbers: inconclusive is an answer),
or a failure (what went wrong and what to change).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from runner.forge.base import ForgeJob, marker
from runner.report.render import render_markdown, speedup_text
from runner.result import CandidateResult, JobOutcome, JobResult

EXAMPLE_SPEC = """```optirunner
targets = ["pkg/module.py::slow_function"]
test_cmd = "python -m pytest -q"
# bench_cmd = "python bench.py"
```"""


def budget_text(spec: Mapping[str, object]) -> str:
    """The job's budget as asked, or the settings' default."""
    parts = []
    if spec.get("max_candidates"):
        parts.append(f"{spec['max_candidates']} candidates per target")
    if spec.get("budget"):
        parts.append(str(spec["budget"]))
    return ", ".join(parts) or "the runner's defaults"


def start_header(job: ForgeJob) -> str:
    """First lines of the progress note: job id, targets, budget."""
    targets = ", ".join(f"`{t}`" for t in job.targets) or "(from the repository's settings)"
    ref = job.spec.get("ref")
    return "\n".join(
        [
            f"⏳ **optirunner is working on this** — job `{job.job_id}`",
            "",
            f"- Targets: {targets}",
            f"- Budget: {budget_text(job.spec)}",
            *([f"- Ref: `{ref}`"] if ref else []),
        ]
    )


def progress_body(job_id: str, header: str, stages: list[str]) -> str:
    """The progress note: header, finished stages, hidden marker."""
    lines = [header, ""]
    lines += [f"- ✔ {s}" for s in stages] or ["- queued"]
    return "\n".join([*lines, "", marker(job_id)])


def _best(result: JobResult) -> list[CandidateResult]:
    return [c for c in result.candidates if c.id in result.best]


def _full_report(result: JobResult, images: Mapping[str, str]) -> str:
    """`render_markdown` with plots pointing at their uploads (or dropped if not uploaded)."""
    text = render_markdown(result)

    def swap(match: re.Match[str]) -> str:
        url = images.get(match.group(2))
        return f"![{match.group(1)}]({url})" if url else ""

    text = re.sub(r"!\[([^\]]*)\]\(plots/([^)]+)\.png\)", swap, text)
    return text.replace("# optirunner report", "### optirunner report", 1)


def _candidate_lines(result: JobResult) -> list[str]:
    lines = []
    for c in result.candidates:
        m = c.measurement
        if m is None:
            lines.append(f"- {c.id} `{c.target}` ({c.description}): {c.status.value}")
            continue
        detect = f"; smallest detectable {m.min_detectable:.1%}" if m.min_detectable else ""
        lines.append(
            f"- {c.id} `{c.target}` ({c.description}): {m.verdict}, speedup "
            f"{speedup_text(c)}, {len(m.baseline_rounds)} rounds{detect}"
        )
    return lines


def improvement_note(result: JobResult, mr_ref: str, mr_url: str) -> str:
    """Final note: what got faster, by how much, where the merge request is."""
    lines = ["✅ **optirunner found a verified improvement**", ""]
    lines += [f"- `{c.target}`: {c.description} — **{speedup_text(c)}**" for c in _best(result)]
    lines += ["", f"Merge request: {mr_ref} ({mr_url}) — review it like any other change."]
    return _with_details(lines, result, {})


def branch_note(result: JobResult, branch: str, url: str) -> str:
    """Final note of a repository without merge requests (a git URL): the pushed branch."""
    lines = ["✅ **optirunner found a verified improvement**", ""]
    lines += [f"- `{c.target}`: {c.description} — **{speedup_text(c)}**" for c in _best(result)]
    lines += [
        "",
        f"Branch: `{branch}` (one commit) pushed to {url} — review it with "
        f"`git fetch {url} {branch}`.",
    ]
    return _with_details(lines, result, {})


def no_improvement_note(result: JobResult) -> str:
    """Final note: no candidate was proven faster; the numbers say how close it was."""
    lines = [
        "ℹ️ **optirunner found no verified improvement** "
        f"(job `{result.job_id}`: {result.message or 'no candidate was proven faster'})",
        "",
        *(_candidate_lines(result) or ["- no candidate was proposed for these targets"]),
        "",
        "Inconclusive means the measured difference was within the noise of this host (the "
        "interval includes 1.00×) or smaller than the smallest speedup worth reporting. "
        "Speedups above 1.00× are faster. Nothing was pushed.",
    ]
    return _with_details(lines, result, {})


def failure_note(result: JobResult) -> str:
    """Final note: what went wrong and what the user can change."""
    lines = [
        f"❌ **optirunner could not finish job `{result.job_id}`** ({result.outcome.value})",
        "",
        f"What went wrong: {result.message or 'see the report below'}",
        "",
        f"What you can change: {_advice(result)}",
    ]
    if result.outcome is JobOutcome.FAILED and _looks_like_spec(result.message):
        lines += ["", "A spec that works looks like this (in the issue description):", ""]
        lines.append(EXAMPLE_SPEC)
    return _with_details(lines, result, {})


def _looks_like_spec(message: str) -> bool:
    words = ("target", "spec", "test_cmd", "bench_cmd", "workload", "optirunner block", "not found")
    return any(w in message.lower() for w in words)


def _advice(result: JobResult) -> str:
    if result.outcome is JobOutcome.BASELINE_FAILING:
        return (
            "the tests fail on the unchanged code, so no candidate can be verified. Fix them "
            "on the branch, or name a passing test command with `test_cmd` in the spec."
        )
    if result.outcome is JobOutcome.CANCELLED:
        return (
            "the job was cancelled (service stopped or job cancelled); comment `/optimize` again."
        )
    if _looks_like_spec(result.message):
        return "correct the spec (targets are `path/to/file.py::function`) and comment again."
    return "if the message above does not say, ask the runner's operators (`optirunner jobs show`)."


def _with_details(lines: list[str], result: JobResult, images: Mapping[str, str]) -> str:
    report = _full_report(result, images)
    body = [*lines, "", "<details><summary>Full report</summary>", "", report, "</details>"]
    return "\n".join([*body, "", marker(result.job_id)])


def merge_request_description(
    result: JobResult, issue_ref: str, images: Mapping[str, str], branch: str
) -> str:
    """The merge request: link to the issue, the report with plots, how to reproduce."""
    spec = result.spec
    targets = " ".join(f"--target {t}" for t in spec.get("targets", []))
    bench = f' --bench-cmd "{spec["bench_cmd"]}"' if spec.get("bench_cmd") else ""
    if spec.get("workload_cmd"):
        bench += f' --workload "{spec["workload_cmd"]}"'
    reproduce = [
        "## How to reproduce",
        "",
        f"- Check out the base commit (`{str(spec.get('commit', '?'))[:12]}`) and run",
        f'  `optirunner optimize . {targets} --test-cmd "{spec.get("test_cmd", "?")}"{bench}`',
        f"- or comment `/optimize` on {issue_ref} again (the note and this merge request "
        "are updated, not duplicated);",
        f"- to measure this branch yourself: `git fetch origin {branch}` and time both commits.",
    ]
    parts = [
        f"Related to {issue_ref}.",
        "",
        "optirunner proposed, verified (tests and recorded behaviour) and measured this change.",
        "",
        _full_report(result, images),
        "\n".join(reproduce),
        "",
        marker(result.job_id),
    ]
    return "\n".join(parts)


def commit_message(result: JobResult, issue_url: str) -> str:
    """Subject, one line per improved target, and trailers naming the job and issue."""
    best = _best(result)
    names = ", ".join(c.target.partition("::")[2] or c.target for c in best)
    body = [f"- {c.target}: {c.description} ({speedup_text(c)})" for c in best]
    trailers = [f"Optirunner-Job: {result.job_id}", *([f"Issue: {issue_url}"] if issue_url else [])]
    return "\n".join([f"optirunner: faster {names}", "", *body, "", *trailers]) + "\n"
