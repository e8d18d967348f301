"""Git over HTTPS with a token that never leaves the git process's environment.

The token travels as an `http.<base url>.extraHeader` set through `GIT_CONFIG_COUNT` /
`GIT_CONFIG_KEY_n` / `GIT_CONFIG_VALUE_n` in the environment of each git subprocess: not in
the URL, the command line, a config file or a log line. The header is scoped to the
forge's git base URL, so a redirect or a submodule elsewhere never receives it. Git runs
with an empty HOME of its own, no system config, no credential helper and no hooks.

One bare clone per repository lives under `<state_dir>/repos/`; fetches update it under a
file lock and each job gets its own `git worktree` of it.
"""

from __future__ import annotations

import base64
import fcntl
import logging
import re
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from runner.errors import ForgeError

log = logging.getLogger(__name__)

# Variables passed through to git (network reachability, CA bundles); nothing else is.
PASS_THROUGH = (
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "GIT_SSL_CAINFO",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "LANG",
)
_SHA = re.compile(r"^[0-9a-f]{7,40}$")


@dataclass(frozen=True)
class GitAuth:
    """The token as an HTTP header for git, scoped to `scope` (a URL prefix)."""

    scope: str
    header: str = field(repr=False)

    @classmethod
    def basic(cls, scope: str, username: str, token: str) -> GitAuth:
        """`Authorization: Basic base64(username:token)` (GitLab accepts any user name)."""
        raw = base64.b64encode(f"{username}:{token}".encode()).decode()
        return cls(scope=scope.rstrip("/") + "/", header=f"Authorization: Basic {raw}")


@dataclass(frozen=True)
class Author:
    """Who the result commit is by, and when (fixed, so a re-run makes the same commit)."""

    name: str
    email: str
    timestamp: int


def passed_through(environ: Mapping[str, str]) -> dict[str, str]:
    """The variables of `environ` (what the command read) that git may see."""
    return {k: environ[k] for k in PASS_THROUGH if k in environ}


def git_env(home: Path, auth: GitAuth | None, passthrough: Mapping[str, str]) -> dict[str, str]:
    """The whole environment of a git subprocess (the only place the header exists); of
    `passthrough` only the `PASS_THROUGH` variables are kept."""
    git = shutil.which("git")
    if git is None:
        raise ForgeError("git is not installed")
    env = passed_through(passthrough)
    env.update(
        PATH=f"{Path(git).parent}:/usr/bin:/bin",
        HOME=str(home),
        XDG_CONFIG_HOME=str(home),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_TERMINAL_PROMPT="0",
        GIT_TRACE_REDACT="1",
        LC_ALL="C",
    )
    config = [("core.hooksPath", "/dev/null"), ("credential.helper", "")]
    if auth is not None:
        config.append((f"http.{auth.scope}.extraHeader", auth.header))
    env["GIT_CONFIG_COUNT"] = str(len(config))
    for i, (key, value) in enumerate(config):
        env[f"GIT_CONFIG_KEY_{i}"] = key
        env[f"GIT_CONFIG_VALUE_{i}"] = value
    return env


