"""The checking half of protocol/pedersen.py (which offers every name here as its own, loaded
on first use): the generator H as a point, and the checks of an opening and of a sum.

The OBU commits (pedersen.commit walks H's comb table, not the point) and never checks: this
stays off its heap. Verifiers, the backend and the tests use it through ``protocol.pedersen``.
"""

from protocol import errors
from protocol.pedersen import H_ENCODED, commit_point
from protocol.ristretto import encode
from protocol.ristretto_group import add, decode, equal, identity

H = decode(H_ENCODED)


def verify_opening(commitment: bytes, value: int, blind: int) -> None:
    """Check that ``commitment`` opens to (value, blind); OpeningMismatch if it does not."""
    point = decode(commitment)
    if not equal(point, commit_point(value, blind)):
        raise errors.OpeningMismatch("commitment does not open to the claimed value")


def _sum_point(commitments) -> tuple[int, int, int, int]:
    acc = identity()
    for c in commitments:
        acc = add(acc, decode(c))
    return acc


def sum_commitments(commitments) -> bytes:
    """Encoding of the sum of an iterable of encoded commitments (consumed as a stream)."""
    return encode(_sum_point(commitments))


def verify_sum(commitments, total: int, blind_sum: int) -> None:
    """Check that the commitments add up to C(total, blind_sum); SumMismatch if not."""
    acc = _sum_point(commitments)
    if not equal(acc, commit_point(total, blind_sum)):
        raise errors.SumMismatch("commitments do not add up to the claimed total")
