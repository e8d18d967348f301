"""OpenAI Chat Completions through the official SDK: OpenAI, Azure OpenAI, and every
OpenAI-compatible server (vLLM, Ollama, llama.cpp, LiteLLM) via `ai.base_url`.

`ai.api_version` set means Azure: `base_url` is then the resource endpoint and `ai.model`
the deployment name.
"""

from __future__ import annotations

import time
from typing import Any

import openai as sdk

from runner.agent.errors import MalformedResponse
from runner.agent.exchange import Completion, Request
from runner.agent.providers.llm import LLMProvider
from runner.agent.providers.sdk import call_create, provider_error
from runner.agent.secrets import api_key
from runner.agent.settings import AISettings
from runner.config import Settings
from runner.errors import ConfigError

NAME = "openai"
DEFAULT_BASE_URL = "https://api.openai.com/v1"
_FINISH = {"stop": "stop", "length": "length", "content_filter": "content_filter"}


def openai_payload(ai: AISettings, request: Request) -> dict[str, Any]:
    """The Chat Completions body for `request` (pure; `--show-prompt` prints it)."""
    messages = [{"role": "system", "content": request.system}]
    messages += [{"role": m.role, "content": m.content} for m in request.messages]
    return {
        "model": ai.model,
        "messages": messages,
        "temperature": ai.temperature,
        ai.max_tokens_param: ai.max_tokens,
    }


class OpenAIClient:
    """One `ChatClient` over `chat.completions.create` (SDK retries off: see retry.py)."""

    provider = NAME

    def __init__(self, ai: AISettings, key: str) -> None:
        if not ai.model:
            raise ConfigError("set ai.model (the model, or the Azure deployment name)")
        self.model = ai.model
        self._ai = ai
        self._sdk = _sdk_client(ai, key)

    def payload(self, request: Request, timeout_s: float | None = None) -> dict[str, Any]:
        """The exact body `complete` sends."""
        return openai_payload(self._ai, request)

    def complete(self, request: Request, timeout_s: float | None = None) -> Completion:
        """One request, no retries; SDK errors become typed ProviderErrors."""
        started = time.monotonic()
        try:
            response = call_create(
                self._sdk.chat.completions.create,
                self.payload(request),
                timeout_s or self._ai.timeout_s,
            )
        except sdk.OpenAIError as exc:
            raise provider_error(exc, NAME) from None
        return to_completion(response, self.model, time.monotonic() - started)


def _sdk_client(ai: AISettings, key: str) -> sdk.OpenAI:
    common: dict[str, Any] = {"api_key": key, "max_retries": 0, "timeout": ai.timeout_s}
    if ai.api_version:
        if not ai.base_url:
            raise ConfigError("ai.api_version is set (Azure): set ai.base_url to the endpoint")
        return sdk.AzureOpenAI(azure_endpoint=ai.base_url, api_version=ai.api_version, **common)
    return sdk.OpenAI(base_url=ai.base_url or DEFAULT_BASE_URL, **common)


def to_completion(response: Any, model: str, latency_s: float) -> Completion:
    """Our `Completion` from an SDK `ChatCompletion`; a body without a choice is malformed."""
    choices = getattr(response, "choices", None)
    if not choices:
        raise MalformedResponse(f"{NAME}: the response has no choices")
    choice = choices[0]
    message = getattr(choice, "message", None)
    text = getattr(message, "content", None) or ""
    raw = str(getattr(choice, "finish_reason", None) or "")
    finish = _FINISH.get(raw, raw or "stop")
    if not text and getattr(message, "refusal", None):
        finish, text = "refusal", str(message.refusal)  # type: ignore[union-attr]
    usage = getattr(response, "usage", None)
    return Completion(
        text=text,
        finish_reason=finish,
        raw_finish_reason=raw,
        model=str(getattr(response, "model", None) or model),
        input_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
        output_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
        latency_s=latency_s,
        response_id=str(getattr(response, "id", "") or ""),
    )


def OpenAIProvider(settings: Settings) -> LLMProvider:
    """The registry factory: an OpenAI-compatible provider from the settings."""
    client = OpenAIClient(settings.ai, api_key(NAME, settings.ai))
    return LLMProvider(client, settings.ai, min_effect=settings.measure.min_effect)
