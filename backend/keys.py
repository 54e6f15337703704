"""The authority's P-256 signing key: loaded from, or created in, the key directory.

The key signs tariff policies, OBU certificates, receipts and challenges. It is stored as an
unencrypted PKCS#8 PEM readable by the service user only (0600, directory 0700); production
deployments should put the directory on an encrypted volume or swap in an HSM-backed signer
with the same interface (backend.crypto.signer).
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from backend.crypto.signer import CryptographySigner

AUTHORITY_KEY_FILE = "authority-p256.pem"


class KeyFileError(RuntimeError):
    """The key file exists but is unusable (wrong type, unreadable, too permissive)."""


def key_path(key_dir: Path) -> Path:
    return Path(key_dir) / AUTHORITY_KEY_FILE


def create_authority_key(key_dir: Path) -> CryptographySigner:
    """Create a new key; refuses to overwrite an existing one (that would orphan every
    certificate and receipt signed so far)."""
    key_dir = Path(key_dir)
    key_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(key_dir, 0o700)
    path = key_path(key_dir)
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # O_EXCL: two processes initialising at once must not both write a key.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    return CryptographySigner(key)


def load_authority_key(key_dir: Path) -> CryptographySigner:
    path = key_path(key_dir)
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise KeyFileError(f"{path} is accessible by others (mode {mode:o}); chmod 600 it")
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise KeyFileError(f"{path} is not a P-256 private key")
    return CryptographySigner(key)


def load_or_create_authority_key(key_dir: Path) -> CryptographySigner:
    try:
        return load_authority_key(key_dir)
    except FileNotFoundError:
        pass
    try:
        return create_authority_key(key_dir)
    except FileExistsError:
        # Another process created it between our two calls.
        return load_authority_key(key_dir)
