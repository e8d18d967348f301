"""Evaluation on real libraries: does `optirunner optimize` accept the right rewrites?

    .venv/bin/python benchmarks/realworld.py [--quick] [--workload] [--identical]
                                             [--case NAME ...] [--list]

Eight pure-Python projects from PyPI (sdists pinned by version and sha256, downloaded into
~/.cache/optirunner-eval-sdists, never committed) and hand-written candidates for their
functions (benchmarks/realworld/candidates/): *correct* rewrites that are faster on
realistic inputs and *traps* that pass the project's own test suite but change behaviour.
Per candidate, three independent things are run:

1. the project's suite with the candidate applied (a trap must pass it to be a trap);
2. an independent check in one process (benchmarks/realworld/_independent.py): a probe on
   the inputs where a trap differs, and interleaved A/B timing on a realistic workload;
3. the runner itself: `optirunner optimize --provider openai` against a local fake
   OpenAI server (tests/agent/conftest.py) that answers with the candidate; report.json
   gives status, verdict and speedup.

The projects' dependencies live in a separate venv (~/.cache/optirunner-eval-venv), passed
with `--python`. Results: a table, totals, and benchmarks/results/realworld-<date>.json.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
import textwrap
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
EVAL = HERE / "realworld"
FIXTURES = EVAL / "candidates"
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # tests.agent.conftest: the fake OpenAI server


def _load_cases() -> Any:
    name = "realworld_cases"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, EVAL / "cases.py")
        if spec is None or spec.loader is None:
            raise ImportError(EVAL / "cases.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


cases = _load_cases()
CANDIDATES: list[Any] = cases.CANDIDATES
IDENTICAL: list[Any] = cases.IDENTICAL
PROJECTS: dict[str, Any] = cases.PROJECTS
Candidate = Any
Project = Any

CACHE = Path(os.environ.get("OPTIRUNNER_EVAL_CACHE", Path.home() / ".cache"))
SDISTS = CACHE / "optirunner-eval-sdists"
VENV = CACHE / "optirunner-eval-venv"
EVAL_REQUIREMENTS = ["pytest==9.2.0"]  # the projects' suites need nothing else
CAUGHT = {"behaviour changed", "rejected", "tests failed"}
RUNNER_TIMEOUT_S = 1200
#: words of a behaviour text that blame the recording, not the candidate
UNFAITHFUL = ("no faithful recording", "cannot compare")
KNOWN_CANDIDATE_KEYS = {
    "id", "target", "rule", "description", "status", "tests", "behaviour",
    "calls_compared", "inputs", "detail", "measurement", "diff",
}  # fmt: skip
KNOWN_MEASUREMENT_KEYS = {
    "instrument", "baseline_rounds", "candidate_rounds", "ratio", "low", "high", "verdict",
    "reason", "decided_by", "speedup", "seconds",
}  # fmt: skip


class EvalError(Exception):
    """A problem with the set-up (download, checksum, venv): the run cannot go on."""


# -- sdists and the eval venv ------------------------------------------------------------------


def sdist(project: Project) -> Path:
    """The verified sdist of `project`, downloaded into the cache when missing."""
    SDISTS.mkdir(parents=True, exist_ok=True)
    stems = {project.name, project.name.replace("-", "_")}
    found = [SDISTS / f"{s}-{project.version}.tar.gz" for s in stems]
    path = next((p for p in found if p.exists()), None)
    if path is None:
        argv = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:"]
        argv += ["-q", "-d", str(SDISTS), f"{project.name}=={project.version}"]
        proc = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=600)
        path = next((p for p in found if p.exists()), None)
        if proc.returncode != 0 or path is None:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            raise EvalError(
                f"could not download {project.name}=={project.version} into {SDISTS} "
                f"(pip exit {proc.returncode}): {' | '.join(tail)}"
            )
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != project.sha256:
        raise EvalError(
            f"{path} has sha256 {digest}, expected {project.sha256}; delete it to download again"
        )
    return path


def source_tree(project: Project) -> Path:
    """The sdist unpacked once into the cache (copied for every run, never changed)."""
    root = SDISTS / "src"
    tree = root / project.dirname
    archive = sdist(project)
    if not (tree / ".complete").exists():
        shutil.rmtree(tree, ignore_errors=True)
        root.mkdir(parents=True, exist_ok=True)
        with tarfile.open(archive) as tar:
            tar.extractall(root, filter="data")
        if not tree.is_dir():
            raise EvalError(f"{archive} does not unpack into {project.dirname}/")
        (tree / ".complete").touch()
    return tree


def eval_python() -> Path:
    """The eval venv's interpreter: created from this interpreter, with pytest only."""
    python = VENV / "bin" / "python"
    stamp = VENV / ".optirunner-eval"
    wanted = "\n".join(EVAL_REQUIREMENTS)
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
    proc = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", *EVAL_REQUIREMENTS],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise EvalError(f"could not install {wanted} into {VENV}: {proc.stderr.strip()[-500:]}")
    stamp.write_text(wanted)
    return python


