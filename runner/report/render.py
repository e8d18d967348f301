"""`report.md`: the result of one job as markdown (also the body of forge comments)."""

from __future__ import annotations

from runner.result import CandidateResult, CandidateStatus, JobOutcome, JobResult, Measurement


def speedup_text(result: CandidateResult) -> str:
    """`2.41× [2.30–2.52]`: speedup with its 95% interval (the interval of 1/ratio)."""
    return measurement_text(result.measurement)


def measurement_text(m: Measurement | None) -> str:
    """`2.41× [2.30–2.52]`, `1.10× (3 pairs: no interval)`, `not timed` or `-`."""
    if m is None:
        return "-"
    if m.speedup is None:
        return "not timed"
    if m.low is None or m.high is None:
        return f"{m.speedup:.2f}× ({len(m.baseline_rounds)} pairs: no interval)"
    low, high = 1.0 / m.high, 1.0 / m.low if m.low > 0 else float("inf")
    return f"{m.speedup:.2f}× [{low:.2f}–{high:.2f}]"


def behaviour_text(result: CandidateResult) -> str:
    """`identical (12 calls)`, `changed`, or why it was not compared."""
    if result.status is CandidateStatus.BEHAVIOUR_CHANGED:
        return "changed"
    if result.calls_compared:
        return f"identical ({result.calls_compared} calls)"
    return result.behaviour if result.tests == "passed" else "-"


def instructions_text(result: CandidateResult) -> str:
    """`1.149× (callgrind, 2×)`: the instruction speedup (baseline / candidate, above 1 =
    fewer) of the least favourable repeat, or `-` when not counted."""
    m = result.measurement
    if m is None or not m.instruction_ratios:
        return "-"
    worst = min(m.instruction_speedups)  # the verdict needs every repeat to agree
    return f"{worst:.3f}× (callgrind, {len(m.instruction_ratios)}×)"


def detectable_text(result: CandidateResult) -> str:
    """The smallest true speedup the rounds spent could have detected (80% power)."""
    m = result.measurement
    if m is None or m.min_detectable is None:
        return "-"
    return f"{m.min_detectable:.1%}"


def _decided(result: CandidateResult) -> str:
    m = result.measurement
    if m is None or m.decided_by == "none" or m.decided_by in m.verdict:
        return ""
    return f" ({m.decided_by})"


def _rounds(result: CandidateResult) -> str:
    m = result.measurement
    return "-" if m is None else f"{len(m.baseline_rounds)} in {m.seconds:.0f} s"


def render_markdown(result: JobResult) -> str:
    """The whole report: summary, candidates table, best patch, how to reproduce."""
    parts = [
        _header(result),
        _declines(result),
        _candidates(result),
        _evidence(result),
        _sent(result),
        _best(result),
        _footer(result),
    ]
    return "\n".join(p for p in parts if p)


def _header(result: JobResult) -> str:
    spec = result.spec
    targets = ", ".join(f"`{t}`" for t in spec.get("targets", []))
    lines = [
        f"# optirunner report — job {result.job_id}",
        "",
        f"**Outcome:** {result.outcome.value} — {result.message}",
        "",
        f"- Repository: `{spec.get('repo', '?')}`"
        + (f" at `{spec['commit'][:12]}`" if spec.get("commit") else "")
        + (" (with uncommitted changes)" if spec.get("dirty") else ""),
        f"- Targets: {targets}",
        f"- Tests: `{spec.get('test_cmd', '?')}`"
        + (f"; benchmark: `{spec['bench_cmd']}`" if spec.get("bench_cmd") else "")
        + (f"; workload: `{spec['workload_cmd']}`" if spec.get("workload_cmd") else ""),
        f"- Provider: {spec.get('provider', '?')}; "
        f"duration {result.finished - result.started:.1f} s",
    ]
    if result.sandbox:
        isolated = result.sandbox.get("network_isolated")
        note = "network isolated" if isolated else "**network not isolated** (no bubblewrap)"
        lines.append(f"- Sandbox: {result.sandbox.get('name')} ({note})")
    workload = result.baseline.get("workload")
    if isinstance(workload, dict) and workload.get("returncode") == 0:
        lines.append(
            f"- Workload: {workload.get('calls', 0)} calls of the targets recorded "
            f"in {float(workload.get('duration_s', 0.0)):.1f} s"
        )
    for what in ("tests", "workload"):
        aa = result.baseline.get(f"aa_{what}")
        if isinstance(aa, str):
            lines.append(f"- A/A ({what}): {aa}")
    if result.outcome is JobOutcome.BASELINE_FAILING and result.baseline.get("tail"):
        lines += [
            "",
            "Last lines of the baseline test run:",
            "",
            "```",
            result.baseline["tail"],
            "```",
        ]
    return "\n".join(lines) + "\n"


