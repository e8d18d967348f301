"""Anthropic Messages API through the official SDK (`ai.base_url` for a proxy or gateway)."""

from __future__ import annotations

import time
from typing import Any

import anthropic as sdk

from runner.agent.errors import MalformedResponse
from runner.agent.exchange import Completion, Request
from runner.agent.providers.llm import LLMProvider
from runner.agent.providers.sdk import call_create, provider_error
from runner.agent.secrets import api_key
from runner.agent.settings import AISettings
from runner.config import Settings
from runner.errors import ConfigError

NAME = "anthropic"
DEFAULT_BASE_URL = "https://api.anthropic.com"
_STOP = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "refusal": "refusal",
}


def anthropic_payload(ai: AISettings, request: Request) -> dict[str, Any]:
    """The Messages body for `request` (pure; `--show-prompt` prints it)."""
    return {
        "model": ai.model,
        "max_tokens": ai.max_tokens,
        "system": request.system,
        "messages": [{"role": m.role, "content": m.content} for m in request.messages],
        "temperature": ai.temperature,
    }


class AnthropicClient:
    """One `ChatClient` over `messages.create` (SDK retries off: see retry.py)."""

    provider = NAME

    def __init__(self, ai: AISettings, key: str) -> None:
        if not ai.model:
            raise ConfigError("set ai.model (for example the Claude model name)")
        self.model = ai.model
        self._ai = ai
        self._sdk = sdk.Anthropic(
            api_key=key,
            base_url=ai.base_url or DEFAULT_BASE_URL,
            max_retries=0,
            timeout=ai.timeout_s,
            # The documented header; SDK versions differ in how they send `api_key`
            # (some as `Authorization: Bearer`), and gateways check `x-api-key`.
            default_headers={"x-api-key": key},
        )

    def payload(self, request: Request, timeout_s: float | None = None) -> dict[str, Any]:
        """The exact body `complete` sends."""
        return anthropic_payload(self._ai, request)

    def complete(self, request: Request, timeout_s: float | None = None) -> Completion:
        """One request, no retries; SDK errors become typed ProviderErrors."""
        started = time.monotonic()
        try:
            response = call_create(
                self._sdk.messages.create, self.payload(request), timeout_s or self._ai.timeout_s
            )
        except sdk.AnthropicError as exc:
            raise provider_error(exc, NAME) from None
        return to_completion(response, self.model, time.monotonic() - started)


def to_completion(response: Any, model: str, latency_s: float) -> Completion:
    """Our `Completion` from an SDK `Message`; a body without content is malformed."""
    content = getattr(response, "content", None)
    if not isinstance(content, list):
        raise MalformedResponse(f"{NAME}: the response has no content list")
    text = "".join(str(getattr(b, "text", "")) for b in content if getattr(b, "type", "") == "text")
    raw = str(getattr(response, "stop_reason", None) or "")
    usage = getattr(response, "usage", None)
    return Completion(
        text=text,
        finish_reason=_STOP.get(raw, raw or "stop"),
        raw_finish_reason=raw,
        model=str(getattr(response, "model", None) or model),
        input_tokens=int(getattr(usage, "input_tokens", 0) or 0),
        output_tokens=int(getattr(usage, "output_tokens", 0) or 0),
        latency_s=latency_s,
        response_id=str(getattr(response, "id", "") or ""),
    )


def AnthropicProvider(settings: Settings) -> LLMProvider:
    """The registry factory: an Anthropic provider from the settings."""
    client = AnthropicClient(settings.ai, api_key(NAME, settings.ai))
    return LLMProvider(client, settings.ai, min_effect=settings.measure.min_effect)
