"""Request building (pure): templates, what a request holds, feedback filtering, payloads."""

from __future__ import annotations

from importlib import resources

from runner.agent.context import BundleView
from runner.agent.exchange import Evaluation, Message, Status
from runner.agent.providers.anthropic import anthropic_payload
from runner.agent.providers.base import Candidate
from runner.agent.providers.openai import openai_payload
from runner.agent.request import (
    AgentSpec,
    answered,
    failure_lines,
    feedback_text,
    propose_request,
    redact,
    refine_request,
    repair_request,
)
from runner.agent.settings import AISettings
from runner.spec import Target

TARGET = Target("shop/pricing.py", "price")
BUNDLE = BundleView(
    bundle_id="abc123",
    targets=(str(TARGET),),
    files=(("shop/pricing.py", "RATE = 3\n\n\ndef price(x):\n    return x * RATE\n"),),
    definitions=("shop/pricing.py:1-1 constant RATE", "shop/pricing.py:4-5 function price"),
    requirements=("numpy==2.0.0",),
)
SPEC = AgentSpec((TARGET,), 0.05)
CANDIDATE = Candidate(TARGET, "double", "def price(x):\n    return x + x\n", "m", ("import math",))
PYTEST_TAIL = """\
    def test_price():
>       assert price(2) == SECRET_TEST_VALUE
E       assert 4 == 6
E        +  where 4 = price(2)

/home/alice/work/shop/tests/test_pricing.py:7: AssertionError
FAILED tests/test_pricing.py::test_price - assert 4 == 6
"""


def test_templates_are_package_data() -> None:
    names = {p.name for p in resources.files("runner.agent.prompts").iterdir()}
    assert {"system_v1.md", "propose_v1.md", "repair_v1.md", "refine_v1.md"} <= names
    assert {"propose_v2.md", "repair_v2.md", "refine_v2.md"} <= names  # v1 stays: old traces


def test_propose_holds_bundle_code_spec_and_nothing_else() -> None:
    request = propose_request(BUNDLE, SPEC, TARGET, 3)
    assert request.kind == "propose"
    assert request.prompt == "propose_v2"
    assert len(request.messages) == 1
    text = request.messages[0].content
    assert "def price(x):\n    return x * RATE" in text
    assert "## shop/pricing.py" in text
    assert "numpy==2.0.0" in text
    assert "shop/pricing.py:4-5 function price" in text
    assert "at least\n5% faster" in text
    assert "Propose 3 candidates" in text
    assert "the method alone" in text
    assert "$" not in text.replace("$ ", "")  # every placeholder was filled


ANSWER = "### Candidate 1: double\n```python\ndef price(x):\n    return x + x\n```"


def test_repair_appends_the_candidate_and_filtered_feedback() -> None:
    propose = propose_request(BUNDLE, SPEC, TARGET, 3)
    history = answered(propose, ANSWER)
    evaluation = Evaluation(Status.TESTS_FAILED, "first mismatch: price(2)", PYTEST_TAIL)
    request = repair_request(history, CANDIDATE, evaluation)
    assert request.kind == "repair"
    assert request.prompt == "repair_v2"
    # Append-only: the propose message and the model's whole answer, unchanged, then ours.
    assert request.messages[:2] == (*propose.messages, Message("assistant", ANSWER))
    assert [m.role for m in request.messages] == ["user", "assistant", "user"]
    feedback = request.messages[2].content
    assert "import math" in feedback  # which candidate failed, as the host applied it
    assert "return x + x" in feedback
    assert "tests_failed" in feedback
    assert "first mismatch: price(2)" in feedback
    assert "E       assert 4 == 6" in feedback
    assert "FAILED tests/test_pricing.py::test_price" in feedback
    assert "SECRET_TEST_VALUE" not in feedback  # test source lines are dropped
    assert "/home/alice" not in feedback


def test_refine_appends_the_measured_ratio() -> None:
    history = answered(propose_request(BUNDLE, SPEC, TARGET, 3), ANSWER)
    evaluation = Evaluation(Status.VERIFIED, ratio=0.5)
    request = refine_request(history, CANDIDATE, evaluation, 2)
    assert request.messages[:-1] == history
    assert "0.500" in request.messages[-1].content
    assert "2.00× as fast" in request.messages[-1].content
    assert "return x + x" in request.messages[-1].content
    assert "Propose 2 candidates" in request.messages[-1].content
    assert request.prompt == "refine_v2"


def test_an_unanswered_request_adds_no_assistant_message() -> None:
    propose = propose_request(BUNDLE, SPEC, TARGET, 3)
    assert answered(propose, None) == propose.messages
    assert answered(propose, "  \n") == propose.messages


def test_sent_bytes_count_the_system_prompt_and_every_message() -> None:
    request = propose_request(BUNDLE, SPEC, TARGET, 3)
    text = request.system + "".join(m.content for m in request.messages)
    assert request.sent_bytes == len(text.encode())
    longer = repair_request(answered(request, "é" * 10), CANDIDATE, Evaluation(Status.INVALID))
    assert longer.sent_bytes > request.sent_bytes + 20  # "é" is two bytes


def test_redaction_shortens_paths_and_caps_lines() -> None:
    assert redact("at /tmp/x/y/z.py line 3") == "at z.py line 3"
    assert len(redact("x" * 1000)) <= 240
    assert failure_lines(PYTEST_TAIL)[0].startswith("E ")
    assert feedback_text(Evaluation(Status.INVALID)) == "(no further detail)"


def test_payloads_are_the_documented_bodies() -> None:
    ai = AISettings(model="m", max_tokens=100, temperature=0.1)
    request = propose_request(BUNDLE, SPEC, TARGET, 1)
    body = openai_payload(ai, request)
    assert body["model"] == "m"
    assert body["messages"][0] == {"role": "system", "content": request.system}
    assert body["max_tokens"] == 100
    newer_ai = ai.model_copy(update={"max_tokens_param": "max_completion_tokens"})
    newer = openai_payload(newer_ai, request)
    assert newer["max_completion_tokens"] == 100
    assert "max_tokens" not in newer
    message = anthropic_payload(ai, request)
    assert message["system"] == request.system
    assert message["messages"] == [{"role": "user", "content": request.messages[0].content}]
