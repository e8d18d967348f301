"""`optirunner serve`: one asyncio process with the HTTP server, the supervisor and the reaper.

Lifecycle in named phases (as uvicorn's server): `startup()`, a `main_loop()` that ticks,
`shutdown()`. Signal handlers only set flags: the first SIGTERM drains (no new jobs, running
ones finish up to `drain_timeout_s`), a second one aborts (kill and requeue).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import socket
import sqlite3
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from runner.config import Settings
from runner.errors import OptirunnerError
from runner.metrics import Metrics
from runner.service.supervisor import ArgvFor, Supervisor
from runner.service.systemd import Notifier
from runner.store import db
from runner.store.factory import open_store
from runner.store.queue import JobStore
from runner.telemetry.redact import Redactor
from runner.telemetry.setup import (
    build_shipper,
    describe_remote_sinks,
    settings_secrets,
    spool_path,
)
from runner.webhooks.app import AppState, create_app

log = logging.getLogger("optirunner.listener")


def worker_argv(config: Path | None) -> ArgvFor:
    """How a job's worker process is started: this interpreter, `runner worker JOB_ID`."""

    def argv(job_id: str) -> list[str]:
        extra = ["--config", str(config)] if config is not None else []
        return [sys.executable, "-m", "runner", "worker", job_id, *extra]

    return argv


@dataclass
class _Flags:
    should_exit: bool = False
    force_exit: asyncio.Event = field(default_factory=asyncio.Event)
    wake: asyncio.Event = field(default_factory=asyncio.Event)


