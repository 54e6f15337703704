"""The backend's keys: loaded from, or created in, the key directory.

- the authority's P-256 key signs tariff policies, OBU certificates, receipts, challenges and
  dispute requests;
- the transparency log's P-256 key signs tree heads only. It is a separate key so that the
  log can be handed to another party (a court, the DPO) without the power to sign tariffs or
  receipts, and so that a leak of one does not forge the other;
- the opened-data key (32 random bytes) seals opened segment records at rest
  (backend/crypto/sealing.py).

All are stored unencrypted, readable by the service user only (0600, directory 0700);
production deployments should put the directory on an encrypted volume or swap in an
HSM-backed signer with the same interface (backend.crypto.signer).
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from backend.crypto.signer import CryptographySigner

AUTHORITY_KEY_FILE = "authority-p256.pem"
LOG_KEY_FILE = "log-p256.pem"
OPENED_DATA_KEY_FILE = "opened-data.key"
OPENED_DATA_KEY_LEN = 32


class KeyFileError(RuntimeError):
    """The key file exists but is unusable (wrong type, unreadable, too permissive)."""


def key_path(key_dir: Path, name: str = AUTHORITY_KEY_FILE) -> Path:
    return Path(key_dir) / name


def _write_new(key_dir: Path, name: str, data: bytes) -> None:
    key_dir = Path(key_dir)
    key_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(key_dir, 0o700)
    # O_EXCL: two processes initialising at once must not both write a key.
    fd = os.open(key_path(key_dir, name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _read_private(path: Path) -> bytes:
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise KeyFileError(f"{path} is accessible by others (mode {mode:o}); chmod 600 it")
    return path.read_bytes()


def _create_p256(key_dir: Path, name: str) -> CryptographySigner:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _write_new(key_dir, name, pem)
    return CryptographySigner(key)


def _load_p256(key_dir: Path, name: str) -> CryptographySigner:
    path = key_path(key_dir, name)
    key = serialization.load_pem_private_key(_read_private(path), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise KeyFileError(f"{path} is not a P-256 private key")
    return CryptographySigner(key)


def _load_or_create_p256(key_dir: Path, name: str) -> CryptographySigner:
    try:
        return _load_p256(key_dir, name)
    except FileNotFoundError:
        pass
    try:
        return _create_p256(key_dir, name)
    except FileExistsError:
        # Another process created it between our two calls.
        return _load_p256(key_dir, name)


def create_authority_key(key_dir: Path) -> CryptographySigner:
    """Create a new key; refuses to overwrite an existing one (that would orphan every
    certificate and receipt signed so far)."""
    return _create_p256(key_dir, AUTHORITY_KEY_FILE)


def load_authority_key(key_dir: Path) -> CryptographySigner:
    return _load_p256(key_dir, AUTHORITY_KEY_FILE)


def load_or_create_authority_key(key_dir: Path) -> CryptographySigner:
    return _load_or_create_p256(key_dir, AUTHORITY_KEY_FILE)


def load_or_create_log_key(key_dir: Path) -> CryptographySigner:
    """The transparency log's tree-head key (never the authority key: module docstring)."""
    return _load_or_create_p256(key_dir, LOG_KEY_FILE)


def load_or_create_opened_data_key(key_dir: Path) -> bytes:
    """The 32-byte key that seals opened segment records. Losing it makes every stored
    opening unreadable (which is also how to destroy them all at once)."""
    path = key_path(key_dir, OPENED_DATA_KEY_FILE)
    for _ in range(2):
        try:
            key = _read_private(path)
        except FileNotFoundError:
            try:
                _write_new(key_dir, OPENED_DATA_KEY_FILE, os.urandom(OPENED_DATA_KEY_LEN))
            except FileExistsError:
                pass  # another process created it between our two calls
            continue
        if len(key) != OPENED_DATA_KEY_LEN:
            raise KeyFileError(f"{path} must hold exactly {OPENED_DATA_KEY_LEN} bytes")
        return key
    raise KeyFileError(f"{path} could not be created")
