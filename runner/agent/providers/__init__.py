"""Candidate providers, chosen by name from `PROVIDERS`."""

from __future__ import annotations

import importlib

from runner.agent.providers.base import Provider
from runner.errors import ConfigError

#: provider name -> "module:factory"; a factory takes no argument and returns a Provider.
PROVIDERS: dict[str, str] = {
    "rules": "runner.agent.providers.rules:RulesProvider",
}


def check_provider(name: str) -> str:
    """Return `name` if a provider is registered under it, else say which are."""
    if name not in PROVIDERS:
        known = ", ".join(sorted(PROVIDERS))
        raise ConfigError(f"unknown provider {name!r} (known: {known})")
    return name


def load_provider(name: str) -> Provider:
    """Instantiate the provider registered under `name`."""
    module_name, _, attr = PROVIDERS[check_provider(name)].partition(":")
    factory = getattr(importlib.import_module(module_name), attr)
    provider: Provider = factory()
    return provider
