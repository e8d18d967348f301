"""The path of one job: workspace → baseline → generate → verify → measure → report.

No terminal output and no environment reads here: the caller passes settings, a spec,
and an observer that is told about progress.
"""

from __future__ import annotations

import difflib
import json
import math
import os
import random
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from runner import faults, paths
from runner.agent.context import BundleView
from runner.agent.exchange import Evaluation, Status
from runner.agent.loop import AgentLoop
from runner.agent.providers import load_provider
from runner.agent.providers.base import Candidate, TargetSource
from runner.agent.providers.llm import CLIENTS, make_client
from runner.agent.request import AgentSpec
from runner.agent.safety import check_candidate
from runner.agent.secrets import api_key
from runner.bundle import formatting
from runner.bundle.apply import apply_candidate, extract_definition
from runner.bundle.bundle import BuiltBundle, build_bundle
from runner.bundle.extract import extract
from runner.bundle.signing import load_or_create_key
from runner.config import Settings
from runner.errors import (
    CandidateError,
    JobCancelled,
    MemoryLimitExceeded,
    OptirunnerError,
    SandboxError,
    SandboxTimeout,
    SecurityViolation,
    StaleAttempt,
)
from runner.result import (
    CandidateResult,
    CandidateStatus,
    JobOutcome,
    JobResult,
)
from runner.sandbox.base import CommandResult, Limits, RunRequest, Sandbox
from runner.sandbox.local import BASE_PATH
from runner.spec import JobSpec, Target, validate_repo, validate_target
from runner.telemetry.policy import output_tail
from runner.telemetry.setup import job_tracer
from runner.verify import (
    bench,
    benchjson,
    differential,
    generate,
    measure,
    recording,
    rewardhack,
    stats,
    timeouts,
)
from runner.verify.behaviour import (
    Instability,
    Recording,
    RecordingError,
    compare,
    instability,
    load_recording,
)
from runner.verify.evidence import LARGEST, REPRESENTATIVE, TargetInputs
from runner.verify.replay import CommandRunner, ReplayError
from runner.workspace import Workspace, inspect_source

Observer = Callable[[str, dict[str, Any]], None]
FORMAT_TIMEOUT_S = 60.0
SANDBOX_MARGIN_S = 120.0  # a harness run's own budget, plus imports and start-up
# Variables the runner sets for a command itself: their values are not secrets (masking
# PYTHONHASHSEED's value masked the seed in every harness command line of the trace).
RUNNER_ENV = frozenset({"PATH", "PYTHONHASHSEED", "PYTHONDONTWRITEBYTECODE", "PYTHONPATH"})


def secret_env_values(env: dict[str, str]) -> list[str]:
    """The values of a command's environment that traces must mask."""
    return [v for k, v in env.items() if not k.startswith("OPTIRUNNER_") and k not in RUNNER_ENV]


SEED = 20261124  # one seed for every run of a job, so baseline and candidate see the same


def _quiet(_event: str, _data: dict[str, Any]) -> None:
    return None


@dataclass
class _Checkout:
    name: str
    project: Path


