"""Candidate providers, chosen by name from `PROVIDERS`."""

from __future__ import annotations

import importlib
import inspect
from typing import TYPE_CHECKING

from runner.agent.providers.base import Provider
from runner.errors import ConfigError

if TYPE_CHECKING:
    from runner.config import Settings

#: provider name -> "module:factory"; a factory takes no argument, or the `Settings`,
#: and returns a Provider.
PROVIDERS: dict[str, str] = {
    "rules": "runner.agent.providers.rules:RulesProvider",
    "openai": "runner.agent.providers.openai:OpenAIProvider",
    "anthropic": "runner.agent.providers.anthropic:AnthropicProvider",
}


def check_provider(name: str) -> str:
    """Return `name` if a provider is registered under it, else say which are."""
    if name not in PROVIDERS:
        known = ", ".join(sorted(PROVIDERS))
        raise ConfigError(f"unknown provider {name!r} (known: {known})")
    return name


def load_provider(name: str, settings: Settings | None = None) -> Provider:
    """Instantiate the provider registered under `name` (passing `settings` if it takes them)."""
    module_name, _, attr = PROVIDERS[check_provider(name)].partition(":")
    factory = getattr(importlib.import_module(module_name), attr)
    takes_settings = bool(inspect.signature(factory).parameters)
    if takes_settings and settings is None:
        raise ConfigError(f"provider {name!r} needs the settings")
    provider: Provider = factory(settings) if takes_settings else factory()
    return provider
