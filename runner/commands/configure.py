"""`optirunner configure`: write config.toml and store every secret outside of it.

Secrets go to systemd credentials (`systemd-creds encrypt` into /etc/credstore.encrypted/,
read by the unit's `LoadCredentialEncrypted=`) when `systemd-creds` exists, otherwise to a
keyring backend the operator names explicitly (`--keyring-backend`); never into config.toml.
The configuration file is validated with the runner's own `Settings` before it replaces the
old one (atomically, 0640), and the `configured` marker that lets the unit start is written
last.
"""

from __future__ import annotations

import contextlib
import grp
import importlib
import ipaddress
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

import typer
from pydantic import BaseModel
from rich.console import Console

from runner.config import Settings, load_settings
from runner.errors import ConfigError

CONFIG_DIR = Path("/etc/optirunner")
CREDSTORE_DIR = Path("/etc/credstore.encrypted")
CONFIG_NAME = "config.toml"
MARKER_NAME = "configured"
SERVICE_GROUP = "optirunner"
KEYRING_SERVICE = "optirunner"
DEFAULT_PORT = 8480


@dataclass(frozen=True)
class SecretSpec:
    """One secret: its option name, its credential id (unit and keyring) and a prompt."""

    option: str
    credential: str
    prompt: str


#: Every secret the runner uses; the unit has one `LoadCredentialEncrypted=` per entry.
SECRETS: tuple[SecretSpec, ...] = (
    SecretSpec("gitlab_token", "optirunner-gitlab-token", "GitLab access token (api scope)"),
    SecretSpec("jira_token", "optirunner-jira-token", "Jira API token"),
    SecretSpec("webhook_secret", "optirunner-webhook-secret", "Webhook secret (empty: generate)"),
    SecretSpec("icarus_token", "optirunner-icarus-token", "Icarus telemetry token"),
    SecretSpec("ai_api_key", "optirunner-ai-api-key", "AI provider API key"),
)

#: URL answers and where they would live in config.toml (section, key).
URL_KEYS: dict[str, tuple[str, str]] = {
    "gitlab_url": ("forge.gitlab", "url"),
    "jira_url": ("forge.jira", "url"),
    "icarus_url": ("telemetry.icarus", "url"),
}


@dataclass
class Answers:
    """What the operator told configure (flags, prompts); secrets keyed by option name."""

    provider: str | None = None
    urls: dict[str, str] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    public_url: str | None = None


class SecretStore(Protocol):
    """Where secrets go; `describe()` says where, for the summary."""

    def store(self, credential: str, value: str) -> None:
        """Keep `value` under `credential`."""

    def has(self, credential: str) -> bool:
        """Whether `credential` is already stored."""

    def describe(self) -> str:
        """One line: the store and its location."""


@dataclass
class CredsStore:
    """systemd credentials: one `systemd-creds encrypt` file per secret in `directory`."""

    directory: Path
    with_key: str = "auto"
    binary: str = "systemd-creds"
    run: Callable[..., subprocess.CompletedProcess[bytes]] = subprocess.run

    def command(self, credential: str, output: Path) -> list[str]:
        """The encrypt command line; the secret itself travels on stdin, never in argv."""
        return [
            self.binary,
            "encrypt",
            f"--name={credential}",
            f"--with-key={self.with_key}",
            "-",
            str(output),
        ]

    def store(self, credential: str, value: str) -> None:
        """Encrypt `value` to `<directory>/<credential>` (0600, replaced atomically)."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        final = self.directory / credential
        tmp = self.directory / f".{credential}.tmp"
        try:
            result = self.run(
                self.command(credential, tmp), input=value.encode(), capture_output=True
            )
            if result.returncode != 0:
                reason = result.stderr.decode(errors="replace").strip().splitlines()
                raise ConfigError(
                    f"systemd-creds encrypt {credential} failed: {reason[-1] if reason else '?'}"
                )
            tmp.chmod(0o600)
            tmp.replace(final)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()

    def has(self, credential: str) -> bool:
        """An encrypted file for `credential` exists."""
        return (self.directory / credential).is_file()

    def describe(self) -> str:
        """Where the files are."""
        return f"systemd credentials in {self.directory} (systemd-creds, key {self.with_key})"


@dataclass
class KeyringStore:
    """A keyring backend chosen explicitly by its import path (no autodetection)."""

    backend: str

    def _keyring(self) -> object:
        from keyring.core import load_keyring  # noqa: PLC0415 - optional dependency

        try:
            return load_keyring(self.backend)
        except (ImportError, AttributeError, ValueError) as exc:
            raise ConfigError(f"cannot load keyring backend {self.backend!r}: {exc}") from None

    def store(self, credential: str, value: str) -> None:
        """`set_password("optirunner", credential, value)` on the chosen backend."""
        getattr(self._keyring(), "set_password")(KEYRING_SERVICE, credential, value)  # noqa: B009

    def has(self, credential: str) -> bool:
        """The backend holds a non-empty value for `credential`."""
        return bool(getattr(self._keyring(), "get_password")(KEYRING_SERVICE, credential))  # noqa: B009

    def describe(self) -> str:
        """Which backend."""
        return f"keyring backend {self.backend} (service {KEYRING_SERVICE!r})"


def choose_store(
    store: str,
    keyring_backend: str | None,
    credstore_dir: Path,
    with_key: str,
    which: Callable[[str], str | None] = shutil.which,
) -> SecretStore:
    """systemd-creds when asked or available (auto); the keyring only with a named backend."""
    if store not in ("auto", "systemd-creds", "keyring"):
        raise ConfigError(f"unknown secret store {store!r} (auto, systemd-creds, keyring)")
    creds = which("systemd-creds")
    if store == "systemd-creds" or (store == "auto" and creds and keyring_backend is None):
        if not creds:
            raise ConfigError("systemd-creds is not installed; use --secret-store keyring")
        return CredsStore(credstore_dir, with_key=with_key, binary=creds)
    if keyring_backend is None:
        raise ConfigError(
            "systemd-creds is not available: name a keyring backend explicitly with "
            "--keyring-backend (e.g. keyrings.alt.file.EncryptedKeyring)"
        )
    importlib.import_module("keyring")
    return KeyringStore(keyring_backend)


def _toml_string(value: str) -> str:
    """A TOML basic string."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in escaped) + '"'


