"""`optirunner doctor`: one table of checks, each with a fix; exit 1 if a required one fails.

Every check is a small function returning a `Check`; none of them changes the host except
for a probe file in the state directory that is removed at once.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from runner.commands.configure import CONFIG_DIR, CREDSTORE_DIR, MARKER_NAME, SECRETS
from runner.config import SERVICE_STATE_DIR, Settings, load_settings
from runner.errors import OptirunnerError

SERVICE_USER = "optirunner"
PACKAGE_VENV = Path("/usr/lib/optirunner")
MIN_PYTHON = (3, 11)
REQUIRED_SECRETS = ("optirunner-webhook-secret",)
# What the runner does with its GitLab token, and nothing more (docs/integrations.md).
GITLAB_SCOPES = frozenset({"api", "write_repository"})
HTTP_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Check:
    """One line of the table: OK, FAIL or SKIP, what was seen, and how to fix a failure."""

    name: str
    status: str
    detail: str
    fix: str = ""
    required: bool = True

    @property
    def failed(self) -> bool:
        """A required check that did not pass."""
        return self.required and self.status == "FAIL"


def _ok(name: str, detail: str) -> Check:
    return Check(name, "OK", detail)


def _fail(name: str, detail: str, fix: str, required: bool = True) -> Check:
    return Check(name, "FAIL", detail, fix, required)


def check_python(version: tuple[int, ...] | None = None) -> Check:
    """The interpreter is new enough."""
    version = version or (sys.version_info.major, sys.version_info.minor, sys.version_info.micro)
    shown = ".".join(map(str, version[:3]))
    if version[:2] >= MIN_PYTHON:
        return _ok("python", f"{shown} ({sys.executable})")
    return _fail("python", shown, "install python3 >= 3.11 (Debian 12 or later)")


def check_settings(config: Path | None) -> tuple[Check, Settings | None]:
    """The configuration file and OPTIRUNNER_* variables parse."""
    try:
        settings = load_settings(config)
    except OptirunnerError as exc:
        return _fail("settings", str(exc), "fix the file, or rerun `optirunner configure`"), None
    where = settings._toml_file or "defaults + environment"
    return _ok("settings", f"valid ({where})"), settings


def check_state_dir(state_dir: Path) -> Check:
    """The state directory exists (or can be made) and takes a file."""
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=state_dir, prefix=".doctor-"):
            pass
    except OSError as exc:
        fix = f"chown {SERVICE_USER}: {state_dir} (or set state_dir)"
        return _fail("state directory", f"{state_dir}: {exc.strerror}", fix)
    return _ok("state directory", f"{state_dir} is writable")


#: How to get out of a failed bubblewrap check when it cannot be fixed on this host.
_NONE_FIX = "; or set sandbox.backend = 'none' to run commands unisolated, as an unprivileged user"


def check_sandbox(
    which: Callable[[str], str | None] = shutil.which, backend: str = "auto", user: str = "nobody"
) -> Check:
    """bubblewrap runs the real sandbox and the sandbox has no network but loopback.

    With `auto` or `bubblewrap` a failure is a FAIL: the runner refuses to run candidate
    code. With `none` (chosen explicitly) it is a WARN that says what runs unisolated.
    """
    if backend == "none":
        who = user if os.geteuid() == 0 else "the service user"
        detail = f"sandbox.backend = 'none': commands run as {who}, with network, no namespaces"
        fix = "apt-get install bubblewrap and set sandbox.backend = 'auto' (docs/sandbox.md)"
        return _fail("bubblewrap", detail, fix, required=False)
    from runner.sandbox.local import bwrap_argv  # noqa: PLC0415 - heavy import, doctor only

    bwrap = which("bwrap")
    if bwrap is None:
        return _fail("bubblewrap", "bwrap not found", "apt-get install bubblewrap" + _NONE_FIX)
    with tempfile.TemporaryDirectory(prefix="optirunner-doctor-") as work:
        argv = bwrap_argv(bwrap, Path(work), [], as_root=os.geteuid() == 0)
        result = subprocess.run(
            [*argv, "cat", "/proc/net/dev"], check=False, capture_output=True, text=True, timeout=30
        )
    if result.returncode != 0:
        reason = (result.stderr.strip().splitlines() or ["?"])[-1]
        fix = "allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1)"
        return _fail("bubblewrap", f"sandbox does not start: {reason}", fix + _NONE_FIX)
    interfaces = [line.split(":")[0].strip() for line in result.stdout.splitlines()[2:]]
    if interfaces != ["lo"]:
        return _fail("bubblewrap", f"network visible: {interfaces}", "report this as a bug")
    return _ok("bubblewrap", f"{bwrap}: sandbox starts, network isolated (only lo)")


def check_tool(name: str, package: str, required: bool, purpose: str) -> Check:
    """An executable is on PATH."""
    path = shutil.which(name)
    if path is None:
        return _fail(name, "not found", f"apt-get install {package} ({purpose})", required)
    return _ok(name, path)


def check_database(settings: Settings) -> Check:
    """The job database answers and its schema is at the newest migration."""
    from runner.store import db  # noqa: PLC0415 - SQLAlchemy + Alembic, doctor only

    url = db.database_url(settings.service.database_url, settings.state_dir)
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return Check("database", "SKIP", "SQLite file not created yet (serve creates it)")
    try:
        engine = db.make_engine(url)
        db.ping(engine)
        current, head = db.current_revision(engine), db.head_revision()
    except Exception as exc:  # any driver error is a failed check, not a crash
        return _fail("database", f"{type(exc).__name__}: {exc}", "check service.database_url")
    if current != head:
        fix = "restart the service (it migrates at start)"
        return _fail("database", f"schema {current}, newest {head}", fix)
    return _ok("database", f"reachable, schema at head ({head})")


def check_spool(state_dir: Path) -> Check:
    """The telemetry spool opens and passes `quick_check`; quarantined files are named.

    A WARN, not a FAIL: serve keeps running with a fresh spool; the operator should know
    which events were lost and may delete the quarantined files once looked at.
    """
    from runner.telemetry import damage  # noqa: PLC0415 - doctor only
    from runner.telemetry.setup import spool_path  # noqa: PLC0415

    path = spool_path(state_dir)
    quarantined = sorted(
        q
        for q in path.parent.glob(f"{path.name}{damage.CORRUPT_MARK}*")
        if not q.name.endswith(("-wal", "-shm"))
    )
    try:
        broken = damage.damage(path, read_only=True)
    except Exception as exc:  # unreadable for another reason: say so, do not crash
        broken = None
        detail = f"{path}: not checked ({type(exc).__name__}: {exc})"
    else:
        detail = f"{path}: intact" if path.exists() else f"{path}: not created yet"
    if broken is not None:
        fix = "restart the service: it quarantines the file and salvages what it can"
        return _fail("telemetry spool", f"{path} is damaged ({broken})", fix, required=False)
    if quarantined:
        record = {s.quarantined: s for s in damage.history(path.parent)}
        parts = [record[str(q)].describe() if str(q) in record else str(q) for q in quarantined]
        fix = "the events listed as lost are gone; delete the quarantined file(s) when done"
        return _fail("telemetry spool", f"{detail}; quarantined: {'; '.join(parts)}", fix, False)
    return _ok("telemetry spool", detail)


def check_secrets(
    environ: Mapping[str, str], credstore: Path = CREDSTORE_DIR, required: bool = False
) -> Check:
    """Every secret is somewhere: $CREDENTIALS_DIRECTORY, the credential store, a keyring."""
    found: dict[str, str] = {}
    directory = environ.get("CREDENTIALS_DIRECTORY")
    for spec in SECRETS:
        cred = spec.credential
        if directory and (Path(directory) / cred).is_file():
            if (Path(directory) / cred).stat().st_size:
                found[cred] = "credential"
        elif (credstore / cred).is_file():
            found[cred] = "credstore"
        elif _in_keyring(cred, environ):
            found[cred] = "keyring"
    missing = [c for c in REQUIRED_SECRETS if c not in found]
    detail = ", ".join(f"{c.removeprefix('optirunner-')}: {w}" for c, w in found.items())
    if missing:
        return _fail("secrets", f"missing {', '.join(missing)}", "optirunner configure", required)
    return _ok("secrets", detail or "none")


def _in_keyring(credential: str, environ: Mapping[str, str]) -> bool:
    """Only an explicitly chosen backend (PYTHON_KEYRING_BACKEND) is asked."""
    backend = environ.get("PYTHON_KEYRING_BACKEND")
    if not backend:
        return False
    try:
        from keyring.core import load_keyring  # noqa: PLC0415 - optional dependency

        return bool(load_keyring(backend).get_password("optirunner", credential))
    except Exception:  # an unusable backend means "not there"
        return False


def check_gitlab_token(
    settings: Settings, environ: Mapping[str, str], timeout: float = HTTP_TIMEOUT_S
) -> Check:
    """The GitLab token works and has exactly the scopes the runner uses.

    `GET /personal_access_tokens/self` answers for personal, project and group access
    tokens alike: its scopes, whether it is active, when it expires.
    """
    from runner.forge.secrets import find_token, variable_name  # noqa: PLC0415 - doctor only

    name = "gitlab token"
    cfg = settings.forge.gitlab
    if not cfg.url:
        return Check(name, "SKIP", "forge.gitlab.url not set (no GitLab reporting)")
    token = find_token(cfg.credential, environ)
    if token is None:
        where = f"$CREDENTIALS_DIRECTORY/{cfg.credential} or ${variable_name(cfg.credential)}"
        fix = "run doctor with the service's credentials, or optirunner configure"
        return _fail(name, f"no token in {where}", fix, required=False)
    info = _token_info(cfg.url, token, cfg.ssl_verify, timeout)
    return info if isinstance(info, Check) else judge_scopes(info)


def _token_info(base: str, token: str, verify: bool, timeout: float) -> dict[str, Any] | Check:
    """`GET /personal_access_tokens/self` of the token, or the failed check."""
    import requests  # noqa: PLC0415 - doctor only

    name, fix = "gitlab token", "check forge.gitlab.url"
    url = base.rstrip("/") + "/api/v4/personal_access_tokens/self"
    try:
        response = requests.get(
            url, headers={"PRIVATE-TOKEN": token}, timeout=timeout, verify=verify
        )
    except requests.RequestException as exc:
        return _fail(name, f"{base} does not answer: {type(exc).__name__}", fix)
    if response.status_code == 401:
        return _fail(name, "GitLab refuses the token (revoked or expired)", "create a new token")
    if response.status_code != 200:
        return _fail(name, f"{url} answered {response.status_code}", fix)
    data = response.json()
    return data if isinstance(data, dict) else _fail(name, f"{url}: not a token", fix)


def judge_scopes(info: Mapping[str, Any]) -> Check:
    """OK for exactly `api` + `write_repository`; FAIL if one is missing; WARN for more."""
    name = "gitlab token"
    scopes = {str(s) for s in info.get("scopes") or []}
    missing = sorted(GITLAB_SCOPES - scopes)
    expires = f", expires {info['expires_at']}" if info.get("expires_at") else ""
    if missing or not info.get("active", True):
        fix = "create a token with the scopes api, write_repository (role Developer)"
        what = f"missing scopes {', '.join(missing)}" if missing else "token is not active"
        return _fail(name, f"{what} (has {', '.join(sorted(scopes)) or 'none'})", fix)
    extra = sorted(scopes - GITLAB_SCOPES)
    if extra:
        fix = "a token with only api, write_repository is enough"
        return _fail(name, f"more scopes than needed: {', '.join(extra)}", fix, required=False)
    return _ok(name, f"scopes {', '.join(sorted(scopes))}{expires}")


def check_webhooks(settings: Settings, timeout: float = HTTP_TIMEOUT_S) -> list[Check]:
    """Each configured webhook URL answers: an unsigned delivery is refused with 401.

    This asks the listener this host runs (`service.host`/`port`); the public URL that
    GitLab and Jira use must lead to it (their "Test" buttons check that side).
    """
    import requests  # noqa: PLC0415 - doctor only

    service = settings.service
    host = "127.0.0.1" if service.host in {"0.0.0.0", ""} else service.host  # noqa: S104
    host = "[::1]" if host == "::" else (f"[{host}]" if ":" in host else host)
    configured = {
        "gitlab": service.gitlab.token is not None or service.gitlab.signing_key is not None,
        "jira": service.jira.secret is not None,
    }
    checks = []
    for forge, enabled in configured.items():
        name = f"{forge} webhook"
        url = f"http://{host}:{service.port}/webhooks/{forge}"
        if not enabled:
            secret = "service.gitlab.token" if forge == "gitlab" else "service.jira.secret"
            checks.append(Check(name, "SKIP", f"{secret} not set (webhook off)"))
            continue
        try:
            response = requests.post(
                url, data=b"{}", headers={"Content-Type": "application/json"}, timeout=timeout
            )
        except requests.RequestException:
            fix = "systemctl start optirunner (then run doctor again)"
            checks.append(_fail(name, f"{url} does not answer", fix, required=False))
            continue
        if response.status_code == 401:
            checks.append(_ok(name, f"{url} answers (unsigned delivery refused: 401)"))
        else:
            fix = "is another program listening on service.port?"
            checks.append(_fail(name, f"{url} answered {response.status_code}, not 401", fix))
    return checks


def check_service_user(required: bool) -> Check:
    """The system user the unit runs as exists."""
    try:
        entry = pwd.getpwnam(SERVICE_USER)
    except KeyError:
        fix = "reinstall the package (postinst creates it)"
        return _fail("service user", f"no user {SERVICE_USER!r}", fix, required)
    return _ok("service user", f"{SERVICE_USER} (uid {entry.pw_uid})")


def collect(
    config: Path | None, environ: Mapping[str, str], config_dir: Path, credstore: Path
) -> list[Check]:
    """Run every check in order; later ones that need settings are skipped without them."""
    installed = PACKAGE_VENV.is_dir()
    configured = (config_dir / MARKER_NAME).exists()
    checks = [check_python()]
    settings_check, settings = check_settings(config)
    checks.append(settings_check)
    if settings is not None:
        defaulted = "state_dir" not in settings.model_fields_set
        if installed and defaulted and "STATE_DIRECTORY" not in environ:
            # The packaged service's state (its StateDirectory=), not root's XDG directory.
            settings = settings.model_copy(update={"state_dir": SERVICE_STATE_DIR})
        checks += [check_state_dir(settings.state_dir), check_database(settings)]
        checks.append(check_spool(settings.state_dir))
        checks += [check_gitlab_token(settings, environ), *check_webhooks(settings)]
    sandbox = settings.sandbox if settings is not None else None
    checks += [
        check_sandbox(
            backend=sandbox.backend if sandbox else "auto", user=sandbox.user if sandbox else ""
        ),
        check_tool("git", "git", True, "checkouts"),
        check_tool("valgrind", "valgrind", False, "instruction counts"),
        check_secrets(environ, credstore, required=configured),
        check_service_user(required=installed),
    ]
    return checks


def render(checks: list[Check], out: Console) -> None:
    """One line per check: status, name, what was seen and, for a failure, the fix."""
    for check in checks:
        status = check.status if check.required or check.status != "FAIL" else "WARN"
        fix = f" -> fix: {check.fix}" if check.fix and check.status == "FAIL" else ""
        line = f"{status:<4} {check.name:<16} {check.detail}{fix}"
        out.print(line, markup=False, soft_wrap=True)


def run(
    config: Path | None,
    environ: Mapping[str, str],
    credstore: Path = CREDSTORE_DIR,
    out: Console | None = None,
) -> int:
    """Print the checks; 1 when a required check failed."""
    out = out or Console(highlight=False)
    config_dir = config.parent if config is not None else CONFIG_DIR
    checks = collect(config, environ, config_dir, credstore)
    render(checks, out)
    failed = [c.name for c in checks if c.failed]
    if failed:
        out.print(f"doctor: {len(failed)} required check(s) failed: {', '.join(failed)}")
        return 1
    out.print("doctor: all required checks passed")
    return 0
