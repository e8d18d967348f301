"""Replay recorded calls of a target in fresh processes: wall-clock rounds and instruction counts.

The work happens in `_replay_harness.py`, a standalone script run with the project's own
interpreter (inside the sandbox); this module installs it into a checkout, builds its
command lines and turns its one-line JSON answers into numbers or `ReplayError`s.

Commands are run through a `CommandRunner` (argv, cwd -> returncode, stdout, stderr) that
the caller builds around the sandbox. The runner decides the environment; it must pass a
fixed `PYTHONHASHSEED` (e.g. "0"): string hashing changes set and dict layouts, hence the
work done, between processes otherwise, which shows as noise in both instruments.
"""

from __future__ import annotations

import json
import shutil
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from runner.errors import OptirunnerError

HARNESS_NAME = "replay_harness.py"
HARNESS_DIR = ".optirunner"
_HARNESS_SOURCE = Path(__file__).with_name("_replay_harness.py")

CommandRunner = Callable[[list[str], Path], tuple[int, str, str]]
"""Run argv with cwd; return (returncode, stdout, stderr). Wraps the sandbox."""


class ReplayError(OptirunnerError):
    """The replay harness could not run the target on its recorded inputs."""


def install_harness(project: Path) -> Path:
    """Copy the harness to `<project>/.optirunner/replay_harness.py` and return that path."""
    folder = project / HARNESS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    destination = folder / HARNESS_NAME
    shutil.copyfile(_HARNESS_SOURCE, destination)
    return destination


def _tail(text: str, lines: int = 5) -> str:
    return " | ".join(text.strip().splitlines()[-lines:])


def _answer(argv: list[str], code: int, stdout: str, stderr: str) -> dict[str, Any]:
    """The harness's JSON answer, or a `ReplayError` carrying its message."""
    lines = [line for line in stdout.splitlines() if line.strip()]
    answer: Any = None
    if lines:
        try:
            answer = json.loads(lines[-1])
        except json.JSONDecodeError:
            answer = None
    if isinstance(answer, dict) and "error" in answer:
        raise ReplayError(f"replay harness: {answer['error']}")
    if code != 0 or not isinstance(answer, dict):
        detail = _tail(stderr) or _tail(stdout) or "no output"
        raise ReplayError(f"replay harness exited {code} ({' '.join(argv[:2])} …): {detail}")
    return answer


class _Harness:
    """Builds and runs harness command lines for one target and one inputs file."""

    def __init__(
        self, python: str, target: str, inputs: Path, run: CommandRunner, *, share: bool = False
    ) -> None:
        self.python = python
        self.target = target
        self.inputs = inputs
        self.run = run
        self.share = share  # pass the recorded arguments uncopied (the target mutates none)

    def argv(self, *mode: str) -> list[str]:
        """The harness command line; relative script path because cwd is the project."""
        script = f"{HARNESS_DIR}/{HARNESS_NAME}"
        head = [self.python, script, "--target", self.target, "--inputs", str(self.inputs)]
        if self.share:
            head.append("--share-arguments")
        return [*head, *mode]

    def call(self, project: Path, argv: list[str]) -> dict[str, Any]:
        """Run `argv` in `project` and return the harness's JSON answer."""
        code, stdout, stderr = self.run(argv, project)
        return _answer(argv, code, stdout, stderr)


class ReplayTimer:
    """Wall-clock rounds of the recorded calls, one fresh process per round.

    Calibrate on the baseline, then build both arms with the same `loops`: every round of
    either arm then does the same number of calls on the same inputs, so the per-pass
    ratio compares equal work.
    """

    def __init__(
        self,
        python: str,
        target: str,
        inputs: Path,
        run: CommandRunner,
        round_ms: float = 200,
        *,
        share: bool = False,
    ) -> None:
        self._harness = _Harness(python, target, inputs, run, share=share)
        self.round_ms = round_ms
        self.per_pass_s: float | None = None
        self.calls: int | None = None
        self.raised: int | None = None
        self.overhead_per_pass_s = 0.0  # the harness's own cost per pass (a no-op target)
        # Untimed, per pass: fresh copies of arguments the target mutates. When they cost
        # far more than the calls, rounds are shortened (prepare_limited) to bound a round.
        self.prepare_per_pass_s = 0.0
        self.prepare_limited = False

    def calibrate(self, project: Path) -> int:
        """Passes over the inputs per round such that a round lasts about `round_ms`."""
        install_harness(project)
        argv = self._harness.argv("calibrate", "--round-ms", repr(float(self.round_ms)))
        answer = self._harness.call(project, argv)
        self.per_pass_s = float(answer["per_pass_s"])
        self.calls = int(answer["calls"])
        self.overhead_per_pass_s = float(answer.get("overhead_per_pass_s", 0.0))
        self.prepare_per_pass_s = float(answer.get("prepare_per_pass_s", 0.0))
        self.prepare_limited = bool(answer.get("prepare_limited", False))
        return max(1, int(answer["loops"]))

    def arm(self, project: Path, loops: int) -> Callable[[], float]:
        """A round for `bench.adaptive`: one fresh process, returns seconds per pass."""
        if loops < 1:
            raise ValueError(f"loops must be at least 1, got {loops}")
        install_harness(project)
        argv = self._harness.argv("time", "--loops", str(loops), "--rounds", "1")

        def one_round() -> float:
            answer = self._harness.call(project, argv)
            self.raised = int(answer.get("raised", 0))
            return float(answer["rounds_s"][0])

        return one_round


