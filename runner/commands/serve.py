"""`optirunner serve`: the long-lived service (HTTP listener, job queue, worker processes)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

from runner.config import load_settings, read_environ
from runner.service.listener import Listener, worker_argv
from runner.service.systemd import Notifier
from runner.telemetry.sentry import init_sentry
from runner.webhooks.secrets import apply_webhook_secret


def run(*, config: Path | None, host: str | None, port: int | None) -> int:
    """Serve until SIGTERM; returns the exit code."""
    settings = load_settings(config)
    if host is not None:
        settings.service.host = host
    if port is not None:
        settings.service.port = port
    # journald adds its own timestamps; keep each line one record.
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    init_sentry(settings)  # the runner's own errors, redacted; nothing without a DSN
    environ = read_environ()
    filled = apply_webhook_secret(settings, environ)
    if filled:
        logging.getLogger("optirunner.serve").info(
            "webhook secret from the stored credential: %s", ", ".join(filled)
        )
    listener = Listener(
        settings,
        notifier=Notifier(environ.get("NOTIFY_SOCKET")),
        argv_for=worker_argv(config),
    )
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        return runner.run(listener.run())


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop when installed (a dependency on Linux): less CPU per webhook than asyncio's loop."""
    try:
        import uvloop  # noqa: PLC0415 - optional at run time
    except ImportError:
        return None
    return uvloop.new_event_loop
