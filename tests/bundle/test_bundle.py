"""The signed bundle: manifest fields, determinism, and tampering with any byte."""

from __future__ import annotations

import hashlib
import json
import shutil
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from runner import __version__
from runner.bundle.bundle import build_bundle, check_bundle, verify_bundle
from runner.bundle.extract import Extraction, extract
from runner.bundle.signing import load_or_create_key, public_key_path
from runner.errors import BundleError
from runner.spec import Target

MODULE = '''import json
import yaml

RATE = 3


def price(x):
    """Price of x."""
    return json.dumps(x * RATE)


def unrelated():
    return yaml
'''
FIXED = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.fixture
def extraction(tmp_path: Path) -> Extraction:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "shop.py").write_text(MODULE)
    return extract(repo, [Target.parse("shop.py::price")])


@pytest.fixture
def key(tmp_path: Path) -> Ed25519PrivateKey:
    return load_or_create_key(tmp_path / "state")


def build(extraction: Extraction, key: Ed25519PrivateKey, out: Path) -> Path:
    build_bundle(extraction, out, key, repository="/src/shop", commit="abc123", now=lambda: FIXED)
    return out


def test_manifest_fields(extraction: Extraction, key: Ed25519PrivateKey, tmp_path: Path) -> None:
    out = build(extraction, key, tmp_path / "job")
    manifest = json.loads((out / "bundle/manifest.json").read_text())
    assert manifest["targets"] == ["shop.py::price"]
    assert manifest["source"] == {"repository": "/src/shop", "commit": "abc123"}
    assert manifest["runner_version"] == __version__
    assert manifest["created"] == FIXED.isoformat()
    assert manifest["import_roots"] == ["code"]
    code = (out / "bundle/code/shop.py").read_bytes()
    entry = next(f for f in manifest["files"] if f["path"] == "code/shop.py")
    assert entry == {
        "path": "code/shop.py",
        "size": len(code),
        "sha256": hashlib.sha256(code).hexdigest(),
    }
    assert 0 < manifest["share_of_original_bytes"] < 1
    assert manifest["original"]["bytes"] == len(MODULE)
    assert manifest["requirements"] == []  # yaml is only used by unrelated code
    assert b"unrelated" not in code


def test_files_are_private(extraction: Extraction, key: Ed25519PrivateKey, tmp_path: Path) -> None:
    out = build(extraction, key, tmp_path / "job")
    for path in [out / "bundle.zip", *(out / "bundle").rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), path
    keys = tmp_path / "state/keys"
    assert stat.S_IMODE(keys.stat().st_mode) == 0o700
    assert stat.S_IMODE((keys / "bundle-signing.key").stat().st_mode) == 0o600
    assert public_key_path(tmp_path / "state").is_file()


def test_deterministic(extraction: Extraction, key: Ed25519PrivateKey, tmp_path: Path) -> None:
    first = build(extraction, key, tmp_path / "a")
    second = build(extraction, key, tmp_path / "b")
    assert (first / "bundle.zip").read_bytes() == (second / "bundle.zip").read_bytes()


def test_key_is_reused(tmp_path: Path) -> None:
    one = load_or_create_key(tmp_path / "s").public_key().public_bytes_raw()
    assert load_or_create_key(tmp_path / "s").public_key().public_bytes_raw() == one


def test_verify_zip_and_folder(
    extraction: Extraction, key: Ed25519PrivateKey, tmp_path: Path
) -> None:
    out = build(extraction, key, tmp_path / "job")
    public = key.public_key()
    verify_bundle(out / "bundle.zip", public)
    verify_bundle(out / "bundle", public)
    manifest = check_bundle(out / "bundle.zip", public)
    assert len(manifest["files"]) == 2
    other = Ed25519PrivateKey.generate().public_key()
    with pytest.raises(BundleError, match="signature"):
        verify_bundle(out / "bundle.zip", other)


def _positions(size: int) -> list[int]:
    return sorted({0, 1, size // 3, size // 2, size - 2, size - 1} & set(range(size)))


def test_any_byte_of_the_zip(
    extraction: Extraction, key: Ed25519PrivateKey, tmp_path: Path
) -> None:
    out = build(extraction, key, tmp_path / "job")
    raw = (out / "bundle.zip").read_bytes()
    bad = tmp_path / "bad.zip"
    positions = range(0, len(raw), max(1, len(raw) // 150))
    for position in [*positions, len(raw) - 1]:
        tampered = bytearray(raw)
        tampered[position] ^= 0x01
        bad.write_bytes(bytes(tampered))
        with pytest.raises(BundleError):
            verify_bundle(bad, key.public_key())


@pytest.mark.parametrize(
    "name", ["manifest.json", "manifest.sig", "code/shop.py", "requirements.txt"]
)
def test_any_byte_of_any_file(
    extraction: Extraction, key: Ed25519PrivateKey, tmp_path: Path, name: str
) -> None:
    out = build(extraction, key, tmp_path / "job")
    original = (out / "bundle" / name).read_bytes()
    positions = _positions(len(original)) or [None]
    for position in positions:
        folder = tmp_path / f"copy-{position}"
        shutil.copytree(out / "bundle", folder)
        target = folder / name
        if position is None:  # an empty file: append one byte
            target.write_bytes(b"x")
        else:
            data = bytearray(original)
            data[position] ^= 0x20
            target.write_bytes(bytes(data))
        with pytest.raises(BundleError):
            verify_bundle(folder, key.public_key())


def test_added_and_removed_files(
    extraction: Extraction, key: Ed25519PrivateKey, tmp_path: Path
) -> None:
    out = build(extraction, key, tmp_path / "job")
    (out / "bundle/code/extra.py").write_text("x = 1\n")
    with pytest.raises(BundleError, match="not listed"):
        verify_bundle(out / "bundle", key.public_key())
    (out / "bundle/code/extra.py").unlink()
    (out / "bundle/requirements.txt").unlink()
    with pytest.raises(BundleError, match="missing"):
        verify_bundle(out / "bundle", key.public_key())


def test_refuses_a_used_output_folder(
    extraction: Extraction, key: Ed25519PrivateKey, tmp_path: Path
) -> None:
    out = build(extraction, key, tmp_path / "job")
    with pytest.raises(BundleError, match="already exists"):
        build(extraction, key, out)
