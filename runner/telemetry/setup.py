"""Wiring: build a job's tracer (redactor before every sink) and the Icarus shipper."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, SecretStr

from runner.telemetry.icarus import IcarusConfig, IcarusShipper
from runner.telemetry.policy import EventRedactor
from runner.telemetry.redact import Redactor
from runner.telemetry.settings import TelemetrySettings
from runner.telemetry.spool import Spool
from runner.telemetry.tracing import JsonlSink, Sink, Tracer

if TYPE_CHECKING:
    from runner.config import Settings


def spool_path(state_dir: Path) -> Path:
    """Where the spool lives: `<state_dir>/telemetry/spool.db`."""
    return state_dir / "telemetry" / "spool.db"


def open_spool(settings: TelemetrySettings, state_dir: Path) -> Spool:
    """The spool with the configured bounds and TTL."""
    return Spool(
        spool_path(state_dir),
        max_events=settings.spool_max_events,
        max_bytes=settings.spool_max_bytes,
        retention_s=settings.retention_s,
    )


def build_redactor(settings: TelemetrySettings, known_secrets: Iterable[str]) -> EventRedactor:
    """The event processor: redaction rules, known secrets, PII opt-in, content policy."""
    return EventRedactor(Redactor(known_secrets, pii=settings.pii), settings.content)


def build_tracer(
    settings: Settings, job_id: str, job_dir: Path, known_secrets: Iterable[str] = ()
) -> Tracer:
    """A job's tracer: events are redacted, then written to events.jsonl and the spool.

    `known_secrets`: every secret value the runner knows (its own tokens, the values of
    the environment passed to sandboxes); values shorter than 6 characters are ignored.
    The spool is used only when an Icarus URL is configured. Call `tracer.close()`
    at the end of the job.
    """
    telemetry = settings.telemetry
    if not telemetry.enabled:
        return Tracer(job_id, [])
    sinks: list[Sink] = [JsonlSink(job_dir / "events.jsonl")]
    if telemetry.spool and telemetry.icarus.url:
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


def build_shipper(settings: Settings) -> IcarusShipper | None:
    """The Icarus shipper for this runner (None when telemetry.icarus.url is unset)."""
    config = icarus_config(settings.telemetry)
    if config is None:
        return None
    return IcarusShipper(open_spool(settings.telemetry, settings.state_dir), config)


def settings_secrets(model: BaseModel) -> list[str]:
    """Every secret value held in the settings (SecretStr fields, at any depth)."""
    found: list[str] = []
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, SecretStr):
            found.append(value.get_secret_value())
        elif isinstance(value, BaseModel):
            found.extend(settings_secrets(value))
    return found


def job_tracer(
    settings: Settings,
    job_id: str,
    events_file: Path,
    known_secrets: Iterable[str] = (),
    clock: Callable[[], float] = time.time,
) -> Tracer:
    """The tracer of `optimize` jobs: events.jsonl always (the job directory's contract),
    the spool too when Icarus is configured; everything redacted first."""
    telemetry = settings.telemetry
    sinks: list[Sink] = [JsonlSink(events_file)]
    if telemetry.enabled and telemetry.spool and telemetry.icarus.url:
        sinks.append(open_spool(telemetry, settings.state_dir))
    secrets = [*settings_secrets(settings), *known_secrets]
    return Tracer(job_id, sinks, clock, processor=build_redactor(telemetry, secrets))
