"""The agent loop: propose, evaluate, repair once, refine once, keep the best verified.

For each target, in order, while every budget has room:

1. **propose**: ask for `ai.effort` diverse candidates, showing the target's view of the
   bundle (`BundleView.for_target`: classes as outlines);
2. evaluate each new one (duplicates by normalised AST are skipped): first the safety check
   against the bundle's module, here, so unsafe code is never handed to `evaluate`; then
   the host's `evaluate(candidate)` (safety again against the real module, apply, tests,
   behaviour, measure);
3. **repair**: send the first failing candidate back once, with the host's feedback;
4. **refine**: send the best verified candidate back once, with its measured ratio;
5. keep the best verified candidate (lowest ratio; measured before unmeasured).

A target's conversation is append-only: each repair or refine request holds every earlier
request's messages unchanged, the model's answers, then its own message.

The loop knows nothing of the job: it talks to the model through a `ChatClient` and to the
host through `evaluate`. Usage::

    loop = AgentLoop(client, bundle, AgentSpec(targets, min_effect), settings.ai,
                     evaluate, tracer, policy=settings.safety)
    result = loop.run()
    result.best            # {Target: Tried} — the best verified candidate per target
    result.stopped_by      # None, or "tokens" / "cost" / "turns" / "wall_time" / "provider"
    result.sent            # {Target: Sent} — bytes of code shown and of every request
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from runner.agent import budget
from runner.agent.context import BundleView
from runner.agent.errors import AgentError, BudgetExhausted, RequestRejected
from runner.agent.exchange import ChatClient, Completion, Evaluation, Message, Request, Status
from runner.agent.parse import normalised, parse_completion, unique
from runner.agent.providers.base import Candidate
from runner.agent.request import (
    AgentSpec,
    answered,
    propose_request,
    refine_request,
    repair_request,
)
from runner.agent.retry import Attempts, RetryPolicy, with_retries
from runner.agent.safety import SafetyPolicy, check_candidate
from runner.agent.settings import AISettings
from runner.bundle.apply import extract_definition
from runner.errors import JobCancelled, OptirunnerError, SecurityViolation
from runner.spec import Target
from runner.telemetry.tracing import Span, Tracer

Evaluate = Callable[[Candidate], Evaluation]
PROVIDER = "provider"  # stopped_by when the endpoint refuses every request (key, model)


@dataclass(frozen=True)
class Tried:
    """One evaluated candidate: what it was, which turn produced it, what the host said."""

    candidate: Candidate
    evaluation: Evaluation
    turn: int
    kind: str

    def better_than(self, other: Tried | None) -> bool:
        """Verified beats unverified; a lower measured ratio beats a higher or missing one."""
        if not self.evaluation.verified:
            return False
        if other is None or not other.evaluation.verified:
            return True
        mine, theirs = self.evaluation.ratio, other.evaluation.ratio
        return mine is not None and (theirs is None or mine < theirs)


@dataclass(frozen=True)
class Turn:
    """One exchange with the model, as recorded in the result (and its span)."""

    number: int
    kind: str
    target: Target
    input_tokens: int = 0
    output_tokens: int = 0
    finish_reason: str = ""
    candidates: int = 0
    error: str = ""
    request_bytes: int = 0


@dataclass
class Sent:
    """What went to the model about one target, in bytes of UTF-8 text."""

    code_bytes: int  # the code its requests show: the target's view of the bundle
    bundle_code_bytes: int  # the whole bundle's code, for comparison
    requests: list[int] = field(default_factory=list)  # each request's text, in order

    @property
    def total(self) -> int:
        """Bytes of every request sent about the target (history included each time)."""
        return sum(self.requests)

    def to_dict(self) -> dict[str, int]:
        """The report's entry."""
        return {
            "requests": len(self.requests),
            "bytes": self.total,
            "code_bytes": self.code_bytes,
            "bundle_code_bytes": self.bundle_code_bytes,
        }


@dataclass
class AgentResult:
    """Everything the loop did; `best` holds the best verified candidate per target."""

    best: dict[Target, Tried] = field(default_factory=dict)
    tried: list[Tried] = field(default_factory=list)
    turns: list[Turn] = field(default_factory=list)
    stopped_by: str | None = None
    stop_detail: str = ""
    usage: dict[str, float | int] = field(default_factory=dict)
    sent: dict[Target, Sent] = field(default_factory=dict)

    def keep(self, tried: Tried) -> None:
        """Record an evaluated candidate and promote it if it is the best so far."""
        self.tried.append(tried)
        target = tried.candidate.target
        if tried.better_than(self.best.get(target)):
            self.best[target] = tried


class _Stop(Exception):
    """Internal: leave every target's loop (a budget is used up or the endpoint refuses)."""

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(detail)


