"""Only bundle content leaves the host: canaries planted elsewhere never reach a request."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from runner.agent.context import BundleView
from runner.agent.exchange import Evaluation, Status
from runner.agent.loop import AgentLoop
from runner.agent.providers.base import Candidate, TargetSource
from runner.agent.providers.llm import LLMProvider, make_client
from runner.agent.request import AgentSpec
from runner.agent.settings import AISettings
from runner.bundle.apply import extract_definition
from runner.bundle.bundle import build_bundle
from runner.bundle.extract import extract
from runner.bundle.signing import load_or_create_key, public_key_path
from runner.spec import Target
from tests.agent.conftest import KEY, Dialect, FakeLLM

CANARIES = {
    "other_def": "CANARY_OTHER_DEFINITION_5a1f",
    "other_file": "CANARY_OTHER_FILE_9c2e",
    "test": "CANARY_TEST_FILE_77d0",
    "comment": "CANARY_UNRELATED_COMMENT_31b8",
    "env": "CANARY_DOTENV_0e4d",
    "test_output": "CANARY_TEST_SOURCE_LINE_aa90",
}
PRICING = f'''"""Pricing."""

import json

from shop.rates import RATE

# {CANARIES["comment"]}
LEGACY = "{CANARIES["other_def"]}"


def _round(value):
    return round(value, 2)


def price(items):
    total = 0
    for x in items:
        total = total + x * RATE
    return _round(total)


def unrelated():
    return json.dumps(LEGACY)
'''
RATES = f'''RATE = 3
SECRET = "{CANARIES["other_file"]}"
'''
TEST = f'''from shop.pricing import price


def test_price():
    assert price([1, 2]) == 9, "{CANARIES["test"]}"
'''
TARGET = Target("shop/pricing.py", "price")
GOOD = "def price(items):\n    return _round(sum(items) * RATE)\n"
BROKEN = "def price(items):\n    return _round(sum(items))\n"
TAIL = f"""    def test_price():
>       assert price([1, 2]) == 9, "{CANARIES["test_output"]}"
E       AssertionError: assert 3 == 9
FAILED tests/test_pricing.py::test_price - AssertionError
"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "client"
    (root / "shop").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "shop/__init__.py").write_text("")
    (root / "shop/pricing.py").write_text(PRICING)
    (root / "shop/rates.py").write_text(RATES)
    (root / "tests/test_pricing.py").write_text(TEST)
    (root / ".env").write_text(f"TOKEN={CANARIES['env']}\n")
    return root


def bundle_of(repo: Path, tmp_path: Path, targets: Sequence[Target] = (TARGET,)) -> BundleView:
    """Cut and sign the bundle of `targets`, then view it as the agent loop does."""
    state = tmp_path / "state"
    built = build_bundle(
        extract(repo, list(targets)),
        tmp_path / "out",
        load_or_create_key(state),
        repository=str(repo),
        commit=None,
        now=lambda: datetime(2025, 1, 1, tzinfo=UTC),
    )
    return BundleView.from_bundle(built.zip_path, public_key_path(state).read_bytes())


def answer(code: str) -> str:
    return f"### Candidate 1: sum first\n```python\n{code}```"


def test_requests_hold_bundle_code_and_no_canary(
    repo: Path, tmp_path: Path, fake_llm: FakeLLM, dialect: Dialect
) -> None:
    bundle = bundle_of(repo, tmp_path)
    fake_llm.script(
        dialect.path,
        dialect.ok(answer(BROKEN)),
        dialect.ok(answer(GOOD)),
        dialect.ok(answer(GOOD)),
    )

    def evaluate(candidate: Candidate) -> Evaluation:
        if "RATE" in candidate.code:
            return Evaluation(Status.VERIFIED, ratio=0.5)
        return Evaluation(Status.TESTS_FAILED, "price([1, 2]) returned 3, expected 9", TAIL)

    ai = AISettings(model="m", base_url=dialect.base_url(fake_llm), effort=1)
    loop = AgentLoop(
        make_client(dialect.name, ai, KEY),
        bundle,
        AgentSpec((TARGET,), 0.05),
        ai,
        evaluate,
        sleep=lambda s: None,
    )
    result = loop.run()
    assert result.best[TARGET].candidate.code == GOOD
    assert len(fake_llm.requests) == 3  # propose, repair (with test feedback), refine
    for recorded in fake_llm.requests:
        raw = recorded.raw.decode()
        for name, canary in CANARIES.items():
            assert canary not in raw, f"{name} canary leaked into a request"
        assert str(repo) not in raw  # not even the host's path
    # The code in the requests is the bundle's, byte for byte.
    first = dialect.sent_text(fake_llm.requests[0])
    (_path, text), *_ = [f for f in bundle.files if f[0] == TARGET.path]
    assert text.rstrip() in first
    assert extract_definition(PRICING, "price").strip() in text
    assert "RATE = 3" in first  # helpers from other files come along, their secrets do not
    assert "unrelated" not in first
    assert "AssertionError: assert 3 == 9" in dialect.sent_text(fake_llm.requests[1])


def test_provider_protocol_path_sends_only_the_shaken_module(
    fake_llm: FakeLLM, dialect: Dialect
) -> None:
    ai = AISettings(model="m", base_url=dialect.base_url(fake_llm), effort=2)
    provider = LLMProvider(make_client(dialect.name, ai, KEY), ai, sleep=lambda s: None)
    fake_llm.script(dialect.path, dialect.ok(answer(GOOD)))
    source = TargetSource(TARGET, extract_definition(PRICING, "price"), PRICING)
    found = provider.propose(source, 5)
    assert [c.code for c in found] == [GOOD]
    model = "gpt-test" if dialect.name == "openai" else "claude-test"
    assert found[0].rule == f"{dialect.name}:{model}"
    raw = fake_llm.requests[0].raw.decode()
    assert "def _round" in raw
    for canary in (CANARIES["other_def"], CANARIES["comment"]):
        assert canary not in raw
