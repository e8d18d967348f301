"""Wiring: a job's tracer (redactor before every sink), the shippers (Icarus, OTLP).

Sentry is started by `serve` and `worker` themselves (`sentry.init_sentry`).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, SecretStr

from runner.errors import OptirunnerError
from runner.telemetry.damage import open_guarded
from runner.telemetry.icarus import IcarusConfig, IcarusShipper
from runner.telemetry.otlp import OtlpConfig, OtlpShipper
from runner.telemetry.policy import EventRedactor
from runner.telemetry.redact import Redactor
from runner.telemetry.settings import TelemetrySettings
from runner.telemetry.spool import Spool
from runner.telemetry.tracing import JsonlSink, Sink, Tracer

if TYPE_CHECKING:
    from runner.config import Settings

log = logging.getLogger("optirunner.telemetry")
Shipper = IcarusShipper | OtlpShipper


def spool_path(state_dir: Path) -> Path:
    """Where the spool lives: `<state_dir>/telemetry/spool.db`."""
    return state_dir / "telemetry" / "spool.db"


def open_spool(settings: TelemetrySettings, state_dir: Path, *, check: bool = False) -> Spool:
    """The spool with the configured bounds and TTL. A damaged file is quarantined and
    what can be read of it salvaged (`damage.open_guarded`); `check`: run
    `PRAGMA quick_check` first (serve at start)."""
    spool, _salvage = open_guarded(
        spool_path(state_dir),
        check=check,
        max_events=settings.spool_max_events,
        max_bytes=settings.spool_max_bytes,
        retention_s=settings.retention_s,
    )
    return spool


def remote_sinks(settings: TelemetrySettings) -> list[str]:
    """The remote sinks configured (each reads the spool with its own cursor)."""
    names = []
    if settings.icarus.url:
        names.append("icarus")
    if settings.otlp.endpoint:
        names.append("otlp")
    return names


def safe_url(url: str) -> str:
    """`url` fit for a log line: no user, password, query or fragment."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "(an unparseable URL)"
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{port}" if port is not None else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def describe_remote_sinks(settings: TelemetrySettings) -> list[str]:
    """Where the remote sinks send, for logs: `Icarus at <url>`, `OTLP at <endpoint>`.

    Credentials in the URLs (user info, query) are left out and every secret the
    settings hold is masked; tokens and headers are never named. Empty when none is set.
    """
    redactor = Redactor(settings_secrets(settings))
    found = []
    if settings.icarus.url:
        found.append(f"Icarus at {safe_url(settings.icarus.url)}")
    if settings.otlp.endpoint:
        found.append(f"OTLP at {safe_url(settings.otlp.endpoint)}")
    return [redactor.redact(text) for text in found]


def uses_spool(settings: TelemetrySettings) -> bool:
    """Whether jobs append their events to the spool: a remote sink is configured."""
    return settings.enabled and settings.spool and bool(remote_sinks(settings))


def build_redactor(settings: TelemetrySettings, known_secrets: Iterable[str]) -> EventRedactor:
    """The event processor: redaction rules, known secrets, PII opt-in, content policy."""
    return EventRedactor(Redactor(known_secrets, pii=settings.pii), settings.content)


def build_tracer(
    settings: Settings, job_id: str, job_dir: Path, known_secrets: Iterable[str] = ()
) -> Tracer:
    """A job's tracer: events are redacted, then written to events.jsonl and the spool.

    `known_secrets`: every secret value the runner knows (its own tokens, the values of
    the environment passed to sandboxes); values shorter than 6 characters are ignored.
    The spool is used only when a remote sink (Icarus, OTLP) is configured. Call
    `tracer.close()` at the end of the job.
    """
    telemetry = settings.telemetry
    if not telemetry.enabled:
        return Tracer(job_id, [])
    sinks: list[Sink] = [JsonlSink(job_dir / "events.jsonl")]
    if uses_spool(telemetry):
        sinks.append(open_spool(telemetry, settings.state_dir))
    return Tracer(job_id, sinks, processor=build_redactor(telemetry, known_secrets))


