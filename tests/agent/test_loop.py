"""The agent loop against a local fake of each API, driven by the unmodified SDKs."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from typing import Any

import pytest

from runner.agent.context import BundleView
from runner.agent.exchange import Evaluation, Status
from runner.agent.loop import AgentLoop, AgentResult
from runner.agent.parse import normalised
from runner.agent.providers.base import Candidate
from runner.agent.providers.llm import make_client
from runner.agent.request import AgentSpec
from runner.agent.settings import AIBudgets, AISettings, ModelPrice
from runner.spec import Target
from runner.telemetry.tracing import Tracer
from tests.agent.conftest import KEY, OPENAI, Dialect, FakeLLM, Reply

TARGET = Target("shop.py", "price")
MODULE = """RATE = 3


def price(items):
    total = 0
    for x in items:
        total = total + x * RATE
    return total
"""
BUNDLE = BundleView("b1", (str(TARGET),), (("shop.py", MODULE),), (), ())
GOOD = "def price(items):\n    return sum(items) * RATE\n"
BETTER = "def price(items):\n    return RATE * sum(items)\n"
BROKEN = "def price(items):\n    return sum(items)\n"
NETWORK = (
    "import socket\n\n"
    "def price(items):\n"
    "    socket.create_connection(('example.com', 80))\n"
    "    return sum(items) * RATE\n"
)
FAILED_TAIL = "E       assert 6 == 18\nFAILED test_shop.py::test_price - assert 6 == 18\n"


def answer(*codes: str) -> str:
    return "\n\n".join(
        f"### Candidate {i}: idea {i}\n```python\n{code}```" for i, code in enumerate(codes, 1)
    )


class Host:
    """The fake `evaluate`: verdicts by code, every call recorded, an optional clock hook."""

    def __init__(self, on_call: Callable[[], None] | None = None) -> None:
        self.calls: list[str] = []
        self.on_call = on_call
        self.verdicts = {
            normalised(GOOD): Evaluation(Status.VERIFIED, "same behaviour", ratio=0.6),
            normalised(BETTER): Evaluation(Status.VERIFIED, "same behaviour", ratio=0.4),
            normalised(BROKEN): Evaluation(
                Status.TESTS_FAILED, "price([1, 2]) returned 3, expected 9", FAILED_TAIL
            ),
        }

    def __call__(self, candidate: Candidate) -> Evaluation:
        self.calls.append(candidate.code)
        if self.on_call is not None:
            self.on_call()
        return self.verdicts[normalised(candidate.code, candidate.imports)]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def run_loop(
    fake: FakeLLM,
    dialect: Dialect,
    host: Host | None = None,
    *,
    slept: list[float] | None = None,
    events: list[dict[str, Any]] | None = None,
    clock: Clock | None = None,
    **ai: Any,
) -> AgentResult:
    options: dict[str, Any] = {"effort": 2, "timeout_s": 5.0, **ai}
    settings = AISettings(model="m", base_url=dialect.base_url(fake), **options)
    client = make_client(dialect.name, settings, KEY)
    tracer = Tracer("job", [events.append] if events is not None else [])
    loop = AgentLoop(
        client,
        BUNDLE,
        AgentSpec((TARGET,), 0.05),
        settings,
        host or Host(),
        tracer,
        sleep=(slept if slept is not None else []).append,
        clock=clock or Clock(),
    )
    return loop.run()


def test_good_candidate_is_refined_and_the_best_kept(fake_llm: FakeLLM, dialect: Dialect) -> None:
    fake_llm.script(dialect.path, dialect.ok(answer(GOOD)), dialect.ok(answer(BETTER, GOOD)))
    events: list[dict[str, Any]] = []
    result = run_loop(fake_llm, dialect, events=events)
    assert result.stopped_by is None
    assert [t.kind for t in result.turns] == ["propose", "refine"]
    assert result.best[TARGET].candidate.code == BETTER
    assert result.best[TARGET].evaluation.ratio == 0.4
    assert len(result.tried) == 2  # GOOD came back in the refine answer: not evaluated twice
    refine = dialect.sent_text(fake_llm.requests[1])
    assert "0.600" in refine
    assert "return sum(items) * RATE" in refine
    turns = [e for e in events if e["name"] == "agent.turn"]
    assert len(turns) == 2
    attributes = turns[0]["attributes"]
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.request.model"] == "m"
    assert attributes["gen_ai.usage.input_tokens"] == 100
    assert attributes["gen_ai.usage.output_tokens"] == 50
    assert attributes["gen_ai.response.finish_reasons"] in (["stop"], ["end_turn"])
    assert attributes["optirunner.latency_s"] >= 0
    assert attributes["optirunner.prompt_template"] == "propose_v2"
    loop_span = next(e for e in events if e["name"] == "agent")
    assert loop_span["attributes"]["input_tokens"] == 200
    assert all(e["parent_id"] == loop_span["span_id"] for e in turns)


def test_broken_candidate_is_repaired_once(fake_llm: FakeLLM, dialect: Dialect) -> None:
    fake_llm.script(
        dialect.path,
        dialect.ok(answer(BROKEN)),
        dialect.ok(answer(GOOD)),
        dialect.ok("I think the code is as fast as it gets."),
    )
    host = Host()
    result = run_loop(fake_llm, dialect, host)
    assert [t.kind for t in result.turns] == ["propose", "repair", "refine"]
    assert host.calls == [BROKEN, GOOD]
    assert result.best[TARGET].candidate.code == GOOD
    assert result.best[TARGET].kind == "repair"
    repair = dialect.sent_text(fake_llm.requests[1])
    assert "tests_failed" in repair
    assert "price([1, 2]) returned 3, expected 9" in repair
    assert "FAILED test_shop.py::test_price" in repair
    assert "NoCode" in result.turns[2].error
    assert result.stopped_by is None


def test_network_candidate_is_rejected_and_never_evaluated(
    fake_llm: FakeLLM, dialect: Dialect
) -> None:
    replies = [dialect.ok(answer(code)) for code in (NETWORK, GOOD, GOOD)]
    fake_llm.script(dialect.path, *replies)
    host = Host()
    result = run_loop(fake_llm, dialect, host)
    assert host.calls == [GOOD]  # the network one never reached the host
    unsafe = result.tried[0]
    assert unsafe.evaluation.status is Status.UNSAFE
    assert "socket" in unsafe.evaluation.detail
    assert "safety policy" in dialect.sent_text(fake_llm.requests[1])
    assert result.best[TARGET].candidate.code == GOOD


def test_rate_limit_honours_retry_after(fake_llm: FakeLLM, dialect: Dialect) -> None:
    fake_llm.script(
        dialect.path,
        dialect.error(429, "slow down", {"retry-after": "7"}),
        dialect.ok(answer(GOOD)),
        dialect.ok(answer(GOOD)),
    )
    slept: list[float] = []
    events: list[dict[str, Any]] = []
    result = run_loop(fake_llm, dialect, slept=slept, events=events)
    assert slept == [7.0]
    assert result.best[TARGET].candidate.code == GOOD
    first = next(e for e in events if e["name"] == "agent.turn")
    assert first["attributes"]["optirunner.retries"] == 1
    assert len(fake_llm.requests) == 3


def test_server_errors_back_off_exponentially(fake_llm: FakeLLM) -> None:
    fake_llm.script(
        OPENAI.path,
        OPENAI.error(500, "boom"),
        OPENAI.error(503, "busy"),
        OPENAI.ok(answer(GOOD)),
        OPENAI.ok(answer(GOOD)),
    )
    slept: list[float] = []
    result = run_loop(fake_llm, OPENAI, slept=slept, backoff_s=1.0, backoff_cap_s=30)
    assert len(slept) == 2
    assert 0.5 <= slept[0] <= 1.0
    assert 1.0 <= slept[1] <= 2.0
    assert result.best[TARGET].candidate.code == GOOD


def test_retries_give_up_and_the_turn_is_recorded(fake_llm: FakeLLM) -> None:
    fake_llm.script(OPENAI.path, *[OPENAI.error(500, "boom")] * 3)
    result = run_loop(fake_llm, OPENAI, max_retries=2)
    assert "ServerError" in result.turns[0].error
    assert result.best == {}
    assert result.stopped_by is None


def test_garbage_response_is_a_typed_turn_error(fake_llm: FakeLLM, dialect: Dialect) -> None:
    fake_llm.script(dialect.path, Reply(200, "<html>502 Bad Gateway</html>"))
    result = run_loop(fake_llm, dialect)
    assert "MalformedResponse" in result.turns[0].error
    assert result.tried == []
    assert len(result.turns) == 1  # nothing to repair or refine


def test_timeout_is_a_typed_turn_error(fake_llm: FakeLLM, dialect: Dialect) -> None:
    fake_llm.script(dialect.path, Reply(200, {}, delay_s=1.5))
    result = run_loop(fake_llm, dialect, timeout_s=0.3, max_retries=0)
    assert "RequestTimedOut" in result.turns[0].error


def test_truncated_response_is_a_typed_turn_error(fake_llm: FakeLLM, dialect: Dialect) -> None:
    fake_llm.script(dialect.path, dialect.truncated(answer(GOOD)))
    result = run_loop(fake_llm, dialect)
    assert "TruncatedResponse" in result.turns[0].error
    assert result.tried == []


def test_rejected_key_stops_the_loop(fake_llm: FakeLLM, dialect: Dialect) -> None:
    fake_llm.script(dialect.path, dialect.error(401, "invalid x-api-key"))
    result = run_loop(fake_llm, dialect)
    assert result.stopped_by == "provider"
    assert "invalid x-api-key" in result.stop_detail


# --- budgets ------------------------------------------------------------------------------


EXPENSIVE = {"m": ModelPrice(input_per_mtok=1e4, output_per_mtok=0)}  # 100 tokens: $1


@pytest.mark.parametrize(
    ("budgets", "prices", "stopped_by"),
    [
        (AIBudgets(max_tokens_per_job=150), {}, "tokens"),
        (AIBudgets(max_cost_usd=0.5), EXPENSIVE, "cost"),
        (AIBudgets(max_turns=1), {}, "turns"),
    ],
)
def test_each_budget_stops_the_loop_and_says_which(
    fake_llm: FakeLLM, budgets: AIBudgets, prices: dict[str, ModelPrice], stopped_by: str
) -> None:
    fake_llm.script(OPENAI.path, OPENAI.ok(answer(BROKEN)), OPENAI.ok(answer(GOOD)))
    result = run_loop(fake_llm, OPENAI, budgets=budgets, prices=prices)
    assert result.stopped_by == stopped_by
    assert stopped_by in result.stop_detail
    assert len(fake_llm.requests) == 1  # the repair turn was never sent
    assert len(result.tried) == 1  # but what had been paid for was evaluated


def test_wall_time_budget_stops_between_evaluations(fake_llm: FakeLLM) -> None:
    clock = Clock()

    def slow_evaluation() -> None:
        clock.now += 400

    fake_llm.script(OPENAI.path, OPENAI.ok(answer(BROKEN, GOOD)))
    host = Host(on_call=slow_evaluation)
    result = run_loop(fake_llm, OPENAI, host, clock=clock, budgets=AIBudgets(max_wall_s=300))
    assert result.stopped_by == "wall_time"
    assert host.calls == [BROKEN]  # the second candidate waits for a budget that is gone
    assert result.usage["turns"] == 1


# --- the conversation: append-only, and recorded as sent ---------------------------------


def sent_messages(dialect: Dialect, fake: FakeLLM) -> list[list[dict[str, Any]]]:
    """Each request's chat messages as they went over the wire (system prompt aside)."""
    bodies = [r.body["messages"] for r in fake.requests]
    return [[m for m in b if m["role"] != "system"] for b in bodies]


