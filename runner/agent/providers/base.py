"""The provider Protocol: given a target's source, propose candidate rewrites."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from runner.spec import Target


@dataclass(frozen=True)
class TargetSource:
    """What a provider sees of one target.

    `definition` is the exact source of the target's definition (decorators included,
    dedented for a method); `module` is the source of the module it lives in, so that a
    rule can check, for example, that a module-level list is never mutated.
    """

    target: Target
    definition: str
    module: str


@dataclass(frozen=True)
class Candidate:
    """A proposed replacement for one target definition.

    `code` is the complete new definition (`def ...` with its decorators, dedented);
    `imports` are import statements the new code needs at module level
    (e.g. ``"import collections"``); they are added only when missing.
    """

    target: Target
    description: str
    code: str
    rule: str = ""
    imports: tuple[str, ...] = field(default_factory=tuple)


class Provider(Protocol):
    """Anything that can propose candidates for a target."""

    name: str

    def propose(self, source: TargetSource, limit: int) -> list[Candidate]:
        """Return at most `limit` distinct candidates for `source.target`."""
        ...
