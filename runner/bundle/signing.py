"""The runner's Ed25519 bundle-signing key: created on first use, 0600 in a 0700 folder."""

from __future__ import annotations

import base64
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from runner.errors import BundleError
from runner.paths import private_dir, write_atomic

KEY_NAME = "bundle-signing.key"
PUBLIC_NAME = "bundle-signing.pub"


def key_path(state_dir: Path) -> Path:
    """Where the private signing key lives."""
    return state_dir / "keys" / KEY_NAME


def public_key_path(state_dir: Path) -> Path:
    """Where the exported public key lives (give this to auditors)."""
    return state_dir / "keys" / PUBLIC_NAME


def load_or_create_key(state_dir: Path) -> Ed25519PrivateKey:
    """The signing key under `<state_dir>/keys`, generated (and its public half exported) once."""
    path = key_path(state_dir)
    if path.is_file():
        return _load_private(path)
    private_dir(path.parent)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    write_atomic(path, pem)
    write_atomic(public_key_path(state_dir), public_pem(key.public_key()))
    return key


def _load_private(path: Path) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise BundleError(f"{path} is not an Ed25519 private key")
    return key


def public_pem(key: Ed25519PublicKey) -> bytes:
    """The public key as PEM (SubjectPublicKeyInfo)."""
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_public_key(pem: bytes) -> Ed25519PublicKey:
    """Parse a PEM public key; a clear error when it is not Ed25519."""
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError as exc:
        raise BundleError(f"not a PEM public key: {exc}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise BundleError("the public key is not an Ed25519 key")
    return key


def sign(key: Ed25519PrivateKey, data: bytes) -> bytes:
    """The `manifest.sig` content: a base64 Ed25519 signature and a newline."""
    return base64.b64encode(key.sign(data)) + b"\n"


def check_signature(key: Ed25519PublicKey, data: bytes, signature: bytes) -> None:
    """Raise BundleError unless `signature` (as written by `sign`) signs `data`."""
    try:
        raw = base64.b64decode(signature.strip(), validate=True)
        key.verify(raw, data)
    except (InvalidSignature, ValueError):
        raise BundleError(
            "manifest signature is invalid (manifest.json or manifest.sig changed)"
        ) from None