class AgentLoop:
    """Runs the propose/repair/refine loop for the spec's targets within the budgets.

    `client` talks to the model (see `runner.agent.providers.llm.make_client`); `bundle`
    is the only code the model sees; `evaluate` is the host's verdict on a candidate;
    `tracer` receives one ``agent.turn`` span per exchange. `sleep`, `clock` and `rng`
    are injectable so tests run retries and budgets without waiting.
    """

    def __init__(
        self,
        client: ChatClient,
        bundle: BundleView,
        spec: AgentSpec,
        ai: AISettings,
        evaluate: Evaluate,
        tracer: Tracer | None = None,
        *,
        policy: SafetyPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.client = client
        self.bundle = bundle
        self.spec = spec
        self.ai = ai
        self.evaluate = evaluate
        self.tracer = tracer or Tracer("agent", [])
        self.policy = policy or SafetyPolicy()
        self._sleep = sleep
        self._clock = clock
        self._rng = rng or random.Random()
        price = ai.price(ai.model) or ai.price(client.model)
        self.ledger = budget.Ledger(ai.budgets, price, clock())
        self.result = AgentResult()
        self._seen: dict[Target, set[str]] = {}
        self._history: dict[Target, tuple[Message, ...]] = {}

    # -- the loop ----------------------------------------------------------------------------
    def run(self) -> AgentResult:
        """Run every target until done or a budget stops it; never raises for model trouble."""
        with self.tracer.span("agent", **{"gen_ai.request.model": self.client.model}) as span:
            try:
                for target in self.spec.targets:
                    self._target(target)
            except _Stop as stop:
                self.result.stopped_by, self.result.stop_detail = stop.reason, stop.detail
            self.result.usage = self.ledger.summary()
            span.set(
                stopped_by=self.result.stopped_by,
                verified=sum(1 for t in self.result.tried if t.evaluation.verified),
                tried=len(self.result.tried),
                request_bytes=sum(s.total for s in self.result.sent.values()),
                **self.result.usage,
            )
        return self.result

    def _target(self, target: Target) -> None:
        self._seen[target] = {_key_of_original(self.bundle, target)}
        view = self.bundle.for_target(target)
        self.result.sent[target] = Sent(view.code_bytes, self.bundle.code_bytes)
        count = self.ai.effort
        proposed = self._turn(propose_request(view, self.spec, target, count))
        tried = self._evaluate_all(proposed, "propose")
        failing = next((t for t in tried if not t.evaluation.verified), None)
        if failing is not None:
            history = self._history[target]
            request = repair_request(history, failing.candidate, failing.evaluation)
            self._evaluate_all(self._turn(request), "repair")
        best = self.result.best.get(target)
        if best is not None:
            history = self._history[target]
            request = refine_request(history, best.candidate, best.evaluation, count)
            self._evaluate_all(self._turn(request), "refine")

    def _evaluate_all(self, candidates: list[Candidate], kind: str) -> list[Tried]:
        tried: list[Tried] = []
        for candidate in candidates:
            # Evaluating spends no tokens, only time: the other budgets wait for the next turn.
            self._check_budgets(only=budget.WALL_TIME)
            entry = Tried(candidate, self._verdict(candidate), self.ledger.turns, kind)
            self.result.keep(entry)
            tried.append(entry)
        return tried

    def _verdict(self, candidate: Candidate) -> Evaluation:
        """Safety against the bundle first: unsafe code never reaches `evaluate`."""
        target = candidate.target
        try:
            check_candidate(
                self.bundle.module(target),
                target.qualname,
                candidate.code,
                candidate.imports,
                self.policy,
            )
        except SecurityViolation as exc:
            return Evaluation(Status.UNSAFE, detail=f"rejected by the safety policy: {exc}")
        try:
            return self.evaluate(candidate)
        except JobCancelled:
            raise
        except OptirunnerError as exc:  # e.g. CandidateError: the host could not apply it
            return Evaluation(Status.INVALID, detail=str(exc))

    # -- one exchange ------------------------------------------------------------------------
    def _turn(self, request: Request) -> list[Candidate]:
        """Send one request (with retries) and return its new candidates; [] on trouble."""
        self._check_budgets()
        self.ledger.start_turn()
        number = self.ledger.turns
        self.result.sent[request.target].requests.append(request.sent_bytes)
        with self._span(request, number) as span:
            completion: Completion | None = None
            try:
                completion = self._send(request, span)
                candidates = parse_completion(completion, request.target, self.client.provider)
            except AgentError as exc:
                self._failed_turn(request, number, span, exc)
                return []
            finally:
                # The next turn of this target starts with everything sent so far, unchanged.
                answer = completion.text if completion is not None else None
                self._history[request.target] = answered(request, answer)
            fresh = unique(candidates, self._seen.setdefault(request.target, set()))
            span.set(**{"optirunner.candidates": len(fresh)})
        self._record(request, number, completion, len(fresh))
        return fresh

    def _send(self, request: Request, span: Span) -> Completion:
        attempts = Attempts()
        now = self._clock()
        timeout = min(self.ai.timeout_s, max(self.ledger.remaining_s(now), 0.001))
        try:
            completion = with_retries(
                lambda: self.client.complete(request, timeout),
                RetryPolicy.from_settings(self.ai),
                sleep=self._sleep,
                rng=self._rng,
                attempts=attempts,
                deadline_left=lambda: self.ledger.remaining_s(self._clock()),
            )
        finally:
            span.set(**{"optirunner.retries": len(attempts.failures)})
            if attempts.waited_s:
                span.set(**{"optirunner.retry_wait_s": round(attempts.waited_s, 3)})
        cost = self.ledger.charge(completion)
        span.set(**_usage_attributes(completion, cost))
        # Content: kept redacted, hashed or dropped per telemetry.content (policy.py).
        span.set(**{"gen_ai.output.messages": output_messages(completion)})
        return completion

    def _failed_turn(self, request: Request, number: int, span: Span, exc: AgentError) -> None:
        span.status = "error"
        span.set(**{"error.type": type(exc).__name__, "error.message": str(exc)[:500]})
        self.result.turns.append(
            Turn(
                number,
                request.kind,
                request.target,
                error=f"{type(exc).__name__}: {exc}",
                request_bytes=request.sent_bytes,
            )
        )
        if isinstance(exc, RequestRejected):
            # A refused key or unknown model fails every later request the same way.
            raise _Stop(PROVIDER, str(exc)) from None

    def _record(self, request: Request, number: int, completion: Completion, count: int) -> None:
        self.result.turns.append(
            Turn(
                number,
                request.kind,
                request.target,
                completion.input_tokens,
                completion.output_tokens,
                completion.raw_finish_reason,
                count,
                request_bytes=request.sent_bytes,
            )
        )

    @contextmanager
    def _span(self, request: Request, number: int) -> Iterator[Span]:
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": self.client.provider,
            "gen_ai.request.model": self.client.model,
            "gen_ai.request.temperature": self.ai.temperature,
            "gen_ai.request.max_tokens": self.ai.max_tokens,
            "optirunner.turn": number,
            "optirunner.turn.kind": request.kind,
            "optirunner.prompt_template": request.prompt,
            "optirunner.target": str(request.target),
            "optirunner.request.messages": len(request.messages),
            # Sizes are accounting, never content: kept whatever telemetry.content says.
            "optirunner.request.bytes": request.sent_bytes,
            "optirunner.request.code_bytes": self.result.sent[request.target].code_bytes,
            # Content: kept redacted, hashed or dropped per telemetry.content (policy.py).
            "gen_ai.system_instructions": _parts(request.system),
            "gen_ai.input.messages": input_messages(request),
        }
        with self.tracer.span("agent.turn", **attributes) as span:
            yield span

    def _check_budgets(self, only: str | None = None) -> None:
        hit = self.ledger.exhausted(self._clock(), only)
        if hit is not None:
            name, detail = hit
            raise _Stop(name, str(BudgetExhausted(name, detail)))


