"""`optirunner configure` and `optirunner doctor`, on temporary directories only."""

from __future__ import annotations

import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from runner.cli import app
from runner.commands import configure, doctor
from runner.config import Settings, load_settings
from runner.errors import ConfigError

GITLAB_TOKEN = "glpat-THIS-IS-SECRET-1"  # noqa: S105 - a test value
JIRA_TOKEN = "jira-THIS-IS-SECRET-2"  # noqa: S105 - a test value
WEBHOOK = "hook-THIS-IS-SECRET-3"
PLAINTEXT_BACKEND = "keyrings.alt.file.PlaintextKeyring"

needs_creds = pytest.mark.skipif(
    shutil.which("systemd-creds") is None, reason="systemd-creds is not installed"
)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def decrypt(path: Path) -> str:
    return subprocess.run(
        ["systemd-creds", "decrypt", f"--name={path.name}", str(path), "-"],
        capture_output=True,
        check=True,
    ).stdout.decode()


def invoke(*args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> str:
    result = CliRunner().invoke(app, ["configure", *args], env=env, input=stdin)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    return tmp_path / "etc", tmp_path / "credstore"


@needs_creds
def test_non_interactive_with_systemd_creds(dirs: tuple[Path, Path]) -> None:
    # tpm2-absent: systemd-creds' null key, so the test never touches the host key
    # (/var/lib/systemd/credential.secret); the product default is --with-key=auto.
    etc, creds = dirs
    output = invoke(
        "--non-interactive", "--gitlab-url", "https://gitlab.example.com",
        "--jira-url", "https://jira.example.com", "--provider", "rules",
        "--config-dir", str(etc), "--credstore-dir", str(creds), "--with-key", "tpm2-absent",
        "--public-url", "https://runner.example.com", "--secret-store", "systemd-creds",
        env={"OPTIRUNNER_GITLAB_TOKEN": GITLAB_TOKEN, "OPTIRUNNER_JIRA_TOKEN": JIRA_TOKEN,
             "OPTIRUNNER_WEBHOOK_SECRET": WEBHOOK},
    )  # fmt: skip
    config = etc / "config.toml"
    text = config.read_text()
    for secret in (GITLAB_TOKEN, JIRA_TOKEN, WEBHOOK):
        assert secret not in text
        assert secret not in output
        for path in creds.iterdir():  # encrypted at rest, never plaintext
            assert secret.encode() not in path.read_bytes()
    assert 'provider = "rules"' in text
    assert mode(config) == 0o640
    assert mode(creds) == 0o700
    assert (etc / "configured").is_file()
    assert decrypt(creds / "optirunner-gitlab-token") == GITLAB_TOKEN
    assert decrypt(creds / "optirunner-webhook-secret") == WEBHOOK
    # unused secrets are empty placeholders, so the unit's LoadCredentialEncrypted= finds them
    assert decrypt(creds / "optirunner-icarus-token") == ""
    assert {p.name for p in creds.iterdir()} == {s.credential for s in configure.SECRETS}
    assert all(mode(p) == 0o600 for p in creds.iterdir())
    assert "https://runner.example.com/webhooks/gitlab" in output
    assert "https://runner.example.com/webhooks/jira" in output
    assert "optirunner doctor" in output


@needs_creds
def test_rerun_keeps_stored_secrets(dirs: tuple[Path, Path]) -> None:
    etc, creds = dirs
    common = ["--non-interactive", "--config-dir", str(etc), "--credstore-dir", str(creds),
              "--with-key", "tpm2-absent", "--secret-store", "systemd-creds"]  # fmt: skip
    invoke(*common, env={"OPTIRUNNER_GITLAB_TOKEN": GITLAB_TOKEN})
    first_hook = decrypt(creds / "optirunner-webhook-secret")
    output = invoke(*common, "--provider", "rules")
    assert decrypt(creds / "optirunner-gitlab-token") == GITLAB_TOKEN
    assert decrypt(creds / "optirunner-webhook-secret") == first_hook
    assert "generated webhook secret" not in output


def test_creds_command_keeps_the_secret_out_of_argv(tmp_path: Path) -> None:
    store = configure.CredsStore(tmp_path, with_key="host", binary="/usr/bin/systemd-creds")
    argv = store.command("optirunner-gitlab-token", tmp_path / "out")
    assert argv == [
        "/usr/bin/systemd-creds", "encrypt", "--name=optirunner-gitlab-token",
        "--with-key=host", "-", str(tmp_path / "out"),
    ]  # fmt: skip


def test_keyring_backend_stores_secrets_outside_the_config(
    dirs: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    etc, creds = dirs
    invoke(
        "--non-interactive", "--config-dir", str(etc), "--credstore-dir", str(creds),
        "--secret-store", "keyring", "--keyring-backend", PLAINTEXT_BACKEND,
        env={"OPTIRUNNER_GITLAB_TOKEN": GITLAB_TOKEN, "XDG_DATA_HOME": str(tmp_path / "data")},
    )  # fmt: skip
    from keyring.core import load_keyring

    ring = load_keyring(PLAINTEXT_BACKEND)
    assert ring.get_password("optirunner", "optirunner-gitlab-token") == GITLAB_TOKEN
    assert ring.get_password("optirunner", "optirunner-webhook-secret")
    assert ring.get_password("optirunner", "optirunner-jira-token") is None
    assert GITLAB_TOKEN not in (etc / "config.toml").read_text()
    assert not creds.exists()


def test_keyring_needs_an_explicit_backend(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--keyring-backend"):
        configure.choose_store("auto", None, tmp_path, "auto", which=lambda _name: None)


def test_auto_prefers_systemd_creds(tmp_path: Path) -> None:
    store = configure.choose_store("auto", None, tmp_path, "auto", which=lambda n: f"/x/{n}")
    assert isinstance(store, configure.CredsStore)


def test_invalid_config_never_replaces_the_old_one(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('provider = "rules"\n')
    with pytest.raises(ConfigError):
        configure.write_config(path, "max_candidates = 0\n", group=None)
    assert path.read_text() == 'provider = "rules"\n'
    assert [p.name for p in tmp_path.iterdir()] == ["config.toml"]


def test_unknown_url_sections_stay_comments() -> None:
    answers = configure.Answers(provider="rules", urls={"icarus_url": "wss://icarus.example"})
    text = configure.render_config(answers, known_sections={"provider"})
    assert '# [telemetry.icarus] url = "wss://icarus.example"' in text
    known = {"telemetry.icarus.url"}
    assert configure.render_config(answers, known).count("[telemetry.icarus]\nurl = ") == 1


def test_every_url_lands_in_its_setting(tmp_path: Path) -> None:
    urls = {
        "gitlab_url": "https://gitlab.acme.example",
        "jira_url": "https://jira.acme.example",
        "icarus_url": "wss://icarus.acme.example/ingest",
    }
    answers = configure.Answers(provider="rules", urls=urls)
    text = configure.render_config(answers, configure.setting_paths(Settings))
    assert "not a setting" not in text
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    settings = load_settings(path)
    assert settings.forge.gitlab.url == urls["gitlab_url"]
    assert settings.forge.jira.url == urls["jira_url"]
    assert settings.telemetry.icarus.url == urls["icarus_url"]


def test_interactive_prompts(
    dirs: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    etc, creds = dirs
    # provider, gitlab url, jira url, icarus url, 5 secrets, public url
    answers = "rules\nhttps://gl.example\n\n\n" + GITLAB_TOKEN + "\n\n\n\n\nhttps://r.example\n"
    output = invoke(
        "--config-dir", str(etc), "--credstore-dir", str(creds),
        "--secret-store", "keyring", "--keyring-backend", PLAINTEXT_BACKEND,
        env={"XDG_DATA_HOME": str(tmp_path / "data")}, stdin=answers,
    )  # fmt: skip
    assert "https://r.example/webhooks/gitlab" in output
    assert GITLAB_TOKEN not in output  # hidden input
    assert GITLAB_TOKEN not in (etc / "config.toml").read_text()


# ---- doctor -----------------------------------------------------------------------------


def test_doctor_fails_on_a_bad_config(tmp_path: Path) -> None:
    bad = tmp_path / "config.toml"
    bad.write_text("max_candidates = 0\n")
    result = CliRunner().invoke(app, ["doctor", "--config", str(bad)])
    assert result.exit_code == 1
    assert "FAIL settings" in result.output
    assert "fix:" in result.output


def test_doctor_python_check() -> None:
    assert doctor.check_python((3, 10, 0)).failed
    assert not doctor.check_python((3, 11, 2)).failed


def test_doctor_state_dir(tmp_path: Path) -> None:
    assert doctor.check_state_dir(tmp_path / "state").status == "OK"
    blocked = tmp_path / "file"
    blocked.write_text("")
    assert doctor.check_state_dir(blocked / "state").failed


def test_doctor_secrets(tmp_path: Path) -> None:
    assert doctor.check_secrets({}, tmp_path, required=True).failed
    assert not doctor.check_secrets({}, tmp_path, required=False).failed
    (tmp_path / "optirunner-webhook-secret").write_bytes(b"encrypted")
    assert doctor.check_secrets({}, tmp_path, required=True).status == "OK"
    creds = tmp_path / "run"
    creds.mkdir()
    (creds / "optirunner-gitlab-token").write_text("x")
    check = doctor.check_secrets({"CREDENTIALS_DIRECTORY": str(creds)}, tmp_path)
    assert "gitlab-token: credential" in check.detail


@pytest.mark.needs_bwrap
@pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")
def test_doctor_sandbox_isolates_the_network() -> None:
    check = doctor.check_sandbox()
    assert check.status == "OK", check.detail
    assert "only lo" in check.detail


def test_doctor_sandbox_missing() -> None:
    assert doctor.check_sandbox(which=lambda _name: None).failed


@pytest.mark.parametrize(
    ("urls", "provider", "outside"),
    [
        ({"gitlab_url": "http://10.1.2.3:8080"}, "rules", []),
        ({"gitlab_url": "https://192.168.0.5", "jira_url": "http://localhost:8080"}, None, []),
        ({"gitlab_url": "https://[fd00::1]/"}, "rules", []),
        ({"gitlab_url": "https://gitlab.com"}, "rules", ["gitlab.com"]),
        ({"icarus_url": "http://169.254.169.254/"}, "rules", ["169.254.169.254"]),
        ({"jira_url": "https://8.8.8.8"}, "rules", ["8.8.8.8"]),
        ({}, "openai", ["the openai API"]),
    ],
)
def test_egress_outside_the_units_allow_list(
    urls: dict[str, str], provider: str | None, outside: list[str]
) -> None:
    answers = configure.Answers(provider=provider, urls=urls)
    assert configure.egress_outside_allow_list(answers) == outside
