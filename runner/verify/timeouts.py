"""How long a candidate's test run may take: a multiple of what the baseline's took.

A broken candidate should not run a failing suite for the full `sandbox.test_timeout_s`
(600 s by default): its limit is `max(factor × baseline, baseline + margin)`, never above
that absolute cap, which stays the baseline's own limit.
"""

from __future__ import annotations


def candidate_timeout(
    baseline_s: float | None, *, factor: float, margin_s: float, cap_s: float
) -> tuple[float, str]:
    """The timeout of a candidate's run, and how it was reached (for the timeout's message).

    `baseline_s`: how long the same command took on the baseline (None when unknown: the cap).
    """
    if baseline_s is None or baseline_s < 0:
        return cap_s, f"sandbox.test_timeout_s, {cap_s:g} s, as the baseline's time is unknown"
    scaled = max(factor * baseline_s, baseline_s + margin_s)
    rule = (
        f"max({factor:g} × the baseline's {baseline_s:.1f} s, {baseline_s:.1f} s + {margin_s:g} s)"
    )
    if scaled >= cap_s:
        return cap_s, f"sandbox.test_timeout_s, {cap_s:g} s, which is under {rule}"
    return scaled, f"{rule} = {scaled:.0f} s"
