"""From a queued job's partial spec to a runnable `JobSpec`: repository and its defaults.

Precedence: the job's spec (command arguments > issue block, merged by the webhook layer)
beats the repository's `.optirunner.toml`, which beats the settings.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from runner.config import Settings
from runner.errors import SpecError
from runner.spec import JobSpec, Target, validate_repo
from runner.webhooks import specsource

REPO_FILE = ".optirunner.toml"


def repository(settings: Settings, spec: Mapping[str, Any], source: Mapping[str, Any]) -> Path:
    """The local checkout: `repo` of a trusted spec, else the settings' repository map."""
    if spec.get("repo"):
        return validate_repo(Path(str(spec["repo"])))
    project = str(source.get("project_path") or "")
    mapped = settings.service.repositories.get(project)
    if mapped is None:
        raise SpecError(
            f"no repository configured for {project or 'this job'!r} "
            "(service.repositories, or forge.gitlab.url to clone it from GitLab)"
        )
    return validate_repo(Path(mapped))


def repo_defaults(repo: Path) -> dict[str, Any]:
    """The repository's `.optirunner.toml`, validated like an issue block ({} if absent)."""
    path = repo / REPO_FILE
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SpecError(f"{REPO_FILE} cannot be read: {exc}") from None
    return specsource.validate(data, REPO_FILE)


def build_spec(
    settings: Settings, repo: Path, job_spec: Mapping[str, Any], defaults: Mapping[str, Any]
) -> JobSpec:
    """Merge the layers and check that the result names something to optimize."""
    layer = {k: v for k, v in job_spec.items() if k != "repo"}
    merged = specsource.merge_layers(layer, defaults)
    if not merged.get("targets"):
        raise SpecError(
            "no targets: name them in the /optimize command, an ```optirunner block "
            f"of the issue, or the repository's {REPO_FILE}"
        )
    return JobSpec(
        repo=str(repo),
        targets=tuple(Target.parse(t) for t in merged["targets"]),
        test_cmd=merged.get("test_cmd", settings.test_cmd),
        bench_cmd=merged.get("bench_cmd"),
        workload_cmd=merged.get("workload_cmd"),
        provider=settings.provider,
        max_candidates=int(merged.get("max_candidates", settings.max_candidates)),
        float_tolerance=merged.get("float_tolerance"),
    )
