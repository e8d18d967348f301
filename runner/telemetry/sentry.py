"""The runner's own errors to Sentry, redacted before they leave the process.

Loaded only when `telemetry.sentry.dsn` is set: without a DSN `init_sentry` returns at
once and `sentry_sdk` is never imported. With one, every event goes through
`before_send` and every breadcrumb through `before_breadcrumb`, both running the trace
redactor (rules, every secret the settings hold, PII when `telemetry.pii`) over every
string; source context, local variables and default PII are off, and the integrations
that would read requests or databases are not auto-enabled.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from runner import __version__
from runner.telemetry.redact import FAILED, Redactor

if TYPE_CHECKING:
    from runner.config import Settings

log = logging.getLogger("optirunner.telemetry.sentry")

# Fields of a Sentry event that are ids, times or enums: kept as they are.
KEEP = frozenset(
    {"event_id", "timestamp", "start_timestamp", "type", "level", "platform", "release"}
)
_initialised: list[str] = []


class SentryScrubber:
    """`before_send` and `before_breadcrumb`: the redactor over every string."""

    def __init__(self, redactor: Redactor) -> None:
        self.redactor = redactor

    def event(self, event: dict[str, Any], hint: dict[str, Any] | None = None) -> dict[str, Any]:
        try:
            return {
                key: value if key in KEEP else self.redactor.redact_value(value, key)
                for key, value in event.items()
            }
        except Exception:  # fail closed: an event we cannot redact is not sent at all
            return {key: event[key] for key in KEEP if key in event} | {"message": FAILED}

    def breadcrumb(
        self, crumb: dict[str, Any], hint: dict[str, Any] | None = None
    ) -> dict[str, Any] | None:
        try:
            return {
                key: value
                if key in ("timestamp", "level", "type")
                else self.redactor.redact_value(value, key)
                for key, value in crumb.items()
            }
        except Exception:
            return None


def init_sentry(settings: Settings, known_secrets: Iterable[str] = ()) -> bool:
    """Start Sentry when a DSN is configured (once per process); True when it runs."""
    sentry = settings.telemetry.sentry
    if sentry.dsn is None:
        return False
    dsn = sentry.dsn.get_secret_value()
    if _initialised:
        return True
    import sentry_sdk  # noqa: PLC0415 - only loaded when a DSN is set

    from runner.telemetry.setup import settings_secrets  # noqa: PLC0415 - import cycle

    secrets = [*settings_secrets(settings), *known_secrets]
    scrubber = SentryScrubber(Redactor(secrets, pii=settings.telemetry.pii))
    sentry_sdk.init(
        dsn=dsn,
        release=f"optirunner@{__version__}",
        environment=sentry.environment,
        sample_rate=sentry.sample_rate,
        before_send=scrubber.event,  # type: ignore[arg-type]
        before_breadcrumb=scrubber.breadcrumb,
        include_source_context=False,
        include_local_variables=False,
        send_default_pii=False,
        auto_enabling_integrations=False,
        traces_sample_rate=None,
        server_name="optirunner",
    )
    _initialised.append(dsn)
    log.info("telemetry: runner errors go to Sentry (redacted)")
    return True


def capture_exception(exc: BaseException) -> None:
    """Report `exc` when Sentry runs; nothing (and no import) otherwise."""
    if not _initialised:
        return
    import sentry_sdk  # noqa: PLC0415 - loaded by init_sentry already

    sentry_sdk.capture_exception(exc)


def flush(timeout_s: float = 5.0) -> None:
    """Wait for queued Sentry events (before a process exits)."""
    if not _initialised:
        return
    import sentry_sdk  # noqa: PLC0415 - loaded by init_sentry already

    sentry_sdk.flush(timeout=timeout_s)
