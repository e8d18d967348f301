"""Stage 5, measure: each verified candidate timed against the baseline, A/B interleaved
(runner/verify/measure.py). The instrument of a target is chosen once — its bench
command, a replay of its recorded (or workload, or generated) calls, or the test
command — and the host's noise is estimated with it before the first candidate."""

from __future__ import annotations

import json
from pathlib import Path

from runner import faults
from runner.errors import SandboxError
from runner.pipeline.baseline import Baseline
from runner.pipeline.context import JobContext
from runner.pipeline.recorded import INPUTS_DIR, RECORD_FILE, WORKLOAD_INPUTS, WORKLOAD_RECORD
from runner.pipeline.verify import Verified
from runner.result import CandidateStatus
from runner.spec import Target
from runner.verify import bench, benchjson, generate, measure, stats
from runner.verify.evidence import LARGEST, REPRESENTATIVE
from runner.verify.replay import ReplayError


def run(ctx: JobContext, baseline: Baseline, verified: list[Verified]) -> None:
    """Time every verified candidate (the offline providers' path)."""
    passing = [v for v in verified if v.result.status is CandidateStatus.VERIFIED]
    ctx.stage("measure", count=len(passing))
    timer = Timer(ctx, baseline)
    with ctx.tracer.span("measure", candidates=len(passing)):
        for candidate in passing:
            timer.time(candidate)