def assert_append_only(conversation: list[list[dict[str, Any]]]) -> None:
    for earlier, later in itertools.pairwise(conversation):
        assert len(later) > len(earlier)
        assert later[: len(earlier)] == earlier  # every earlier message, unchanged


def test_repair_and_refine_append_to_the_conversation(fake_llm: FakeLLM, dialect: Dialect) -> None:
    replies = [answer(BROKEN), answer(GOOD), answer(BETTER)]
    fake_llm.script(dialect.path, *[dialect.ok(r) for r in replies])
    events: list[dict[str, Any]] = []
    result = run_loop(fake_llm, dialect, events=events)
    assert [t.kind for t in result.turns] == ["propose", "repair", "refine"]
    conversation = sent_messages(dialect, fake_llm)
    assert [len(c) for c in conversation] == [1, 3, 5]
    assert_append_only(conversation)
    # The model's whole answers are in the history, exactly as they came back.
    assert [m["content"] for m in conversation[-1] if m["role"] == "assistant"] == replies[:2]
    # The trace records each request as sent, in order.
    spans = [e["attributes"] for e in events if e["name"] == "agent.turn"]
    for span, sent in zip(spans, conversation, strict=True):
        messages = json.loads(span["gen_ai.input.messages"])  # JSON-encoded by the tracer
        recorded = [(m["role"], m["parts"][0]["content"]) for m in messages]
        assert recorded == [(m["role"], m["content"]) for m in sent]
        assert span["optirunner.request.messages"] == len(sent)