def setting_paths(model: type[BaseModel], prefix: str = "") -> set[str]:
    """Every dotted path of a setting or settings section, e.g. `forge.gitlab.url`."""
    paths: set[str] = set()
    for name, info in model.model_fields.items():
        path = f"{prefix}{name}"
        paths.add(path)
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            paths |= setting_paths(annotation, f"{path}.")
    return paths


def render_config(answers: Answers, known_sections: Iterable[str]) -> str:
    """config.toml text: answered settings as values; no secret ever appears here.

    A URL whose section is not a setting of this version is kept as a comment, so the file
    always loads (`Settings` forbids unknown keys).
    """
    known = set(known_sections)
    lines = [
        "# optirunner settings, written by `optirunner configure`.",
        "# Every setting, its default and its OPTIRUNNER_* variable: docs/configuration.md.",
        "# Secrets are NOT kept here: see `optirunner doctor` for where they are.",
        "",
    ]
    if answers.provider:
        lines += [f"provider = {_toml_string(answers.provider)}", ""]
    for option, (section, key) in URL_KEYS.items():
        url = answers.urls.get(option)
        if not url:
            continue
        if f"{section}.{key}" in known:
            lines += [f"[{section}]", f"{key} = {_toml_string(url)}", ""]
        else:
            lines += [f"# [{section}] {key} = {_toml_string(url)}  (not a setting of this version)"]
    return "\n".join(lines).rstrip("\n") + "\n"