def copy_project(project: Project, into: Path) -> Path:
    destination = into / project.dirname
    shutil.copytree(source_tree(project), destination, ignore=shutil.ignore_patterns(".complete"))
    return destination


# -- applying a candidate to a copy (for the independent suite run) --------------------------------


def fixture_text(candidate: Candidate) -> str:
    """The candidate's code as the model would send it (without the linter header); for an
    identical rewrite, the target's own definition read from the project."""
    if candidate.kind == "identical":
        return original_definition(source_tree(PROJECTS[candidate.project]), candidate.target)
    text = (FIXTURES / f"{candidate.name}.py").read_text(encoding="utf-8")
    return "".join(line for line in text.splitlines(True) if not line.startswith("# ruff:"))


def _definition_node(tree: ast.Module, target: str) -> ast.FunctionDef | ast.AsyncFunctionDef:
    path, qualname = target.split("::")
    body: list[ast.stmt] = tree.body
    node: ast.AST | None = None
    for part in qualname.split("."):
        kinds = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef
        node = next((n for n in body if isinstance(n, kinds) and n.name == part), None)
        if node is None:
            raise EvalError(f"{target}: no definition {part!r} in {path}")
        body = node.body  # type: ignore[attr-defined]
    if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        raise EvalError(f"{target} is not a function")
    return node


def original_definition(tree_root: Path, target: str) -> str:
    """The target's definition (decorators included) as it is in the project, dedented,
    with a final `pass`: the same bytecode (a `pass` compiles to nothing), but not the
    same tree, so the runner does not drop it as the original proposed back."""
    source = (tree_root / target.split("::", maxsplit=1)[0]).read_text(encoding="utf-8")
    node = _definition_node(ast.parse(source), target)
    start = min([node.lineno] + [d.lineno for d in node.decorator_list])
    lines = source.splitlines(True)[start - 1 : node.end_lineno]
    text = textwrap.dedent("".join(lines))
    function = ast.parse(text).body[0]
    assert isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef)
    indent = " " * function.body[-1].col_offset
    return text.rstrip("\n") + f"\n{indent}pass  # an A/A rewrite: the original body\n"


def apply_candidate(checkout: Path, target: str, code: str) -> None:
    """Replace the target's definition in `checkout` with `code` (imports go to the top)."""
    file = checkout / target.split("::", maxsplit=1)[0]
    source = file.read_text(encoding="utf-8")
    tree = ast.parse(source)
    node = _definition_node(tree, target)
    candidate = ast.parse(code)
    cand_lines = code.splitlines()
    imports = [
        "\n".join(cand_lines[n.lineno - 1 : n.end_lineno])
        for n in candidate.body
        if isinstance(n, ast.Import | ast.ImportFrom)
    ]
    definition = next(n for n in candidate.body if not isinstance(n, ast.Import | ast.ImportFrom))
    first = min([definition.lineno] + [d.lineno for d in definition.decorator_list])  # type: ignore[attr-defined]
    indent = " " * node.col_offset
    new_def = [indent + line if line else line for line in cand_lines[first - 1 :]]
    lines = source.splitlines()
    start = min([node.lineno] + [d.lineno for d in node.decorator_list])
    lines[start - 1 : node.end_lineno] = new_def
    if imports:
        anchor = next(
            n.lineno
            for n in tree.body
            if not (isinstance(n, ast.ImportFrom) and n.module == "__future__")
            and not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))
        )
        lines[anchor - 1 : anchor - 1] = imports
    file.write_text("\n".join(lines) + "\n", encoding="utf-8")


