"""What a model may see: a view of the signed bundle, and nothing else.

`BundleView` holds the bundle's code files, a summary of its manifest (without the host's
repository path or commit) and its requirements. Requests are built only from a
`BundleView`, so anything that is not in the bundle cannot reach a prompt.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from runner.bundle.bundle import CODE, MANIFEST, REQUIREMENTS, check_bundle, read_bundle
from runner.bundle.extract import Extraction, extract
from runner.errors import BundleError
from runner.spec import Target

_PREFIX = f"{CODE}/"


@dataclass(frozen=True)
class BundleView:
    """The bundle's content as the prompts use it.

    `files` maps repository paths (without the ``code/`` prefix) to their extracted text;
    `definitions` are manifest lines ``path:first-last kind name``.
    """

    bundle_id: str
    targets: tuple[str, ...]
    files: tuple[tuple[str, str], ...]
    definitions: tuple[str, ...]
    requirements: tuple[str, ...]

    @classmethod
    def from_files(cls, files: Mapping[str, bytes]) -> BundleView:
        """From a bundle's files (`read_bundle` output); the manifest must be among them."""
        if MANIFEST not in files:
            raise BundleError(f"{MANIFEST} is missing")
        manifest: dict[str, Any] = json.loads(files[MANIFEST])
        code = tuple(
            (path.removeprefix(_PREFIX), files[path].decode("utf-8"))
            for path in sorted(files)
            if path.startswith(_PREFIX)
        )
        requirements = files.get(REQUIREMENTS, b"").decode("utf-8").split()
        return cls(
            bundle_id=str(manifest["bundle_id"]),
            targets=tuple(manifest["targets"]),
            files=code,
            definitions=tuple(_definition_line(d) for d in manifest["definitions"]),
            requirements=tuple(requirements),
        )

    @classmethod
    def from_bundle(cls, path: Path, public_key: Ed25519PublicKey | bytes) -> BundleView:
        """Verify a bundle (zip or folder) against `public_key`, then view it."""
        check_bundle(path, public_key)
        return cls.from_files(read_bundle(path))

    @classmethod
    def from_extraction(cls, extraction: Extraction, bundle_id: str = "unsigned") -> BundleView:
        """From an extraction that has not been written as a bundle (same content)."""
        return cls(
            bundle_id=bundle_id,
            targets=tuple(str(t) for t in extraction.targets),
            files=tuple((f.path, f.text) for f in extraction.files),
            definitions=tuple(
                f"{d.path}:{d.first_line}-{d.last_line} {d.kind} {d.name}"
                for f in extraction.files
                for d in f.definitions
            ),
            requirements=tuple(r.line for r in extraction.requirements),
        )

    def module(self, target: Target) -> str:
        """The bundle's text of the module that defines `target`."""
        for path, text in self.files:
            if path == target.path:
                return text
        raise BundleError(f"the bundle holds no file {target.path} for target {target}")


def view_of_module(target: Target, module: str) -> BundleView:
    """Tree-shake one module's text as the bundle would, without the repository.

    Used by the `Provider.propose` path, which is handed a module's text rather than a
    bundle: the result holds only what the target needs from that one module.
    """
    with tempfile.TemporaryDirectory(prefix="optirunner-view-") as tmp:
        file = Path(tmp) / target.path
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(module, encoding="utf-8")
        return BundleView.from_extraction(extract(Path(tmp), [target]))


def _definition_line(entry: Mapping[str, Any]) -> str:
    first, last = entry["lines"]
    return f"{entry['path']}:{first}-{last} {entry['kind']} {entry['name']}"
