"""The service's start-up line names every remote sink, and never a credential."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from runner.config import Settings
from runner.service.listener import Listener
from runner.service.systemd import Notifier
from runner.telemetry.setup import describe_remote_sinks, safe_url

TOKEN = "icarus-token-Wq83nZ51kd"  # noqa: S105 - test credential
HEADER = "otlp-header-Zq91mX44ab"


def _settings(tmp_path: Path, **telemetry: object) -> Settings:
    return Settings(state_dir=tmp_path / "state", telemetry=telemetry)


def test_every_sink_is_named_without_credentials(tmp_path: Path) -> None:
    settings = _settings(
        tmp_path,
        icarus={
            "url": f"wss://runner:{TOKEN}@icarus.example:8443/ingest?t={TOKEN}",
            "token": TOKEN,
        },
        otlp={"endpoint": "https://collector:4318/v1/traces#x", "headers": {"x-key": HEADER}},
        sentry={"dsn": f"https://{HEADER}@sentry.example/1"},
    )
    assert describe_remote_sinks(settings.telemetry) == [
        "Icarus at wss://icarus.example:8443/ingest",
        "OTLP at https://collector:4318/v1/traces",
    ]
    assert describe_remote_sinks(_settings(tmp_path).telemetry) == []
    only_otlp = _settings(tmp_path, otlp={"endpoint": "http://[::1]:4318/v1/traces"})
    assert describe_remote_sinks(only_otlp.telemetry) == ["OTLP at http://[::1]:4318/v1/traces"]
    # A secret in the path is masked too (it is a value the settings hold).
    in_path = _settings(tmp_path, icarus={"url": f"ws://h/{TOKEN}", "token": TOKEN})
    assert describe_remote_sinks(in_path.telemetry) == ["Icarus at ws://h/[REDACTED:known-secret]"]
    assert safe_url("http://[::1") == "(an unparseable URL)"


@pytest.mark.parametrize("configured", [True, False])
def test_the_listener_logs_the_sinks_or_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, configured: bool
) -> None:
    telemetry: dict[str, object] = {}
    if configured:
        telemetry = {
            "icarus": {"url": "ws://127.0.0.1:9/?token=" + TOKEN, "token": TOKEN},
            "otlp": {"endpoint": "http://127.0.0.1:9/v1/traces", "headers": {"k": HEADER}},
        }
    listener = Listener(
        _settings(tmp_path, **telemetry), notifier=Notifier(None), argv_for=lambda job: []
    )

    async def start_and_stop() -> None:
        listener._start_shipper()
        listener._ship_stop.set()
        if listener._shipper is not None:
            await asyncio.wait_for(listener._shipper, timeout=10)

    with caplog.at_level(logging.INFO, logger="optirunner.listener"):
        asyncio.run(start_and_stop())
    lines = [r.getMessage() for r in caplog.records if r.name == "optirunner.listener"]
    if configured:
        assert lines == [
            "telemetry: streaming to Icarus at ws://127.0.0.1:9/, "
            "OTLP at http://127.0.0.1:9/v1/traces"
        ]
    else:
        assert lines == []
    assert all(TOKEN not in r.getMessage() and HEADER not in r.getMessage() for r in caplog.records)