def test_an_unanswered_turn_stays_in_the_conversation(fake_llm: FakeLLM) -> None:
    fake_llm.script(
        OPENAI.path,
        OPENAI.ok(answer(BROKEN, GOOD)),  # BROKEN is repaired, GOOD is refined
        OPENAI.error(500, "down"),  # the repair request gets no answer
        OPENAI.ok(answer(BETTER)),
    )
    result = run_loop(fake_llm, OPENAI, max_retries=0)
    assert [t.kind for t in result.turns] == ["propose", "repair", "refine"]
    assert "ServerError" in result.turns[1].error
    conversation = sent_messages(OPENAI, fake_llm)
    assert_append_only(conversation)
    assert [m["role"] for m in conversation[-1]] == ["user", "assistant", "user", "user"]
    assert result.best[TARGET].candidate.code == BETTER


def test_bytes_sent_are_recorded_per_request_and_target(fake_llm: FakeLLM) -> None:
    fake_llm.script(OPENAI.path, OPENAI.ok(answer(GOOD)), OPENAI.ok(answer(BETTER)))
    events: list[dict[str, Any]] = []
    result = run_loop(fake_llm, OPENAI, events=events)
    on_wire = [
        sum(len(m["content"].encode()) for m in r.body["messages"]) for r in fake_llm.requests
    ]
    sent = result.sent[TARGET]
    assert sent.requests == on_wire  # the system prompt and every message, as sent
    assert [t.request_bytes for t in result.turns] == on_wire
    spans = [e["attributes"] for e in events if e["name"] == "agent.turn"]
    assert [s["optirunner.request.bytes"] for s in spans] == on_wire
    assert sent.code_bytes == len(MODULE.encode())  # one small function: all of it is shown
    assert sent.to_dict() == {
        "requests": 2,
        "bytes": sum(on_wire),
        "code_bytes": sent.code_bytes,
        "bundle_code_bytes": len(MODULE.encode()),
    }
    loop_span = next(e for e in events if e["name"] == "agent")
    assert loop_span["attributes"]["request_bytes"] == sum(on_wire)