def parse_callgrind_totals(text: str) -> int:
    """The total Ir of a callgrind output file (`totals:` line, else `summary:`).

    The totals line lists one number per event in the `events:` header; Ir is the one we
    want wherever it sits.
    """
    events = ["Ir"]
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        key, sep, rest = line.partition(":")
        if not sep:
            continue
        if key == "events":
            events = rest.split()
        elif key in {"totals", "summary"}:
            found[key] = rest.split()
    values = found.get("totals") or found.get("summary")
    if values is None:
        raise ReplayError("callgrind output has no totals or summary line")
    if "Ir" not in events:
        raise ReplayError(f"callgrind output does not count Ir (events: {' '.join(events)})")
    index = events.index("Ir")
    if index >= len(values):
        raise ReplayError("callgrind totals line is shorter than its events header")
    return int(values[index])


#: coreutils' timeout when the command ran out of time (124), or when its KILL took the
#: whole process group, itself included (-9, or 137 through a sandbox's init)
TIMEOUT_EXITS = frozenset({124, 137, -9})


class CallgrindOverBudget(ReplayError):
    """A callgrind run did not end within the deadline it was given (it was killed)."""


class CallgrindCounter:
    """Instructions per call under callgrind: Ir(K calls) − Ir(0 calls), divided by K.

    `python` must be the REAL interpreter binary (or a symlink to it), not a shell shim:
    valgrind would instrument /bin/sh and, with `--trace-children=no`, never see Python.
    """

    def __init__(
        self,
        python: str,
        target: str,
        inputs: Path,
        run: CommandRunner,
        valgrind: str = "valgrind",
        *,
        share: bool = False,
    ) -> None:
        self._harness = _Harness(python, target, inputs, run, share=share)
        self.valgrind = valgrind

    @staticmethod
    def available() -> bool:
        """True when valgrind is on PATH."""
        return shutil.which("valgrind") is not None

    def instructions_per_call(
        self, project: Path, calls: int, repeats: int = 3, *, deadline_s: float | None = None
    ) -> list[float]:
        """Instructions per call, one value per repeat (they should agree to ~0.1%).

        Pass `calls` as a multiple of the number of recorded calls so every input weighs
        the same in both checkouts. With `deadline_s`, the runs are killed when they have
        taken that long in all (`CallgrindOverBudget`): a first run's cost is only a guess.
        """
        if calls < 1 or repeats < 1:
            raise ValueError(f"calls and repeats must be at least 1, got {calls}, {repeats}")
        install_harness(project)
        end = None if deadline_s is None else time.monotonic() + deadline_s
        per_call = []
        for _ in range(repeats):
            with_calls = self._instructions(project, calls, calls, end)
            without = self._instructions(project, 0, calls, end)
            per_call.append((with_calls - without) / calls)
        return per_call

    def _instructions(self, project: Path, calls: int, prepare: int, end: float | None) -> int:
        """Total Ir of one harness `count` run under callgrind."""
        # A subfolder, not .optirunner itself: that folder is sys.path[0] while the harness
        # imports the standard library, and a file name that changes from run to run in its
        # listing changes the importer's cache and so the instruction count (by ~500).
        folder = project / HARNESS_DIR / "callgrind"
        folder.mkdir(exist_ok=True)
        out = folder / f"{uuid.uuid4().hex}.out"
        argv = [
            self.valgrind,
            "--tool=callgrind",
            f"--callgrind-out-file={out}",
            "--dump-instr=no",
            "--collect-systime=no",
            "--trace-children=no",
            *self._harness.argv("count", "--calls", str(calls), "--prepare", str(prepare)),
        ]
        if end is not None:  # coreutils' timeout: TERM, KILL 2 s later; exit 124 if it fired
            left = end - time.monotonic()
            if left <= 0:
                raise CallgrindOverBudget("no time left for a callgrind run")
            argv = ["timeout", "--kill-after=2", f"{left:.2f}", *argv]
        try:
            code, stdout, stderr = self._harness.run(argv, project)
            if end is not None and code in TIMEOUT_EXITS:
                raise CallgrindOverBudget("a callgrind run was killed at the end of the budget")
            _answer(argv, code, stdout, stderr)
            try:
                text = out.read_text(encoding="utf-8", errors="replace")
            except OSError as exc:
                raise ReplayError(f"callgrind wrote no output file {out.name}: {exc}") from exc
            return parse_callgrind_totals(text)
        finally:
            out.unlink(missing_ok=True)
