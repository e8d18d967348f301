"""local-alias (placeholder)."""

from __future__ import annotations

from runner.agent.providers.rules._tree import Outcome, Scope


def local_alias(scope: Scope) -> Outcome:
    """Not yet."""
    return "not implemented"