def write_config(path: Path, text: str, group: str | None = SERVICE_GROUP) -> None:
    """Validate `text` with Settings, then replace `path` atomically (0640, root:group)."""
    path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    tmp = Path(name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.chmod(0o640)
        _chgrp(tmp, group)
        load_settings(tmp)  # never install a file the service would refuse
        tmp.replace(path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _chgrp(path: Path, group: str | None) -> None:
    """Give the service's group read access when it exists and we may (root)."""
    if group is None or os.geteuid() != 0:
        return
    with contextlib.suppress(KeyError):
        os.chown(path, 0, grp.getgrnam(group).gr_gid)


def store_secrets(store: SecretStore, values: Mapping[str, str], placeholders: bool) -> list[str]:
    """Store the given secrets; with `placeholders`, an empty one for each missing secret.

    Returns the credentials written with a value. An existing secret is never replaced
    by a placeholder.
    """
    written = []
    for spec in SECRETS:
        value = values.get(spec.option)
        if value:
            store.store(spec.credential, value)
            written.append(spec.credential)
        elif placeholders and not store.has(spec.credential):
            store.store(spec.credential, "")
    return written


def webhook_urls(public_url: str) -> dict[str, str]:
    """The URLs to register in GitLab and Jira."""
    base = public_url.rstrip("/")
    return {"gitlab": f"{base}/webhooks/gitlab", "jira": f"{base}/webhooks/jira"}


def default_public_url() -> str:
    """Where GitLab and Jira reach this host, as far as it can tell."""
    return f"http://{socket.getfqdn()}:{DEFAULT_PORT}"


def _prompt_missing(answers: Answers, store: SecretStore) -> None:
    """Ask for what the flags did not give (interactive mode)."""
    answers.provider = answers.provider or typer.prompt("AI provider", default="rules")
    for option, label in (("gitlab_url", "GitLab URL"), ("jira_url", "Jira URL"),
                          ("icarus_url", "Icarus URL")):  # fmt: skip
        if option not in answers.urls:
            value = typer.prompt(f"{label} (empty: none)", default="", show_default=False)
            if value:
                answers.urls[option] = value
    for spec in SECRETS:
        if spec.option in answers.secrets or store.has(spec.credential):
            continue
        value = typer.prompt(spec.prompt, default="", show_default=False, hide_input=True)
        if value:
            answers.secrets[spec.option] = value
    answers.public_url = answers.public_url or typer.prompt(
        "Public URL of this runner", default=default_public_url()
    )


def run(
    *,
    answers: Answers,
    config_dir: Path,
    credstore_dir: Path,
    secret_store: str,
    keyring_backend: str | None,
    with_key: str,
    interactive: bool,
    out: Console | None = None,
) -> int:
    """Configure the runner; returns the exit code."""
    # soft_wrap: a URL or the generated secret is never broken across lines.
    out = out or Console(highlight=False, soft_wrap=True)
    store = choose_store(secret_store, keyring_backend, credstore_dir, with_key)
    if interactive:
        _prompt_missing(answers, store)
    generated = _ensure_webhook_secret(answers, store)
    config_path = config_dir / CONFIG_NAME
    write_config(config_path, render_config(answers, setting_paths(Settings)))
    written = store_secrets(store, answers.secrets, placeholders=isinstance(store, CredsStore))
    _write_marker(config_dir / MARKER_NAME)
    _summary(out, answers, config_path, store, written, generated, keyring_backend)
    return 0


def egress_outside_allow_list(answers: Answers) -> list[str]:
    """Configured endpoints the unit's IPAddressAllow= may not cover (no DNS lookup here).

    A host that is a loopback or private address literal (or `localhost`) is covered; any
    other host name, and a non-offline AI provider, may be public.
    """
    outside = []
    for url in answers.urls.values():
        host = urlsplit(url).hostname
        if not host or host == "localhost":
            continue
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            outside.append(host)
            continue
        if not (address.is_loopback or address.is_private) or address.is_link_local:
            outside.append(host)
    if answers.provider and answers.provider != "rules":
        outside.append(f"the {answers.provider} API")
    return outside


def _ensure_webhook_secret(answers: Answers, store: SecretStore) -> str | None:
    """Generate a webhook secret when none is given or stored; returns it if generated."""
    spec = next(s for s in SECRETS if s.option == "webhook_secret")
    if answers.secrets.get(spec.option) or store.has(spec.credential):
        return None
    value = secrets.token_urlsafe(32)
    answers.secrets[spec.option] = value
    return value


def _write_marker(path: Path) -> None:
    """The file the unit's ConditionPathExists= waits for."""
    path.write_text("written by `optirunner configure`; the service starts once it exists\n")
    path.chmod(0o644)


def _summary(
    out: Console,
    answers: Answers,
    config_path: Path,
    store: SecretStore,
    written: list[str],
    generated: str | None,
    keyring_backend: str | None,
) -> None:
    """What was done, the webhook URLs to register and the next steps."""
    out.print(f"wrote {config_path} (no secrets in it)")
    out.print(f"secrets: {store.describe()}: {', '.join(written) or 'none new'}")
    if generated:
        out.print(f"generated webhook secret (register it with the webhooks): {generated}")
    out.print("register these webhooks (secret: the webhook secret):")
    for forge, url in webhook_urls(answers.public_url or default_public_url()).items():
        out.print(f"  {forge}: {url}")
    outside = egress_outside_allow_list(answers)
    if outside:
        out.print(
            "note: optirunner.service connects only to loopback and private addresses "
            f"(IPAddressAllow=); if {', '.join(outside)} is on a public address, allow it: "
            "`systemctl edit optirunner` -> [Service] IPAddressAllow=any (docs/install.md)"
        )
    out.print("next steps:")
    if keyring_backend:
        out.print(f"  set PYTHON_KEYRING_BACKEND={keyring_backend} for the runner's environment")
    out.print("  optirunner doctor")
    out.print("  systemctl restart optirunner && journalctl -u optirunner -f")