class Timer:
    """Times candidates one at a time, planning each target's instrument at its first."""

    def __init__(self, ctx: JobContext, baseline: Baseline) -> None:
        self.ctx = ctx
        self.baseline = baseline
        self._plans: dict[str, measure.Plan] = {}
        self._unplanned: dict[str, str] = {}  # target -> why its timing could not be planned
        self._to_beat: dict[str, float] = {}  # per target: upper bound of the fastest so far

    def time(self, verified: Verified) -> None:
        ctx, result = self.ctx, verified.result
        assert verified.checkout is not None  # noqa: S101 - a verified candidate has one
        if result.target in self._unplanned:
            result.detail = self._unplanned[result.target]
            return
        if result.target not in self._plans:
            try:
                self._plans[result.target] = self._plan(Target.parse(result.target))
            except (ReplayError, SandboxError) as exc:  # verified, but no timing: say why
                self._unplanned[result.target] = f"not measured: {exc}"
                result.detail = self._unplanned[result.target]
                ctx.warn(f"{result.target}: {result.detail}")
                return
        plan = self._plans[result.target]
        baseline, candidate = self.baseline.checkout.project, verified.checkout.project
        ctx.commands.copy(baseline, candidate, measure.input_files(plan, baseline))
        with ctx.tracer.span("measure.candidate", candidate=result.id) as span:
            m = measure.measure(
                plan,
                baseline,
                candidate,
                ctx.settings.measure,
                ctx.rng,
                class_pairs=ctx.settings.inputs.class_pairs,
                to_beat=self._to_beat.get(result.target),
            )
            result.measurement = m
            faults.reached("measure:timed")
            span.set(
                ratio=m.ratio,
                verdict=m.verdict,
                rounds=len(m.baseline_rounds),
                seconds=round(m.seconds, 3),
                notes=m.notes,
            )
        if m.verdict == stats.Verdict.FASTER and m.high is not None:
            # A later candidate of this target that cannot beat it is not measured to the end.
            self._to_beat[result.target] = min(m.high, self._to_beat.get(result.target, m.high))
        ctx.observer("measured", {"id": result.id, "measurement": m})

    def _plan(self, target: Target) -> measure.Plan:
        """Choose the instrument for a target and estimate the host's noise with it."""
        ctx = self.ctx
        with ctx.tracer.span("measure.plan", target=str(target)) as span:
            plan = self._instrument(target)
            if ctx.settings.measure.noise_check:
                cfg = ctx.settings.measure
                project = self.baseline.checkout.project
                sigma = measure.calibrate_noise(
                    plan, project, ctx.rng, cfg.noise_pairs, budget_s=cfg.budget_s
                )
                span.set(noise_sigma=None if sigma is None else round(sigma, 5))
            span.set(instrument=plan.instrument, round_s=plan.round_s)
        return plan

    def _instrument(self, target: Target) -> measure.Plan:
        ctx = self.ctx
        project = self.baseline.checkout.project
        python = ctx.python
        bench_argv = ctx.spec.bench_argv()
        timeout = ctx.settings.sandbox.bench_timeout_s
        if bench_argv is not None:
            env = {"OPTIRUNNER_TARGET": str(target)}
            return measure.plan_command(
                "wall time of the bench command", self._arm(bench_argv, env)
            )
        inputs = project / INPUTS_DIR / f"{ctx.spec.targets.index(target)}.pkl"
        if measure.recorded_inputs(project / RECORD_FILE, str(target)) > 0:
            run = ctx.commands.runner(timeout)
            valgrind = (
                measure.valgrind_path() if ctx.settings.measure.instructions != "never" else None
            )
            share = not self._mutates_arguments(target)
            generated = self.baseline.inputs.made(str(target))
            workload = self._workload_inputs(target)
            if workload is not None:
                shared = share and not self._mutates_arguments(target, workload=True)
                plan = measure.plan_replay(
                    str(target), workload, project, python, run,
                    valgrind=valgrind, share=shared,
                    label=f"the workload's calls (`{ctx.spec.workload_cmd}`)",
                )  # fmt: skip
                plan.extra_inputs.append(inputs)
                sizes = self._recorded_sizes(str(target), workload=True)
                plan.classes.append(
                    measure.plan_class(
                        "workload", str(target), workload, project, python, run,
                        sizes=sizes, share=shared,
                    )
                )  # fmt: skip
                plan.classes.append(
                    measure.plan_class(
                        "recorded", str(target), inputs, project, python, run,
                        sizes=self._recorded_sizes(str(target)), share=share,
                    )
                )  # fmt: skip
                return plan
            chosen = generated.timing_set(REPRESENTATIVE) if generated else None
            if generated is None or chosen is None:
                return measure.plan_replay(
                    str(target), inputs, project, python, run, valgrind=valgrind, share=share,
                )  # fmt: skip
            plan = measure.plan_replay(
                str(target), chosen.path, project, python, run,
                valgrind=valgrind, share=share,
                label="representative calls (the largest recorded, and scaled up)",
            )  # fmt: skip
            plan.extra_inputs.append(inputs)
            plan.classes.append(
                measure.plan_class(
                    "recorded", str(target), inputs, project, python, run,
                    sizes=self._recorded_sizes(str(target)), share=share,
                )
            )  # fmt: skip
            for timing in generated.timing:
                if timing.label == REPRESENTATIVE:
                    continue
                plan.extra_inputs.append(timing.path)
                label = "largest recorded" if timing.label == LARGEST else timing.label
                plan.classes.append(
                    measure.plan_class(
                        label, str(target), timing.path, project, python, run,
                        sizes=timing.sizes, share=share,
                    )
                )  # fmt: skip
            return plan
        return measure.plan_command(
            "wall time of the test command", self._arm(ctx.spec.test_argv(), {})
        )

    def _workload_inputs(self, target: Target) -> Path | None:
        """The workload's pickled calls of `target` in the baseline, when it made some."""
        project = self.baseline.checkout.project
        if self.baseline.workload is None:
            return None
        if measure.recorded_inputs(project / WORKLOAD_RECORD, str(target)) == 0:
            return None
        path = project / WORKLOAD_INPUTS / f"{self.ctx.spec.targets.index(target)}.pkl"
        return path if path.is_file() else None

    def _recorded_sizes(self, target: str, *, workload: bool = False) -> tuple[int, int]:
        source = self.baseline.workload if workload else self.baseline.recording
        calls = source.targets.get(target, []) if source else []
        sizes = [generate.call_size(call.args) for call in calls] or [0]
        return min(sizes), max(sizes)

    def _mutates_arguments(self, target: Target, workload: bool = False) -> bool:
        """Whether any recorded call of the target changed its arguments."""
        source = self.baseline.workload if workload else self.baseline.recording
        if source is None:
            return True
        calls = source.targets.get(str(target), [])
        return any(call.args != call.args_after for call in calls)

    def _arm(self, argv: list[str], env: dict[str, str]) -> measure.RoundFactory:
        """A round runs the command; it counts the time the command's own benchmark JSON
        reports when it writes one (.optirunner/bench.json), else the whole command."""
        commands = self.ctx.commands
        timeout = self.ctx.settings.sandbox.bench_timeout_s

        def factory(project: Path) -> bench.Round:
            report = benchjson.BENCH_JSON.as_posix()

            def one_round() -> float:
                (project / report).unlink(missing_ok=True)
                seconds = commands.run(argv, project, env, timeout, check=True).duration_s
                measured = bench_json_seconds(commands.get(project, report))
                return seconds if measured is None else measured

            return one_round

        return factory


def bench_json_seconds(report: bytes | None) -> float | None:
    """The seconds a benchmark JSON file reports (None when absent or not understood)."""
    if report is None:
        return None
    try:
        document = json.loads(report)
    except ValueError:
        return None
    return benchjson.round_seconds(document) if isinstance(document, dict) else None
