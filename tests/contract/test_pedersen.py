"""Pedersen commitments C = v*B + r*H on ristretto255 (protocol/pedersen.py)."""

import hashlib

from protocol import errors, labels, pedersen, ristretto
from tests.contract import support
from tests.contract.support import h

L = ristretto.L
VEC = support.shared_vector("ristretto255.json")
B_ENC = h(VEC["multiples"][1])

# H = element derivation (RFC 9496 §4.3.4) of SHA-512(b"quietmile/v1/pedersen/H").
H_HEX = "80e92875510d98163a0a87736b04e2e2729ed7ded9d1f352d7b0570e992cfd4e"
H_LABEL_SHA512 = (
    "f3d1fd9990847dc464099874ec2d783bbf71ec8b76aa97e76279de33b93c9b1e"
    "cdd6dffa4427b41c594647c92bac456fded585b6e597528bf672dd1cda3cb4db"
)
BLIND = 0x0FEDCBA9876543210FEDCBA9876543210FEDCBA9876543210FEDCBA987654321


def _reference(value, blind):
    """v*B + r*H by the generic (table-free) scalar multiplication."""
    p = ristretto.add(
        ristretto.scalar_mult(value, ristretto.BASE), ristretto.scalar_mult(blind, pedersen.H)
    )
    return ristretto.encode(p)


def _blinds(n):
    out = []
    for i in range(n):
        seed = hashlib.sha256(b"blind %d" % i).digest()
        out.append(ristretto.scalar_reduce64(seed + hashlib.sha256(seed).digest()))
    return out


def test_h_is_the_pinned_derivation_result():
    assert pedersen.H_ENCODED == h(H_HEX)
    assert ristretto.encode(pedersen.H) == h(H_HEX)
    derived = ristretto.from_uniform_bytes(h(H_LABEL_SHA512))
    assert ristretto.encode(derived) == h(H_HEX)


def test_h_label_digest_is_sha512_of_the_label_where_sha512_exists():
    # MicroPython on the device has no SHA-512; there the pinned digest stands in.
    if not hasattr(hashlib, "sha512"):
        assert labels.PEDERSEN_H == b"quietmile/v1/pedersen/H"
        return
    assert hashlib.sha512(labels.PEDERSEN_H).digest() == h(H_LABEL_SHA512)


def test_h_is_neither_the_identity_nor_the_generator():
    assert pedersen.H_ENCODED != bytes(32)
    assert pedersen.H_ENCODED != B_ENC


def test_commitments_match_libsodium_pinned_values():
    # Computed with libsodium (rbcl): scalarmult_base(v) + scalarmult(r, H).
    assert pedersen.commit(5, 7) == h(
        "406e1000709976082c2ab16372950afb66cf2f5e7e8e6f190fe7ef092d847347"
    )
    assert pedersen.commit(1234567, BLIND) == h(
        "0eff16d364ef23419bc94c0a89e52556383935fb514718a50b3b68419065536a"
    )
    assert pedersen.commit(2**64 - 1, L - 1) == h(
        "0200027e284c7dd5cb86d3a4665b8bb9b317d7fed7b20593f1f6aedf15c4c457"
    )


def test_commit_equals_value_times_b_plus_blind_times_h():
    for value, blind in zip([0, 1, 2**31, 2**32 - 1, 2**63 + 5, 2**64 - 1], _blinds(6)):
        assert pedersen.commit(value, blind) == _reference(value, blind), value


def test_commit_point_encodes_to_commit():
    p = pedersen.commit_point(42, BLIND)
    assert ristretto.encode(p) == pedersen.commit(42, BLIND)


def test_value_zero_commits_to_blind_times_h():
    assert pedersen.commit(0, BLIND) == ristretto.encode(ristretto.scalar_mult(BLIND, pedersen.H))
    assert pedersen.commit(0, 1) == pedersen.H_ENCODED


def test_blind_zero_commits_to_value_times_b():
    assert pedersen.commit(1, 0) == B_ENC
    for k in range(16):
        assert pedersen.commit(k, 0) == h(VEC["multiples"][k])


def test_zero_value_and_zero_blind_commit_to_the_identity():
    assert pedersen.commit(0, 0) == bytes(32)


def test_commitments_add_homomorphically():
    values = [120, 0, 99999, 2**32 - 1, 7]
    blinds = _blinds(len(values))
    commitments = [pedersen.commit(v, r) for v, r in zip(values, blinds)]
    blind_sum = 0
    for r in blinds:
        blind_sum = pedersen.add_blinds(blind_sum, r)
    total = sum(values)
    assert pedersen.sum_commitments(commitments) == pedersen.commit(total, blind_sum)
    pedersen.verify_sum(commitments, total, blind_sum)


def test_sum_streams_over_an_iterator():
    values = [3, 4, 5]
    blinds = _blinds(3)
    gen = (pedersen.commit(v, r) for v, r in zip(values, blinds))
    blind_sum = (blinds[0] + blinds[1] + blinds[2]) % L
    assert pedersen.sum_commitments(gen) == pedersen.commit(12, blind_sum)
    pedersen.verify_sum(
        iter([pedersen.commit(v, r) for v, r in zip(values, blinds)]), 12, blind_sum
    )


def test_sum_of_nothing_is_the_identity():
    assert pedersen.sum_commitments([]) == bytes(32)
    pedersen.verify_sum([], 0, 0)


