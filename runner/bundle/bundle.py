"""The bundle: exactly what leaves the host, as a signed folder and a deterministic zip.

Layout (the same inside `bundle.zip` and the `bundle/` folder)::

    manifest.json     targets, source, every file's size and sha256, the bundle id
    manifest.sig      Ed25519 signature of manifest.json (base64)
    requirements.txt  third-party distributions the extracted code imports
    code/...          the extracted code, at the repository's paths

The manifest lists every other file with its sha256, so checking the signature of the
manifest and then every file's hash (and that no file was added) covers every byte.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from runner import __version__
from runner.bundle.extract import Extraction
from runner.bundle.signing import check_signature, load_public_key, sign
from runner.errors import BundleError
from runner.paths import private_dir, write_atomic

FORMAT = 1
BUNDLE_DIR = "bundle"
BUNDLE_ZIP = "bundle.zip"
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
REQUIREMENTS = "requirements.txt"
CODE = "code"
# Fixed metadata so that the same content always gives the same zip bytes.
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
_ZIP_MODE = 0o100600 << 16


@dataclass(frozen=True)
class BuiltBundle:
    """Where a bundle was written and what its manifest says."""

    folder: Path
    zip_path: Path
    manifest: dict[str, Any]

    @property
    def bundle_id(self) -> str:
        """The sha256 of the bundle's content (independent of the creation time)."""
        return str(self.manifest["bundle_id"])


def sha256(data: bytes) -> str:
    """Hex sha256 of `data`."""
    return hashlib.sha256(data).hexdigest()


def content_files(extraction: Extraction) -> dict[str, bytes]:
    """The bundle's payload: the extracted code and requirements.txt (no manifest)."""
    files = {f"{CODE}/{f.path}": f.text.encode() for f in extraction.files}
    requirements = "".join(f"{r.line}\n" for r in extraction.requirements)
    files[REQUIREMENTS] = requirements.encode()
    return files


def content_id(files: Mapping[str, bytes]) -> str:
    """The bundle id: sha256 over the sorted (path, sha256) list of the payload files."""
    listing = "".join(f"{path}\0{sha256(files[path])}\n" for path in sorted(files))
    return sha256(listing.encode())


def build_manifest(
    extraction: Extraction,
    files: Mapping[str, bytes],
    *,
    repository: str,
    commit: str | None,
    created: datetime,
) -> dict[str, Any]:
    """The manifest of a payload (pure)."""
    return {
        "format": FORMAT,
        "bundle_id": content_id(files),
        "targets": [str(t) for t in extraction.targets],
        "source": {"repository": repository, "commit": commit},
        "runner_version": __version__,
        "created": created.isoformat(),
        "import_roots": [_root_path(r) for r in extraction.import_roots],
        "files": [
            {"path": p, "size": len(files[p]), "sha256": sha256(files[p])} for p in sorted(files)
        ],
        "definitions": _definitions(extraction),
        "original": {
            "files": [{"path": f.path, "size": f.original_size} for f in extraction.files],
            "bytes": extraction.original_bytes,
        },
        "share_of_original_bytes": round(extraction.share, 4),
        "requirements": [r.line for r in extraction.requirements],
    }


def _root_path(root: str) -> str:
    return CODE if root in ("", ".") else f"{CODE}/{root}"


def _definitions(extraction: Extraction) -> list[dict[str, Any]]:
    return [
        {
            "path": d.path,
            "name": d.name,
            "kind": d.kind,
            "lines": [d.first_line, d.last_line],
            "bytes": len(d.text.encode()),
        }
        for f in extraction.files
        for d in f.definitions
    ]