def project_argv(project: Project, python: Path) -> list[str]:
    argv = project.test_cmd.split()
    return [str(python), *argv[1:]] if argv[0] == "python" else argv


def run_suite(project: Project, candidate: Candidate, python: Path, work: Path) -> dict[str, Any]:
    """The project's own suite with the candidate applied, outside the runner."""
    checkout = copy_project(project, work / "suite")
    apply_candidate(checkout, candidate.target, fixture_text(candidate))
    started = time.monotonic()
    proc = subprocess.run(
        project_argv(project, python),
        cwd=checkout,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    lines = proc.stdout.strip().splitlines()
    return {
        "passed": proc.returncode == 0,
        "returncode": proc.returncode,
        "summary": lines[-1] if lines else proc.stderr.strip()[-300:],
        "seconds": round(time.monotonic() - started, 1),
    }


def run_independent(
    project: Project, candidate: Candidate, python: Path, work: Path, pairs: int
) -> dict[str, Any]:
    checkout = copy_project(project, work / "independent")
    argv = [str(python), str(EVAL / "_independent.py"), str(EVAL / "cases.py")]
    argv += [candidate.target, str(FIXTURES / f"{candidate.name}.py")]
    argv += [candidate.workload if candidate.kind == "correct" else "", candidate.probe, str(pairs)]
    proc = subprocess.run(
        argv,
        cwd=checkout,
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
        env={**os.environ, "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1"},
    )
    if proc.returncode != 0:
        return {"error": proc.stderr.strip()[-800:]}
    found: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return found


# -- the runner, against a local fake OpenAI server -------------------------------------------


def workload_of(candidate: Candidate) -> str:
    """The workload of the candidate's target (a trap gets its correct sibling's)."""
    if candidate.workload:
        return str(candidate.workload)
    same = (c.workload for c in CANDIDATES if c.target == candidate.target and c.workload)
    return str(next(same, ""))


def run_runner(
    project: Project,
    candidate: Candidate,
    python: Path,
    work: Path,
    budget: float,
    workload: bool = False,
) -> dict[str, Any]:
    from tests.agent.conftest import KEY, OPENAI, FakeLLM  # noqa: PLC0415 - pytest, late

    checkout = copy_project(project, work / "runner")
    answer = f"### Candidate 1: {candidate.note}\n```python\n{fixture_text(candidate)}```"
    fake = FakeLLM()
    # Every turn gets the same answer; the loop drops repeats, so only the first is tried.
    fake.script(OPENAI.path, *[OPENAI.ok(answer) for _ in range(12)])
    fake.start()
    state = work / "state"
    env = {
        **os.environ,
        "OPTIRUNNER_AI_API_KEY": KEY,
        "OPTIRUNNER_AI__MAX_RETRIES": "0",
        "OPTIRUNNER_MEASURE__BUDGET_S": str(budget),
        "OPTIRUNNER_STATE_DIR": str(state),
    }
    argv = [sys.executable, "-m", "runner", "optimize", str(checkout), "-t", candidate.target]
    argv += ["--json", "--provider", "openai", "--model", "fixture", "--python", str(python)]
    argv += ["--base-url", f"{fake.url}/v1", "--test-cmd", project.test_cmd]
    name = workload_of(candidate) if workload else ""
    if name:  # the same calls the independent timing makes, as a user's workload script
        folder = checkout / ".optirunner-eval"
        folder.mkdir()
        shutil.copyfile(EVAL / "_workload.py", folder / "workload.py")
        for source in ("_independent.py", "cases.py"):
            shutil.copyfile(EVAL / source, folder / source)
        script = folder.relative_to(checkout) / "workload.py"
        argv += ["--workload", f"python {script} {candidate.target} {name}"]
    started = time.monotonic()
    try:
        proc = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            env=env,
            check=False,
            timeout=RUNNER_TIMEOUT_S,
            cwd=REPO,
        )
    except subprocess.TimeoutExpired:  # a row that says so; the other cases still run
        return {"error": f"the runner took over {RUNNER_TIMEOUT_S} s", "seconds": RUNNER_TIMEOUT_S}
    finally:
        fake.stop()
    seconds = round(time.monotonic() - started, 1)
    report: dict[str, Any] | None = None
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        found = sorted(state.rglob("report.json"))
        if found:
            report = json.loads(found[-1].read_text())
    if report is None:
        error = f"exit {proc.returncode}: {proc.stderr.strip()[-800:]}"
        return {"error": error, "seconds": seconds}
    return {"seconds": seconds, "requests": len(fake.requests), **summarise(report)}


