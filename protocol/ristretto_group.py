"""ristretto255's group operations beyond a commitment (protocol/ristretto.py offers every name
here as its own, loaded on first use): decoding, element derivation, the group law, and
variable-base and single fixed-base multiples, with the curve constants only they use.

The OBU's commit path (pedersen.commit: comb_mult2 and encode in protocol/ristretto.py)
never needs these, so that they stay off its heap between syncs; the verifier, the backend's
tests and the table generator use them through ``protocol.ristretto`` as before.
"""

from protocol import errors
from protocol.compat import const, is_int
from protocol.ristretto import (
    SQRT_M1,
    L,
    P,
    _abs,
    _bytes32,
    comb_mult2,
    sqrt_ratio_m1,
)

D = 37095705934669439343138083508754565189542113879843219016388785533085940283555
D2 = (2 * D) % P
SQRT_AD_MINUS_ONE = 25063068953384623474111414158702152701244531502492656460079210482610430750235
ONE_MINUS_D_SQ = 1159843021668779879193775521855586647937357759715417654439879720876111806838
D_MINUS_ONE_SQ = 40440834346308536858101042469323190826248399146238708352240133220865137265952

# The edwards25519 base point B (y = 4/5, x even), the canonical ristretto255 generator.
_BX = const(15112221349535400772501151409588531511454012693041857206046113283949847762202)
_BY = const(46316835694926478169428394003475163141307993866256225615783033603165251855960)
BASE = (_BX, _BY, 1, _BX * _BY % P)

_IDENTITY = const((0, 1, 1, 0))


def decode(b: bytes) -> tuple[int, int, int, int]:
    """Decode a 32-byte encoding (RFC 9496 §4.3.1); InvalidEncoding if it is not canonical."""
    s = _bytes32(b, "InvalidEncoding")
    if s >= P:
        raise errors.InvalidEncoding("non-canonical field element")
    if s & 1:
        raise errors.InvalidEncoding("negative field element")
    ss = s * s % P
    u1 = (1 - ss) % P
    u2 = (1 + ss) % P
    u2_sqr = u2 * u2 % P
    v = (-(D * (u1 * u1 % P)) - u2_sqr) % P
    was_square, invsqrt = sqrt_ratio_m1(1, v * u2_sqr % P)
    den_x = invsqrt * u2 % P
    den_y = invsqrt * den_x % P * v % P
    x = _abs(2 * s * den_x % P)
    y = u1 * den_y % P
    t = x * y % P
    if not was_square:
        raise errors.InvalidEncoding("not a square")
    if t & 1:
        raise errors.InvalidEncoding("negative xy")
    if y == 0:
        raise errors.InvalidEncoding("y is zero")
    return (x, y, 1, t)


def _map(t: int) -> tuple[int, int, int, int]:
    """MAP of RFC 9496 §4.3.4 (Elligator 2 onto the Jacobi quartic, then to Edwards)."""
    r = SQRT_M1 * t % P * t % P
    u = (r + 1) * ONE_MINUS_D_SQ % P
    v = (-1 - r * D) * (r + D) % P
    was_square, s = sqrt_ratio_m1(u, v)
    if was_square:
        c = P - 1
    else:
        s = (P - _abs(s * t % P)) % P
        c = r
    n = (c * (r - 1) % P * D_MINUS_ONE_SQ - v) % P
    w0 = 2 * s * v % P
    w1 = n * SQRT_AD_MINUS_ONE % P
    ss = s * s % P
    w2 = (1 - ss) % P
    w3 = (1 + ss) % P
    return (w0 * w3 % P, w2 * w1 % P, w1 * w3 % P, w0 * w2 % P)


def from_uniform_bytes(b: bytes) -> tuple[int, int, int, int]:
    """Element derivation of RFC 9496 §4.3.4 from 64 uniformly random bytes."""
    if not isinstance(b, (bytes, bytearray)) or len(b) != 64:
        raise errors.InvalidEncoding("element derivation needs 64 bytes")
    b = bytes(b)
    mask = (1 << 255) - 1
    r0 = (int.from_bytes(b[:32], "little") & mask) % P
    r1 = (int.from_bytes(b[32:], "little") & mask) % P
    return add(_map(r0), _map(r1))


# --- group law -------------------------------------------------------------------------------
def identity() -> tuple[int, int, int, int]:
    """The neutral element."""
    return _IDENTITY


def add(p: tuple[int, int, int, int], q: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """p + q (extended coordinates, "add-2008-hwcd-3" for a = -1)."""
    x1, y1, z1, t1 = p
    x2, y2, z2, t2 = q
    a = (y1 - x1) * (y2 - x2) % P
    b = (y1 + x1) * (y2 + x2) % P
    c = t1 * t2 % P * D2 % P
    d = 2 * z1 * z2 % P
    e = b - a
    f = d - c
    g = d + c
    h = b + a
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def neg(p: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """-p."""
    x, y, z, t = p
    return ((P - x) % P, y, z, (P - t) % P)


def sub(p: tuple[int, int, int, int], q: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """p - q."""
    return add(p, neg(q))


def double(p: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """2p ("dbl-2008-hwcd" for a = -1)."""
    x, y, z, _ = p
    a = x * x % P
    b = y * y % P
    c = 2 * z * z % P
    h = a + b
    e = h - (x + y) * (x + y) % P
    g = a - b
    f = c + g
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def equal(p: tuple[int, int, int, int], q: tuple[int, int, int, int]) -> bool:
    """Ristretto equality (RFC 9496 §4.3.3): X1*Y2 == Y1*X2 or Y1*Y2 == X1*X2."""
    x1, y1 = p[0], p[1]
    x2, y2 = q[0], q[1]
    return (x1 * y2 - y1 * x2) % P == 0 or (y1 * y2 - x1 * x2) % P == 0


def _scalar_mod_l(k: int) -> int:
    if not is_int(k):
        raise errors.InvalidScalar("scalar must be an int")
    return k % L


def scalar_mult(k: int, p: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """k*p for any int k (taken mod L), by a 4-bit fixed window; for variable bases."""
    k = _scalar_mod_l(k)
    # 0*p .. 15*p
    tbl = [_IDENTITY, p]
    for _ in range(14):
        tbl.append(add(tbl[-1], p))
    acc = _IDENTITY
    for i in range(252, -1, -4):
        acc = double(double(double(double(acc))))
        w = (k >> i) & 15
        if w:
            acc = add(acc, tbl[w])
    return acc


def base_mult(k: int) -> tuple[int, int, int, int]:
    """k*B for any int k (taken mod L), with the precomputed comb table of B."""
    # Imported here so that tools/gen_ristretto_tables.py can use this module to build the
    # tables before they exist.
    from protocol.tables_ristretto import B_COMB

    return comb_mult2(_scalar_mod_l(k), B_COMB, 0, B_COMB)
