"""A model behind the `Provider` protocol, and the helpers to pick a vendor's client.

`LLMProvider.propose` is one propose turn (with retries) for the job's generate stage as it
is today; the full propose → evaluate → repair → refine loop with budgets is
`runner.agent.loop.AgentLoop`, which takes a `ChatClient` from `make_client`.
"""

from __future__ import annotations

import importlib
import random
import time
from collections.abc import Callable
from typing import Any

from runner.agent.context import BundleView, view_of_module
from runner.agent.exchange import ChatClient, Request
from runner.agent.parse import parse_completion
from runner.agent.providers.base import Candidate, TargetSource
from runner.agent.request import AgentSpec, propose_request
from runner.agent.retry import RetryPolicy, with_retries
from runner.agent.settings import AISettings
from runner.errors import ConfigError, OptirunnerError

#: provider name -> "module:client class" of the AI providers.
CLIENTS = {
    "openai": "runner.agent.providers.openai:OpenAIClient",
    "anthropic": "runner.agent.providers.anthropic:AnthropicClient",
}
_PAYLOADS = {
    "openai": "runner.agent.providers.openai:openai_payload",
    "anthropic": "runner.agent.providers.anthropic:anthropic_payload",
}


def _load(spec: str) -> Any:
    module, _, attr = spec.partition(":")
    return getattr(importlib.import_module(module), attr)


def _known(provider: str) -> None:
    if provider not in CLIENTS:
        raise ConfigError(
            f"provider {provider!r} does not call a model (AI providers: "
            + ", ".join(sorted(CLIENTS))
            + ")"
        )


def make_client(provider: str, ai: AISettings, key: str) -> ChatClient:
    """The `ChatClient` of an AI provider (`openai` or `anthropic`)."""
    _known(provider)
    client: ChatClient = _load(CLIENTS[provider])(ai, key)
    return client


def request_payload(provider: str, ai: AISettings, request: Request) -> dict[str, Any]:
    """The exact JSON body `provider` would send for `request` (no key, no network)."""
    _known(provider)
    build: Callable[[AISettings, Request], dict[str, Any]] = _load(_PAYLOADS[provider])
    return build(ai, request)


class LLMProvider:
    """`Provider` over a `ChatClient`: one propose request per target, retried as configured."""

    def __init__(
        self,
        client: ChatClient,
        ai: AISettings,
        *,
        min_effect: float = 0.03,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.name = client.provider
        self.client = client
        self._ai = ai
        self._min_effect = min_effect
        self._sleep = sleep
        self._rng = rng or random.Random()

    def propose(self, source: TargetSource, limit: int) -> list[Candidate]:
        """Ask for `min(limit, ai.effort)` candidates; raise a typed error when none came."""
        if limit <= 0:
            return []
        spec = AgentSpec((source.target,), self._min_effect)
        request = propose_request(_view(source), spec, source.target, min(limit, self._ai.effort))
        completion = with_retries(
            lambda: self.client.complete(request),
            RetryPolicy.from_settings(self._ai),
            sleep=self._sleep,
            rng=self._rng,
        )
        return parse_completion(completion, source.target, self.name)[:limit]


def _view(source: TargetSource) -> BundleView:
    """What the bundle would hold for this target; just the definition if shaking fails."""
    try:
        return view_of_module(source.target, source.module)
    except (OptirunnerError, SyntaxError, OSError):
        return BundleView(
            bundle_id="unsigned",
            targets=(str(source.target),),
            files=((source.target.path, source.definition),),
            definitions=(),
            requirements=(),
        )
