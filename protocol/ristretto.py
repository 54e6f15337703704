"""ristretto255 (RFC 9496) over edwards25519, in pure integer arithmetic.

Runs unchanged on CPython and MicroPython. Points are tuples ``(X, Y, Z, T)`` of extended
twisted-Edwards coordinates (x = X/Z, y = Y/Z, x*y = T/Z) with every coordinate reduced mod P.
A tuple is one representative of a ristretto255 element: two tuples may differ by a 4-torsion
point and still be the same element, so compare with :func:`equal` or by encoding, never with
``==``.

Fixed-base multiples use Lim-Lee comb tables precomputed on the host
(tools/gen_ristretto_tables.py -> protocol/tables_ristretto.py). Each table entry is an affine
point in "Niels" form (y+x, y-x, 2*d*x*y), which saves one multiplication per addition. A
Pedersen commitment v*B + r*H walks both tables in one pass (comb_mult2), sharing the doublings.

Comb width (TEETH) chosen by measurement: MicroPython 1.29 unix port on x64, modules loaded as
.mpy, one commitment (32-bit value, uniform blind, encoding included: ~0.3 ms of it). "64K"
is with the protocol's crypto modules (this, pedersen, p256) loaded in a 64 KB heap, where
garbage collection adds ~40 %; "table" is the heap the tables take once imported:

    TEETH         3       4       5       6       7       8
    ms, 1 MB      1.86    1.53    1.39    1.25    1.13    1.05
    ms, 64K       2.42    2.14    2.07    2.28    no room no room
    table         2.3K    3.8K    6.9K    13K     25K     50K

TEETH = 4 meets the 1.5-2.5 ms target with the second-smallest table; wider combs buy little
once the heap is tight, and the OBU heap is the scarcer budget.

Nothing here is constant time: MicroPython's bigints are not (SPEC.md says so).
"""

from protocol import errors
from protocol.compat import is_int, lazy_names

TYPE_CHECKING = False
if TYPE_CHECKING:  # for mypy; at run time __getattr__ below provides them
    from protocol.ristretto_group import BASE as BASE
    from protocol.ristretto_group import D2 as D2
    from protocol.ristretto_group import D_MINUS_ONE_SQ as D_MINUS_ONE_SQ
    from protocol.ristretto_group import ONE_MINUS_D_SQ as ONE_MINUS_D_SQ
    from protocol.ristretto_group import SQRT_AD_MINUS_ONE as SQRT_AD_MINUS_ONE
    from protocol.ristretto_group import D as D
    from protocol.ristretto_group import add as add
    from protocol.ristretto_group import base_mult as base_mult
    from protocol.ristretto_group import decode as decode
    from protocol.ristretto_group import double as double
    from protocol.ristretto_group import equal as equal
    from protocol.ristretto_group import from_uniform_bytes as from_uniform_bytes
    from protocol.ristretto_group import identity as identity
    from protocol.ristretto_group import neg as neg
    from protocol.ristretto_group import scalar_mult as scalar_mult
    from protocol.ristretto_group import sub as sub

# --- constants (RFC 9496 §4.1; verified against their definitions in the contract suite) ---
P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
SQRT_M1 = 19681161376707505956807079304988542015446066515923890162744021073123829784752
INVSQRT_A_MINUS_D = 54469307008909316920995813868745141605393597292927456921205312896311721017578


# --- field helpers ---------------------------------------------------------------------------
def _sqn(x: int, n: int) -> int:
    """x^(2^n) mod P."""
    p = P
    for _ in range(n):
        x = x * x % p
    return x


def _pow22523(z: int) -> int:
    """z^((P-5)/8) = z^(2^252-3) mod P by the ref10 addition chain.

    Faster than 3-argument pow() on MicroPython (about 0.3 ms against 0.46 ms on x64), about
    as fast on CPython.
    """
    t0 = z * z % P
    t1 = _sqn(t0, 2) * z % P  # z^9
    t0 = t0 * t1 % P  # z^11
    t0 = t0 * t0 % P * t1 % P  # z^(2^5-1)
    t0 = _sqn(t0, 5) * t0 % P  # 2^10-1
    t1 = _sqn(t0, 10) * t0 % P  # 2^20-1
    t1 = _sqn(t1, 20) * t1 % P  # 2^40-1
    t0 = _sqn(t1, 10) * t0 % P  # 2^50-1
    t1 = _sqn(t0, 50) * t0 % P  # 2^100-1
    t1 = _sqn(t1, 100) * t1 % P  # 2^200-1
    t0 = _sqn(t1, 50) * t0 % P  # 2^250-1
    return _sqn(t0, 2) * z % P  # 2^252-3