def manifest_bytes(manifest: Mapping[str, Any]) -> bytes:
    """The canonical serialisation of a manifest (sorted keys, two-space indent)."""
    return (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()


def signed_files(
    extraction: Extraction,
    key: Ed25519PrivateKey,
    *,
    repository: str,
    commit: str | None,
    created: datetime,
) -> dict[str, bytes]:
    """Every file of the bundle, manifest and signature included (pure but for signing)."""
    files = content_files(extraction)
    manifest = build_manifest(
        extraction, files, repository=repository, commit=commit, created=created
    )
    raw = manifest_bytes(manifest)
    return {**files, MANIFEST: raw, SIGNATURE: sign(key, raw)}


def zip_bytes(files: Mapping[str, bytes]) -> bytes:
    """A deterministic zip: sorted entries, fixed time and mode, stored (no compression).

    Stored entries keep the bytes independent of the zlib version, so a verifier on another
    machine can rebuild the same zip and compare.
    """
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for path in sorted(files):
            info = zipfile.ZipInfo(path, date_time=_ZIP_TIME)
            info.external_attr = _ZIP_MODE
            info.create_system = 3
            archive.writestr(info, files[path])
    return buffer.getvalue()


def build_bundle(
    extraction: Extraction,
    out_dir: Path,
    key: Ed25519PrivateKey,
    *,
    repository: str,
    commit: str | None,
    now: Callable[[], datetime],
) -> BuiltBundle:
    """Write `out_dir/bundle/` and `out_dir/bundle.zip` (0600 files in 0700 folders)."""
    files = signed_files(extraction, key, repository=repository, commit=commit, created=now())
    folder = out_dir / BUNDLE_DIR
    if folder.exists() and any(folder.iterdir()):
        raise BundleError(f"{folder} already exists; choose an empty output folder")
    _write_folder(folder, files)
    zip_path = out_dir / BUNDLE_ZIP
    write_atomic(zip_path, zip_bytes(files))
    return BuiltBundle(folder, zip_path, json.loads(files[MANIFEST]))


def _write_folder(folder: Path, files: Mapping[str, bytes]) -> None:
    private_dir(folder)
    for path, data in sorted(files.items()):
        target = folder / path
        for parent in reversed(target.relative_to(folder).parents[:-1]):
            private_dir(folder / parent)
        write_atomic(target, data)


# --- verification -------------------------------------------------------------------------


def verify_bundle(path: Path, public_key: Ed25519PublicKey | bytes) -> None:
    """Raise BundleError unless the bundle (zip or folder) is intact and signed by `public_key`."""
    check_bundle(path, public_key)


def check_bundle(path: Path, public_key: Ed25519PublicKey | bytes) -> dict[str, Any]:
    """Verify a bundle and return its manifest."""
    key = load_public_key(public_key) if isinstance(public_key, bytes) else public_key
    files = read_bundle(path)
    manifest = _check_manifest(files, key)
    _check_files(files, manifest)
    if path.is_file() and zip_bytes(files) != path.read_bytes():
        raise BundleError("the zip was modified after signing (it is not in canonical form)")
    return manifest


def read_bundle(path: Path) -> dict[str, bytes]:
    """Every file of a bundle zip or folder, by its bundle path."""
    if path.is_dir():
        return {
            p.relative_to(path).as_posix(): p.read_bytes()
            for p in sorted(path.rglob("*"))
            if p.is_file() or p.is_symlink()
        }
    if not path.is_file():
        raise BundleError(f"{path} does not exist")
    return _read_zip(path)


def _read_zip(path: Path) -> dict[str, bytes]:
    try:
        with zipfile.ZipFile(path) as archive:
            entries = [(n, archive.read(n)) for n in archive.namelist() if not n.endswith("/")]
    except Exception as exc:  # any corruption of the container is a failed verification
        raise BundleError(f"{path} is not a readable bundle zip: {exc}") from None
    files = dict(entries)
    if len(files) != len(entries):
        raise BundleError("the zip holds duplicate entries")
    return files


def _check_manifest(files: Mapping[str, bytes], key: Ed25519PublicKey) -> dict[str, Any]:
    for name in (MANIFEST, SIGNATURE):
        if name not in files:
            raise BundleError(f"{name} is missing")
    check_signature(key, files[MANIFEST], files[SIGNATURE])
    manifest: dict[str, Any] = json.loads(files[MANIFEST])
    return manifest


def _check_files(files: Mapping[str, bytes], manifest: Mapping[str, Any]) -> None:
    listed = {entry["path"]: entry for entry in manifest["files"]}
    payload = {p: data for p, data in files.items() if p not in (MANIFEST, SIGNATURE)}
    for path in sorted(set(payload) - set(listed)):
        raise BundleError(f"{path} is not listed in the manifest (added after signing)")
    for path, entry in sorted(listed.items()):
        if path not in payload:
            raise BundleError(f"{path} is missing")
        if sha256(payload[path]) != entry["sha256"] or len(payload[path]) != entry["size"]:
            raise BundleError(f"{path} was modified (sha256 does not match the manifest)")
    if content_id(payload) != manifest["bundle_id"]:
        raise BundleError("the bundle id does not match the content")
