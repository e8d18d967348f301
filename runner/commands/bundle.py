"""`optirunner bundle create|verify`: show, write and check exactly what leaves the host."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from runner import paths
from runner.bundle.bundle import BuiltBundle, build_bundle, check_bundle
from runner.bundle.extract import Extraction, extract
from runner.bundle.signing import load_or_create_key, public_key_path
from runner.config import load_settings
from runner.errors import BundleError
from runner.spec import Target, validate_repo


def create(
    *,
    repo: Path,
    targets: list[str],
    as_json: bool,
    out: Path | None,
    config: Path | None,
    now: Callable[[], datetime] | None = None,
    show_prompt: bool = False,
    provider: str | None = None,
) -> int:
    """Extract the targets' code, write the signed bundle, print what it contains.

    With `show_prompt`, print instead the exact request body `provider` would send.
    """
    settings = load_settings(config)
    root = validate_repo(repo)
    parsed = [Target.parse(t) for t in targets]
    extraction = extract(root, parsed)
    out_dir = paths.private_dir(out) if out else _job_dir(settings.state_dir)
    built = build_bundle(
        extraction,
        out_dir,
        load_or_create_key(settings.state_dir),
        repository=str(root),
        commit=git_commit(root),
        now=now or (lambda: datetime.now(UTC)),
    )
    if show_prompt:
        from runner.agent.show import show_prompt as prompt_text  # noqa: PLC0415 - SDK-free but heavy

        chosen = provider or settings.provider
        sys.stdout.write(
            prompt_text(built.folder, chosen, settings.ai, settings.measure.min_effect)
        )
        return 0
    public = public_key_path(settings.state_dir)
    text = _json(built, public) if as_json else _summary(extraction, built, public)
    sys.stdout.write(text)
    return 0


def verify(*, path: Path, public_key: Path | None, config: Path | None) -> int:
    """Check a bundle's signature and every file's hash; exit 0 only when intact."""
    key_file = public_key or public_key_path(load_settings(config).state_dir)
    if not key_file.is_file():
        raise BundleError(f"public key {key_file} does not exist (pass --public-key)")
    manifest = check_bundle(path, key_file.read_bytes())
    count = len(manifest["files"]) + 2  # the listed files, manifest.json and manifest.sig
    sys.stdout.write(f"signature valid, {count} files intact (bundle {manifest['bundle_id']})\n")
    return 0


def _job_dir(state_dir: Path) -> Path:
    return paths.JobDir.create(state_dir, paths.new_job_id()).root


def git_commit(repo: Path) -> str | None:
    """The checked-out commit of `repo`, or None when it is not a git checkout (read-only)."""
    try:
        done = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--verify", "-q", "HEAD"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def _json(built: BuiltBundle, public: Path) -> str:
    data: dict[str, Any] = {
        "zip": str(built.zip_path),
        "folder": str(built.folder),
        "public_key": str(public),
        "manifest": built.manifest,
    }
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def _summary(extraction: Extraction, built: BuiltBundle, public: Path) -> str:
    manifest = built.manifest
    lines = [f"What would leave this host: bundle {built.bundle_id}", ""]
    lines += _file_table(extraction, manifest)
    lines += ["", "Definitions:"]
    lines += [
        f"  {d['path'] + ':' + str(d['lines'][0]) + '-' + str(d['lines'][1]):<40} "
        f"{d['kind']:<14} {d['name']}"
        for d in manifest["definitions"]
    ]
    requirements = ", ".join(manifest["requirements"]) or "none"
    lines += [
        "",
        f"Third-party requirements: {requirements}",
        f"Share of the original files' bytes: {extraction.share:.1%} "
        f"({extraction.code_bytes} of {extraction.original_bytes} bytes)",
        f"Bundle: {built.zip_path} (folder {built.folder})",
        f"Verify: optirunner bundle verify {built.zip_path} --public-key {public}",
    ]
    return "\n".join(lines) + "\n"


def _file_table(extraction: Extraction, manifest: dict[str, Any]) -> list[str]:
    counts = {f.path: len(f.definitions) for f in extraction.files}
    originals = {f["path"]: f["size"] for f in manifest["original"]["files"]}
    rows = [("file", "defs", "lines", "bytes", "of original", "sha256")]
    for entry in manifest["files"]:
        path = entry["path"].removeprefix("code/")
        original = originals.get(path)
        share = f"{entry['size'] / original:.0%}" if original else "-"
        rows.append(
            (
                entry["path"],
                str(counts.get(path, "-")),
                str(_line_count(extraction, path)),
                str(entry["size"]),
                share,
                entry["sha256"],
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    return ["  ".join(c.ljust(w) for c, w in zip(row, [*widths, 0], strict=True)) for row in rows]


def _line_count(extraction: Extraction, path: str) -> int | str:
    found = next((f for f in extraction.files if f.path == path), None)
    return found.text.count("\n") if found else "-"
