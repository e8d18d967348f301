"""The result of one job as data: what `report.json` holds and `report.md` renders."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class JobOutcome(StrEnum):
    """How a job ended (the service's queue states wrap these)."""

    SUCCEEDED = "succeeded"
    BASELINE_FAILING = "baseline failing"
    FAILED = "failed"
    CANCELLED = "cancelled"


class CandidateStatus(StrEnum):
    """How far a candidate got through verification."""

    VERIFIED = "verified"  # tests pass, behaviour identical, measured
    INVALID = "invalid"  # did not parse or apply
    UNSAFE = "unsafe"  # rejected by the safety policy; never run
    TESTS_FAILED = "tests failed"
    TIMEOUT = "timeout"
    MEMORY = "memory limit"
    BEHAVIOUR_CHANGED = "behaviour changed"
    NOT_RECORDED = "not recorded"  # the tests made no call of the target: nothing to claim
    REJECTED = "rejected"  # a reward-hack check: it does what the baseline does not


#: Keys `JobResult.to_dict()` adds to a measurement: computed, not fields.
DERIVED_MEASUREMENT_KEYS = frozenset({"speedup", "instruction_speedups"})


@dataclass
class Measurement:
    """Timing of one candidate against the baseline (seconds per round)."""

    instrument: str
    baseline_rounds: list[float]
    candidate_rounds: list[float]
    # Candidate / baseline, point estimate (< 1 is faster) and interval: no interval when
    # the budget allowed fewer than 5 pairs, no estimate when it allowed none.
    ratio: float | None
    low: float | None
    high: float | None
    verdict: str
    reason: str
    decided_by: str = "wall time"
    # Candidate / baseline instructions per call, per repeat: the data. Reports show the
    # inverse, `instruction_speedups`, so that every figure reads the same: above 1 = faster.
    instruction_ratios: list[float] = field(default_factory=list)
    min_detectable: float | None = None  # smallest speedup these rounds could detect
    seconds: float = 0.0  # time spent measuring
    overhead_fraction: float | None = None  # share of a baseline pass that is the harness's
    # Per size class timed: {"class", "calls", "sizes": [min, max], "pairs", "speedup"}.
    size_classes: list[dict[str, Any]] = field(default_factory=list)
    # What was not measured and why ("instruction counts skipped: 14 s left of the 60 s
    # budget, one callgrind pair needs ~40 s").
    notes: list[str] = field(default_factory=list)

    @property
    def speedup(self) -> float | None:
        """Baseline / candidate time: above 1 is faster (None when nothing was timed)."""
        if self.ratio is None:
            return None
        return 1.0 / self.ratio if self.ratio > 0 else float("inf")

    @property
    def instruction_speedups(self) -> list[float]:
        """Baseline / candidate instructions per repeat: above 1 is fewer, i.e. faster."""
        return [1.0 / r if r > 0 else float("inf") for r in self.instruction_ratios]


@dataclass
class CandidateResult:
    """One candidate: what it changed and what verification found."""

    id: str
    target: str
    rule: str
    description: str
    status: CandidateStatus
    tests: str = "not run"
    behaviour: str = "not compared"
    calls_compared: int = 0
    # Inputs compared: {"recorded": n, "generated": n, "scaled": n, "unstable": n}.
    inputs: dict[str, int] = field(default_factory=dict)
    detail: str = ""
    measurement: Measurement | None = None
    diff: str = ""

    @property
    def verdict(self) -> str:
        return self.measurement.verdict if self.measurement else "-"


@dataclass
class JobResult:
    """Everything the job found; serialised to `report.json`."""

    job_id: str
    outcome: JobOutcome
    spec: dict[str, Any]
    started: float
    finished: float = 0.0
    message: str = ""
    sandbox: dict[str, Any] = field(default_factory=dict)
    baseline: dict[str, Any] = field(default_factory=dict)
    candidates: list[CandidateResult] = field(default_factory=list)
    best: list[str] = field(default_factory=list)  # candidate ids in patch.diff
    agent: dict[str, Any] = field(default_factory=dict)  # AI providers: model, turns, budgets
    declines: dict[str, str] = field(default_factory=dict)  # target -> why no candidate

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for cand, raw in zip(self.candidates, data["candidates"], strict=True):
            if cand.measurement is not None:
                raw["measurement"]["speedup"] = cand.measurement.speedup
                raw["measurement"]["instruction_speedups"] = cand.measurement.instruction_speedups
        return data
