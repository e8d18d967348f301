"""The round-time plot of one candidate (PNG): what a reviewer looks at first.

matplotlib with the Agg backend: no display, no fonts from the user's home.
"""

from __future__ import annotations

import io

from runner.report.render import measurement_text
from runner.result import CandidateResult


def round_plot(result: CandidateResult) -> bytes | None:
    """Baseline and candidate seconds per round, in the order they ran; None if unmeasured."""
    m = result.measurement
    if m is None or not m.baseline_rounds:
        return None
    import matplotlib as mpl  # noqa: PLC0415 - heavy, only when a report is written

    mpl.use("Agg")
    from matplotlib.figure import Figure  # noqa: PLC0415

    fig = Figure(figsize=(7, 3.2), dpi=110)
    ax = fig.add_subplot()
    rounds = range(1, len(m.baseline_rounds) + 1)
    ax.plot(rounds, m.baseline_rounds, "o-", ms=3, lw=1, label="baseline")
    ax.plot(rounds, m.candidate_rounds, "o-", ms=3, lw=1, label=f"candidate {result.id}")
    ax.set_xlabel("round (ABBA order, one fresh process per side)")
    ax.set_ylabel("seconds (per pass or per command)")
    ax.set_ylim(bottom=0)
    ax.set_title(
        f"{result.target}: {measurement_text(m)}, {m.verdict}",
        fontsize=9,
    )
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png")
    return out.getvalue()