class GitRunner:
    """Runs git with the scoped header; errors become `ForgeError` without the secret.

    `environ` is the environment the command read (`runner.config.read_environ`); only its
    proxy, CA and locale variables are kept (none when it is not given).
    """

    def __init__(
        self,
        home: Path,
        auth: GitAuth | None,
        timeout_s: float = 600.0,
        *,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.home = home
        self.auth = auth
        self.timeout_s = timeout_s
        self.passthrough = passed_through(environ or {})

    def __call__(
        self,
        *args: str,
        cwd: Path,
        input_bytes: bytes | None = None,
        extra_env: Mapping[str, str] | None = None,
    ) -> str:
        """Run `git <args>` in `cwd`; stdout as text."""
        self.home.mkdir(mode=0o700, parents=True, exist_ok=True)
        log.debug("git %s (in %s)", " ".join(args), cwd)
        # Only commands that talk to the remote get the header in their environment.
        auth = self.auth if _network(args[0]) else None
        try:
            proc = subprocess.run(
                ["git", *args],
                cwd=cwd,
                env={**git_env(self.home, auth, self.passthrough), **(extra_env or {})},
                input=input_bytes,
                capture_output=True,
                timeout=self.timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise ForgeError(f"git {args[0]} timed out", retryable=True) from None
        if proc.returncode != 0:
            raise ForgeError(self._failure(args[0], proc.stderr), retryable=_network(args[0]))
        return proc.stdout.decode(errors="replace")

    def _failure(self, verb: str, stderr: bytes) -> str:
        lines = [ln for ln in stderr.decode(errors="replace").splitlines() if ln.strip()]
        detail = lines[-1].strip() if lines else "?"
        if self.auth is not None:
            detail = detail.replace(self.auth.header, "[redacted]")
        return f"git {verb} failed: {detail}"


def _network(verb: str) -> bool:
    return verb in {"fetch", "push", "ls-remote"}


class RepoCache:
    """The cached bare clone of one repository, its worktrees and the result branch."""

    def __init__(self, root: Path, key: str, url: str, git: GitRunner) -> None:
        self.root = root
        self.path = root / f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', key)}.git"
        self.url = url
        self.git = git

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Serialise fetches and worktree bookkeeping of this clone across processes."""
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        with (self.path.with_suffix(".lock")).open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _ensure(self) -> None:
        if not (self.path / "HEAD").is_file():
            self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
            self.git("init", "--bare", "--quiet", str(self.path), cwd=self.root)

    def fetch(self, ref: str) -> str:
        """Fetch `ref` (branch, tag or commit) from the remote; its commit id."""
        with self.locked():
            self._ensure()
            try:
                self.git("fetch", "--quiet", "--no-tags", self.url, ref, cwd=self.path)
            except ForgeError:
                if not _SHA.match(ref):
                    raise
                # A commit id the server will not serve directly: fetch every branch.
                every = "+refs/heads/*:refs/remotes/origin/*"
                self.git("fetch", "--quiet", "--no-tags", self.url, every, cwd=self.path)
                wanted = f"{ref}^{{commit}}"
                return self.git("rev-parse", "--verify", wanted, cwd=self.path).strip()
            return self.git("rev-parse", "--verify", "FETCH_HEAD^{commit}", cwd=self.path).strip()

    def add_worktree(self, dest: Path, commit: str, keep_ref: str) -> Path:
        """A detached worktree of `commit` at `dest`; `keep_ref` protects it from gc."""
        with self.locked():
            self.git("update-ref", keep_ref, commit, cwd=self.path)
            if dest.exists():
                self._remove(dest)
            dest.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            self.git("worktree", "add", "--detach", "--quiet", str(dest), commit, cwd=self.path)
        return dest

    def remove_worktree(self, dest: Path) -> None:
        """Remove a worktree made by `add_worktree` (missing is fine)."""
        with self.locked():
            self._remove(dest)

    def _remove(self, dest: Path) -> None:
        try:
            self.git("worktree", "remove", "--force", str(dest), cwd=self.path)
        except ForgeError:
            shutil.rmtree(dest, ignore_errors=True)
        self.git("worktree", "prune", cwd=self.path)

    def commit_patch(self, base: str, patch: bytes, message: str, author: Author) -> str:
        """One commit on `base` whose diff is `patch`; the same inputs give the same id."""
        scratch = self.root / "scratch" / self.path.stem
        self.add_worktree(scratch, base, f"refs/optirunner/base/{base}")
        when = f"@{author.timestamp} +0000"
        identity = {
            "GIT_AUTHOR_NAME": author.name,
            "GIT_AUTHOR_EMAIL": author.email,
            "GIT_AUTHOR_DATE": when,
            "GIT_COMMITTER_NAME": author.name,
            "GIT_COMMITTER_EMAIL": author.email,
            "GIT_COMMITTER_DATE": when,
        }
        try:
            apply = ("apply", "--index", "--whitespace=nowarn", "-")
            self.git(*apply, cwd=scratch, input_bytes=patch)
            commit = ("commit", "--quiet", "--no-verify", "--no-gpg-sign", "-m", message)
            self.git(*commit, cwd=scratch, extra_env=identity)
            return self.git("rev-parse", "HEAD", cwd=scratch).strip()
        finally:
            self.remove_worktree(scratch)

    def remote_tip(self, branch: str) -> str | None:
        """The commit the remote's `branch` points at, or None when it does not exist."""
        out = self.git("ls-remote", "--heads", self.url, f"refs/heads/{branch}", cwd=self.path)
        return out.split()[0] if out.strip() else None

    def author_of(self, branch: str) -> str:
        """Fetch the remote `branch` and return its tip's author e-mail."""
        with self.locked():
            ref = f"refs/heads/{branch}"
            self.git("fetch", "--quiet", "--no-tags", self.url, ref, cwd=self.path)
            return self.git("log", "-1", "--format=%ae", "FETCH_HEAD", cwd=self.path).strip()

    def push(self, commit: str, branch: str, replace: str | None) -> None:
        """Push `commit` to `branch`; `replace` is the tip it may overwrite (lease)."""
        args = ["push", "--quiet", "--no-verify", self.url, f"{commit}:refs/heads/{branch}"]
        if replace is not None:
            args.insert(1, f"--force-with-lease=refs/heads/{branch}:{replace}")
        self.git(*args, cwd=self.path)