def icarus_config(settings: TelemetrySettings) -> IcarusConfig | None:
    """The shipper's configuration, or None when no receiver is configured."""
    icarus = settings.icarus
    if not icarus.url:
        return None
    return IcarusConfig(
        url=icarus.url,
        token=icarus.token.get_secret_value() if icarus.token else "",
        runner_id=icarus.runner_id or socket.gethostname(),
        batch_size=icarus.batch_size,
        ack_timeout_s=icarus.ack_timeout_s,
        backoff_initial_s=icarus.backoff_initial_s,
        backoff_max_s=icarus.backoff_max_s,
        ca_file=icarus.ca_file,
    )


def otlp_config(settings: TelemetrySettings) -> OtlpConfig | None:
    """The OTLP shipper's configuration, or None when no collector is configured."""
    otlp = settings.otlp
    if not otlp.endpoint:
        return None
    return OtlpConfig(
        endpoint=otlp.endpoint,
        headers={k: v.get_secret_value() for k, v in otlp.headers.items()},
        runner_id=settings.icarus.runner_id or socket.gethostname(),
        batch_size=otlp.batch_size,
        timeout_s=otlp.timeout_s,
        backoff_initial_s=otlp.backoff_initial_s,
        backoff_max_s=otlp.backoff_max_s,
        ca_file=otlp.ca_file,
    )


class Shippers:
    """Every configured remote sink, each with its own spool cursor, run side by side."""

    def __init__(self, spool: Spool, shippers: list[Shipper]) -> None:
        self.spool = spool
        self.shippers = shippers
        self.errors: dict[str, OptirunnerError] = {}

    async def run(
        self,
        stop: asyncio.Event | None = None,
        *,
        drain: bool = False,
        max_failures: int | None = None,
    ) -> None:
        """Run every shipper until `stop` (or drained). A sink that fails for good (a
        refused token; with `max_failures`, an unreachable one) is logged and recorded
        in `errors` without stopping the others; with `drain`, the first error is raised
        once every shipper has finished."""

        self.errors = {}

        async def one(shipper: Shipper) -> None:
            try:
                await shipper.run(stop, drain=drain, max_failures=max_failures)
            except OptirunnerError as exc:
                self.errors[shipper.sink] = exc
                log.error("telemetry sink %s: %s", shipper.sink, exc)  # noqa: TRY400 - known error

        await asyncio.gather(*(one(shipper) for shipper in self.shippers))
        if drain and self.errors:
            raise next(iter(self.errors.values()))

    def close(self) -> None:
        for shipper in self.shippers:
            if isinstance(shipper, OtlpShipper):
                shipper.close()
        self.spool.close()


def build_shipper(settings: Settings) -> Shippers | None:
    """The shippers of this runner's remote sinks (None when none is configured).

    Cursors of sinks no longer configured are removed, so they do not hold events back.
    """
    telemetry = settings.telemetry
    icarus, otlp = icarus_config(telemetry), otlp_config(telemetry)
    if icarus is None and otlp is None:
        return None
    spool = open_spool(telemetry, settings.state_dir, check=True)
    spool.keep_cursors(remote_sinks(telemetry))
    shippers: list[Shipper] = []
    if icarus is not None:
        shippers.append(IcarusShipper(spool, icarus))
    if otlp is not None:
        shippers.append(OtlpShipper(spool, otlp))
    return Shippers(spool, shippers)


def settings_secrets(model: BaseModel) -> list[str]:
    """Every secret value held in the settings (SecretStr fields, at any depth)."""
    found: list[str] = []
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, SecretStr):
            found.append(value.get_secret_value())
        elif isinstance(value, BaseModel):
            found.extend(settings_secrets(value))
        elif isinstance(value, dict):
            found.extend(v.get_secret_value() for v in value.values() if isinstance(v, SecretStr))
    return found


def job_tracer(
    settings: Settings,
    job_id: str,
    events_file: Path,
    known_secrets: Iterable[str] = (),
    clock: Callable[[], float] = time.time,
) -> Tracer:
    """The tracer of `optimize` jobs: events.jsonl always (the job directory's contract),
    the spool too when a remote sink is configured; everything redacted first."""
    telemetry = settings.telemetry
    secrets = [*settings_secrets(settings), *known_secrets]
    sinks: list[Sink] = [JsonlSink(events_file)]
    if uses_spool(telemetry):
        sinks.append(open_spool(telemetry, settings.state_dir))
    return Tracer(job_id, sinks, clock, processor=build_redactor(telemetry, secrets))
