"""The token never appears in argv, /proc/*/cmdline, logs, URLs or files left on disk."""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
from conftest import TOKEN, gitlab_job, job_result, make_patch, write_job_dir
from fake_gitlab import FakeGitLab
from git_http import GitHTTPServer

from runner.forge import gitrepo
from runner.forge.gitlab import GitLabForge
from runner.forge.settings import ForgeSettings
from runner.result import JobOutcome

SECRETS = (TOKEN.encode(), base64.b64encode(f"oauth2:{TOKEN}".encode()))


class CmdlineWatcher(threading.Thread):
    """Reads every process's command line while the job runs."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.stop = threading.Event()
        self.seen: list[bytes] = []
        self.scans = 0

    def run(self) -> None:
        while not self.stop.is_set():
            for pid in os.listdir("/proc"):
                if pid.isdigit():
                    with contextlib.suppress(OSError):
                        self.seen.append(Path(f"/proc/{pid}/cmdline").read_bytes())
            self.scans += 1


def test_token_only_in_the_git_environment(
    forge_settings: ForgeSettings,
    state_dir: Path,
    gitlab_server: FakeGitLab,
    git_server: GitHTTPServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    calls: list[tuple[list[str], dict[str, str]]] = []
    real_run = subprocess.run

    def spy(argv: list[str], **kwargs: Any) -> Any:
        calls.append((list(argv), dict(kwargs.get("env") or {})))
        return real_run(argv, **kwargs)

    monkeypatch.setattr(gitrepo.subprocess, "run", spy)
    watcher = CmdlineWatcher()
    watcher.start()
    try:
        job = gitlab_job()
        gl = GitLabForge(forge_settings, state_dir, TOKEN, "42")
        work = gl.prepare_workspace(job)
        handle = gl.start(job)
        job_dir = write_job_dir(tmp_path / "job", make_patch(work))
        base = (
            subprocess.run(["git", "rev-parse", "HEAD"], cwd=work, capture_output=True, check=True)
            .stdout.decode()
            .strip()
        )
        gl.finish(
            handle, job_result(job.job_id, JobOutcome.SUCCEEDED, best=True, commit=base), job_dir
        )
        gl.release_workspace(job)
    finally:
        watcher.stop.set()
        watcher.join()

    assert gitlab_server.state.mrs, "the job pushed and opened a merge request"
    ours = [(argv, env) for argv, env in calls if "GIT_CONFIG_COUNT" in env]
    assert {"fetch", "push", "ls-remote"} <= {argv[1] for argv, _ in ours}
    for argv, _env in calls:
        joined = "\0".join(argv).encode()
        assert not any(s in joined for s in SECRETS), argv
    for argv, env in ours:
        values = [v for k, v in env.items() if k.startswith("GIT_CONFIG_VALUE_")]
        has_header = any(SECRETS[1].decode() in v for v in values)
        # it travels in the environment of the commands that talk to the remote, only
        assert has_header == (argv[1] in {"fetch", "push", "ls-remote"}), argv
        assert not any("token" in k.lower() for k in env)
    assert watcher.scans > 0
    assert not any(s in line for line in watcher.seen for s in SECRETS)
    assert not any(s.decode() in caplog.text for s in SECRETS)
    # Every git request carried the header (the server answers 401 otherwise) ...
    assert git_server.requests
    assert all(auth for _, _, auth in git_server.requests)
    # ... and nothing on disk holds it: no config, remote URL or credential store.
    for path in state_dir.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert not any(s in data for s in SECRETS), path
    for url in (gitlab_server.state.project["http_url_to_repo"],):
        assert TOKEN not in url


def test_header_is_scoped_to_the_git_base(tmp_path: Path) -> None:
    auth = gitrepo.GitAuth.basic("https://gitlab.example", "oauth2", TOKEN)
    env = gitrepo.git_env(tmp_path, auth, passthrough={"https_proxy": "http://proxy:3128"})
    keys = [env[f"GIT_CONFIG_KEY_{i}"] for i in range(int(env["GIT_CONFIG_COUNT"]))]
    assert "http.https://gitlab.example/.extraHeader" in keys
    assert "credential.helper" in keys
    assert "core.hooksPath" in keys
    assert env["https_proxy"] == "http://proxy:3128"
    assert env["GIT_CONFIG_NOSYSTEM"] == "1"
    assert env["HOME"] == str(tmp_path)
    assert TOKEN not in repr(auth)


def test_clone_url_outside_the_scope_is_refused(
    forge_settings: ForgeSettings, state_dir: Path, gitlab_server: FakeGitLab
) -> None:
    from runner.errors import ForgeError

    gitlab_server.state.project["http_url_to_repo"] = "https://elsewhere.example/acme/w.git"
    gl = GitLabForge(forge_settings, state_dir, TOKEN, "42")
    with pytest.raises(ForgeError, match="not under"):
        gl.prepare_workspace(gitlab_job())