def _abs(x: int) -> int:
    """CT_ABS of RFC 9496: the non-negative (even) one of x and -x; x reduced."""
    return P - x if x & 1 else x


def sqrt_ratio_m1(u: int, v: int) -> tuple[bool, int]:
    """SQRT_RATIO_M1 of RFC 9496 §4.2: ``(was_square, r)`` with r non-negative.

    r = sqrt(u/v) if u/v is square, else sqrt(SQRT_M1*u/v); (True, 0) for u = 0,
    (False, 0) for v = 0 and u != 0.
    """
    u %= P
    v %= P
    v3 = v * v % P * v % P
    v7 = v3 * v3 % P * v % P
    r = u * v3 % P * _pow22523(u * v7 % P) % P
    check = v * r % P * r % P
    correct = check == u
    flipped = check == (P - u) % P
    flipped_i = check == (P - u) * SQRT_M1 % P
    if flipped or flipped_i:
        r = r * SQRT_M1 % P
    return (correct or flipped), _abs(r)


# --- encoding --------------------------------------------------------------------------------
def _bytes32(b: bytes, exc: str) -> int:
    # exc names the error class: looked up only on failure (protocol.errors loads it then)
    if not isinstance(b, (bytes, bytearray)) or len(b) != 32:
        raise getattr(errors, exc)("expected 32 bytes")
    return int.from_bytes(bytes(b), "little")


def encode(p: tuple[int, int, int, int]) -> bytes:
    """Canonical 32-byte encoding of a point (RFC 9496 §4.3.2)."""
    x0, y0, z0, t0 = p
    u1 = (z0 + y0) * (z0 - y0) % P
    u2 = x0 * y0 % P
    _, invsqrt = sqrt_ratio_m1(1, u1 * (u2 * u2 % P) % P)
    den1 = invsqrt * u1 % P
    den2 = invsqrt * u2 % P
    z_inv = den1 * den2 % P * t0 % P
    if t0 * z_inv % P & 1:
        # Rotate by the 4-torsion point so that the encoding is independent of the coset
        # representative.
        x, y = y0 * SQRT_M1 % P, x0 * SQRT_M1 % P
        den_inv = den1 * INVSQRT_A_MINUS_D % P
    else:
        x, y = x0, y0
        den_inv = den2
    if x * z_inv % P & 1:
        y = P - y
    s = _abs(den_inv * (z0 - y) % P)
    return s.to_bytes(32, "little")


# --- scalars ---------------------------------------------------------------------------------
def scalar_from_bytes(b: bytes) -> int:
    """Canonical 32-byte little-endian scalar (< L); InvalidScalar otherwise."""
    k = _bytes32(b, "InvalidScalar")
    if k >= L:
        raise errors.InvalidScalar("scalar not reduced mod L")
    return k


def scalar_to_bytes(k: int) -> bytes:
    """32-byte little-endian encoding of a scalar 0 <= k < L."""
    if not is_int(k) or not 0 <= k < L:
        raise errors.InvalidScalar("scalar out of range")
    return k.to_bytes(32, "little")


def scalar_reduce64(b: bytes) -> int:
    """A 64-byte little-endian string reduced mod L (uniform scalars from random bytes)."""
    if not isinstance(b, (bytes, bytearray)) or len(b) != 64:
        raise errors.InvalidScalar("expected 64 bytes")
    return int.from_bytes(bytes(b), "little") % L


# --- scalar multiplication -------------------------------------------------------------------
def comb_digits(k: int, teeth: int, spacing: int) -> bytearray:
    """Column digits of a Lim-Lee comb: digit i has bit j = bit (j*spacing + i) of k.

    Returns a bytearray of ``spacing`` digits, each < 2^teeth. Works in 30-bit pieces so the
    shifts stay on small ints (31-bit on the ESP32).
    """
    out = bytearray(spacing)
    for j in range(teeth):
        c = (k >> (j * spacing)) & ((1 << spacing) - 1)
        if not c:
            continue
        bit = 1 << j
        base = 0
        while c:
            piece = c & 0x3FFFFFFF
            c >>= 30
            i = base
            while piece:
                if piece & 1:
                    out[i] |= bit
                piece >>= 1
                i += 1
            base += 30
    return out