def summarise(report: dict[str, Any]) -> dict[str, Any]:
    """The fields of report.json this table needs, plus any it does not know yet."""
    out: dict[str, Any] = {"outcome": report.get("outcome"), "message": report.get("message")}
    candidates = report.get("candidates") or []
    if not candidates:
        out["status"] = "no candidate"
        return out
    cand = candidates[0]
    out |= {
        "status": cand.get("status"),
        "tests": cand.get("tests"),
        "behaviour": cand.get("behaviour"),
        "calls_compared": cand.get("calls_compared"),
        "inputs": cand.get("inputs"),
        "detail": cand.get("detail"),
        "extra": {k: v for k, v in cand.items() if k not in KNOWN_CANDIDATE_KEYS},
    }
    measurement = cand.get("measurement")
    if measurement:
        out["verdict"] = measurement.get("verdict")
        out["speedup"] = measurement.get("speedup")
        ratio_low, ratio_high = measurement.get("low"), measurement.get("high")
        if ratio_low and ratio_high:
            out["speedup_interval"] = [1 / ratio_high, 1 / ratio_low]
        out["decided_by"] = measurement.get("decided_by")
        out["measure_reason"] = measurement.get("reason")
        out["measurement_extra"] = {
            k: v for k, v in measurement.items() if k not in KNOWN_MEASUREMENT_KEYS
        }
    return out


# -- one case, the table ------------------------------------------------------------------------


def judge(candidate: Candidate, row: dict[str, Any]) -> dict[str, Any]:
    runner = row["runner"]
    status = runner.get("status") or "error"
    verdict = runner.get("verdict") or "-"
    accepted = status == "verified" and str(verdict).startswith("faster")
    row["accepted"] = accepted
    text = f"{runner.get('behaviour') or ''} {runner.get('detail') or ''}"
    row["unfaithful_recording"] = status in CAUGHT and any(w in text for w in UNFAITHFUL)
    if candidate.kind == "identical":
        # Never "behaviour changed" (the issue-23 failure), never faster or slower.
        row["identical_ok"] = status == "verified" and not str(verdict).startswith(
            ("faster", "slower")
        )
        return row
    if candidate.kind == "trap":
        if status in CAUGHT and row["unfaithful_recording"]:
            row["caught"] = "by accident"  # rejected because a value could not be compared
        elif status in CAUGHT:
            row["caught"] = "yes"
        elif status == "verified":
            row["caught"] = "no"  # claimed identical behaviour
        else:
            row["caught"] = "not judged"
        independent = row["independent"].get("probe") or {}
        row["trap_valid"] = bool(row["suite"]["passed"] and independent.get("differs"))
    else:
        timing = row["independent"].get("timing") or {}
        ind, run = timing.get("speedup"), runner.get("speedup")
        row["independent_speedup"] = ind
        if ind and run:
            row["agreement"] = run / ind
            row["within_25"] = abs(run / ind - 1) <= 0.25
        row["correct_valid"] = bool(
            row["suite"]["passed"]
            and row["independent"].get("workload_mismatches") == 0
            and not (row["independent"].get("probe") or {}).get("differs")
        )
    return row


