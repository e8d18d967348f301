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

from rich.console import Console

from runner.commands.configure import CONFIG_DIR, CREDSTORE_DIR, MARKER_NAME, SECRETS
from runner.config import Settings, load_settings
from runner.errors import OptirunnerError

SERVICE_USER = "optirunner"
PACKAGE_VENV = Path("/usr/lib/optirunner")
MIN_PYTHON = (3, 11)
REQUIRED_SECRETS = ("optirunner-webhook-secret",)


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


def check_sandbox(which: Callable[[str], str | None] = shutil.which) -> Check:
    """bubblewrap runs the real sandbox and the sandbox has no network but loopback."""
    from runner.sandbox.local import bwrap_argv  # noqa: PLC0415 - heavy import, doctor only

    bwrap = which("bwrap")
    if bwrap is None:
        return _fail("bubblewrap", "bwrap not found", "apt-get install bubblewrap")
    with tempfile.TemporaryDirectory(prefix="optirunner-doctor-") as work:
        argv = bwrap_argv(bwrap, Path(work), [], as_root=os.geteuid() == 0)
        result = subprocess.run(
            [*argv, "cat", "/proc/net/dev"], check=False, capture_output=True, text=True, timeout=30
        )
    if result.returncode != 0:
        reason = (result.stderr.strip().splitlines() or ["?"])[-1]
        fix = "allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1)"
        return _fail("bubblewrap", f"sandbox does not start: {reason}", fix)
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
        checks += [check_state_dir(settings.state_dir), check_database(settings)]
    checks += [
        check_sandbox(),
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
