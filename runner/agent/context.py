"""What a model may see: a view of the signed bundle, and nothing else.

`BundleView` holds the bundle's code files, a summary of its manifest (without the host's
repository path or commit) and its requirements. Requests are built only from a
`BundleView`, so anything that is not in the bundle cannot reach a prompt. A request about
one target carries `view.for_target(target)`: the bundle's code shaken again for that
target alone, with every class as an outline (runner/bundle/outline.py).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from runner.bundle.bundle import CODE, MANIFEST, REQUIREMENTS, check_bundle, read_bundle
from runner.bundle.extract import Extraction, Requirement, extract
from runner.errors import BundleError
from runner.spec import Target

_PREFIX = f"{CODE}/"


@dataclass(frozen=True)
class BundleView:
    """The bundle's content as the prompts use it.

    `files` maps repository paths (without the ``code/`` prefix) to their extracted text;
    `definitions` are manifest lines ``path:first-last kind name`` (``path kind name`` in
    a view for one target, whose lines are the bundle's, not the repository's);
    `import_roots` are the folders imports resolve from (``.`` for the top).
    """

    bundle_id: str
    targets: tuple[str, ...]
    files: tuple[tuple[str, str], ...]
    definitions: tuple[str, ...]
    requirements: tuple[str, ...]
    import_roots: tuple[str, ...] = (".",)

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
            import_roots=tuple(_root(r) for r in manifest.get("import_roots", [CODE])),
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
            import_roots=extraction.import_roots,
        )

    @property
    def code_bytes(self) -> int:
        """Bytes of the code files (UTF-8)."""
        return sum(len(text.encode()) for _path, text in self.files)

    def for_target(self, target: Target) -> BundleView:
        """What a request about `target` shows: the bundle's code that `target` reaches,
        every class as an outline (its header, the members the code reads, the other
        methods it calls by their signature)."""
        with tempfile.TemporaryDirectory(prefix="optirunner-view-") as tmp:
            root = Path(tmp)
            for path, text in self.files:
                file = root / _relative(path)
                file.parent.mkdir(parents=True, exist_ok=True)
                file.write_text(text, encoding="utf-8")
            extraction = extract(
                root, [target], _no_requirements, outline=True, roots=self.import_roots
            )
        return BundleView(
            bundle_id=self.bundle_id,
            targets=(str(target),),
            files=tuple((f.path, f.text) for f in extraction.files),
            definitions=tuple(
                f"{d.path} {d.kind} {d.name}" for f in extraction.files for d in f.definitions
            ),
            requirements=self.requirements,
            import_roots=extraction.import_roots,
        )

    def module(self, target: Target) -> str:
        """The bundle's text of the module that defines `target`."""
        for path, text in self.files:
            if path == target.path:
                return text
        raise BundleError(f"the bundle holds no file {target.path} for target {target}")


def view_of_module(target: Target, module: str) -> BundleView:
    """Tree-shake one module's text as a request would, without the repository.

    Used by the `Provider.propose` path, which is handed a module's text rather than a
    bundle: the result holds only what the target needs from that one module, classes as
    outlines.
    """
    with tempfile.TemporaryDirectory(prefix="optirunner-view-") as tmp:
        file = Path(tmp) / target.path
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(module, encoding="utf-8")
        return BundleView.from_extraction(extract(Path(tmp), [target], outline=True))


def _definition_line(entry: Mapping[str, Any]) -> str:
    first, last = entry["lines"]
    return f"{entry['path']}:{first}-{last} {entry['kind']} {entry['name']}"


def _root(manifest_root: str) -> str:
    """A manifest's import root (``code``, ``code/src``) as a repository folder."""
    return manifest_root.removeprefix(CODE).strip("/") or "."


def _relative(path: str) -> PurePosixPath:
    pure = PurePosixPath(path)
    if pure.is_absolute() or ".." in pure.parts:
        raise BundleError(f"the bundle holds a file outside its code folder: {path}")
    return pure


def _no_requirements(_modules: Iterable[str]) -> tuple[Requirement, ...]:
    """A view keeps the bundle's requirements; it does not look them up again."""
    return ()
