"""End to end: `optirunner optimize --provider openai|anthropic` against a local fake API.

The CLI runs in a real subprocess; the fake (tests/agent/conftest.py) speaks the vendor's
documented API. The model's answer is a real rewrite; the runner verifies and measures it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.agent.conftest import KEY, Dialect, FakeLLM

pytestmark = pytest.mark.slow

EXAMPLE = Path(__file__).parents[2] / "examples" / "inventory"
TARGET = "inventory/stock.py::missing_skus"
FASTER = '''def missing_skus(order_lines: list[OrderLine], catalogue: list[str]) -> list[str]:
    """SKUs ordered but absent from the catalogue, in first-seen order, without duplicates."""
    known = set(catalogue)
    missing: dict[str, None] = {}
    for line in order_lines:
        if line.sku not in known:
            missing.setdefault(line.sku)
    return list(missing)
'''
REACHES_OUT = '''def missing_skus(order_lines: list[OrderLine], catalogue: list[str]) -> list[str]:
    """SKUs ordered but absent from the catalogue."""
    import socket
    socket.create_connection(("example.com", 80))
    return []
'''


def _answer(code: str) -> str:
    return f"### Candidate 1: a set and an ordered dict\n```python\n{code}```"


def _optimize(tmp_path: Path, dialect: Dialect, fake: FakeLLM) -> subprocess.CompletedProcess[str]:
    project = tmp_path / "inventory"
    shutil.copytree(EXAMPLE, project)
    env = {
        **os.environ,
        "OPTIRUNNER_AI_API_KEY": KEY,
        "OPTIRUNNER_AI__MAX_RETRIES": "0",
        "OPTIRUNNER_MEASURE__BUDGET_S": "20",  # a bound: a clear win stops after 10 pairs
        "OPTIRUNNER_MEASURE__INSTRUCTIONS": "never",
    }
    argv = [sys.executable, "-m", "runner", "optimize", str(project), "-t", TARGET, "--json"]
    argv += ["--provider", dialect.name, "--model", "test-model"]
    argv += ["--base-url", dialect.base_url(fake)]
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300, check=False)


def test_an_ai_candidate_is_verified_faster(
    tmp_path: Path, fake_llm: FakeLLM, dialect: Dialect
) -> None:
    fake_llm.script(dialect.path, dialect.ok(_answer(FASTER)), dialect.ok(_answer(FASTER)))
    proc = _optimize(tmp_path, dialect, fake_llm)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["best"] == ["c1"]
    best = report["candidates"][0]
    assert best["behaviour"].startswith("behaviour identical")
    assert best["measurement"]["verdict"] == "faster"
    assert report["agent"]["model"] == "test-model"
    assert report["agent"]["usage"]["input_tokens"] > 0
    # The report says how many bytes went out about the target, request by request.
    sent = report["agent"]["sent"][TARGET]
    assert sent["requests"] == len(fake_llm.requests) == 2
    bodies = [r.body for r in fake_llm.requests]
    texts = [b.get("system", "") + "".join(m["content"] for m in b["messages"]) for b in bodies]
    assert sent["bytes"] == sum(len(t.encode()) for t in texts)
    assert 0 < sent["code_bytes"] <= sent["bundle_code_bytes"]
    # Only the bundle went out: no test code, no path of the project.
    sent = "\n".join(dialect.sent_text(r) for r in fake_llm.requests)
    assert "def test_" not in sent
    assert str(tmp_path) not in sent


def test_an_unsafe_ai_candidate_is_never_run(
    tmp_path: Path, fake_llm: FakeLLM, dialect: Dialect
) -> None:
    fake_llm.script(dialect.path, dialect.ok(_answer(REACHES_OUT)), dialect.ok("no idea"))
    proc = _optimize(tmp_path, dialect, fake_llm)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["best"] == []
    assert all(c["tests"] == "not run" for c in report["candidates"])
