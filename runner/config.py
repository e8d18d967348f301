"""The one `Settings` object: embedded defaults < config.toml < `OPTIRUNNER_*` env < CLI flags.

`load_settings()` is the only place that reads the configuration file and the `OPTIRUNNER_*`
variables; everything downstream receives the resulting object. What the process environment
holds besides settings (secrets looked up by name, `$NOTIFY_SOCKET`, git's proxy variables)
a command takes from `read_environ()` and passes down. The settings layer (this module and
the `settings` module of each subpackage) is the only code that touches `os.environ`
(tests/test_layers.py).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from runner.agent.safety import SafetyPolicy
from runner.agent.settings import AISettings
from runner.errors import ConfigError
from runner.forge.settings import ForgeSettings
from runner.spec import DEFAULT_TEST_CMD
from runner.telemetry.settings import TelemetrySettings

SYSTEM_CONFIG = Path("/etc/optirunner/config.toml")
SERVICE_STATE_DIR = Path("/var/lib/optirunner")


class SandboxSettings(BaseModel):
    """Limits for every command a job runs (tests, benchmarks)."""

    backend: Literal["auto", "bubblewrap", "none"] = Field(
        "auto",
        description="bubblewrap, refusing to run commands when it cannot run (auto, "
        "bubblewrap), or never: commands unisolated as an unprivileged user (none)",
    )
    user: str = Field(
        "nobody", description="backend none, runner root: the user commands run as (never root)"
    )
    test_timeout_s: float = Field(
        600.0,
        gt=0,
        description="wall-clock limit of one test run (the baseline's; a candidate's at most)",
    )
    candidate_test_factor: float = Field(
        3.0,
        ge=1,
        description="a candidate's test run may take this × the baseline's test time, or",
    )
    candidate_test_margin_s: float = Field(
        60.0,
        ge=0,
        description="the baseline's test time + this if longer; never over test_timeout_s",
    )
    bench_timeout_s: float = Field(300.0, gt=0, description="wall-clock limit of one bench round")
    memory_mb: int = Field(4096, gt=0, description="address-space limit per command (MiB)")
    cpu_seconds: int = Field(1800, gt=0, description="CPU-time limit per command")
    file_size_mb: int = Field(1024, gt=0, description="largest file a command may write (MiB)")
    open_files: int = Field(1024, gt=0, description="open file descriptors per command")
    processes: int = Field(256, gt=0, description="processes per command (where enforceable)")


class MeasureSettings(BaseModel):
    """How baseline and candidates are timed (see docs/verification.md)."""

    min_rounds: int = Field(10, ge=5, description="interleaved pairs before the first look")
    max_rounds: int = Field(150, ge=5, description="interleaved pairs per candidate, at most")
    budget_s: float = Field(
        60.0,
        gt=0,
        description="measuring time per candidate, at most: wall rounds, callgrind, size classes",
    )
    min_effect: float = Field(0.03, gt=0, lt=1, description="smallest speedup worth reporting")
    confidence: float = Field(0.95, gt=0.5, lt=1, description="confidence of the interval")
    instructions: Literal["auto", "always", "never"] = Field(
        "auto",
        description="count instructions under callgrind: when wall time is inconclusive "
        "(auto), for every candidate (always), or never",
    )
    instruction_repeats: int = Field(2, ge=1, le=10, description="callgrind runs per arm")
    noise_check: bool = Field(True, description="a short A/A run first, to state the noise")
    noise_pairs: int = Field(10, ge=5, le=100, description="pairs of that A/A run")

    @model_validator(mode="after")
    def _ordered(self) -> MeasureSettings:
        if self.max_rounds < self.min_rounds:
            raise ValueError("max_rounds must be at least min_rounds")
        return self


class InputsSettings(BaseModel):
    """Inputs beyond the tests: generated and scaled-up calls (see docs/verification.md)."""

    generated: int = Field(
        200, ge=0, le=5000, description="generated calls per target, run by both arms (0: off)"
    )
    budget_s: float = Field(
        60.0, gt=0, description="seconds one run of the generated calls may take, per arm"
    )
    call_timeout_s: float = Field(
        2.0, gt=0, description="one generated call longer than this is not compared"
    )
    scale_factors: list[int] = Field(
        default_factory=lambda: [10, 100],
        description="the largest recorded calls are also timed with sized arguments x these",
    )
    max_scaled_size: int = Field(
        100_000, gt=0, description="largest length a scaled-up argument may reach"
    )
    max_timed_call_s: float = Field(
        0.5, gt=0, description="a scaled-up call slower than this at baseline is not timed"
    )
    shrink_rounds: int = Field(
        10, ge=0, le=50, description="rounds to shrink a differing input to the smallest"
    )
    class_pairs: int = Field(
        5, ge=0, le=50, description="pairs timed per size class for the per-size speedups"
    )

    @model_validator(mode="after")
    def _factors(self) -> InputsSettings:
        if any(f < 2 for f in self.scale_factors):
            raise ValueError("scale_factors must each be at least 2")
        return self


class GitLabHookSettings(BaseModel):
    """How GitLab webhooks are authenticated and whose events are ignored."""

    token: SecretStr | None = Field(None, description="the hook's secret token (X-Gitlab-Token)")
    signing_key: SecretStr | None = Field(
        None, description="Standard Webhooks signing key (whsec_...); when set, required"
    )
    bot_username: str | None = Field(None, description="the runner's own GitLab account")


class JiraHookSettings(BaseModel):
    """How Jira webhooks are authenticated and which repository a Jira project means."""

    secret: SecretStr | None = Field(None, description="webhook secret (X-Hub-Signature)")
    bot_account: str | None = Field(None, description="the runner's own account id or name")
    projects: dict[str, str] = Field(
        default_factory=dict, description='Jira project key -> repository, e.g. {"OPT": "acme/w"}'
    )


class ServiceSettings(BaseModel):
    """`optirunner serve`: HTTP listener, job queue and worker processes."""

    host: str = Field("127.0.0.1", description="address the HTTP listener binds")
    port: int = Field(8480, ge=0, le=65535, description="HTTP port (0: any free port)")
    api_host: str = Field(
        "127.0.0.1", description="address of the separate API and dashboard listener"
    )
    api_port: int | None = Field(
        None,
        ge=0,
        le=65535,
        description="serve the API, /metrics and the dashboard on this port only, apart from "
        "the webhooks (unset: one listener serves both; 0: any free port)",
    )
    session_ttl_s: float = Field(
        43200.0, ge=60, le=30 * 86400, description="a dashboard sign-in lasts this long"
    )
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; default SQLite at <state_dir>/optirunner.db"
    )
    concurrency: int = Field(2, ge=1, le=64, description="jobs run at the same time")
    worker_nice: int = Field(
        0, ge=0, le=19, description="niceness of worker processes (webhooks answer first)"
    )
    drain_timeout_s: float = Field(600.0, gt=0, description="SIGTERM: wait this long for jobs")
    lease_s: float = Field(60.0, gt=0, description="a claimed job returns to the queue after this")
    poll_interval_s: float = Field(1.0, gt=0, description="main loop tick")
    max_attempts: int = Field(3, ge=1, description="attempts before a job is dead")
    backoff_base_s: float = Field(30.0, ge=0, description="retry delay after the first failure")
    backoff_max_s: float = Field(3600.0, ge=0, description="longest retry delay")
    max_body_bytes: int = Field(1 << 20, gt=0, description="largest webhook body accepted")
    timestamp_tolerance_s: float = Field(300.0, gt=0, description="signed webhook clock skew")
    trigger_label: str = Field("optimize", description="the label that requests a job")
    command: str = Field("/optimize", description="the comment command that requests a job")
    allow_confidential: bool = Field(False, description="act on confidential issues")
    repositories: dict[str, str] = Field(
        default_factory=dict,
        description='project path -> local checkout, {"g/p": "/var/lib/optirunner/repos/p"}',
    )
    gitlab: GitLabHookSettings = Field(default_factory=GitLabHookSettings)
    jira: JiraHookSettings = Field(default_factory=JiraHookSettings)


class Settings(BaseSettings):
    """Every setting of the runner; see docs/configuration.md."""

    model_config = SettingsConfigDict(
        env_prefix="OPTIRUNNER_",
        env_nested_delimiter="__",
        extra="forbid",
    )

    state_dir: Path = Field(
        default_factory=lambda: default_state_dir(os.environ),
        description="jobs, keys and databases live here",
    )
    provider: str = Field("rules", description="candidate provider: rules")
    max_candidates: int = Field(8, ge=1, le=100, description="candidates per target")
    test_cmd: str = Field(DEFAULT_TEST_CMD, description="default test command")
    python: str | None = Field(
        None, description="interpreter for the project's commands (default: optirunner's own)"
    )
    keep_worktrees: bool = Field(False, description="keep checkouts after the job (debugging)")
    sandbox: SandboxSettings = Field(default_factory=SandboxSettings)
    measure: MeasureSettings = Field(default_factory=MeasureSettings)
    inputs: InputsSettings = Field(default_factory=InputsSettings)
    safety: SafetyPolicy = Field(default_factory=SafetyPolicy)
    ai: AISettings = Field(default_factory=AISettings)
    service: ServiceSettings = Field(default_factory=ServiceSettings)
    telemetry: TelemetrySettings = Field(default_factory=TelemetrySettings)
    forge: ForgeSettings = Field(default_factory=ForgeSettings)

    # Set by load_settings(): the TOML file this instance reads, if any.
    _toml_file: Path | None = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # CLI flags (init) beat the environment, which beats the file; no .env files.
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if _ACTIVE_TOML is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=_ACTIVE_TOML))
        return tuple(sources)


# The file the next Settings() reads; set only inside load_settings() (single-threaded CLI start).
_ACTIVE_TOML: Path | None = None


def default_state_dir(environ: Mapping[str, str]) -> Path:
    """Where state goes: systemd's StateDirectory, else the XDG state home."""
    if environ.get("STATE_DIRECTORY"):
        return Path(environ["STATE_DIRECTORY"].split(":")[0])
    home = Path(environ["HOME"]) if environ.get("HOME") else Path.home()
    xdg = environ.get("XDG_STATE_HOME") or str(home / ".local/state")
    return Path(xdg) / "optirunner"


