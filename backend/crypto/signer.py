"""The authority's signer: protocol.p256.Signer's interface backed by `cryptography`.

protocol.cose.sign1 needs ``kid``, ``public_key()`` and ``sign(msg)``; signatures are raw
64-byte r‖s (COSE ES256), not DER. OpenSSL uses random nonces, so signatures differ from the
RFC 6979 ones of the software signer; both verify the same way.
"""

from __future__ import annotations

from typing import Protocol

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, decode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from protocol import p256


class Signer(Protocol):
    """What protocol.cose.sign1 needs of a signer (protocol.p256.Signer has the same shape)."""

    kid: bytes

    def public_key(self) -> bytes: ...

    def sign(self, msg: bytes) -> bytes: ...


class CryptographySigner:
    """Signs with a P-256 private key held by `cryptography` (never printed or logged)."""

    def __init__(self, private_key: ec.EllipticCurvePrivateKey) -> None:
        if not isinstance(private_key.curve, ec.SECP256R1):
            raise ValueError("the authority key must be a P-256 key")
        self._key = private_key
        self._pub = private_key.public_key().public_bytes(
            Encoding.X962, PublicFormat.UncompressedPoint
        )
        self.kid: bytes = p256.key_id(self._pub)

    def public_key(self) -> bytes:
        """65-byte SEC1 uncompressed public key."""
        return self._pub

    def sign_digest(self, digest32: bytes) -> bytes:
        """64-byte r‖s signature of a SHA-256 digest."""
        if len(digest32) != 32:
            raise ValueError("digest must be 32 bytes")
        der = self._key.sign(digest32, ec.ECDSA(Prehashed(hashes.SHA256())))
        r, s = decode_dss_signature(der)
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    def sign(self, msg: bytes) -> bytes:
        """64-byte r‖s signature of SHA-256(msg)."""
        der = self._key.sign(msg, ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    def __repr__(self) -> str:
        return "CryptographySigner(kid=%s)" % self.kid.hex()
