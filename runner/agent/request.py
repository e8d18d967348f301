"""Build the messages of each turn (pure): bundle code, spec and host feedback only.

A request is made of exactly three things: the target's view of the bundle
(`BundleView.for_target`: the code it reaches, classes as outlines; the manifest summary;
requirements), the spec (target, minimum effect) and, for repair and refine turns,
feedback the host computed (filtered test failure lines, the first behaviour mismatch,
measured ratios). A target's conversation only grows: a repair or refine turn sends every
earlier message unchanged (the model's answers included) and appends its own. The wording
lives in versioned templates under `runner/agent/prompts/` (data, shipped in the wheel); a
new wording is a new file (`propose_v2.md`), so traces keep naming the text that was
actually sent.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from string import Template

from runner.agent.context import BundleView
from runner.agent.exchange import Evaluation, Message, Request
from runner.agent.providers.base import Candidate
from runner.spec import Target

SYSTEM = "system_v1"
PROPOSE = "propose_v2"
REPAIR = "repair_v2"
REFINE = "refine_v2"

MAX_FEEDBACK_LINES = 20
MAX_LINE_CHARS = 240
# Lines of a pytest tail that state a failure rather than show test source.
_FAILURE_LINE = re.compile(r"^(FAILED |ERROR |E\s|\w+(Error|Exception|Warning)\b.*:|=+ .*=+$)")
# Absolute host paths: keep the file name, drop where the host keeps it.
_ABSOLUTE_PATH = re.compile(r"(?<![\w.])/(?:[\w.@+-]+/)+([\w.@+-]+)")


@dataclass(frozen=True)
class AgentSpec:
    """What the job asks of the agent: the targets and the smallest speedup worth having."""

    targets: tuple[Target, ...]
    min_effect: float = 0.03


@cache
def template(name: str) -> Template:
    """A prompt template from the package (`runner/agent/prompts/<name>.md`)."""
    text = resources.files("runner.agent.prompts").joinpath(f"{name}.md").read_text("utf-8")
    return Template(text)


def render(name: str, **values: object) -> str:
    """Fill a template; a missing value is a bug, so `substitute` (not `safe_substitute`)."""
    return template(name).substitute({k: str(v) for k, v in values.items()}).strip()


def propose_request(view: BundleView, spec: AgentSpec, target: Target, count: int) -> Request:
    """Ask for `count` diverse candidates for `target`; `view` is what the request shows
    of the bundle (`bundle.for_target(target)`)."""
    return Request(
        kind="propose",
        prompt=PROPOSE,
        target=target,
        system=render(SYSTEM),
        messages=(Message("user", _task(view, spec, target, count)),),
    )


def repair_request(
    history: Sequence[Message], candidate: Candidate, evaluation: Evaluation
) -> Request:
    """Send a failed candidate back once, with what the host saw go wrong, after `history`
    (the target's conversation so far, `answered` by the model)."""
    repair = render(
        REPAIR,
        status=evaluation.status.value,
        candidate=candidate_text(candidate),
        feedback=feedback_text(evaluation),
    )
    return _follow_up("repair", REPAIR, history, candidate, repair)


def refine_request(
    history: Sequence[Message], candidate: Candidate, evaluation: Evaluation, count: int
) -> Request:
    """Show the best verified candidate with its measured numbers and ask for better."""
    refine = render(
        REFINE,
        measurement=measurement_text(evaluation),
        candidate=candidate_text(candidate),
        count=count,
    )
    return _follow_up("refine", REFINE, history, candidate, refine)


def answered(request: Request, answer: str | None) -> tuple[Message, ...]:
    """The conversation after `request`: its messages, then the model's answer if any.

    An empty or missing answer (the endpoint failed) adds nothing: the next turn follows
    the unanswered message.
    """
    if not answer or not answer.strip():
        return request.messages
    return (*request.messages, Message("assistant", answer))


def _follow_up(
    kind: str, prompt: str, history: Sequence[Message], candidate: Candidate, text: str
) -> Request:
    # Append-only: every earlier message goes again unchanged, then the host's verdict.
    return Request(
        kind=kind,
        prompt=prompt,
        target=candidate.target,
        system=render(SYSTEM),
        messages=(*history, Message("user", text)),
    )


def _task(bundle: BundleView, spec: AgentSpec, target: Target, count: int) -> str:
    return render(
        PROPOSE,
        bundle_id=bundle.bundle_id,
        definitions="\n".join(f"- {d}" for d in bundle.definitions) or "- (none)",
        requirements=", ".join(bundle.requirements) or "none",
        files="\n\n".join(_file_block(path, text) for path, text in bundle.files),
        qualname=target.qualname,
        path=target.path,
        min_effect_pct=f"{spec.min_effect:.0%}",
        count=count,
    )


def _file_block(path: str, text: str) -> str:
    return f"## {path}\n\n```python\n{text.rstrip()}\n```"


def candidate_text(candidate: Candidate) -> str:
    """A candidate in the answer format the system prompt asks for."""
    imports = "".join(f"{line}\n" for line in candidate.imports)
    body = f"{imports}\n{candidate.code.strip()}" if imports else candidate.code.strip()
    return f"### Candidate 1: {candidate.description}\n```python\n{body}\n```"


def feedback_text(evaluation: Evaluation) -> str:
    """The host's feedback as sent: the detail, then filtered test failure lines."""
    parts = [redact(evaluation.detail)] if evaluation.detail.strip() else []
    failures = failure_lines(evaluation.test_output)
    if failures:
        parts.append("Test failures:\n" + "\n".join(failures))
    return "\n\n".join(parts) or "(no further detail)"


def measurement_text(evaluation: Evaluation) -> str:
    """`ratio 0.62 (1.61× faster)`, or a plain statement when it was not measured."""
    ratio = evaluation.ratio
    if ratio is None or ratio <= 0:
        return "no reliable timing yet."
    return f"candidate time / original time = {ratio:.3f} ({1 / ratio:.2f}× as fast)."


def failure_lines(test_output: str) -> list[str]:
    """Only the lines of a test tail that state failures, paths shortened, length capped.

    Test source lines (pytest's ``>`` lines and context) are dropped: tests are not in the
    bundle, so their text must not reach the model through feedback either.
    """
    kept = [redact(line) for line in test_output.splitlines() if _FAILURE_LINE.match(line)]
    return kept[-MAX_FEEDBACK_LINES:]


def redact(text: str) -> str:
    """Shorten absolute paths to their file name and cap every line's length."""
    lines = [_ABSOLUTE_PATH.sub(r"\1", line) for line in text.strip().splitlines()]
    capped = [
        line if len(line) <= MAX_LINE_CHARS else line[: MAX_LINE_CHARS - 1] + "…" for line in lines
    ]
    return "\n".join(capped[:MAX_FEEDBACK_LINES])
