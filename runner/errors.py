"""Errors the runner knows how to explain.

Every `OptirunnerError` carries a one-line message meant for the user; the CLI's error
boundary prints it and exits 1. Anything else is a bug: exit 3 with a crash log.
"""

from __future__ import annotations


class OptirunnerError(Exception):
    """A known failure with a message a user can act on."""

    exit_code = 1


#: The exit code of errors a restart cannot fix (a damaged job database): the unit's
#: `RestartPreventExitStatus=` keeps systemd from restarting into the same error.
EXIT_NEEDS_OPERATOR = 4


class NeedsOperator(OptirunnerError):
    """Someone has to act before the runner can start again (see docs/operations.md)."""

    exit_code = EXIT_NEEDS_OPERATOR


class DiskFull(OptirunnerError):
    """A write found no space left on the device; what was there before is unchanged."""


class ConfigError(OptirunnerError):
    """The settings file or environment is invalid."""


class SpecError(OptirunnerError):
    """The job spec (repository, targets, commands) is invalid."""


class TargetError(SpecError):
    """A target file or definition does not exist or is not Python."""


class WorkspaceError(OptirunnerError):
    """A baseline or candidate checkout could not be prepared."""


class CandidateError(OptirunnerError):
    """A candidate could not be parsed or applied to its target."""


class SandboxError(OptirunnerError):
    """A command could not be run inside the sandbox."""


class SandboxTimeout(SandboxError):
    """A command ran past its wall-clock timeout; its process group was killed."""


class MemoryLimitExceeded(SandboxError):
    """A command exceeded its address-space limit."""


class SandboxPathError(SandboxError):
    """A path given to `Sandbox.put`/`get` is not inside the command's folder: absolute,
    with a `..` part, or through a symlink that leads out of it."""


class SandboxFileNotFound(SandboxError):
    """`Sandbox.get` found no file at the path: the command did not leave it."""


class JobCancelled(OptirunnerError):
    """The job was interrupted (Ctrl-C or SIGTERM) and recorded as cancelled."""

    exit_code = 130


class BundleError(OptirunnerError):
    """A bundle could not be built, or failed verification (signature or file hashes)."""


class SecurityViolation(OptirunnerError):
    """A candidate was rejected by the safety policy; `.reason` and `.construct` say why."""

    def __init__(self, reason: str, construct: str = "") -> None:
        self.reason = reason
        self.construct = construct
        super().__init__(f"{reason}: {construct}" if construct else reason)


class ForgeError(OptirunnerError):
    """A forge (GitLab, Jira) or its git remote refused or failed a request.

    `retryable` is true for outages (5xx, timeouts, connection errors): the result is kept
    and reporting is retried later; false when retrying cannot help (401, 403, 404, 422).
    """

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        self.retryable = retryable
        super().__init__(message)


class TelemetryAuthError(OptirunnerError):
    """The telemetry receiver (Icarus) refused the runner's credentials."""


class StaleAttempt(OptirunnerError):
    """A newer attempt of the job holds its claim: this one must not write or post."""

    exit_code = 75  # EX_TEMPFAIL: not the job's outcome (the supervisor retries, if it still can)