def read_environ() -> dict[str, str]:
    """A copy of the process environment, for a command to pass down: secret lookups
    (`$CREDENTIALS_DIRECTORY`, token variables named after credentials), systemd's
    `$NOTIFY_SOCKET`, the variables git may see. Nothing below the commands reads it."""
    return dict(os.environ)


def load_settings(config: Path | None = None, **overrides: Any) -> Settings:
    """Build the settings; `config` is `--config`, `overrides` the CLI flags that were given."""
    global _ACTIVE_TOML  # noqa: PLW0603 - pydantic-settings sources are built from class state
    path = config if config is not None else (SYSTEM_CONFIG if SYSTEM_CONFIG.is_file() else None)
    if config is not None and not config.is_file():
        raise ConfigError(f"configuration file {str(config)!r} does not exist")
    _ACTIVE_TOML = path
    try:
        settings = Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        raise ConfigError(_describe(exc, path)) from None
    except (OSError, ValueError) as exc:  # unreadable or malformed TOML
        raise ConfigError(f"cannot read configuration {path}: {exc}") from None
    finally:
        _ACTIVE_TOML = None
    settings._toml_file = path
    return settings


def _describe(exc: ValidationError, path: Path | None) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "settings"
    origin = f" (file {path}, or env OPTIRUNNER_*)" if path else " (env OPTIRUNNER_* or flags)"
    more = f"; and {exc.error_count() - 1} more" if exc.error_count() > 1 else ""
    return f"invalid setting {where}: {first['msg']}{origin}{more}"