class OptimizeJob:
    """Runs one job to completion; `run()` always leaves a report in the job directory."""

    def __init__(
        self,
        settings: Settings,
        spec: JobSpec,
        sandbox: Sandbox,
        *,
        job_id: str | None = None,
        observer: Observer = _quiet,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.spec = spec
        self.sandbox = sandbox
        self.observer = observer
        self.clock = clock
        self.dir = paths.JobDir.create(settings.state_dir, job_id or paths.new_job_id())
        # Redacted before any sink: the settings' secrets are masked wherever they appear.
        self.tracer = job_tracer(
            settings, self.dir.job_id, self.dir.path(paths.EVENTS), clock=clock
        )
        self.result = JobResult(self.dir.job_id, JobOutcome.FAILED, {}, clock())
        self._workspace: Workspace | None = None
        self._sources: dict[Target, str] = {}
        self._checkouts: dict[str, _Checkout] = {}
        self._patch = ""
        self._patch_prefix = Path()
        self._baseline_recording: Recording | None = None
        self._baseline_workload: Recording | None = None  # the --workload's calls, recorded
        # The A/A pass: what a second run of the unchanged baseline does not reproduce.
        self._unstable = Instability()
        self._unplanned: dict[str, str] = {}  # target -> why its timing could not be planned
        self._unstable_workload = Instability()
        self._baseline: Path | None = None
        self._formatter: str | None = None  # the project's own: ruff or black
        self._rng = random.Random(SEED)
        self._inputs: dict[str, TargetInputs | None] = {}  # per target, built at first need
        self._to_beat: dict[str, float] = {}  # per target: upper bound of the fastest so far

    # -- lifecycle -------------------------------------------------------------------------
    def run(self) -> JobResult:
        """Run every stage; known errors end the job as failed, Ctrl-C as cancelled."""
        self.dir.write(paths.SPEC, self.spec.to_json())
        self.result.spec = json.loads(self.spec.to_json())
        stale = False
        try:
            with self.tracer.span("job", job_id=self.dir.job_id, targets=len(self.spec.targets)):
                self._stages()
        except (KeyboardInterrupt, JobCancelled):
            self._end(JobOutcome.CANCELLED, "cancelled by the user (Ctrl-C)")
        except StaleAttempt:
            stale = True  # a newer attempt owns the job directory's results: write none
            raise
        except OptirunnerError as exc:
            self._end(JobOutcome.FAILED, str(exc))
        finally:
            if not stale:
                self._remove_checkouts()
                self._write_report()
            self.tracer.close()
        return self.result

    def _stages(self) -> None:
        baseline = self._workspace_stage()
        if not self._baseline_stage(baseline):
            return
        if self.spec.provider in CLIENTS:
            results = self._agent_stage(baseline)
        else:
            candidates = self._generate_stage()
            results = [self._verify_stage(i, cand) for i, cand in enumerate(candidates, 1)]
            self._measure_stage(baseline, results)
        self._choose_best(results)
        self._end(JobOutcome.SUCCEEDED, self._summary())

    def _agent_stage(self, baseline: _Checkout) -> list[CandidateResult]:
        """An AI provider: the agent loop sees only the signed bundle; the host verifies."""
        self._stage("agent")
        built, public_key = self._bundle_stage(baseline)
        view = BundleView.from_bundle(built.zip_path, public_key)
        ai = self.settings.ai
        client = make_client(self.spec.provider, ai, api_key(self.spec.provider, ai))
        results: list[CandidateResult] = []
        plans: dict[str, measure.Plan] = {}

        def evaluate(candidate: Candidate) -> Evaluation:
            result = self._verify_stage(len(results) + 1, candidate)
            results.append(result)
            if result.status is CandidateStatus.VERIFIED:
                self._measure_one(baseline, result, plans)
            return _evaluation(result)

        spec = AgentSpec(self.spec.targets, self.settings.measure.min_effect)
        agent = AgentLoop(
            client, view, spec, ai, evaluate, self.tracer, policy=self.settings.safety
        )
        outcome = agent.run()
        self.result.agent = {
            "bundle_id": built.bundle_id,
            "model": client.model,
            "turns": len(outcome.turns),
            "stopped_by": outcome.stopped_by,
            "stop_detail": outcome.stop_detail,
            "usage": dict(outcome.usage),
            # Bytes sent about each target: code shown, every request (history included).
            "sent": {str(t): s.to_dict() for t, s in outcome.sent.items()},
        }
        return results

    def _bundle_stage(self, baseline: _Checkout) -> tuple[BuiltBundle, Ed25519PublicKey]:
        """Cut and sign the bundle: the only code that leaves the host (docs/security.md)."""
        with self.tracer.span("bundle") as span:
            extraction = extract(baseline.project, list(self.spec.targets))
            key = load_or_create_key(self.settings.state_dir)
            built = build_bundle(
                extraction,
                self.dir.root,
                key,
                repository=self.spec.repo,
                commit=self.result.spec.get("commit"),
                now=lambda: datetime.fromtimestamp(self.clock(), UTC),
            )
            span.set(bundle_id=built.bundle_id, files=len(extraction.files), share=extraction.share)
        return built, key.public_key()

    def _end(self, outcome: JobOutcome, message: str) -> None:
        self.result.outcome = outcome
        self.result.message = message
        self.result.finished = self.clock()
        self.observer("end", {"outcome": outcome.value, "message": message})

    def _stage(self, name: str, **data: Any) -> None:
        """A stage starts: the fault point of its boundary, then the observer."""
        faults.reached(f"stage:{name}")
        self.observer("stage", {"name": name, **data})

    def _remove_checkouts(self) -> None:
        if self._workspace is not None and not self.settings.keep_worktrees:
            self._workspace.cleanup()

    # -- stages ----------------------------------------------------------------------------
    def _workspace_stage(self) -> _Checkout:
        self._stage("workspace")
        with self.tracer.span("workspace") as span:
            repo = validate_repo(Path(self.spec.repo))
            for target in self.spec.targets:
                validate_target(repo, target)
                self._sources[target] = (repo / target.path).read_text(encoding="utf-8")
            source = inspect_source(repo)
            span.set(git=source.git_root is not None, commit=source.commit, dirty=source.dirty)
            # patch.diff paths are relative to where `git apply` runs: the repository root.
            apply_dir = source.git_root or source.project
            self.result.spec.update(
                commit=source.commit, dirty=source.dirty, apply_dir=str(apply_dir)
            )
            self._patch_prefix = source.subdir
            self._workspace = Workspace(source, self.dir.root / paths.WORKTREES)
            left = self._workspace.clear()  # a killed attempt's checkouts
            span.set(leftovers=len(left))
            self._baseline = self._checkout("baseline")
            faults.reached("workspace:checkout")
            pyproject = self._baseline / "pyproject.toml"
            if pyproject.is_file():
                self._formatter = formatting.configured_formatter(pyproject.read_text("utf-8"))
            span.set(formatter=self._formatter)
            return _Checkout("baseline", self._baseline)

    def _baseline_stage(self, baseline: _Checkout) -> bool:
        self._stage("baseline")
        with self.tracer.span("baseline") as span:
            try:
                run, self._baseline_recording = self._recorded_tests(baseline, keep_inputs=True)
                faults.reached("baseline:tests")
            except SandboxError as exc:
                self._end(JobOutcome.BASELINE_FAILING, f"baseline tests: {exc}")
                span.status = "error"
                return False
            span.set(returncode=run.returncode, duration_s=round(run.duration_s, 3))
            self.result.baseline = {
                "returncode": run.returncode,
                "duration_s": run.duration_s,
                "tail": run.tail(),
                "behaviour": self._behaviour_note(),
            }
            self.result.sandbox = {
                "name": self.sandbox.name,
                "network_isolated": run.isolated_network,
            }
            if not run.ok:
                span.status = "error"
                self._end(
                    JobOutcome.BASELINE_FAILING,
                    f"the tests fail before any change (exit {run.returncode}); "
                    "no candidate was run",
                )
                return False
        if self._baseline_recording is not None:
            self._unstable = self._aa_pass(baseline, self._baseline_recording, "tests")
        return self._baseline_workload_stage(baseline)

    def _aa_pass(self, baseline: _Checkout, first: Recording, what: str) -> Instability:
        """Record the unchanged baseline a second time: every value the two runs disagree
        on is not reproducible, so no candidate is ever judged on it (behaviour.instability)."""
        with self.tracer.span("baseline.aa", what=what) as span:
            try:
                if what == "tests":
                    run, again = self._recorded_tests(baseline, keep_inputs=False, again=True)
                else:
                    run, again = self._recorded_workload(baseline, keep_inputs=False, again=True)
            except SandboxError as exc:
                run, again = None, None
                self.observer("warning", {"message": f"A/A {what} run: {exc}"})
            if run is not None and not run.ok:
                self.observer("warning", {"message": f"the second baseline {what} run failed"})
            if again is None:  # a flaky suite: compare everything, as without the A/A pass
                span.status = "error"
                self.result.baseline[f"aa_{what}"] = "the second baseline run gave no recording"
                return Instability()
            found = instability(first, again)
            span.set(calls=len(found.paths), sites=len(found.sites))
            self.result.baseline[f"aa_{what}"] = found.describe()
            return found

    def _baseline_workload_stage(self, baseline: _Checkout) -> bool:
        """Run the --workload on the unchanged code, recording the targets' calls."""
        if self.spec.workload_cmd is None:
            return True
        with self.tracer.span("baseline.workload") as span:
            try:
                run, self._baseline_workload = self._recorded_workload(baseline, keep_inputs=True)
            except SandboxError as exc:
                self._end(JobOutcome.BASELINE_FAILING, f"baseline workload: {exc}")
                span.status = "error"
                return False
            span.set(returncode=run.returncode, duration_s=round(run.duration_s, 3))
            self.result.baseline["workload"] = {
                "command": self.spec.workload_cmd,
                "returncode": run.returncode,
                "duration_s": run.duration_s,
                "calls": self._baseline_workload.call_count if self._baseline_workload else 0,
            }
            if not run.ok:
                span.status = "error"
                self._end(
                    JobOutcome.BASELINE_FAILING,
                    f"the workload `{self.spec.workload_cmd}` fails before any change "
                    f"(exit {run.returncode}); no candidate was run:\n{run.tail(8)}",
                )
                return False
        if self._baseline_workload is not None:
            self._unstable_workload = self._aa_pass(baseline, self._baseline_workload, "workload")
        return True

    def _recorded_workload(
        self, checkout: _Checkout, *, keep_inputs: bool, again: bool = False
    ) -> tuple[CommandResult, Recording | None]:
        """Run the --workload with the recorder (runner/verify/_workload_boot.py)."""
        argv = self.spec.workload_argv()
        assert argv is not None  # noqa: S101 - only called with a workload
        recording.install_workload_boot(checkout.project)
        inputs = WORKLOAD_INPUTS if keep_inputs else None
        if again:
            return self._recorded_run(checkout, argv, WORKLOAD_AA_RECORD, None, "workload-aa")
        return self._recorded_run(checkout, argv, WORKLOAD_RECORD, inputs, "workload")

    def _generate_stage(self) -> list[Candidate]:
        self._stage("generate")
        provider = load_provider(self.spec.provider, self.settings)
        found: list[Candidate] = []
        with self.tracer.span("generate", provider=provider.name) as span:
            for target in self.spec.targets:
                module = self._sources[target]
                source = TargetSource(target, extract_definition(module, target.qualname), module)
                proposed = provider.propose(source, self.spec.max_candidates)
                found.extend(proposed)
                declines: dict[str, str] = getattr(provider, "declines", {})
                if not proposed:
                    self.result.declines[str(target)] = declines.get(
                        str(target), f"{provider.name} proposed no candidate"
                    )
            span.set(candidates=len(found))
        self.observer("generated", {"count": len(found)})
        return found

    def _verify_stage(self, index: int, cand: Candidate) -> CandidateResult:
        if index == 1:
            self._stage("verify")
        cid = f"c{index}"
        result = CandidateResult(
            cid, str(cand.target), cand.rule, cand.description, CandidateStatus.INVALID
        )
        self.observer("candidate", {"id": cid, "description": cand.description})
        with self.tracer.span(
            "verify", candidate=cid, target=str(cand.target), rule=cand.rule
        ) as s:
            checkout = self._candidate_checkout(cid, cand, result)
            faults.reached("verify:candidate")
            if checkout is not None:
                self._candidate_tests(checkout, result)
                self._checkouts[cid] = checkout
            s.set(status=result.status.value, tests=result.tests)
        self.observer("verified", {"id": cid, "status": result.status.value})
        return result

    def _candidate_checkout(
        self, cid: str, cand: Candidate, result: CandidateResult
    ) -> _Checkout | None:
        original = self._sources[cand.target]
        try:
            check_candidate(
                original, cand.target.qualname, cand.code, cand.imports, self.settings.safety
            )
        except SecurityViolation as exc:
            result.status, result.detail = CandidateStatus.UNSAFE, str(exc)
            with self.tracer.span("safety.rejected", candidate=cid, reason=exc.reason):
                pass  # an instant event: the trace shows every rejection
            return None
        code = self._formatted(cand.code)
        try:
            updated = apply_candidate(original, cand.target.qualname, code, cand.imports)
        except CandidateError as exc:
            result.detail = str(exc)
            return None
        project = self._checkout(cid)
        (project / cand.target.path).write_text(updated, encoding="utf-8")
        result.diff = unified_diff(
            (self._patch_prefix / cand.target.path).as_posix(), original, updated
        )
        return _Checkout(cid, project)

    def _formatted(self, code: str) -> str:
        """The candidate's code through the project's formatter (only that code)."""
        if self._formatter is None or self._baseline is None:
            return code
        scratch = self._baseline / formatting.SCRATCH
        scratch.parent.mkdir(parents=True, exist_ok=True)
        scratch.write_text(code, encoding="utf-8")
        argv = formatting.formatter_argv(self._formatter, formatting.SCRATCH)
        try:
            done = self._run(argv, self._baseline, {}, FORMAT_TIMEOUT_S, check=False)
        except SandboxError:
            return code
        # Not installed, or it refused the code: the candidate goes in as written.
        return scratch.read_text(encoding="utf-8") if done.ok else code

    def _candidate_tests(self, checkout: _Checkout, result: CandidateResult) -> None:
        try:
            run, recorded = self._recorded_tests(checkout, keep_inputs=False)
        except SandboxError as exc:
            result.status, result.tests, result.detail = _sandbox_failure(exc)
            return
        if not run.ok:
            result.status, result.tests = CandidateStatus.TESTS_FAILED, "failed"
            result.detail = run.tail(8)
            return
        result.tests = "passed"
        if self._baseline_recording is None or recorded is None:
            result.status, result.behaviour = CandidateStatus.VERIFIED, self._behaviour_note()
            return
        unrecorded = self._unrecorded(result.target)
        if unrecorded:
            result.status, result.behaviour = CandidateStatus.NOT_RECORDED, unrecorded
            result.detail = unrecorded
            return
        with self.tracer.span("behaviour", candidate=checkout.name) as span:
            comparison = compare(
                self._baseline_recording,
                recorded,
                float_tolerance=self.spec.float_tolerance,
                unstable=self._unstable,
            )
            span.set(ok=comparison.ok, calls=comparison.calls_compared)
        result.behaviour = comparison.describe()
        result.calls_compared = comparison.calls_compared
        result.inputs["recorded"] = len(self._baseline_recording.targets.get(result.target, []))
        if not comparison.ok:
            result.status, result.detail = CandidateStatus.BEHAVIOUR_CHANGED, comparison.describe()
            return
        if self._reward_hack(checkout, result, recorded):
            return
        self._generated_check(checkout, result)
        if result.status is CandidateStatus.VERIFIED:
            self._workload_check(checkout, result)

    def _workload_check(self, checkout: _Checkout, result: CandidateResult) -> None:
        """The candidate on the --workload: it must exit as the baseline did, and make the
        same calls of the targets with the same results."""
        if self._baseline_workload is None:
            return
        with self.tracer.span("behaviour.workload", candidate=checkout.name) as span:
            try:
                run, recorded = self._recorded_workload(checkout, keep_inputs=False)
            except SandboxError as exc:
                result.status, _, detail = _sandbox_failure(exc)
                result.detail = f"workload: {detail}"
                return
            span.set(returncode=run.returncode)
            if not run.ok:
                result.status = CandidateStatus.BEHAVIOUR_CHANGED
                result.detail = (
                    f"behaviour differs on the workload: it exits {run.returncode} with the "
                    f"candidate (0 with the baseline):\n{run.tail(8)}"
                )
                result.behaviour = result.detail
                return
            if recorded is None:
                result.behaviour += "; workload calls not compared: the recorder wrote no file"
                return
            comparison = compare(
                self._baseline_workload,
                recorded,
                float_tolerance=self.spec.float_tolerance,
                unstable=self._unstable_workload,
            )
            span.set(ok=comparison.ok, calls=comparison.calls_compared)
        calls = len(self._baseline_workload.targets.get(result.target, []))
        result.inputs["workload"] = calls
        if not comparison.ok:
            result.status = CandidateStatus.BEHAVIOUR_CHANGED
            result.detail = comparison.describe().replace(
                "behaviour differs:", "behaviour differs on the workload:", 1
            )
            result.behaviour = result.detail
            return
        result.behaviour += f"; identical on {calls} workload calls"

    def _unrecorded(self, target: str) -> str:
        """Why nothing can be claimed for a target the tests never called ('' if they did)."""
        assert self._baseline_recording is not None  # noqa: S101 - checked by the caller
        error = self._baseline_recording.errors.get(target)
        if error:
            return f"{target} could not be recorded ({error}): no verdict is claimed for it"
        if not self._baseline_recording.targets.get(target):
            return (
                f"0 calls recorded for {target}: the tests never call it, so its behaviour "
                "cannot be compared and no verdict is claimed for it"
            )
        return ""

    def _reward_hack(
        self, checkout: _Checkout, result: CandidateResult, recorded: Recording
    ) -> bool:
        """Reject a candidate that touches what the baseline does not, or special-cases the
        recorded inputs, or changes the signature (runner/verify/rewardhack.py)."""
        assert self._baseline_recording is not None  # noqa: S101 - checked by the caller
        target = Target.parse(result.target)
        original = self._sources[target]
        updated = (checkout.project / target.path).read_text(encoding="utf-8")
        try:
            before = extract_definition(original, target.qualname)
            after = extract_definition(updated, target.qualname)
        except CandidateError as exc:
            after, before = "", ""
            self.observer("warning", {"message": f"reward-hack check: {exc}"})
        findings = rewardhack.check(
            before,
            after,
            baseline_module=original,
            candidate_module=updated,
            recorded_values=self._baseline_recording.targets.get(result.target, []),
            baseline_accesses=self._baseline_recording.accesses.get(result.target, []),
            candidate_accesses=recorded.accesses.get(result.target, []),
        )
        with self.tracer.span("rewardhack", candidate=checkout.name) as span:
            span.set(findings=len(findings), kinds=sorted({f.kind for f in findings}))
        if not findings:
            return False
        result.status, result.detail = CandidateStatus.REJECTED, rewardhack.describe(findings)
        return True

    def _generated_check(self, checkout: _Checkout, result: CandidateResult) -> None:
        """Baseline and candidate on the same generated and scaled-up inputs."""
        result.status = CandidateStatus.VERIFIED
        inputs = self._target_inputs(result.target)
        if inputs is None or not inputs.baseline:
            return
        with self.tracer.span("behaviour.generated", candidate=checkout.name) as span:
            assert inputs.project is not None  # noqa: S101 - prepared
            shared = [file.path.relative_to(inputs.project) for file in inputs.timing]
            if inputs.runner.inputs is not None:  # the recorded calls the specs start from
                shared.append(inputs.runner.inputs)
            for relative in shared:  # the same files in the candidate's checkout
                copy = checkout.project / relative
                copy.parent.mkdir(parents=True, exist_ok=True)
                copy.write_bytes((inputs.project / relative).read_bytes())
            try:
                evidence = inputs.check(checkout.project)
            except (ReplayError, SandboxError) as exc:
                evidence = differential.Evidence(notes=[f"not run: {exc}"])
            span.set(
                generated=evidence.generated,
                scaled=evidence.scaled,
                unstable=evidence.unstable,
                differs=bool(evidence.difference),
            )
        result.inputs.update(
            generated=evidence.generated, scaled=evidence.scaled, unstable=evidence.unstable
        )
        if evidence.difference:
            result.status = CandidateStatus.BEHAVIOUR_CHANGED
            result.detail = f"behaviour differs {evidence.difference}"
            result.behaviour = result.detail
            return
        extra = evidence.generated + evidence.scaled
        note = f"; identical on {extra} generated inputs" if extra else ""
        if evidence.notes:
            note += f"; generated inputs {'; '.join(evidence.notes)}"
        result.behaviour += note

    def _target_inputs(self, target: str) -> TargetInputs | None:
        """The generated inputs of a target, run by the baseline once (None: none exist)."""
        if target in self._inputs:
            return self._inputs[target]
        self._inputs[target] = None
        if self._baseline is None or self._baseline_recording is None:
            return None
        cfg = self.settings.inputs
        index = self.spec.targets.index(Target.parse(target))
        kept = measure.recorded_inputs(self._baseline / RECORD_FILE, target)
        pickles = INPUTS_DIR / f"{index}.pkl"
        runner = differential.Runner(
            self.python,
            target,
            self._command_runner(cfg.budget_s + SANDBOX_MARGIN_S),
            SEED,
            call_timeout_s=cfg.call_timeout_s,
            budget_s=cfg.budget_s,
            inputs=pickles if kept and (self._baseline / pickles).is_file() else None,
        )
        inputs = TargetInputs(
            target,
            self._baseline_recording.targets.get(target, []),
            kept if runner.inputs is not None else 0,
            cfg,
            runner,
            self.spec.float_tolerance,
        )
        with self.tracer.span("inputs.prepare", target=target) as span:
            try:
                inputs.prepare(self._baseline)
            except (ReplayError, SandboxError) as exc:
                self.observer("warning", {"message": f"generated inputs for {target}: {exc}"})
                span.status = "error"
                return None
            span.set(specs=len(inputs.specs), timing_sets=[t.label for t in inputs.timing])
        self._inputs[target] = inputs
        return inputs

    def _command_runner(self, timeout: float) -> CommandRunner:
        def run(argv: list[str], cwd: Path) -> tuple[int, str, str]:
            done = self._run(argv, cwd, {}, timeout, check=False)
            return done.returncode, done.stdout, done.stderr

        return run

    def _recorded_tests(
        self, checkout: _Checkout, *, keep_inputs: bool, again: bool = False
    ) -> tuple[CommandResult, Recording | None]:
        """Run the tests with the behaviour recorder when the command is pytest."""
        argv = self.spec.test_argv()
        with_plugin = recording.with_plugin(argv)
        if with_plugin is None:
            return self._run_tests(checkout.project), None
        if again:
            return self._recorded_run(checkout, with_plugin, AA_RECORD_FILE, None, "tests-aa")
        return self._recorded_run(
            checkout, with_plugin, RECORD_FILE, INPUTS_DIR if keep_inputs else None, "tests"
        )

    def _recorded_run(
        self, checkout: _Checkout, argv: list[str], record: Path, inputs: Path | None, what: str
    ) -> tuple[CommandResult, Recording | None]:
        """Run `argv` with the recorder's settings; the recording when it passes."""
        plugins = recording.install_plugin(checkout.project)
        out = checkout.project / record
        targets = [str(t) for t in self.spec.targets]
        env = recording.record_env(targets, out, plugins, SEED, None)
        if inputs is not None:
            env["OPTIRUNNER_RECORD_INPUTS"] = str(checkout.project / inputs)
        run = self._run_tests(checkout.project, argv, env)
        if not run.ok:
            return run, None
        try:
            recorded = load_recording(out)
        except RecordingError as exc:
            self.observer("warning", {"message": f"{what}: {exc}"})
            return run, None
        suffix = "" if what == "tests" else f"-{what}"
        self.dir.subdir("behaviour")
        self.dir.write(f"behaviour/{checkout.name}{suffix}.json", out.read_bytes())
        return run, recorded

    def _behaviour_note(self) -> str:
        if recording.with_plugin(self.spec.test_argv()) is None:
            return "not recorded: the test command is not pytest"
        if self._baseline_recording is None:
            return "not recorded: the recorder produced no file"
        calls = self._baseline_recording.call_count
        return f"recorded {calls} calls of the targets at baseline"

    def _measure_stage(self, baseline: _Checkout, results: list[CandidateResult]) -> None:
        passing = [r for r in results if r.status is CandidateStatus.VERIFIED]
        self._stage("measure", count=len(passing))
        plans: dict[str, measure.Plan] = {}
        with self.tracer.span("measure", candidates=len(passing)):
            for result in passing:
                self._measure_one(baseline, result, plans)

    def _measure_one(
        self, baseline: _Checkout, result: CandidateResult, plans: dict[str, measure.Plan]
    ) -> None:
        if result.target in self._unplanned:
            result.detail = self._unplanned[result.target]
            return
        if result.target not in plans:
            try:
                plans[result.target] = self._plan(baseline, Target.parse(result.target))
            except (ReplayError, SandboxError) as exc:  # verified, but no timing: say why
                self._unplanned[result.target] = f"not measured: {exc}"
                result.detail = self._unplanned[result.target]
                self.observer("warning", {"message": f"{result.target}: {result.detail}"})
                return
        plan = plans[result.target]
        checkout = self._checkouts[result.id]
        measure.copy_inputs(plan, baseline.project, checkout.project)
        with self.tracer.span("measure.candidate", candidate=result.id) as span:
            m = measure.measure(
                plan,
                baseline.project,
                checkout.project,
                self.settings.measure,
                self._rng,
                class_pairs=self.settings.inputs.class_pairs,
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
        self.observer("measured", {"id": result.id, "measurement": m})

    def _plan(self, baseline: _Checkout, target: Target) -> measure.Plan:
        """Choose the instrument for a target and estimate the host's noise with it."""
        with self.tracer.span("measure.plan", target=str(target)) as span:
            plan = self._choose_instrument(baseline, target)
            if self.settings.measure.noise_check:
                cfg = self.settings.measure
                sigma = measure.calibrate_noise(
                    plan, baseline.project, self._rng, cfg.noise_pairs, budget_s=cfg.budget_s
                )
                span.set(noise_sigma=None if sigma is None else round(sigma, 5))
            span.set(instrument=plan.instrument, round_s=plan.round_s)
        return plan

    def _choose_instrument(self, baseline: _Checkout, target: Target) -> measure.Plan:
        bench_argv = self.spec.bench_argv()
        timeout = self.settings.sandbox.bench_timeout_s
        if bench_argv is not None:
            env = {"OPTIRUNNER_TARGET": str(target)}
            return measure.plan_command(
                "wall time of the bench command", self._arm(bench_argv, env)
            )
        inputs = baseline.project / INPUTS_DIR / f"{self.spec.targets.index(target)}.pkl"
        if measure.recorded_inputs(baseline.project / RECORD_FILE, str(target)) > 0:
            run = self._command_runner(timeout)
            valgrind = (
                measure.valgrind_path() if self.settings.measure.instructions != "never" else None
            )
            share = not self._mutates_arguments(target)
            generated = self._inputs.get(str(target))
            workload = self._workload_inputs(target)
            if workload is not None:
                shared = share and not self._mutates_arguments(target, workload=True)
                plan = measure.plan_replay(
                    str(target), workload, baseline.project, self.python, run,
                    valgrind=valgrind, share=shared,
                    label=f"the workload's calls (`{self.spec.workload_cmd}`)",
                )  # fmt: skip
                plan.extra_inputs.append(inputs)
                sizes = self._recorded_sizes(str(target), workload=True)
                plan.classes.append(
                    measure.plan_class(
                        "workload", str(target), workload, baseline.project, self.python, run,
                        sizes=sizes, share=shared,
                    )
                )  # fmt: skip
                plan.classes.append(
                    measure.plan_class(
                        "recorded", str(target), inputs, baseline.project, self.python, run,
                        sizes=self._recorded_sizes(str(target)), share=share,
                    )
                )  # fmt: skip
                return plan
            chosen = generated.timing_set(REPRESENTATIVE) if generated else None
            if generated is None or chosen is None:
                return measure.plan_replay(
                    str(target), inputs, baseline.project, self.python, run,
                    valgrind=valgrind, share=share,
                )  # fmt: skip
            plan = measure.plan_replay(
                str(target), chosen.path, baseline.project, self.python, run,
                valgrind=valgrind, share=share,
                label="representative calls (the largest recorded, and scaled up)",
            )  # fmt: skip
            plan.extra_inputs.append(inputs)
            plan.classes.append(
                measure.plan_class(
                    "recorded", str(target), inputs, baseline.project, self.python, run,
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
                        label, str(target), timing.path, baseline.project, self.python, run,
                        sizes=timing.sizes, share=share,
                    )
                )  # fmt: skip
            return plan
        return measure.plan_command(
            "wall time of the test command", self._arm(self.spec.test_argv(), {})
        )

    def _workload_inputs(self, target: Target) -> Path | None:
        """The workload's pickled calls of `target` in the baseline, when it made some."""
        if self._baseline is None or self._baseline_workload is None:
            return None
        if measure.recorded_inputs(self._baseline / WORKLOAD_RECORD, str(target)) == 0:
            return None
        path = self._baseline / WORKLOAD_INPUTS / f"{self.spec.targets.index(target)}.pkl"
        return path if path.is_file() else None

    def _recorded_sizes(self, target: str, *, workload: bool = False) -> tuple[int, int]:
        source = self._baseline_workload if workload else self._baseline_recording
        calls = source.targets.get(target, []) if source else []
        sizes = [generate.call_size(call.args) for call in calls] or [0]
        return min(sizes), max(sizes)

    def _mutates_arguments(self, target: Target, workload: bool = False) -> bool:
        """Whether any recorded call of the target changed its arguments."""
        source = self._baseline_workload if workload else self._baseline_recording
        if source is None:
            return True
        calls = source.targets.get(str(target), [])
        return any(call.args != call.args_after for call in calls)

    def _arm(self, argv: list[str], env: dict[str, str]) -> measure.RoundFactory:
        """A round runs the command; it counts the time the command's own benchmark JSON
        reports when it writes one (.optirunner/bench.json), else the whole command."""
        timeout = self.settings.sandbox.bench_timeout_s

        def factory(project: Path) -> bench.Round:
            report = project / benchjson.BENCH_JSON

            def one_round() -> float:
                report.unlink(missing_ok=True)
                seconds = self._run(argv, project, env, timeout, check=True).duration_s
                measured = _bench_json_seconds(report)
                return seconds if measured is None else measured

            return one_round

        return factory

    def _choose_best(self, results: list[CandidateResult]) -> None:
        best: dict[str, CandidateResult] = {}
        for r in results:
            m = r.measurement
            if m is None or not m.verdict.startswith("faster"):
                continue
            current = best.get(r.target)
            if current is None or _ratio(r) < _ratio(current):
                best[r.target] = r
        self.result.candidates = results
        self.result.best = [r.id for r in best.values()]
        # One winner per target; targets in different definitions do not overlap.
        self._patch = "".join(r.diff for r in best.values())

    def _summary(self) -> str:
        n = len(self.result.best)
        total = len(self.result.candidates)
        if n == 0:
            return f"no verified speedup among {total} candidates"
        return f"{n} target(s) verified faster ({total} candidates tried)"

    # -- running commands ------------------------------------------------------------------
    def _checkout(self, name: str) -> Path:
        """A fresh worktree with `python` on its PATH meaning the job's interpreter."""
        assert self._workspace is not None  # noqa: S101 - set by the workspace stage
        project = self._workspace.checkout(name)
        write_python_shim(project / SHIM_DIR, self.python)
        return project

    @property
    def python(self) -> str:
        return self.settings.python or sys.executable

    def _run_tests(
        self, project: Path, argv: list[str] | None = None, env: dict[str, str] | None = None
    ) -> CommandResult:
        """The test command (or the workload, or a variant of either); never raises on a
        failing exit.

        The baseline's run has `sandbox.test_timeout_s`. A candidate's stops at its first
        failure (pytest) and has a limit scaled from the baseline's time of the same command
        (runner/verify/timeouts.py), which its timeout message names.
        """
        argv = argv if argv is not None else self.spec.test_argv()
        if project == self._baseline:
            timeout = self.settings.sandbox.test_timeout_s
            return self._run(argv, project, env or {}, timeout, check=False)
        timeout, rule = self._candidate_timeout(argv)
        argv = recording.with_first_failure(argv)
        try:
            return self._run(argv, project, env or {}, timeout, check=False)
        except SandboxTimeout as exc:
            raise SandboxTimeout(f"{exc} (a candidate's limit: {rule})") from exc

    def _candidate_timeout(self, argv: list[str]) -> tuple[float, str]:
        """A candidate's limit from the baseline's time of the same command, and its rule."""
        sb = self.settings.sandbox
        workload = str(recording.WORKLOAD_BOOT) in argv
        source = self.result.baseline.get("workload") if workload else self.result.baseline
        seconds = source.get("duration_s") if isinstance(source, dict) else None
        return timeouts.candidate_timeout(
            float(seconds) if isinstance(seconds, int | float) else None,
            factor=sb.candidate_test_factor,
            margin_s=sb.candidate_test_margin_s,
            cap_s=sb.test_timeout_s,
        )

    def _run(
        self, argv: list[str], project: Path, env: dict[str, str], timeout: float, *, check: bool
    ) -> CommandResult:
        limits = self._limits(timeout)
        full_env = {
            "PATH": command_path(project, self.python),
            "PYTHONHASHSEED": str(SEED),
            "PYTHONDONTWRITEBYTECODE": "1",
            **env,
        }
        # Values the command sees in its environment are masked in every trace (the
        # variables the runner sets itself are not secrets).
        self.tracer.add_secrets(secret_env_values(env))
        with self.tracer.span(
            "sandbox.run", argv=" ".join(argv), cwd=project.name, timeout_s=timeout
        ) as span:
            started = time.monotonic()
            try:
                result = self.sandbox.run(RunRequest(argv, project, full_env, limits))
            except SandboxTimeout:
                span.set(timed_out=True, duration_s=round(time.monotonic() - started, 4))
                raise
            # stdout/stderr are content: redacted, hashed or dropped per telemetry.content.
            span.set(
                returncode=result.returncode,
                duration_s=round(result.duration_s, 4),
                timed_out=False,
                stdout=output_tail(result.stdout),
                stderr=output_tail(result.stderr),
            )
        if check and not result.ok:
            raise OptirunnerError(
                f"{' '.join(argv)} failed while measuring (exit {result.returncode}): "
                f"{result.tail(3)}"
            )
        return result

    def _limits(self, timeout: float) -> Limits:
        sb = self.settings.sandbox
        return Limits(
            timeout_s=timeout,
            memory_bytes=sb.memory_mb * 1024**2,
            cpu_seconds=sb.cpu_seconds,
            file_size_bytes=sb.file_size_mb * 1024**2,
            open_files=sb.open_files,
            processes=sb.processes,
        )

    # -- report ----------------------------------------------------------------------------
    def _write_report(self) -> None:
        from runner.report.render import render_markdown  # noqa: PLC0415 - report is optional

        faults.reached("stage:report")
        with self.tracer.span("report"):
            if not self.result.finished:
                self.result.finished = self.clock()
            self.dir.write(paths.REPORT_JSON, json.dumps(self.result.to_dict(), indent=2) + "\n")
            self.dir.write(paths.REPORT_MD, render_markdown(self.result))
            self.dir.write(paths.PATCH, self._patch)
            self._write_plots()

    def _write_plots(self) -> None:
        from runner.report.plot import round_plot  # noqa: PLC0415 - matplotlib is heavy

        for candidate in self.result.candidates:
            png = round_plot(candidate)
            if png is not None:
                self.dir.subdir(paths.PLOTS)
                self.dir.write(f"{paths.PLOTS}/{candidate.id}.png", png)


def unified_diff(path: str, before: str, after: str) -> str:
    """A `git apply`-able diff of one file, paths relative to the project folder."""
    lines = difflib.unified_diff(
        before.splitlines(keepends=True),
        after.splitlines(keepends=True),
        fromfile=f"a/{path}",
        tofile=f"b/{path}",
    )
    return "".join(lines)


SHIM_DIR = Path(".optirunner") / "bin"
RECORD_FILE = Path(".optirunner") / "record.json"
INPUTS_DIR = Path(".optirunner") / "inputs"
WORKLOAD_RECORD = Path(".optirunner") / "workload-record.json"
AA_RECORD_FILE = Path(".optirunner") / "record-aa.json"  # the A/A pass's second recording
WORKLOAD_AA_RECORD = Path(".optirunner") / "workload-record-aa.json"
WORKLOAD_INPUTS = Path(".optirunner") / "workload-inputs"


def write_python_shim(folder: Path, python: str) -> None:
    """`python` and `python3` scripts that run the job's interpreter.

    Scripts, not symlinks: a symlink to a virtualenv's python found through another
    folder would not find the venv's `pyvenv.cfg` and lose its packages.
    """
    folder.mkdir(parents=True, exist_ok=True)
    script = f'#!/bin/sh\nexec {shlex.quote(python)} "$@"\n'
    for name in ("python", "python3"):
        (folder / name).write_text(script, encoding="utf-8")
        (folder / name).chmod(0o755)


def command_path(project: Path, python: str) -> str:
    """PATH of a job's commands: the shim, then the interpreter's own scripts (pytest...)."""
    return os.pathsep.join([str(project / SHIM_DIR), str(Path(python).parent), BASE_PATH])


_STATUS_FOR_AGENT = {
    CandidateStatus.VERIFIED: Status.VERIFIED,
    CandidateStatus.UNSAFE: Status.UNSAFE,
    CandidateStatus.INVALID: Status.INVALID,
    CandidateStatus.BEHAVIOUR_CHANGED: Status.BEHAVIOUR_CHANGED,
    CandidateStatus.REJECTED: Status.UNSAFE,
    CandidateStatus.NOT_RECORDED: Status.BEHAVIOUR_CHANGED,
}


def _evaluation(result: CandidateResult) -> Evaluation:
    """What the agent loop is told about a candidate (computed on the host)."""
    status = _STATUS_FOR_AGENT.get(result.status, Status.TESTS_FAILED)
    ratio = result.measurement.ratio if result.measurement else None
    test_output = result.detail if status is Status.TESTS_FAILED else ""
    return Evaluation(status, detail=result.detail, test_output=test_output, ratio=ratio)


def _ratio(result: CandidateResult) -> float:
    """A candidate's time ratio to the baseline (infinite when it was not timed)."""
    m = result.measurement
    return math.inf if m is None or m.ratio is None else m.ratio


def _bench_json_seconds(report: Path) -> float | None:
    """The seconds a benchmark JSON file reports (None when absent or not understood)."""
    try:
        document = json.loads(report.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return benchjson.round_seconds(document) if isinstance(document, dict) else None


def _sandbox_failure(exc: SandboxError) -> tuple[CandidateStatus, str, str]:
    if isinstance(exc, SandboxTimeout):
        return CandidateStatus.TIMEOUT, "timeout", str(exc)
    if isinstance(exc, MemoryLimitExceeded):
        return CandidateStatus.MEMORY, "memory limit", str(exc)
    return CandidateStatus.TESTS_FAILED, "error", str(exc)
