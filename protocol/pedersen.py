"""Pedersen commitments on ristretto255: C = value*B + blind*H.

B is the ristretto255 generator; H is the element derivation of SHA-512(labels.PEDERSEN_H),
computed on the host (tools/gen_ristretto_tables.py) and shipped as a constant, so nobody knows
log_B(H). Commitments are perfectly hiding and computationally binding; they add up:
C(v1, r1) + C(v2, r2) = C(v1 + v2, r1 + r2), which is how a statement's total is checked
without opening any segment.

The same API is offered on the backend by backend.crypto.group.SodiumGroup (libsodium), so a
verifier can take either.
"""

from protocol import errors, ristretto
from protocol import tables_ristretto as _tables
from protocol.compat import is_int, lazy_names

TYPE_CHECKING = False
if TYPE_CHECKING:  # for mypy; at run time __getattr__ below provides them
    from protocol.pedersen_check import H as H
    from protocol.pedersen_check import sum_commitments as sum_commitments
    from protocol.pedersen_check import verify_opening as verify_opening
    from protocol.pedersen_check import verify_sum as verify_sum

# The verifier's half — H as a point, checks of openings and of sums — is
# protocol/pedersen_check.py, offered here by name and loaded on first use: the OBU commits
# and never checks, and decoding H at every import of this module (after each segment) cost
# time and heap for nothing.
__getattr__ = lazy_names(
    __name__,
    ("protocol.pedersen_check", ("H", "verify_opening", "sum_commitments", "verify_sum")),
)
# The OBU imports this module again for every segment, on whatever heap the drive has left:
# two import-time names out, so that its globals (17) never need a table above 272 bytes.
del TYPE_CHECKING, lazy_names

# Values are committed as scalars below 2^64 (the protocol keeps prices below 2^32, and sums
# of up to a few million of them stay below 2^64); the comb tables cover the full scalar range.
VALUE_LIMIT = 1 << 64

H_ENCODED = _tables.H_ENCODED


def _check_value(value: int) -> None:
    if not is_int(value) or not 0 <= value < VALUE_LIMIT:
        raise errors.InvalidScalar("value must be an int in [0, 2^64)")


def _check_blind(blind: int) -> None:
    if not is_int(blind) or not 0 <= blind < ristretto.L:
        raise errors.InvalidScalar("blinding factor must be an int in [0, L)")


def commit_point(value: int, blind: int) -> tuple[int, int, int, int]:
    """The point value*B + blind*H (one interleaved comb pass, doublings shared)."""
    _check_value(value)
    _check_blind(blind)
    # The dense blind goes first so that the sparse value rarely forces an extra T product.
    return ristretto.comb_mult2(blind, _tables.H_COMB, value, _tables.B_COMB)


def commit(value: int, blind: int) -> bytes:
    """32-byte encoding of the commitment value*B + blind*H."""
    return ristretto.encode(commit_point(value, blind))


def random_blind(rng) -> int:
    """A uniform blinding factor: 64 bytes from ``rng(n)`` reduced mod L (bias < 2^-259)."""
    return ristretto.scalar_reduce64(rng(64))


def blind_to_bytes(r: int) -> bytes:
    """32-byte little-endian encoding of a blinding factor."""
    return ristretto.scalar_to_bytes(r)


def blind_from_bytes(b: bytes) -> int:
    """Blinding factor from its canonical 32-byte encoding; InvalidScalar if >= L."""
    return ristretto.scalar_from_bytes(b)


def add_blinds(a: int, b: int) -> int:
    """(a + b) mod L: the blinding factor of the sum of two commitments."""
    _check_blind(a)
    _check_blind(b)
    return (a + b) % ristretto.L
