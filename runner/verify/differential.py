"""Baseline and candidate on the same generated inputs, in the sandbox, compared strictly.

`generate.py` derives the calls; `_diff_harness.py` runs them in a checkout with the
project's interpreter and writes what each call did; this module installs the harness,
runs it through a `CommandRunner` (the sandbox), compares the outcomes with the behaviour
comparator and shrinks a difference to the smallest input that still shows it.

The baseline runs twice (A/A): a call whose outcome differs between two runs of the same
code (a timestamp, an id, a random value) is *unstable* and never compared, so that
nondeterminism never rejects a candidate. Calls that time out are not compared either.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner.verify import generate
from runner.verify.behaviour import Call, Mismatch, compare_call, render, shorten
from runner.verify.replay import HARNESS_DIR, CommandRunner, ReplayError, install_harness

HARNESS_NAME = "diff_harness.py"
_HARNESS_SOURCE = Path(__file__).with_name("_diff_harness.py")
WORK_DIR = Path(HARNESS_DIR) / "generated"
_COMPARED = frozenset({"return", "raise"})


def install(project: Path) -> None:
    """Copy the diff harness (and the replay harness it imports) into the checkout."""
    install_harness(project)
    shutil.copyfile(_HARNESS_SOURCE, project / HARNESS_DIR / HARNESS_NAME)


@dataclass(frozen=True)
class Outcome:
    """What one generated call did in one arm (an entry of the harness's outputs)."""

    raw: Mapping[str, Any]

    @property
    def kind(self) -> str:
        return str(self.raw.get("outcome", "skipped"))

    @property
    def ended(self) -> bool:
        """Whether the call returned or raised (not timed out, not skipped): comparable."""
        return self.kind in _COMPARED

    @property
    def seconds(self) -> float:
        return float(self.raw.get("seconds", 0.0))

    def as_call(self, site: str) -> Call:
        exception = self.raw.get("exception")
        return Call(
            site=site,
            seq=0,
            args=dict(self.raw.get("args", {})),
            outcome=self.kind,
            value=self.raw.get("value"),
            exception=None if exception is None else (exception["type"], exception["message"]),
            args_after=dict(self.raw.get("args_after", self.raw.get("args", {}))),
        )


_SKIPPED = {"skip": "not compared"}


@dataclass
class Runner:
    """Runs the diff harness for one target in any checkout."""

    python: str
    target: str
    run: CommandRunner
    seed: int
    call_timeout_s: float = 2.0
    budget_s: float = 60.0
    inputs: Path | None = None  # relative to the project: the pickled recorded calls

    def outcomes(
        self,
        project: Path,
        specs: Sequence[generate.Spec],
        name: str,
        *,
        timing: Mapping[str, Sequence[int]] | None = None,
        only: Sequence[bool] | None = None,
    ) -> list[Outcome]:
        """Run `specs` in `project`; `timing` also pickles those calls' arguments per name.

        With `only`, a call marked False is not run (its outcome is "skipped"): a candidate
        does not spend its budget on calls that are not compared.
        """
        install(project)
        folder = project / WORK_DIR
        folder.mkdir(parents=True, exist_ok=True)
        documents = [
            spec.to_json() if only is None or (i < len(only) and only[i]) else _SKIPPED
            for i, spec in enumerate(specs)
        ]
        (folder / f"{name}.json").write_text(json.dumps(documents), encoding="utf-8")
        outputs = folder / f"{name}.out.json"
        outputs.unlink(missing_ok=True)
        argv = self._argv(name)
        if timing:
            files = {f"{WORK_DIR}/{label}.pkl": list(indices) for label, indices in timing.items()}
            argv += ["--timing", json.dumps(files)]
        self._call(project, argv, outputs)
        try:
            document = json.loads(outputs.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ReplayError(f"diff harness wrote no outputs: {exc}") from exc
        return [Outcome(entry) for entry in document]

    def _argv(self, name: str) -> list[str]:
        argv = [self.python, f"{HARNESS_DIR}/{HARNESS_NAME}", "--target", self.target]
        argv += ["--specs", f"{WORK_DIR}/{name}.json", "--out", f"{WORK_DIR}/{name}.out.json"]
        argv += ["--seed", str(self.seed), "--call-timeout", repr(self.call_timeout_s)]
        argv += ["--budget-s", repr(self.budget_s)]
        if self.inputs is not None:
            argv += ["--inputs", str(self.inputs)]
        return argv

    def _call(self, project: Path, argv: list[str], outputs: Path) -> None:
        code, stdout, stderr = self.run(argv, project)
        lines = [line for line in stdout.splitlines() if line.strip()]
        try:
            answer = json.loads(lines[-1]) if lines else None
        except ValueError:
            answer = None
        if isinstance(answer, dict) and "error" in answer:
            raise ReplayError(f"diff harness: {answer['error']}")
        if code != 0 or not outputs.is_file():
            tail = " | ".join((stderr or stdout).strip().splitlines()[-3:]) or "no output"
            raise ReplayError(f"diff harness exited {code}: {tail}")


def stable(first: Sequence[Outcome], second: Sequence[Outcome]) -> list[bool]:
    """Per call: did two baseline runs agree (and return or raise, within the time limit)?"""
    flags = []
    for index, outcome in enumerate(first):
        again = second[index] if index < len(second) else None
        ok = (
            again is not None
            and outcome.ended
            and compare_call("aa", outcome.as_call("aa"), again.as_call("aa")) is None
        )
        flags.append(ok)
    return flags


@dataclass(frozen=True)
class Difference:
    """The first generated call on which the candidate does not do what the baseline does."""

    index: int
    spec: generate.Spec
    mismatch: Mismatch
    call: Call  # the baseline's call, for rendering the input

    def describe(self, target: str) -> str:
        """The differing input as a call, and what each arm did.

        Objects are shown by their own plain attributes only (a token's text, not the whole
        statement it belongs to), each argument cut on its own, so that every argument of
        the call shows.
        """
        arguments = ", ".join(
            f"{key}={brief(value)}" if not key.isdigit() else brief(value)
            for key, value in self.call.args.items()
        )
        name = target.rsplit("::", 1)[-1]
        how = self.spec.how()
        origin = f"{self.spec.origin}; {how}" if how else self.spec.origin
        return (
            f"on a generated input ({origin}): {name}({shorten(arguments, 600)}): "
            f"{self.mismatch.field}: baseline {self.mismatch.expected}, "
            f"candidate {self.mismatch.actual}"
        )


#: How much of one argument a difference's description shows.
ARGUMENT_LIMIT = 200
_NESTED = frozenset({"object", "list", "tuple", "set", "frozenset", "dict"})


def brief(node: Any, limit: int = ARGUMENT_LIMIT) -> str:
    """`render` of one argument, an object shown without the objects and containers of
    objects it holds (``…``), cut to `limit` characters."""
    if isinstance(node, Mapping) and node.get("t") == "object":
        fields = node.get("fields") or {}
        shown = ", ".join(
            f"{name}={'…' if _holds_objects(value) else render(value)}"
            for name, value in fields.items()
        )
        return shorten(f"{node.get('type')}({shown})", limit)
    return shorten(render(node), limit)


def _holds_objects(node: Any) -> bool:
    if not isinstance(node, Mapping) or node.get("t") not in _NESTED:
        return False
    if node.get("t") == "object":
        return True
    items = node.get("items") or []
    return any(
        _holds_objects(i) for item in items for i in (item if isinstance(item, list) else [item])
    )


def first_difference(
    specs: Sequence[generate.Spec],
    baseline: Sequence[Outcome],
    candidate: Sequence[Outcome],
    compared: Sequence[bool],
    tolerance: float | None,
) -> tuple[int, Difference | None]:
    """(calls compared, the first difference) over the calls marked in `compared`."""
    count = 0
    for index, spec in enumerate(specs):
        if index >= len(baseline) or not compared[index]:
            continue
        expected = baseline[index].as_call(f"generated #{index + 1}")
        if index >= len(candidate):
            break  # the candidate ran out of budget: the rest is not compared
        actual = candidate[index].as_call(f"generated #{index + 1}")
        count += 1
        if actual.outcome == "timeout":
            mismatch = Mismatch("", expected.call_site, "time", "returned", "timed out")
            return count, Difference(index, spec, mismatch, expected)
        found = compare_call("", expected, actual, float_tolerance=tolerance)
        if found is not None:
            return count, Difference(index, spec, found, expected)
    return count, None


@dataclass
class Evidence:
    """What the generated inputs showed for one candidate (report fields)."""

    generated: int = 0  # generated calls compared
    scaled: int = 0  # scaled-up calls compared
    unstable: int = 0  # calls left out: the baseline itself disagreed with itself
    difference: str = ""  # the shrunk differing input, when there is one
    shrink_rounds: int = 0
    notes: list[str] = field(default_factory=list)
