"""Opened segment records at rest: AES-256-GCM with a key outside the database.

An Opening carries a SegmentRecord — times and positions, the most sensitive data the backend
ever holds (DESIGN §2.1). It is stored only sealed, so a copy of the database (a backup, a
replica, a SQL injection) reveals nothing of it without the key file; retention clears the
sealed bytes. The associated data binds each ciphertext to the row it belongs to (a challenge
id or a dispute id and segment index), so ciphertexts cannot be swapped between rows.

Format: 12-byte random nonce ‖ ciphertext ‖ 16-byte tag.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_LEN = 12
KEY_LEN = 32
_AAD_LABEL = b"quietmile/v1/opened-record\x00"


class SealError(ValueError):
    """Sealed bytes that do not open under this key and associated data."""


def associated_data(context_id: bytes, segment_index: int | None) -> bytes:
    """What a sealed record is bound to: its challenge or dispute id and segment index."""
    index = b"" if segment_index is None else segment_index.to_bytes(4, "big")
    return _AAD_LABEL + context_id + index


class Sealer:
    """Seals and opens byte strings with one AES-256-GCM key (never logged or printed)."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_LEN:
            raise ValueError("the sealing key must be %d bytes" % KEY_LEN)
        self._aead = AESGCM(key)

    def seal(self, plaintext: bytes, aad: bytes) -> bytes:
        nonce = os.urandom(NONCE_LEN)
        return nonce + self._aead.encrypt(nonce, plaintext, aad)

    def open(self, sealed: bytes, aad: bytes) -> bytes:
        if len(sealed) < NONCE_LEN + 16:
            raise SealError("sealed data too short")
        try:
            return self._aead.decrypt(sealed[:NONCE_LEN], sealed[NONCE_LEN:], aad)
        except InvalidTag:
            raise SealError("sealed data does not open under this key") from None

    def __repr__(self) -> str:
        return "Sealer(AES-256-GCM)"
