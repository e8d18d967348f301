"""Webhook latency under load: an open-loop async client at a fixed rate, on loopback.

Starts a real `optirunner serve` (SQLite, a tiny project, 2 workers busy with jobs), then
sends GitLab `/optimize` comments (each a new note id, so each queues a job) at `--rate`
requests per second for `--seconds`, and prints p50/p95/p99/max of the answer time.

    .venv/bin/python benchmarks/webhook_load.py --rate 200 --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests/webhooks/fixtures/gitlab/note_issue_optimize_command"
TOKEN = "test-gitlab-webhook-token"  # noqa: S105 - the fixtures' test token


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def setup(tmp: Path, port: int) -> Path:
    repo = tmp / "repo"
    (repo / "tiny").mkdir(parents=True)
    (repo / "tiny/__init__.py").write_text("")
    (repo / "tiny/core.py").write_text("def ident(x):\n    return x\n")
    (repo / ".optirunner.toml").write_text(
        'targets = ["tiny/core.py::ident"]\n'
        "test_cmd = \"python -c 'import time, tiny.core; time.sleep(2)'\"\n"
    )
    config = tmp / "config.toml"
    config.write_text(
        f'state_dir = "{tmp / "state"}"\n[sandbox]\nbackend = "none"\n'
        f"[service]\nport = {port}\nconcurrency = 2\npoll_interval_s = 0.2\n"
        f'repositories = {{"acme/widgets" = "{repo}"}}\n'
        f'[service.gitlab]\ntoken = "{TOKEN}"\n'
    )
    return config


def bodies(count: int) -> list[bytes]:
    data = json.loads((FIXTURE.with_suffix(".json")).read_bytes())
    out = []
    for i in range(count):
        data["object_attributes"]["id"] = 100000 + i
        out.append(json.dumps(data).encode())
    return out


async def load(url: str, rate: float, seconds: float) -> tuple[list[float], dict[int, int]]:
    headers = json.loads(FIXTURE.with_suffix(".headers.json").read_text())
    payloads = bodies(int(rate * seconds))
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(limits=limits, timeout=10) as client:

        async def one(body: bytes) -> None:
            started = time.perf_counter()
            response = await client.post(url, content=body, headers=headers)
            latencies.append(time.perf_counter() - started)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

        tasks = []
        start = time.perf_counter()
        for i, body in enumerate(payloads):
            # Open loop: send on schedule whether or not earlier answers came back.
            await asyncio.sleep(max(0.0, start + i / rate - time.perf_counter()))
            tasks.append(asyncio.create_task(one(body)))
        await asyncio.gather(*tasks)
    return latencies, statuses


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=1000, method="inclusive")[int(q * 10) - 1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        config = setup(Path(tmp), port)
        serve = subprocess.Popen(
            [sys.executable, "-m", "runner", "serve", "--config", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(300):
                try:
                    if httpx.get(f"{base}/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
            latencies, statuses = asyncio.run(
                load(f"{base}/webhooks/gitlab", args.rate, args.seconds)
            )
            token = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "runner",
                    "tokens",
                    "add",
                    "--name",
                    "bench",
                    "--config",
                    str(config),
                ],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            running = httpx.get(
                f"{base}/api/jobs?state=running", headers={"Authorization": f"Bearer {token}"}
            ).json()["jobs"]
        finally:
            os.killpg(serve.pid, signal.SIGKILL)
            serve.wait()
    ms = [v * 1000 for v in latencies]
    print(f"requests {len(ms)} at {args.rate:.0f}/s for {args.seconds:.0f} s; statuses {statuses}")
    print(f"jobs running at the end: {len(running)}")
    print(
        f"latency ms: p50 {percentile(ms, 50):.1f}  p95 {percentile(ms, 95):.1f}  "
        f"p99 {percentile(ms, 99):.1f}  max {max(ms):.1f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
