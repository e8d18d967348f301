"""The fencing token of one attempt: a stale attempt never posts beside a newer one.

Each claim of a job gives it a new token (`jobs.fence`, never counted back); the supervisor
hands it to the worker (`--fence`). Before the worker posts on the issue it checks, under
the job's forge lock, that the token is still the job's in the store and that no newer
attempt has stamped `forge.json` with a larger one. A newer attempt stamps it (under the
same lock) before its first post, so once it has started, the older attempt cannot post.

A worker started by hand (no `--fence`) has no claim to defend and is never refused.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from runner.errors import StaleAttempt
from runner.store.db import StoreError

log = logging.getLogger("optirunner.fence")

Holds = Callable[[str, int], bool]


def stamped(data: Mapping[str, Any]) -> int:
    """The newest token that started on the job's issue, from its forge.json (0: none)."""
    value = data.get("fence")
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


@dataclass(frozen=True)
class Fence:
    """The token of this attempt and how to ask the store whether it still holds."""

    job_id: str
    token: int | None
    holds: Holds

    def check(self, doing: str, forge_state: Mapping[str, Any] | None = None) -> None:
        """Raise StaleAttempt if a newer attempt claimed the job (`doing`: what is refused).

        `forge_state`: the job's forge.json, read under its lock. A store that cannot be
        asked does not stop the attempt (the forge.json stamp still does).
        """
        if self.token is None:
            return
        newer = stamped(forge_state or {})
        if newer > self.token:
            raise StaleAttempt(self._refusal(doing, f"attempt token {newer} started since"))
        try:
            held = self.holds(self.job_id, self.token)
        except StoreError as exc:
            log.warning("job %s: token not checked (%s); going on", self.job_id, exc)
            return
        if not held:
            raise StaleAttempt(self._refusal(doing, "the store gave the job to a newer attempt"))

    def _refusal(self, doing: str, why: str) -> str:
        return f"job {self.job_id}: attempt token {self.token} is stale ({why}); not {doing}"
