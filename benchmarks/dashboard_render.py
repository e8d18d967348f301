"""How long the dashboard takes to answer for a huge job: 1,000 candidates (each with a
measurement, a plot and a detail line), a 200 KB diff and a 10,000-line worker log.

    PYTHONPATH=. python benchmarks/dashboard_render.py [--candidates 1000] [--repeats 20]

Times the whole answer (authentication, reading the job's files, the redactor over the
view, the template) through the ASGI app in this process, for the job page, its JSON twin
and the jobs list; prints the median and the slowest of `--repeats`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient

from runner.api.state import AppState
from runner.auth import Role
from runner.config import ServiceSettings
from runner.metrics import Metrics
from runner.store.db import make_engine, upgrade
from runner.store.queue import JobStore
from runner.telemetry.redact import Redactor
from runner.webhooks.app import create_app

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def candidate(n: int) -> dict[str, object]:
    return {
        "id": f"c{n}",
        "target": f"pkg/module_{n % 7}.py::function_{n}",
        "rule": "membership-set",
        "description": "set lookup instead of a list scan " * 3,
        "status": "verified" if n % 3 else "behaviour changed",
        "tests": "passed",
        "behaviour": "identical over 120 recorded calls",
        "calls_compared": 120,
        "detail": "" if n % 3 else f"first differing call: f({n!r}) returned 3, expected 4",
        "measurement": {
            "ratio": 0.5,
            "low": 0.45,
            "high": 0.56,
            "speedup": 2.0,
            "verdict": "faster",
            "reason": "wall time speedup 2.0× [1.8×, 2.2×]: excludes 1",
            "decided_by": "wall time",
            "instruction_speedups": [1.9, 1.95],
            "min_detectable": 1.03,
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--candidates", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        engine = make_engine(f"sqlite:///{root / 'optirunner.db'}")
        upgrade(engine)
        store = JobStore(engine)
        for n in range(200):
            store.enqueue(f"k{n}", {"targets": ["pkg/m.py::f"]}, {"project_path": "acme/w"})
        job_id = store.list(limit=1)[0].id
        folder = root / "jobs" / job_id
        (folder / "plots").mkdir(parents=True)
        report = {
            "outcome": "succeeded",
            "message": "many",
            "best": ["c1"],
            "candidates": [candidate(n) for n in range(args.candidates)],
        }
        (folder / "report.json").write_text(json.dumps(report))
        (folder / "patch.diff").write_text("+    return sum(values)\n" * 8000)
        (folder / "worker.log").write_text("stage verify: candidate c1 passed\n" * 10000)
        for n in range(args.candidates):
            (folder / "plots" / f"c{n}.png").write_bytes(PNG)
        state = AppState(
            ServiceSettings(),
            store,
            Metrics(store.counts),
            jobs_dir=root / "jobs",
            redactor=Redactor(["glpat-Zq8vT3kLmN5pR7sW2xYb"]),
        )
        _, token = state.token_store.add("bench", Role.VIEWER)
        auth = {"Authorization": f"Bearer {token}"}
        with TestClient(create_app(state)) as client:
            opened = client.post("/api/session", headers=auth)
            assert opened.status_code == 200
            for label, path, headers in (
                ("job page (HTML)", f"/jobs/{job_id}", {}),
                ("job page (JSON twin)", f"/api/dashboard/jobs/{job_id}", auth),
                ("jobs list, 50 rows (HTML)", "/jobs", {}),
            ):
                times = []
                size = 0
                for _ in range(args.repeats):
                    started = time.perf_counter()
                    answer = client.get(path, headers=headers)
                    times.append(time.perf_counter() - started)
                    assert answer.status_code == 200, (path, answer.status_code)
                    size = len(answer.content)
                print(
                    f"{label}: median {statistics.median(times) * 1000:.0f} ms, "
                    f"max {max(times) * 1000:.0f} ms, {size / 1e6:.2f} MB "
                    f"({args.candidates} candidates, {args.repeats} repeats)"
                )
        engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
