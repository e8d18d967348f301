"""Factory, token lookup, branch names."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import TOKEN, gitlab_job

from runner.config import Settings
from runner.errors import ConfigError, ForgeError
from runner.forge.base import ForgeJob, ProgressHandle, branch_name, target_slug
from runner.forge.factory import open_forge
from runner.forge.gitlab import GitLabForge
from runner.forge.gitremote import GitRemote
from runner.forge.jira import mapped_repository
from runner.forge.secrets import find_token, forge_token, variable_name
from runner.forge.settings import ForgeSettings, GitLabForgeSettings, JiraForgeSettings


def test_token_from_credentials_then_variable(tmp_path: Path) -> None:
    (tmp_path / "gitlab-token").write_text("from-file\n")
    assert forge_token("gitlab-token", {"CREDENTIALS_DIRECTORY": str(tmp_path)}) == "from-file"
    assert forge_token("gitlab-token", {"OPTIRUNNER_GITLAB_TOKEN": "env"}) == "env"
    with pytest.raises(ConfigError, match="OPTIRUNNER_GITLAB_TOKEN"):
        forge_token("gitlab-token", {})


def test_packaged_credential_names_read_the_documented_variables(tmp_path: Path) -> None:
    """The unit loads `optirunner-gitlab-token`; the variable stays OPTIRUNNER_GITLAB_TOKEN."""
    settings = ForgeSettings()
    assert settings.gitlab.credential == "optirunner-gitlab-token"
    assert variable_name(settings.gitlab.credential) == "OPTIRUNNER_GITLAB_TOKEN"
    assert variable_name(settings.jira.credential) == "OPTIRUNNER_JIRA_TOKEN"
    assert variable_name(settings.jira.git_credential) == "OPTIRUNNER_GIT_TOKEN"
    (tmp_path / "optirunner-gitlab-token").write_text("from-unit\n")
    env = {"CREDENTIALS_DIRECTORY": str(tmp_path)}
    assert forge_token(settings.gitlab.credential, env) == "from-unit"
    assert find_token(settings.jira.credential, env) is None


def test_jira_project_mapped_to_a_git_url_needs_no_gitlab(tmp_path: Path) -> None:
    url = "https://git.acme.example/acme/widgets.git"
    settings = ForgeSettings(jira=JiraForgeSettings(url="https://jira.example", projects={}))
    job = ForgeJob("j", {"forge": "jira", "issue": "OPT-1", "project_path": url})
    repo = mapped_repository(settings, tmp_path, job, {"OPTIRUNNER_GIT_TOKEN": "t"})
    assert isinstance(repo, GitRemote)
    assert repo.clone_url() == url
    assert repo.git.auth is not None
    assert repo.git.auth.scope == url  # sent to that repository only
    assert mapped_repository(settings, tmp_path, job, {}).git.auth is None  # anonymous
    gitlab_mapped = ForgeJob("j", {"forge": "jira", "issue": "OPT-1", "project_path": "a/b"})
    with pytest.raises(ConfigError, match="OPTIRUNNER_GITLAB_TOKEN"):
        mapped_repository(settings, tmp_path, gitlab_mapped, {})


def test_open_forge(tmp_path: Path) -> None:
    settings = ForgeSettings(gitlab=GitLabForgeSettings(url="https://gitlab.example"))
    env = {"OPTIRUNNER_GITLAB_TOKEN": TOKEN, "OPTIRUNNER_JIRA_TOKEN": "j"}
    assert isinstance(open_forge(settings, tmp_path, gitlab_job(), env), GitLabForge)
    with pytest.raises(ForgeError, match="unknown forge"):
        open_forge(settings, tmp_path, ForgeJob("j", {"forge": "bitbucket"}), env)
    with pytest.raises(ForgeError, match="not mapped"):
        open_forge(settings, tmp_path, ForgeJob("j", {"forge": "jira", "issue": "X-1"}), env)


def test_git_sees_only_the_proxy_variables_the_caller_passed(tmp_path: Path) -> None:
    settings = ForgeSettings(gitlab=GitLabForgeSettings(url="https://gitlab.example"))
    env = {
        "OPTIRUNNER_GITLAB_TOKEN": TOKEN,
        "https_proxy": "http://proxy:3128",
        "SSL_CERT_FILE": "/etc/ca.pem",
        "AWS_SECRET_ACCESS_KEY": "not for git",
    }
    forge = open_forge(settings, tmp_path, gitlab_job(), env)
    assert isinstance(forge, GitLabForge)
    passed = {"https_proxy": "http://proxy:3128", "SSL_CERT_FILE": "/etc/ca.pem"}
    assert forge.repository.git.passthrough == passed
    url = "https://git.acme.example/acme/widgets.git"
    job = ForgeJob("j", {"forge": "jira", "issue": "OPT-1", "project_path": url})
    assert mapped_repository(settings, tmp_path, job, env).git.passthrough == passed
    assert GitLabForge(settings, tmp_path, TOKEN, "42").repository.git.passthrough == {}


def test_settings_nested_in_runner_settings() -> None:
    assert Settings().forge.label_running == "optirunner::running"
    assert Settings(forge={"draft": False}).forge.draft is False


def test_branch_names() -> None:
    assert target_slug("pkg/inventory.py::Cache.lookup") == "inventory-cache-lookup"
    assert branch_name("optirunner/", "7", ["a/b.py::f"]) == "optirunner/7-b-f"
    many = branch_name("optirunner/", "OPT-1", ["a.py::f", "b.py::g"])
    assert many.startswith("optirunner/OPT-1-a-f-and-1-more-")


def test_handle_round_trip() -> None:
    handle = ProgressHandle("j", "gitlab", "7", "12", "head", ["s"], "https://x", "main")
    assert ProgressHandle.from_dict(handle.to_dict()) == handle