def test_verify_sum_rejects_a_wrong_total_blind_or_set():
    values = [10, 20, 30]
    blinds = _blinds(3)
    cs = [pedersen.commit(v, r) for v, r in zip(values, blinds)]
    blind_sum = (blinds[0] + blinds[1] + blinds[2]) % L
    support.raises(errors.SumMismatch, pedersen.verify_sum, cs, 59, blind_sum)
    support.raises(errors.SumMismatch, pedersen.verify_sum, cs, 61, blind_sum)
    support.raises(errors.SumMismatch, pedersen.verify_sum, cs, 60, (blind_sum + 1) % L)
    support.raises(errors.SumMismatch, pedersen.verify_sum, cs[:2], 60, blind_sum)
    support.raises(errors.SumMismatch, pedersen.verify_sum, cs + [cs[0]], 60, blind_sum)


def test_sum_rejects_any_bad_encoding():
    good = pedersen.commit(1, BLIND)
    for bad in (h(VEC["invalid_encodings"][5]), good[:31], b"\xff" * 32, None):
        support.raises(errors.InvalidEncoding, pedersen.sum_commitments, [good, bad, good])
        support.raises(errors.InvalidEncoding, pedersen.verify_sum, [good, bad], 2, 0)


def test_verify_opening_accepts_the_true_opening():
    c = pedersen.commit(31337, BLIND)
    assert pedersen.verify_opening(c, 31337, BLIND) is None


def test_verify_opening_rejects_a_wrong_value_or_blind():
    c = pedersen.commit(31337, BLIND)
    support.raises(errors.OpeningMismatch, pedersen.verify_opening, c, 31338, BLIND)
    support.raises(errors.OpeningMismatch, pedersen.verify_opening, c, 0, BLIND)
    support.raises(errors.OpeningMismatch, pedersen.verify_opening, c, 31337, BLIND + 1)
    support.raises(errors.OpeningMismatch, pedersen.verify_opening, c, 31337, 0)


def test_verify_opening_rejects_a_bad_commitment_encoding():
    for bad in (h(VEC["invalid_encodings"][0]), bytes(31), "00" * 32):
        support.raises(errors.InvalidEncoding, pedersen.verify_opening, bad, 1, BLIND)


def test_out_of_range_values_are_rejected():
    for bad in (-1, 2**64, 2**255, True, 1.0, "1", None):
        support.raises(errors.InvalidScalar, pedersen.commit, bad, BLIND)
    c = pedersen.commit(1, BLIND)
    support.raises(errors.InvalidScalar, pedersen.verify_opening, c, -1, BLIND)
    support.raises(errors.InvalidScalar, pedersen.verify_sum, [c], 2**64, BLIND)


def test_out_of_range_blinds_are_rejected():
    for bad in (-1, L, L + 1, True, 1.5, None):
        support.raises(errors.InvalidScalar, pedersen.commit, 1, bad)
        support.raises(errors.InvalidScalar, pedersen.add_blinds, bad, 1)
        support.raises(errors.InvalidScalar, pedersen.blind_to_bytes, bad)


def test_add_blinds_wraps_mod_l():
    assert pedersen.add_blinds(L - 1, 2) == 1
    assert pedersen.add_blinds(L - 1, 1) == 0
    assert pedersen.add_blinds(3, 4) == 7


def test_blind_bytes_round_trip_and_reject_non_canonical():
    for r in (0, 1, BLIND, L - 1):
        b = pedersen.blind_to_bytes(r)
        assert len(b) == 32
        assert pedersen.blind_from_bytes(b) == r
    assert pedersen.blind_to_bytes(1) == b"\x01" + bytes(31)
    for bad in (L.to_bytes(32, "little"), b"\xff" * 32, bytes(31), bytes(33), None):
        support.raises(errors.InvalidScalar, pedersen.blind_from_bytes, bad)


def test_random_blind_reduces_64_bytes_from_the_rng():
    asked = []

    def rng(n):
        asked.append(n)
        return b"\xff" * n

    r = pedersen.random_blind(rng)
    assert asked == [64]
    assert r == (2**512 - 1) % L
    assert 0 <= r < L


def test_random_blind_rejects_a_short_rng():
    support.raises(errors.InvalidScalar, pedersen.random_blind, lambda n: bytes(n - 1))


def test_same_value_with_different_blinds_gives_unrelated_commitments():
    r1, r2 = _blinds(2)
    assert pedersen.commit(100, r1) != pedersen.commit(100, r2)


def test_committing_loads_neither_the_group_law_nor_the_checks():
    """The OBU's commit path (commit, random_blind, blind_to_bytes) runs on protocol/ristretto.py
    and protocol/pedersen.py alone; the group law (ristretto_group) and the checks
    (pedersen_check) load on first use of one of their names, offered as the same objects."""
    import sys

    from protocol import pedersen_check, ristretto_group

    moved = ("protocol.ristretto_group", "protocol.pedersen_check")
    saved = {m: sys.modules.pop(m) for m in moved}
    try:
        blind = pedersen.random_blind(lambda n: bytes(range(n)))
        c = pedersen.commit(1234, blind)
        assert len(c) == 32 and len(pedersen.blind_to_bytes(blind)) == 32
        assert pedersen.blind_from_bytes(pedersen.blind_to_bytes(blind)) == blind
        assert [m for m in moved if m in sys.modules] == []
    finally:
        sys.modules.update(saved)
    assert ristretto.decode is ristretto_group.decode and ristretto.D is ristretto_group.D
    assert pedersen.H is pedersen_check.H and pedersen.verify_sum is pedersen_check.verify_sum
    pedersen.verify_opening(c, 1234, blind)
    support.raises(AttributeError, getattr, ristretto, "no_such_name")
    support.raises(AttributeError, getattr, pedersen, "no_such_name")