def run_case(
    candidate: Candidate, python: Path, budget: float, pairs: int, workload: bool = False
) -> dict[str, Any]:
    project = PROJECTS[candidate.project]
    row: dict[str, Any] = {"case": candidate.name, **asdict(candidate)}
    row["version"] = project.version
    with tempfile.TemporaryDirectory(prefix=f"realworld-{candidate.name}-") as tmp:
        work = Path(tmp)
        if candidate.kind == "identical":  # nothing changes: only the runner's verdict counts
            row["suite"] = {"passed": True, "summary": "not run: the code is unchanged"}
            row["independent"] = {}
        else:
            row["suite"] = run_suite(project, candidate, python, work)
            row["independent"] = run_independent(project, candidate, python, work, pairs)
        row["runner"] = run_runner(project, candidate, python, work, budget, workload)
    row["runner_workload"] = workload_of(candidate) if workload else ""
    return judge(candidate, row)


def fmt(value: float | None, spec: str = ".2f") -> str:
    return "-" if value is None else format(value, spec)


def table(rows: list[dict[str, Any]]) -> str:
    head = (
        "| project | target | candidate | kind | valid | runner status / verdict | runner x "
        "| indep. x | within 25% | trap caught |"
    )
    out = [head, "|" + " --- |" * 10]
    for r in rows:
        runner = r["runner"]
        valid = r.get("trap_valid", r.get("correct_valid", r["kind"] == "identical"))
        status = runner.get("status") or f"error: {runner.get('error', '')[:60]}"
        within = r.get("within_25")
        out.append(
            f"| {r['project']} {r['version']} | `{r['target'].split('::')[1]}` | {r['case']} "
            f"| {r['kind']} | {'yes' if valid else 'NO'} | {status} / {runner.get('verdict', '-')} "
            f"| {fmt(runner.get('speedup'))} | {fmt(r.get('independent_speedup'))} "
            f"| {'-' if within is None else ('yes' if within else 'no')} "
            f"| {r.get('caught', '-')} |"
        )
    return "\n".join(out)


def totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Counts over the valid cases: a trap that fails its project's suite, or a rewrite
    that is not identical on the workload and probe, is listed but not counted."""
    invalid = [r["case"] for r in rows if not r.get("trap_valid", r.get("correct_valid", True))]
    traps = [r for r in rows if r["kind"] == "trap" and r["trap_valid"]]
    correct = [r for r in rows if r["kind"] == "correct" and r["correct_valid"]]
    compared = [r for r in correct if "within_25" in r]
    identical = [r for r in rows if r["kind"] == "identical"]
    if identical:
        return {
            "identical": len(identical),
            "identical_ok": sum(1 for r in identical if r["identical_ok"]),
            "identical_behaviour_changed": sum(
                1 for r in identical if r["runner"].get("status") == "behaviour changed"
            ),
            "identical_claimed_faster_or_slower": sum(
                1
                for r in identical
                if str(r["runner"].get("verdict") or "").startswith(("faster", "slower"))
            ),
            "identical_not_recorded": sum(
                1 for r in identical if r["runner"].get("status") == "not recorded"
            ),
        }
    return {
        "invalid": invalid,
        "traps": len(traps),
        "traps_caught": sum(1 for r in traps if r["caught"] == "yes"),
        "traps_missed": sum(1 for r in traps if r["caught"] == "no"),
        "traps_accepted_faster": sum(1 for r in traps if r["accepted"]),
        "traps_caught_by_accident": sum(1 for r in traps if r["caught"] == "by accident"),
        "traps_not_judged": sum(1 for r in traps if r["caught"] == "not judged"),
        "correct": len(correct),
        "correct_accepted": sum(1 for r in correct if r["accepted"]),
        "correct_rejected": sum(1 for r in correct if r["runner"].get("status") in CAUGHT),
        "correct_rejected_unfaithful": sum(1 for r in correct if r["unfaithful_recording"]),
        "speedups_compared": len(compared),
        "speedups_within_25": sum(1 for r in compared if r["within_25"]),
    }


def details(rows: list[dict[str, Any]]) -> str:
    out = []
    for r in rows:
        runner = r["runner"]
        line = f"- {r['case']}: suite {r['suite']['summary']!r}"
        probe = r["independent"].get("probe")
        if probe:
            line += f"; probe {probe['baseline']} vs {probe['candidate']}"
        if "error" in r["independent"]:
            line += f"; independent error {r['independent']['error'][-200:]!r}"
        timing = r["independent"].get("timing")
        if timing:
            line += f"; workload mismatches {r['independent']['workload_mismatches']}"
        behaviour = (runner.get("behaviour") or runner.get("error") or "").splitlines()
        line += f"; runner {runner.get('seconds')} s, calls {runner.get('calls_compared')}, "
        first = behaviour[0][:160] if behaviour else ""
        line += f"inputs {runner.get('inputs')}, behaviour {first!r}"
        if runner.get("speedup_interval"):
            low, high = runner["speedup_interval"]
            line += f", interval {low:.2f}-{high:.2f}x by {runner.get('decided_by')}"
        for key in ("extra", "measurement_extra"):
            for name, value in (runner.get(key) or {}).items():
                line += f", {name}={json.dumps(value)[:200]}"
        out.append(line)
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="only the cases marked quick")
    parser.add_argument("--case", action="append", default=[], help="run this case (repeatable)")
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    parser.add_argument("--budget", type=float, default=12.0, help="runner measure budget (s)")
    parser.add_argument("--pairs", type=int, default=21, help="independent A/B pairs (>= 15)")
    parser.add_argument("--out", type=Path, help="JSON results [benchmarks/results/...]")
    parser.add_argument(
        "--workload",
        action="store_true",
        help="give the runner the case's workload (--workload): the calls the independent "
        "timing makes; without it the runner times representative recorded/scaled calls",
    )
    parser.add_argument(
        "--identical",
        action="store_true",
        help="instead of the hand-written candidates, give every target its own definition, "
        "unchanged: the runner must never call it behaviour changed, faster or slower",
    )
    options = parser.parse_args()
    pool = IDENTICAL if options.identical else CANDIDATES
    names = {c.name for c in pool}
    unknown = sorted(set(options.case) - names)
    if unknown:
        known = ", ".join(sorted(names))
        print(f"unknown case(s): {', '.join(unknown)}; known: {known}", file=sys.stderr)
        return 1
    if options.pairs < 15:
        parser.error("--pairs must be at least 15")
    chosen = [
        c
        for c in pool
        if (not options.case or c.name in options.case) and (not options.quick or c.quick)
    ]
    if options.list:
        for c in chosen:
            print(f"{c.name:40} {c.kind:8} {c.project} {c.target}")
        return 0
    started = time.monotonic()
    commit = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    try:
        for name in sorted({c.project for c in chosen}):
            source_tree(PROJECTS[name])
        python = eval_python()
    except (EvalError, subprocess.SubprocessError, OSError) as exc:
        print(f"realworld: {exc}", file=sys.stderr)
        return 2
    rows = []
    for candidate in chosen:
        print(f"== {candidate.name} ({candidate.kind}, {candidate.target})", flush=True)
        row = run_case(candidate, python, options.budget, options.pairs, options.workload)
        runner = row["runner"]
        print(
            f"   suite {'pass' if row['suite']['passed'] else 'FAIL'}; runner "
            f"{runner.get('status', runner.get('error'))} / {runner.get('verdict', '-')} "
            f"in {runner.get('seconds')} s",
            flush=True,
        )
        rows.append(row)
    summary = totals(rows)
    print()
    print(table(rows))
    print()
    print(details(rows))
    print()
    print("totals: " + ", ".join(f"{k} {v}" for k, v in summary.items()))
    load = os.getloadavg()
    result = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "load_at_end": [round(x, 2) for x in load],
        },
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "commit_at_start": commit,
        "budget_s": options.budget,
        "workload": options.workload,
        "identical": options.identical,
        "pairs": options.pairs,
        "seconds": round(time.monotonic() - started),
        "totals": summary,
        "rows": rows,
    }
    out = options.out or HERE / "results" / f"realworld-{datetime.now(UTC):%Y-%m-%d}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, default=str) + "\n")
    print(f"results: {out} ({result['seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