def _usage_attributes(completion: Completion, cost: float) -> dict[str, Any]:
    return {
        "gen_ai.response.model": completion.model,
        "gen_ai.response.id": completion.response_id,
        "gen_ai.usage.input_tokens": completion.input_tokens,
        "gen_ai.usage.output_tokens": completion.output_tokens,
        "gen_ai.response.finish_reasons": [completion.raw_finish_reason or "unknown"],
        "optirunner.latency_s": round(completion.latency_s, 3),
        "optirunner.cost_usd": round(cost, 6),
    }


def _parts(text: str) -> list[dict[str, str]]:
    return [{"type": "text", "content": text}]


def input_messages(request: Request) -> list[dict[str, Any]]:
    """The chat history sent, in the GenAI semantic conventions' message format."""
    return [{"role": m.role, "parts": _parts(m.content)} for m in request.messages]


def output_messages(completion: Completion) -> list[dict[str, Any]]:
    """The model's answer, in the GenAI semantic conventions' message format."""
    return [
        {
            "role": "assistant",
            "parts": _parts(completion.text),
            "finish_reason": completion.finish_reason,
        }
    ]


def _key_of_original(bundle: BundleView, target: Target) -> str:
    """The original definition counts as seen: proposing it back is not a candidate."""
    try:
        return normalised(extract_definition(bundle.module(target), target.qualname))
    except (OptirunnerError, SyntaxError):
        return ""