class Listener:
    """The service: HTTP in front, worker processes behind, the database in between."""

    def __init__(
        self,
        settings: Settings,
        *,
        notifier: Notifier,
        argv_for: ArgvFor,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.notifier = notifier
        self.argv_for = argv_for
        self.clock = clock
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self.flags = _Flags()
        self.store: JobStore | None = None
        self.supervisor: Supervisor | None = None
        self.server: uvicorn.Server | None = None
        self.api_server: uvicorn.Server | None = None  # service.api_port: the API apart
        self._ship_stop = asyncio.Event()
        self._shipper: asyncio.Task[None] | None = None

    async def run(self) -> int:
        """All phases; returns the exit code (0 after a drain or an abort)."""
        await self.startup()
        try:
            await self.main_loop()
        finally:
            await self.shutdown()
        return 0

    # -- phases --------------------------------------------------------------------------------
    async def startup(self) -> None:
        """Migrate, start HTTP and the supervisor, install signal handlers, tell systemd."""
        self.store = await asyncio.to_thread(open_store, self.settings, migrate=True)
        metrics = Metrics(self.store.counts, spool_path(self.settings.state_dir).parent)
        self.supervisor = Supervisor(self.settings, self.store, metrics, self.owner, self.argv_for)
        supervisor = self.supervisor
        await supervisor.recover_reports()  # reports left pending: retried from now on
        state = AppState(
            self.settings.service,
            self.store,
            metrics,
            clock=self.clock,
            accepting=lambda: supervisor.accepting,
            jobs_dir=self.settings.state_dir / "jobs",
            redactor=Redactor(settings_secrets(self.settings)),
        )
        await self._start_http(state)
        self._start_shipper()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self._on_signal, signum)
        self.notifier.notify("READY=1", f"STATUS=listening, owner {self.owner}")
        log.info("ready: owner %s", self.owner)

    async def main_loop(self) -> None:
        """Tick until the first SIGTERM; the watchdog is fed only by healthy ticks."""
        assert self.supervisor is not None  # noqa: S101 - startup() ran
        interval = self.settings.service.poll_interval_s
        while not self.flags.should_exit:
            healthy = await self._tick()
            if healthy:
                self.notifier.notify("WATCHDOG=1")
            self.flags.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.flags.wake.wait(), timeout=interval)

    async def shutdown(self) -> None:
        """Drain, abort what is left, stop HTTP, close the database."""
        self.notifier.notify("STOPPING=1")
        if self.supervisor is not None:
            timeout = self.settings.service.drain_timeout_s
            log.info(
                "draining %d job(s), up to %.0f s; stopping %d report retry(ies)",
                len(self.supervisor.running),
                timeout,
                len(self.supervisor.reporters),
            )
            if not await self.supervisor.drain(timeout, self.flags.force_exit):
                log.warning(
                    "aborting %d job(s); they return to the queue", len(self.supervisor.running)
                )
                await self.supervisor.abort()
        for server in (self.server, self.api_server):
            if server is not None:
                await server.shutdown()
        if self._shipper is not None:  # what is not acknowledged stays in the spool
            self._ship_stop.set()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._shipper, timeout=10)
        if self.store is not None:
            self.store.engine.dispose()
        log.info("stopped")

    # -- helpers -------------------------------------------------------------------------------
    def _start_shipper(self) -> None:
        """Stream the telemetry spool to Icarus in the background, when one is configured."""
        try:
            shipper = build_shipper(self.settings)
        except (OptirunnerError, OSError, sqlite3.Error) as exc:
            # Telemetry must not take the service down: webhooks and jobs go on.
            log.error("telemetry: not streaming, the spool cannot be opened: %s", exc)  # noqa: TRY400 - known error
            return
        if shipper is None:
            return

        async def ship() -> None:
            try:
                await shipper.run(self._ship_stop)
            except OptirunnerError as exc:  # a refused token: say so loudly, keep serving
                log.error("telemetry: %s; events stay in the spool", exc)  # noqa: TRY400 - known error, no traceback

        self._shipper = asyncio.create_task(ship(), name="icarus-shipper")
        log.info(
            "telemetry: streaming to %s",
            ", ".join(describe_remote_sinks(self.settings.telemetry)),
        )

    async def _tick(self) -> bool:
        assert self.supervisor is not None  # noqa: S101 - startup() ran
        assert self.store is not None  # noqa: S101
        try:
            await self.supervisor.tick()
            await asyncio.to_thread(db.ping, self.store.engine)
        except db.DamagedDatabase:
            raise  # a restart cannot fix it: stop serving (exit 4), say where and why
        except db.StoreError as exc:
            log.warning("tick: %s", exc)
            return False
        return True

    async def _start_http(self, state: AppState) -> None:
        """One listener for everything, or (service.api_port set) the webhooks on
        host:port and the API, /metrics and the dashboard on api_host:api_port."""
        svc = self.settings.service
        if svc.api_port is None:
            self.server = await _serve(create_app(state), svc.host, svc.port, "listening")
            return
        self.server = await _serve(
            create_app(state, api=False), svc.host, svc.port, "webhooks listening"
        )
        self.api_server = await _serve(
            create_app(state, webhooks=False), svc.api_host, svc.api_port, "API listening"
        )

    def _on_signal(self, signum: int) -> None:
        if self.flags.should_exit:
            log.warning("second %s: aborting running jobs", signal.Signals(signum).name)
            self.flags.force_exit.set()
        else:
            log.info("%s: draining", signal.Signals(signum).name)
            self.flags.should_exit = True
            if self.supervisor is not None:
                self.supervisor.accepting = False
        self.flags.wake.set()


async def _serve(app: FastAPI, host: str, port: int, what: str) -> uvicorn.Server:
    """A started uvicorn server for `app` (its serving task runs in this loop)."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        lifespan="off",
        http="auto",  # httptools when installed (a dependency): cheaper than h11
        log_config=None,
        access_log=False,
    )
    config.load()
    server = uvicorn.Server(config)
    server.lifespan = config.lifespan_class(config)
    try:
        await server.startup()
    except SystemExit:
        # uvicorn exits the process when it cannot bind; say why instead.
        raise OptirunnerError(f"cannot listen on {host}:{port}") from None
    sock = server.servers[0].sockets[0].getsockname()
    log.info("%s on http://%s:%d", what, sock[0], sock[1])
    return server
