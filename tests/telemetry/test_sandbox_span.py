"""`sandbox.run` spans of a real job: argv, exit code, duration, timeout and the output
tail as content under the content policy, with planted secrets masked in events.jsonl."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from runner.config import Settings
from runner.errors import SandboxTimeout
from runner.job import OptimizeJob
from runner.result import JobOutcome
from runner.sandbox import make_sandbox
from runner.spec import JobSpec, Target
from runner.telemetry.policy import output_tail

GHP = "ghp_" + "aB3dE5fG7hJ9kL1mN2pQ4rS6tU8vW0xY2zA4"
RUNNER_TOKEN = "icarus-token-Wq83nZ51kd"  # noqa: S105 - test credential
# Matches no rule: only exact-value masking of the sandbox environment catches it.
ENV_SECRET = "plain-Looking-value-7Hq2Zx9"  # noqa: S105 - test credential
MODULE = "def price(items):\n    return sum(items)\n"
# Prints the planted secrets on both streams, then fails.
LEAKY = (
    "import os, sys; "
    f"print('deploying with', os.environ.get('DEPLOY_KEY'), '{RUNNER_TOKEN}'); "
    f"print('auth failed for {GHP}', file=sys.stderr); sys.exit(2)"
)


def _job(tmp_path: Path, content: str, job_id: str) -> tuple[OptimizeJob, Path]:
    project = tmp_path / "project"
    project.mkdir(exist_ok=True)
    (project / "shop.py").write_text(MODULE, encoding="utf-8")
    settings = Settings(
        state_dir=tmp_path / "state",
        sandbox={"backend": "auto"},
        telemetry={"content": content, "icarus": {"token": RUNNER_TOKEN}},
    )
    spec = JobSpec(
        repo=str(project),
        targets=(Target("shop.py", "price"),),
        test_cmd=f'{sys.executable} -c "{LEAKY}"',
    )
    job = OptimizeJob(settings, spec, make_sandbox(settings), job_id=job_id)
    return job, project


def _events(tmp_path: Path, job_id: str) -> tuple[str, list[dict[str, Any]]]:
    raw = (tmp_path / "state" / "jobs" / job_id / "events.jsonl").read_text(encoding="utf-8")
    return raw, [json.loads(line) for line in raw.splitlines()]


def test_a_job_records_command_output_redacted(tmp_path: Path) -> None:
    job, _ = _job(tmp_path, "redacted", "job-redacted")
    result = job.run()  # the baseline tests print the secrets and fail
    assert result.outcome is JobOutcome.BASELINE_FAILING
    raw, events = _events(tmp_path, "job-redacted")
    assert GHP not in raw
    assert RUNNER_TOKEN not in raw
    run = next(e for e in events if e["name"] == "sandbox.run")
    attributes = run["attributes"]
    assert attributes["argv"].startswith(sys.executable)
    assert attributes["returncode"] == 2
    assert attributes["timed_out"] is False
    assert attributes["duration_s"] >= 0
    assert attributes["timeout_s"] == 600.0
    assert attributes["stdout"] == "deploying with None [REDACTED:known-secret]\n"
    assert attributes["stderr"].startswith("auth failed for [REDACTED:")


@pytest.mark.parametrize("content", ["redacted", "hash", "none"])
def test_sandbox_env_values_are_masked_and_the_policy_applies(tmp_path: Path, content: str) -> None:
    job, project = _job(tmp_path, content, f"job-{content}")
    argv = [sys.executable, "-c", LEAKY]
    job.commands.run(argv, project, {"DEPLOY_KEY": ENV_SECRET}, 30, check=False)
    with pytest.raises(SandboxTimeout):
        job.commands.run(
            [sys.executable, "-c", "import time; time.sleep(30)"], project, {}, 0.5, check=False
        )
    job.tracer.close()
    raw, events = _events(tmp_path, f"job-{content}")
    for secret in (ENV_SECRET, GHP, RUNNER_TOKEN):
        assert secret not in raw
    leaky, slow = (e["attributes"] for e in events if e["name"] == "sandbox.run")
    assert leaky["returncode"] == 2
    assert leaky["timed_out"] is False
    if content == "redacted":
        assert leaky["stdout"] == (
            "deploying with [REDACTED:known-secret] [REDACTED:known-secret]\n"
        )
        assert leaky["stderr"].startswith("auth failed for [REDACTED:")
    elif content == "hash":
        assert leaky["stdout"].startswith("sha256:")
        assert leaky["stdout.length"] > 0
    else:
        assert "stdout" not in leaky
        assert "stderr" not in leaky
    assert slow["timed_out"] is True
    assert slow["timeout_s"] == 0.5
    assert slow["duration_s"] >= 0.4
    assert "returncode" not in slow
    error = next(e for e in events if e["attributes"].get("timed_out"))
    assert error["status"] == "error"


def test_output_tail_never_keeps_part_of_a_token_or_a_key_block() -> None:
    lines = [f"line {i}" for i in range(100)]
    assert output_tail("\n".join(lines) + "\n", lines=3) == "line 97\nline 98\nline 99\n"
    long_line = "x" * 50 + " " + GHP + " end"
    tail = output_tail(long_line, chars=20)  # the cut lands inside the token
    assert tail == "… end"
    assert output_tail("y" * 100, chars=10) == "[100 characters left out]"
    key = "-----BEGIN PRIVATE KEY-----\n" + "QUJD\n" * 60 + "-----END PRIVATE KEY-----\nok\n"
    assert output_tail(key, lines=5) == "[key block left out]\nok\n"
    assert output_tail("-----BEGIN PRIVATE KEY-----\n" + "QUJD\n" * 60, lines=5) == (
        "[key block left out]"
    )
    assert output_tail("") == ""


def test_the_runners_own_variables_are_not_masked_as_secrets() -> None:
    from runner.pipeline.commands import SEED, secret_env_values

    env = {
        "PYTHONHASHSEED": str(SEED),  # the recording's hash seed: the seed would be masked
        "PATH": "/usr/bin",
        "OPTIRUNNER_SEED": str(SEED),
        "DEPLOY_KEY": ENV_SECRET,
    }
    assert secret_env_values(env) == [ENV_SECRET]
