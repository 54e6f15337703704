"""ECDSA P-256 verification for the backend, with `cryptography` (OpenSSL).

Same contract as protocol.p256.verify: raw 64-byte r‖s signatures over SHA-256, SEC1
uncompressed public keys; returns False for any bad signature, raises errors.InvalidKey for a
bad public key.
"""

from __future__ import annotations

from functools import lru_cache

from cryptography.exceptions import InvalidSignature as _CryptoInvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from protocol.errors import InvalidKey

_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


@lru_cache(maxsize=4096)
def load_public_key(pub: bytes) -> ec.EllipticCurvePublicKey:
    """Parse a 65-byte SEC1 uncompressed P-256 key (cached: the backend sees few keys often)."""
    if len(pub) != 65 or pub[0] != 4:
        raise InvalidKey("expected a 65-byte uncompressed SEC1 P-256 public key")
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), pub)
    except ValueError as e:
        raise InvalidKey(f"not a P-256 point: {e}") from None


def verify(pub: bytes, msg: bytes, sig: bytes) -> bool:
    """True iff ``sig`` (r‖s) is a valid ES256 signature of ``msg`` under ``pub``."""
    key = load_public_key(pub)
    if len(sig) != 64:
        return False
    r = int.from_bytes(sig[:32], "big")
    s = int.from_bytes(sig[32:], "big")
    if not (0 < r < _N and 0 < s < _N):
        return False
    try:
        key.verify(encode_dss_signature(r, s), msg, ec.ECDSA(hashes.SHA256()))
    except _CryptoInvalidSignature:
        return False
    return True
