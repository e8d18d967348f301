"""From a queued job to a runnable spec: repository, .optirunner.toml and precedence."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.config import Settings
from runner.errors import SpecError
from runner.service import jobspec


def settings_for(repo: Path) -> Settings:
    return Settings.model_validate({"service": {"repositories": {"acme/w": str(repo)}}})


def test_repository_from_the_settings_map(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    assert jobspec.repository(settings, {}, {"project_path": "acme/w"}) == tmp_path.resolve()
    with pytest.raises(SpecError, match="no repository configured for 'other/x'"):
        jobspec.repository(settings, {}, {"project_path": "other/x"})


def test_repository_from_a_trusted_spec(tmp_path: Path) -> None:
    assert jobspec.repository(Settings(), {"repo": str(tmp_path)}, {}) == tmp_path.resolve()


def test_command_and_issue_beat_the_repository_file(tmp_path: Path) -> None:
    (tmp_path / ".optirunner.toml").write_text(
        'targets = ["a.py::f"]\ntest_cmd = "pytest -q"\nmax_candidates = 2\n'
    )
    defaults = jobspec.repo_defaults(tmp_path)
    spec = jobspec.build_spec(
        settings_for(tmp_path), tmp_path, {"targets": ["b.py::g"], "max_candidates": 5}, defaults
    )
    assert [str(t) for t in spec.targets] == ["b.py::g"]
    assert (spec.test_cmd, spec.max_candidates) == ("pytest -q", 5)


def test_repository_file_alone_is_enough(tmp_path: Path) -> None:
    (tmp_path / ".optirunner.toml").write_text('targets = ["a.py::f"]\n')
    spec = jobspec.build_spec(Settings(), tmp_path, {}, jobspec.repo_defaults(tmp_path))
    assert [str(t) for t in spec.targets] == ["a.py::f"]


def test_no_targets_anywhere_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="no targets"):
        jobspec.build_spec(Settings(), tmp_path, {}, jobspec.repo_defaults(tmp_path))


def test_bad_repository_file(tmp_path: Path) -> None:
    (tmp_path / ".optirunner.toml").write_text("targets = [\n")
    with pytest.raises(SpecError, match="cannot be read"):
        jobspec.repo_defaults(tmp_path)
    (tmp_path / ".optirunner.toml").write_text('repo = "/"\n')
    with pytest.raises(SpecError, match="unknown key"):
        jobspec.repo_defaults(tmp_path)
