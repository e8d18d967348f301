"""One target's inputs beyond the tests: generated once, run by the baseline, then by each
candidate, compared; and the representative sets the target is timed on.

The job builds a `TargetInputs` per target the first time a candidate of it passes the
tests: the specs (the largest recorded calls, those scaled up, and generated calls), the
baseline's outcomes on them, twice (calls the baseline does not repeat are left out), and
the timing sets pickled by the harness in the baseline checkout:

* ``largest`` — the largest recorded calls as recorded;
* ``x10``, ``x100`` … — those calls with their sized arguments scaled up, kept only when the
  baseline still returns normally and within `max_timed_call_s`;
* ``representative`` — all of the above: what the verdict is timed on when it exists.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from runner.config import InputsSettings
from runner.verify import differential, generate
from runner.verify.behaviour import Call
from runner.verify.replay import ReplayError

REPRESENTATIVE = "representative"
LARGEST = "largest"


@dataclass
class TimingSet:
    """A set of calls pickled for the replay harness, with the sizes it covers."""

    label: str
    path: Path  # in the baseline checkout
    indices: list[int]
    sizes: tuple[int, int]


@dataclass
class TargetInputs:
    """The generated and scaled calls of one target and the baseline's outcomes on them."""

    target: str
    calls: Sequence[Call]  # the baseline's recorded calls of the target
    kept: int  # how many of them have pickled arguments
    cfg: InputsSettings
    runner: differential.Runner
    tolerance: float | None = None
    specs: list[generate.Spec] = field(default_factory=list)
    baseline: list[differential.Outcome] = field(default_factory=list)
    compared: list[bool] = field(default_factory=list)
    timing: list[TimingSet] = field(default_factory=list)
    project: Path | None = None

    def build_specs(self) -> list[generate.Spec]:
        """The largest recorded calls, their scaled-up versions, then generated calls."""
        largest = []
        for index in generate.largest(self.calls, self.kept):
            call = self.calls[index]
            size = generate.call_size(call.args)
            if index < self.kept:
                largest.append(generate.Spec(index, origin=LARGEST, size=size))
            else:
                largest.append(generate.Spec(None, dict(call.args), origin=LARGEST, size=size))
        scaled = generate.scaled(
            self.calls, self.kept, self.cfg.scale_factors, self.cfg.max_scaled_size
        )
        generated = generate.generate(self.calls, self.kept, self.cfg.generated)
        return [*largest, *scaled, *generated]

    def prepare(self, project: Path) -> None:
        """Run the baseline twice on the specs (the second time without the calls the first
        did not end, which are not compared); pickle the timing sets on the second run."""
        self.project = project
        self.specs = self.build_specs()
        if not self.specs:
            return
        first = self.runner.outcomes(project, self.specs, "baseline")
        sets = self._timing_sets(first)
        files = {s.label: s.indices for s in sets}
        ran = [outcome.ended for outcome in first]
        second = self.runner.outcomes(project, self.specs, "baseline-again", timing=files, only=ran)
        self.baseline = first
        self.compared = differential.stable(first, second)
        self.timing = [s for s in sets if s.path.is_file()]

    def _timing_sets(self, outcomes: Sequence[differential.Outcome]) -> list[TimingSet]:
        by_label: dict[str, list[int]] = {}
        for index, spec in enumerate(self.specs):
            if index >= len(outcomes):
                break
            outcome = outcomes[index]
            if spec.origin == LARGEST:
                by_label.setdefault(LARGEST, []).append(index)
            elif spec.origin.startswith("x") and self._timeable(spec, outcome):
                by_label.setdefault(spec.origin, []).append(index)
        if len(by_label) <= 1:  # nothing scaled survived: the recorded calls are timed
            return []
        by_label[REPRESENTATIVE] = sorted(i for ids in by_label.values() for i in ids)
        assert self.project is not None  # noqa: S101 - set by prepare()
        return [
            TimingSet(
                label,
                self.project / differential.WORK_DIR / f"{label}.pkl",
                indices,
                (
                    min(self.specs[i].size for i in indices),
                    max(self.specs[i].size for i in indices),
                ),
            )
            for label, indices in by_label.items()
        ]

    def _timeable(self, spec: generate.Spec, outcome: differential.Outcome) -> bool:
        """A scaled call is timed only when the baseline returns on it, and soon enough."""
        original = self.calls[spec.base] if spec.base is not None else None
        if original is not None and original.outcome != "return":
            return False
        return outcome.kind == "return" and outcome.seconds <= self.cfg.max_timed_call_s

    def timing_set(self, label: str) -> TimingSet | None:
        """The timing set with this label, if the baseline produced it."""
        return next((s for s in self.timing if s.label == label), None)

    # -- a candidate ------------------------------------------------------------------------

    def check(self, candidate: Path) -> differential.Evidence:
        """Run the candidate on the same calls; compare; shrink a difference."""
        evidence = differential.Evidence()
        if not self.specs or not self.baseline:
            return evidence
        outcomes = self.runner.outcomes(candidate, self.specs, "candidate", only=self.compared)
        _, found = differential.first_difference(
            self.specs, self.baseline, outcomes, self.compared, self.tolerance
        )
        limit = found.index if found is not None else len(self.specs)
        for index, spec in enumerate(self.specs[:limit]):
            if index < len(outcomes) and index < len(self.compared) and self.compared[index]:
                if spec.origin.startswith("x"):
                    evidence.scaled += 1
                elif spec.origin == "generated":
                    evidence.generated += 1
        evidence.unstable = sum(1 for ok in self.compared if not ok)
        if found is not None:
            smallest, rounds = self._shrink(found, candidate)
            evidence.difference = smallest.describe(self.target)
            evidence.shrink_rounds = rounds
        return evidence

    def _shrink(
        self, found: differential.Difference, candidate: Path
    ) -> tuple[differential.Difference, int]:
        assert self.project is not None  # noqa: S101 - set by prepare()
        baseline_project = self.project
        best = found

        def differs(batch: list[generate.Spec]) -> int | None:
            nonlocal best
            expected = self.runner.outcomes(baseline_project, batch, "shrink")
            actual = self.runner.outcomes(candidate, batch, "shrink")
            compared = [o.ended for o in expected]
            _, difference = differential.first_difference(
                batch, expected, actual, compared, self.tolerance
            )
            if difference is None:
                return None
            best = difference
            return difference.index

        try:
            _, rounds = generate.shrink(found.spec, differs, rounds=self.cfg.shrink_rounds)
        except ReplayError:
            return best, 0  # shrinking is a nicety: the first difference already rejects
        return best, rounds
