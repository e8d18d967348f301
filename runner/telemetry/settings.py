"""`[telemetry]` settings: what traces hold, where they are spooled, where they are sent."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, SecretStr

ContentPolicy = Literal["redacted", "hash", "none"]


class IcarusSettings(BaseModel):
    """Streaming of spooled events to an Icarus receiver (docs/telemetry.md)."""

    url: str | None = Field(
        None, description="ws:// or wss:// URL of the receiver; unset: nothing is sent"
    )
    token: SecretStr | None = Field(None, description="the runner's token (Authorization header)")
    runner_id: str | None = Field(None, description="this runner's name (default: host name)")
    batch_size: int = Field(500, ge=1, le=10_000, description="events per batch")
    ack_timeout_s: float = Field(30.0, gt=0, description="wait this long for a batch's ack")
    backoff_initial_s: float = Field(0.5, gt=0, description="first reconnect delay")
    backoff_max_s: float = Field(60.0, gt=0, description="longest reconnect delay")
    ca_file: str | None = Field(None, description="CA bundle for wss:// (default: system CAs)")


class OtlpSettings(BaseModel):
    """Shipping of spooled spans to an OpenTelemetry collector over OTLP/HTTP (protobuf)."""

    endpoint: str | None = Field(
        None, description="full URL, e.g. https://collector:4318/v1/traces; unset: not sent"
    )
    headers: dict[str, SecretStr] = Field(
        default_factory=dict, description="HTTP headers sent with each request (secrets)"
    )
    batch_size: int = Field(500, ge=1, le=10_000, description="spans per request")
    timeout_s: float = Field(10.0, gt=0, description="per request, retries included")
    backoff_initial_s: float = Field(0.5, gt=0, description="first retry delay")
    backoff_max_s: float = Field(60.0, gt=0, description="longest retry delay")
    ca_file: str | None = Field(None, description="CA bundle for https:// (default: system CAs)")


class SentrySettings(BaseModel):
    """The runner's own errors to Sentry (or a compatible ingest), redacted first."""

    dsn: SecretStr | None = Field(None, description="Sentry DSN; unset: Sentry is not loaded")
    environment: str | None = Field(None, description="Sentry environment name")
    sample_rate: float = Field(1.0, ge=0, le=1, description="share of errors sent")


class TelemetrySettings(BaseModel):
    """Tracing, redaction, the spool and the remote sinks (Icarus, OTLP), Sentry."""

    enabled: bool = Field(True, description="record spans (events.jsonl, spool)")
    content: ContentPolicy = Field(
        "redacted",
        description="prompts, responses, code and command output: redacted, hash (sha256) or none",
    )
    pii: bool = Field(False, description="also mask e-mail addresses, card numbers and IBANs")
    spool: bool = Field(True, description="keep events in <state_dir>/telemetry/spool.db")
    spool_max_events: int = Field(200_000, ge=100, description="events the spool holds, at most")
    spool_max_bytes: int = Field(256 << 20, ge=1 << 16, description="bytes of events, at most")
    retention_s: float = Field(
        7 * 86400.0, gt=0, description="unsent events older than this are deleted"
    )
    icarus: IcarusSettings = Field(default_factory=IcarusSettings)
    otlp: OtlpSettings = Field(default_factory=OtlpSettings)
    sentry: SentrySettings = Field(default_factory=SentrySettings)
