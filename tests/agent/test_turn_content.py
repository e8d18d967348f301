"""Provider calls as spans: prompt and completion messages recorded as content under the
content policy (redacted, hash, none), with the GenAI attributes, against the fake API."""

from __future__ import annotations

import json
from typing import Any

import pytest

from runner.agent.context import BundleView
from runner.agent.loop import AgentLoop
from runner.agent.providers.llm import make_client
from runner.agent.request import AgentSpec
from runner.agent.settings import AISettings
from runner.telemetry.policy import EventRedactor
from runner.telemetry.redact import Redactor
from runner.telemetry.tracing import Tracer
from tests.agent.conftest import KEY, Dialect, FakeLLM
from tests.agent.test_loop import GOOD, TARGET, Clock, Host, answer

GHP = "ghp_" + "aB3dE5fG7hJ9kL1mN2pQ4rS6tU8vW0xY2zA4"
# The code the model sees carries a credential (the target reads it); so does the answer.
MODULE = (
    f'RATE = 3\nTOKEN = "{GHP}"\n\n\n'
    "def price(items):\n    return sum(items) * RATE if TOKEN else 0\n"
)
BUNDLE = BundleView("b1", (str(TARGET),), (("shop.py", MODULE),), (), ())


def _turns(fake: FakeLLM, dialect: Dialect, content: str) -> list[dict[str, Any]]:
    fake.script(
        dialect.path,
        dialect.ok(answer(GOOD) + f"\nI also saw {GHP} and {KEY}.", prompt=321, completion=45),
        dialect.ok("nothing better"),
    )
    settings = AISettings(model="m", base_url=dialect.base_url(fake), effort=1, timeout_s=5.0)
    client = make_client(dialect.name, settings, KEY)
    events: list[dict[str, Any]] = []
    tracer = Tracer("job", [events.append], processor=EventRedactor(Redactor([KEY]), content))
    AgentLoop(
        client, BUNDLE, AgentSpec((TARGET,), 0.05), settings, Host(), tracer, clock=Clock()
    ).run()
    tracer.close()
    assert GHP not in json.dumps(events)
    assert KEY not in json.dumps(events)
    return [e for e in events if e["name"] == "agent.turn"]


def test_prompt_and_completion_are_recorded_redacted(fake_llm: FakeLLM, dialect: Dialect) -> None:
    first = _turns(fake_llm, dialect, "redacted")[0]["attributes"]
    assert first["gen_ai.operation.name"] == "chat"
    assert first["gen_ai.provider.name"] == dialect.name
    assert first["gen_ai.request.model"] == "m"
    assert first["gen_ai.usage.input_tokens"] == 321
    assert first["gen_ai.usage.output_tokens"] == 45
    assert first["gen_ai.response.model"] in ("gpt-test", "claude-test")
    inputs = json.loads(first["gen_ai.input.messages"])
    assert inputs[0]["role"] == "user"
    prompt = inputs[0]["parts"][0]["content"]
    assert "def price(items):" in prompt  # the bundle's code went out...
    assert 'TOKEN = "[REDACTED:' in prompt  # ...and its credential is masked in the trace
    system = json.loads(first["gen_ai.system_instructions"])
    assert system[0]["type"] == "text"
    assert system[0]["content"]
    outputs = json.loads(first["gen_ai.output.messages"])
    assert outputs[0]["role"] == "assistant"
    assert outputs[0]["finish_reason"] == "stop"
    completion = outputs[0]["parts"][0]["content"]
    assert "return sum(items) * RATE" in completion
    assert "I also saw [REDACTED:" in completion
    assert "[REDACTED:known-secret]" in completion


@pytest.mark.parametrize("content", ["hash", "none"])
def test_the_content_policy_applies_to_messages(
    fake_llm: FakeLLM, dialect: Dialect, content: str
) -> None:
    first = _turns(fake_llm, dialect, content)[0]["attributes"]
    keys = ("gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions")
    for key in keys:
        if content == "hash":
            assert str(first[key]).startswith("sha256:")
            assert first[f"{key}.length"] == 1
        else:
            assert key not in first
    assert first["gen_ai.usage.input_tokens"] == 321  # accounting is never content