def _candidates(result: JobResult) -> str:
    if not result.candidates:
        return ""
    rows = [
        "## Candidates",
        "",
        "| id | target | change | tests | behaviour | speedup [95% CI] | instruction speedup | "
        "verdict (decided by) | rounds | smallest detectable |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for c in result.candidates:
        verdict = c.verdict if c.measurement else c.status.value
        rows.append(
            f"| {c.id} | `{c.target}` | {c.description} | {c.tests} | {behaviour_text(c)} | "
            f"{speedup_text(c)} | {instructions_text(c)} | {verdict}{_decided(c)} | "
            f"{_rounds(c)} | {detectable_text(c)} |"
        )
    notes = [
        f"- {c.id}: {c.detail.strip().splitlines()[-1]}"
        for c in result.candidates
        if c.detail.strip()
    ]
    if notes:
        rows += ["", "Notes:", *notes]
    measured = [c for c in result.candidates if c.measurement]
    if measured:
        m = measured[0].measurement
        assert m is not None  # noqa: S101
        rows += [
            "",
            f"Measured by {m.instrument}: baseline and candidate in separate fresh "
            "processes, interleaved in ABBA order, stopping as soon as the verdict is clear "
            "(or at the round or time budget); speedup = baseline / candidate median time, "
            "instruction speedup = baseline / candidate instructions per call (callgrind), both "
            "above 1 when the candidate is faster; interval = 95% paired bootstrap. "
            "Rounds per candidate: "
            + ", ".join(
                f"{c.id} {len(c.measurement.baseline_rounds)}" for c in measured if c.measurement
            )
            + ".",
        ]
    return "\n".join(rows) + "\n"


def _declines(result: JobResult) -> str:
    """Why the provider proposed nothing for a target, in its own words."""
    if not result.declines:
        return ""
    lines = ["## Targets without a candidate", ""]
    lines += [f"- `{target}`: {reason}" for target, reason in result.declines.items()]
    return "\n".join(lines) + "\n"


def inputs_text(result: CandidateResult) -> str:
    """`12 recorded, 180 generated, 6 scaled (3 unstable, not compared)`."""
    counts = result.inputs
    if not counts:
        return ""
    parts = [f"{counts.get('recorded', 0)} recorded"]
    parts.append(f"{counts.get('generated', 0)} generated")
    parts.append(f"{counts.get('scaled', 0)} scaled-up")
    if "workload" in counts:
        parts.append(f"{counts['workload']} workload")
    text = ", ".join(parts) + " inputs compared"
    if counts.get("unstable"):
        text += f" ({counts['unstable']} left out: the baseline itself did not repeat them)"
    return text


def _size_rows(result: CandidateResult) -> list[str]:
    m = result.measurement
    if m is None or not m.size_classes:
        return []
    rows = [
        f"  | {result.id}: inputs timed | calls | sizes | speedup |",
        "  | --- | --- | --- | --- |",
    ]
    for row in m.size_classes:
        low, high = row.get("sizes", [0, 0])
        sizes = f"{low}" if low == high else f"{low}–{high}"
        speedup = row.get("speedup")
        shown = f"{speedup:.2f}×" if isinstance(speedup, float) else "-"
        rows.append(f"  | {row['class']} | {row['calls']} | {sizes} | {shown} |")
    return rows


def _evidence(result: JobResult) -> str:
    """Per candidate: which inputs were compared and timed, and the harness's share."""
    lines: list[str] = []
    for c in result.candidates:
        entry = []
        if c.inputs:
            entry.append(inputs_text(c))
        m = c.measurement
        if m is not None:
            entry.append(f"timed on {m.instrument}")
            if m.overhead_fraction is not None:
                entry.append(f"harness overhead {m.overhead_fraction:.0%} of a baseline pass")
            entry.append(f"measured in {m.seconds:.0f} s")
            entry += m.notes
            entry.append(f"verdict: {m.reason}")
        if not entry:
            continue
        lines.append(f"- {c.id}: " + "; ".join(entry))
        lines += _size_rows(c)
    if not lines:
        return ""
    return "\n".join(["## Evidence", "", *lines]) + "\n"


def _sent(result: JobResult) -> str:
    """Bytes sent to the model per target: the code shown, and every request in total."""
    sent = result.agent.get("sent") or {}
    if not sent:
        return ""
    lines = [
        "## Sent to the model",
        "",
        "| target | requests | bytes sent | code shown | whole bundle's code |",
        "| --- | --- | --- | --- | --- |",
    ]
    for target, row in sent.items():
        lines.append(
            f"| `{target}` | {row['requests']} | {row['bytes']:,} | {row['code_bytes']:,} "
            f"| {row['bundle_code_bytes']:,} |"
        )
    return "\n".join(lines) + "\n"


def _best(result: JobResult) -> str:
    best = [c for c in result.candidates if c.id in result.best]
    if not best:
        return ""
    lines = ["## Verified improvement", ""]
    for c in best:
        lines.append(f"- `{c.target}`: {c.description} — **{speedup_text(c)}**, tests pass")
        lines.append(f"  ![round times of {c.id}](plots/{c.id}.png)")
    lines += ["", "```diff", "".join(c.diff for c in best).rstrip(), "```"]
    return "\n".join(lines) + "\n"


def _footer(result: JobResult) -> str:
    if not result.best:
        return ""
    return (
        "## Apply it\n\n"
        "`patch.diff` in the job directory applies with "
        f"`git -C {result.spec.get('apply_dir', '.')} apply <job dir>/patch.diff`.\n"
    )
