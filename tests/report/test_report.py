"""report.md and the round plot, from a JobResult built by hand."""

from __future__ import annotations

from runner.report.plot import round_plot
from runner.report.render import behaviour_text, render_markdown, speedup_text
from runner.result import CandidateResult, CandidateStatus, JobOutcome, JobResult, Measurement


def _measured(cid: str = "c1") -> CandidateResult:
    m = Measurement(
        instrument="replay of 5 recorded calls",
        baseline_rounds=[1.0, 1.1, 0.9, 1.0, 1.05],
        candidate_rounds=[0.5, 0.52, 0.48, 0.5, 0.51],
        ratio=0.5,
        low=0.45,
        high=0.55,
        verdict="faster",
        reason="wall time decided",
        instruction_ratios=[0.61, 0.61],
        min_detectable=0.042,
        seconds=12.0,
    )
    return CandidateResult(
        cid,
        "pkg/mod.py::f",
        "membership-set",
        "list → set",
        CandidateStatus.VERIFIED,
        tests="passed",
        calls_compared=7,
        measurement=m,
        diff="--- a/pkg/mod.py\n+++ b/pkg/mod.py\n",
    )


def test_speedup_is_the_inverse_ratio_with_its_interval() -> None:
    assert speedup_text(_measured()) == "2.00× [1.82–2.22]"


def test_behaviour_text_says_what_was_compared() -> None:
    changed = CandidateResult("c2", "t", "r", "d", CandidateStatus.BEHAVIOUR_CHANGED)
    assert behaviour_text(_measured()) == "identical (7 calls)"
    assert behaviour_text(changed) == "changed"


def test_markdown_has_every_column_and_the_plot() -> None:
    result = JobResult("j1", JobOutcome.SUCCEEDED, {"targets": ["pkg/mod.py::f"]}, 0.0, 30.0)
    result.candidates = [_measured()]
    result.best = ["c1"]
    text = render_markdown(result)
    for part in ("2.00× [1.82–2.22]", "1.639× (callgrind, 2×)", "faster (wall time)", "4.2%"):
        assert part in text
    assert "| instruction speedup |" in text
    assert "5 in 12 s" in text
    assert "![round times of c1](plots/c1.png)" in text


def test_round_plot_is_a_png_and_none_when_unmeasured() -> None:
    png = round_plot(_measured())
    assert png is not None
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert round_plot(CandidateResult("c3", "t", "r", "d", CandidateStatus.INVALID)) is None


def test_markdown_says_what_was_sent_per_target() -> None:
    result = JobResult("j1", JobOutcome.SUCCEEDED, {"targets": ["pkg/mod.py::A.f"]}, 0.0, 30.0)
    assert "Sent to the model" not in render_markdown(result)  # rules: nothing sent
    sent = {"requests": 3, "bytes": 21_480, "code_bytes": 1_488, "bundle_code_bytes": 26_083}
    result.agent = {"model": "m", "sent": {"pkg/mod.py::A.f": sent}}
    text = render_markdown(result)
    assert "## Sent to the model" in text
    assert "| `pkg/mod.py::A.f` | 3 | 21,480 | 1,488 | 26,083 |" in text


def test_every_ratio_reads_as_a_speedup_above_1_faster() -> None:
    """Instructions too: 0.61 of the baseline's instructions is a 1.64x instruction speedup,
    and of unequal repeats the table shows the least favourable one."""
    candidate = _measured()
    assert candidate.measurement is not None
    candidate.measurement.instruction_ratios = [0.8, 1.25]
    result = JobResult("j1", JobOutcome.SUCCEEDED, {"targets": ["pkg/mod.py::f"]}, 0.0, 30.0)
    result.candidates = [candidate]
    text = render_markdown(result)
    assert "0.800× (callgrind, 2×)" in text
    assert "1.250×" not in text
    data = result.to_dict()["candidates"][0]["measurement"]
    assert data["speedup"] == 2.0
    assert data["instruction_speedups"] == [1.25, 0.8]
    assert data["instruction_ratios"] == [0.8, 1.25]


def test_what_the_budget_did_not_allow_is_in_the_report() -> None:
    short = _measured("c2")
    assert short.measurement is not None
    short.measurement.low = short.measurement.high = None  # 3 pairs: no interval
    short.measurement.baseline_rounds = [1.0, 1.1, 0.9]
    short.measurement.candidate_rounds = [0.5, 0.52, 0.48]
    short.measurement.instruction_ratios = []
    note = "instruction counts skipped: 14 s left of the 60 s budget, one pair needs ~40 s"
    short.measurement.notes = [note]
    untimed = _measured("c3")
    assert untimed.measurement is not None
    untimed.measurement.ratio = untimed.measurement.low = untimed.measurement.high = None
    result = JobResult("j1", JobOutcome.SUCCEEDED, {"targets": ["pkg/mod.py::f"]}, 0.0, 30.0)
    result.candidates = [short, untimed]
    text = render_markdown(result)
    assert "| 2.00× (3 pairs: no interval) |" in text
    assert "| not timed |" in text
    assert f"- c2: timed on replay of 5 recorded calls; measured in 12 s; {note}; " in text
    assert "; verdict: wall time decided" in text  # the reason, stop included, is shown
    assert speedup_text(untimed) == "not timed"
    assert round_plot(short) is not None  # rounds without an interval still plot
