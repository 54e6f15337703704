"""Pedersen commitments on ristretto255 through libsodium (via rbcl): the backend's fast path.

This is the only module that touches the binding, so it can be swapped (PyNaCl, a future
pysodium) without touching the verifier. :class:`SodiumGroup` offers the commitment API of
protocol.pedersen and raises the same protocol.errors, so a verifier takes either
``protocol.pedersen`` or ``SodiumGroup()``; tests/host/test_group_agreement.py checks that
both agree byte for byte.

Three libsodium traits shape the code:
- ``crypto_scalarmult_ristretto255*`` refuse a result equal to the identity (zero scalar), so
  the zero terms of v*B + r*H are skipped here rather than asked for;
- rbcl's ``crypto_core_ristretto255_add`` ignores libsodium's return code, so every
  commitment is checked with ``is_valid_point`` before it is added;
- the libsodium bundled with rbcl 1.1.2 accepts an encoding whose top bit (bit 255) is set and
  decodes it as if the bit were clear. RFC 9496 §4.3.1 rejects it (s >= 2^255 > p), and so must
  we: otherwise every commitment would have a second byte string that verifies.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Final

import rbcl

from protocol import errors, pedersen, ristretto

_IDENTITY: Final = bytes(32)
L: Final = ristretto.L
VALUE_LIMIT: Final = pedersen.VALUE_LIMIT


def _is_int(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _check_value(value: int) -> None:
    if not _is_int(value) or not 0 <= value < VALUE_LIMIT:
        raise errors.InvalidScalar("value must be an int in [0, 2^64)")


def _check_blind(blind: int) -> None:
    if not _is_int(blind) or not 0 <= blind < L:
        raise errors.InvalidScalar("blinding factor must be an int in [0, L)")


def _scalar(k: int) -> bytes:
    return k.to_bytes(32, "little")


def _point(b: object) -> bytes:
    """``b`` as bytes if it is a canonical encoding of a group element, else InvalidEncoding."""
    if isinstance(b, bytearray | memoryview):
        b = bytes(b)
    if (
        not isinstance(b, bytes)
        or len(b) != 32
        or b[31] & 0x80
        or not rbcl.crypto_core_ristretto255_is_valid_point(b)
    ):
        raise errors.InvalidEncoding("not a canonical ristretto255 encoding")
    return b


class SodiumGroup:
    """Pedersen commitments C = value*B + blind*H computed by libsodium."""

    H_ENCODED: Final = pedersen.H_ENCODED

    def is_valid_point(self, b: object) -> bool:
        """True if ``b`` is the canonical 32-byte encoding of a group element."""
        try:
            _point(b)
        except errors.InvalidEncoding:
            return False
        return True

    def commit(self, value: int, blind: int) -> bytes:
        """32-byte encoding of value*B + blind*H."""
        _check_value(value)
        _check_blind(blind)
        vb: bytes = rbcl.crypto_scalarmult_ristretto255_base(_scalar(value)) if value else _IDENTITY
        if not blind:
            return vb
        rh: bytes = rbcl.crypto_scalarmult_ristretto255(_scalar(blind), self.H_ENCODED)
        if not value:
            return rh
        c: bytes = rbcl.crypto_core_ristretto255_add(vb, rh)
        return c

    def random_blind(self, rng: Callable[[int], bytes]) -> int:
        """A uniform blinding factor: 64 bytes from ``rng(n)`` reduced mod L."""
        return ristretto.scalar_reduce64(rng(64))

    def blind_to_bytes(self, r: int) -> bytes:
        """32-byte little-endian encoding of a blinding factor."""
        _check_blind(r)
        return _scalar(r)

    def blind_from_bytes(self, b: bytes) -> int:
        """Blinding factor from its canonical 32-byte encoding; InvalidScalar if >= L."""
        return int(ristretto.scalar_from_bytes(b))

    def add_blinds(self, a: int, b: int) -> int:
        """(a + b) mod L."""
        _check_blind(a)
        _check_blind(b)
        return (a + b) % L

    def verify_opening(self, commitment: bytes, value: int, blind: int) -> None:
        """OpeningMismatch unless ``commitment`` opens to (value, blind)."""
        c = _point(commitment)
        # Canonical encodings are unique, so comparing bytes compares elements.
        if c != self.commit(value, blind):
            raise errors.OpeningMismatch("commitment does not open to the claimed value")

    def sum_commitments(self, commitments: Iterable[bytes]) -> bytes:
        """Encoding of the sum of the commitments; streams over any iterable."""
        valid = rbcl.crypto_core_ristretto255_is_valid_point
        add = rbcl.crypto_core_ristretto255_add
        acc = _IDENTITY
        for c in commitments:
            # The common case inline (this loop is the backend's hot path); odd inputs go
            # through _point for the full checks.
            if type(c) is not bytes or len(c) != 32 or c[31] & 0x80 or not valid(c):
                c = _point(c)
            acc = add(acc, c)
        return acc

    def verify_sum(self, commitments: Iterable[bytes], total: int, blind_sum: int) -> None:
        """SumMismatch unless the commitments add up to C(total, blind_sum)."""
        expected = self.commit(total, blind_sum)
        if self.sum_commitments(commitments) != expected:
            raise errors.SumMismatch("commitments do not add up to the claimed total")
