"""Sentry for the runner's own errors: off without a DSN (not even imported), redacted with one.

Each case runs in a fresh interpreter: Sentry installs process-wide hooks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from .conftest import Captured

ROOT = Path(__file__).resolve().parents[2]
GHP = "ghp_" + "aB3dE5fG7hJ9kL1mN2pQ4rS6tU8vW0xY2zA4"
RUNNER_TOKEN = "icarus-token-Wq83nZ51kd"  # noqa: S105 - test credential

SCRIPT = textwrap.dedent(
    """
    import logging, sys
    from pathlib import Path
    from runner.config import Settings
    from runner.telemetry import sentry

    dsn, state, ghp, token = sys.argv[1:5]
    telemetry = {"icarus": {"token": token}}
    if dsn:
        telemetry["sentry"] = {"dsn": dsn}
    settings = Settings(state_dir=Path(state), telemetry=telemetry)
    started = sentry.init_sentry(settings)
    print("started" if started else "off", "sentry_sdk" in sys.modules)
    if started:
        def fail(api_key: str) -> None:
            raise RuntimeError(f"provider rejected {ghp}; runner token {token}")
        try:
            fail(token)
        except RuntimeError as exc:
            sentry.capture_exception(exc)
        logging.getLogger("optirunner.test").warning("breadcrumb with %s", ghp)
        logging.getLogger("optirunner.test").error("logged error with %s", token)
        sentry.flush()
    """
)


def _run(tmp_path: Path, dsn: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, dsn, str(tmp_path / "state"), GHP, RUNNER_TOKEN],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_without_a_dsn_sentry_is_not_even_imported(tmp_path: Path) -> None:
    assert _run(tmp_path, "").split() == ["off", "False"]


def test_envelopes_reach_the_ingest_with_secrets_masked(
    tmp_path: Path, sentry_ingest: Captured
) -> None:
    port = sentry_ingest.url.rsplit(":", 1)[1]
    dsn = f"http://publickey@127.0.0.1:{port}/1"
    assert _run(tmp_path, dsn).split() == ["started", "True"]
    assert sentry_ingest.paths
    assert all(p == "/api/1/envelope/" for p in sentry_ingest.paths)
    raw = b"\n".join(sentry_ingest.bodies)
    assert GHP.encode() not in raw
    assert RUNNER_TOKEN.encode() not in raw
    items = [json.loads(line) for line in raw.splitlines() if line.strip().startswith(b"{")]
    events = [item for item in items if "exception" in item or "logentry" in item]
    assert len(events) == 2  # the captured exception and the logged error
    exception = next(e for e in events if "exception" in e)
    value = exception["exception"]["values"][-1]["value"]
    assert "provider rejected [REDACTED:" in value
    frames = exception["exception"]["values"][-1]["stacktrace"]["frames"]
    assert all("vars" not in frame and "context_line" not in frame for frame in frames)
    crumbs = [c["message"] for e in events for c in e.get("breadcrumbs", {}).get("values", [])]
    assert any("breadcrumb with [REDACTED:" in c for c in crumbs)


# `optirunner worker` / `serve` as the CLI runs them, with a bug planted right after
# start-up: the CLI's error boundary reports the crash to Sentry when the command
# started it (a DSN is set), redacted; without a DSN sentry_sdk is never loaded.
CRASH = textwrap.dedent(
    """
    import atexit, sys
    command, ghp, token = sys.argv[1:4]

    def boom(*args, **kwargs):
        raise RuntimeError(f"bug while starting: rejected {ghp}; runner token {token}")

    if command == "worker":
        import runner.commands.worker as module
        module.open_store = boom
    else:
        import runner.commands.serve as module
        module.Listener = boom
    atexit.register(lambda: print("sentry_sdk" in sys.modules, flush=True))
    sys.argv = ["optirunner", command] + (["job-1"] if command == "worker" else [])
    from runner.cli import main
    main()
    """
)


def _crash(tmp_path: Path, command: str, dsn: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "TMPDIR": str(tmp_path),  # the crash log
        "OPTIRUNNER_STATE_DIR": str(tmp_path / "state"),
        "OPTIRUNNER_TELEMETRY__ICARUS__TOKEN": RUNNER_TOKEN,
    }
    if dsn:
        env["OPTIRUNNER_TELEMETRY__SENTRY__DSN"] = dsn
    return subprocess.run(
        [sys.executable, "-c", CRASH, command, GHP, RUNNER_TOKEN],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("command", ["worker", "serve"])
def test_a_crash_reaches_the_ingest_masked(
    tmp_path: Path, sentry_ingest: Captured, command: str
) -> None:
    port = sentry_ingest.url.rsplit(":", 1)[1]
    proc = _crash(tmp_path, command, f"http://publickey@127.0.0.1:{port}/1")
    assert proc.returncode == 3, proc.stderr
    assert "internal error (a bug)" in proc.stderr
    assert proc.stdout.split() == ["True"]
    raw = b"\n".join(sentry_ingest.bodies)
    assert GHP.encode() not in raw
    assert RUNNER_TOKEN.encode() not in raw
    items = [json.loads(line) for line in raw.splitlines() if line.strip().startswith(b"{")]
    events = [item for item in items if "exception" in item]
    assert len(events) == 1
    value = events[0]["exception"]["values"][-1]
    assert value["type"] == "RuntimeError"
    assert value["value"] == (
        "bug while starting: rejected [REDACTED:github-token]; runner token [REDACTED:known-secret]"
    )
    frames = value["stacktrace"]["frames"]
    assert all("vars" not in frame and "context_line" not in frame for frame in frames)


def test_a_crash_without_a_dsn_loads_no_sentry(tmp_path: Path) -> None:
    proc = _crash(tmp_path, "worker", "")
    assert proc.returncode == 3, proc.stderr
    assert proc.stdout.split() == ["False"]