def comb_mult2(
    a: int, tbl_a: tuple[int, int, bytes], b: int, tbl_b: tuple[int, int, bytes]
) -> tuple[int, int, int, int]:
    """a*A + b*B for two bases held as comb tables of the same shape (shared doublings).

    A table is ``(TEETH, SPACING, blob)``; entry m = 1 .. 2^TEETH-1 of ``blob`` is 96 bytes at
    offset 96*(m-1): the Niels triple (y+x, y-x, 2dxy), each 32 bytes little-endian, of the
    affine point sum(2^(j*SPACING) * base for every bit j set in m). Scalars must satisfy
    0 <= a, b < 2^(TEETH*SPACING); pass b = 0 (and any table) for a single base.
    """
    # Hot loop, written out by hand: no call and no tuple per point operation. Plain "% p"
    # after each product. Folding 2^255 = 19 instead was 15 % faster with a roomy heap but
    # allocates about 2.5 times the bytes; with the crypto modules in a 64 KB heap the extra
    # garbage collections made it 25 % slower (2.6 against 2.0 ms). Table entries are read
    # from bytes on the fly: bytes take a third of the heap of int constants, and converting
    # them per use measured no slower than holding a tuple of ints.
    teeth, spacing, _ = tbl_a
    blob_a = memoryview(tbl_a[2])
    blob_b = memoryview(tbl_b[2])
    fb = int.from_bytes
    da = comb_digits(a, teeth, spacing)
    db = comb_digits(b, teeth, spacing)
    p = P
    x = 0
    y = 1
    z = 1
    t = 0
    e = 0
    h = 0
    top = spacing - 1
    for i in range(top, -1, -1):
        ma = da[i]
        mb = db[i]
        if i != top:
            # Doubling (dbl-2008-hwcd, a = -1); T = e*h only when an addition follows.
            xx = x * x % p
            yy = y * y % p
            h = xx + yy
            c = x + y
            e = h - c * c % p
            g = xx - yy
            f = 2 * (z * z % p) + g
            x = e * f % p
            y = g * h % p
            z = f * g % p
            if ma or mb:
                t = e * h % p
        if ma:
            # Mixed addition with an affine Niels point (madd-2008-hwcd-3).
            o = 96 * ma - 96
            aa = (y - x) * fb(blob_a[o + 32 : o + 64], "little") % p
            bb = (y + x) * fb(blob_a[o : o + 32], "little") % p
            cc = t * fb(blob_a[o + 64 : o + 96], "little") % p
            e = bb - aa
            h = bb + aa
            f = z + z
            g = f + cc
            f -= cc
            x = e * f % p
            y = g * h % p
            z = f * g % p
            if mb:
                t = e * h % p
        if mb:
            o = 96 * mb - 96
            aa = (y - x) * fb(blob_b[o + 32 : o + 64], "little") % p
            bb = (y + x) * fb(blob_b[o : o + 32], "little") % p
            cc = t * fb(blob_b[o + 64 : o + 96], "little") % p
            e = bb - aa
            h = bb + aa
            f = z + z
            g = f + cc
            f -= cc
            x = e * f % p
            y = g * h % p
            z = f * g % p
    # Every operation above leaves T = e*h.
    return (x, y, z, e * h % p)


# The rest of the group — decoding, the group law, element derivation, variable-base and
# single fixed-base multiples and their constants — is protocol/ristretto_group.py, offered
# here by name and loaded on first use: the OBU's commit path (pedersen.commit: comb_mult2,
# encode, scalars) never needs it, and it is re-imported after every sync (~1 KB at 64 bits).
__getattr__ = lazy_names(
    __name__,
    (
        "protocol.ristretto_group",
        (
            "BASE",
            "D",
            "D2",
            "D_MINUS_ONE_SQ",
            "ONE_MINUS_D_SQ",
            "SQRT_AD_MINUS_ONE",
            "add",
            "base_mult",
            "decode",
            "double",
            "equal",
            "from_uniform_bytes",
            "identity",
            "neg",
            "scalar_mult",
            "sub",
        ),
    ),
)
