"""ristretto255 (RFC 9496) against the RFC's own vectors (../shared/vectors/ristretto255.json)."""

from protocol import errors, ristretto
from tests.contract import support
from tests.contract.support import h

P = ristretto.P
L = ristretto.L
B = ristretto.BASE
VEC = support.shared_vector("ristretto255.json")

# The 4-torsion point (sqrt(-1), 0) of edwards25519: adding it must not change the element.
T4 = (ristretto.SQRT_M1, 0, 1, 0)


def _le(hex_string):
    return int.from_bytes(h(hex_string), "little")


def test_field_constants_satisfy_their_rfc_9496_definitions():
    d = ristretto.D
    assert d * 121666 % P == (-121665) % P
    assert ristretto.SQRT_M1 * ristretto.SQRT_M1 % P == P - 1
    assert ristretto.SQRT_AD_MINUS_ONE * ristretto.SQRT_AD_MINUS_ONE % P == (-d - 1) % P
    inv = ristretto.INVSQRT_A_MINUS_D
    assert inv * inv % P * ((-1 - d) % P) % P == 1
    assert ristretto.ONE_MINUS_D_SQ == (1 - d * d) % P
    assert ristretto.D_MINUS_ONE_SQ == (d - 1) * (d - 1) % P
    assert L == 2**252 + 27742317777372353535851937790883648493


def test_base_point_is_on_the_curve_and_encodes_as_the_first_multiple():
    x, y = B[0], B[1]
    assert (-x * x + y * y) % P == (1 + ristretto.D * x * x % P * y * y) % P
    assert ristretto.encode(B) == h(VEC["multiples"][1])


def test_there_are_16_multiples_and_29_invalid_encodings():
    assert len(VEC["multiples"]) == 16
    assert len(VEC["invalid_encodings"]) == 29
    assert len(VEC["invalid_encodings_by_class"]) == 29
    assert len(VEC["hash_to_group"]) == 11
    assert len(VEC["sqrt_ratio_m1"]) == 6


def test_base_mult_gives_every_rfc_multiple_of_the_generator():
    for k, want in enumerate(VEC["multiples"]):
        assert ristretto.encode(ristretto.base_mult(k)) == h(want), k


def test_scalar_mult_gives_every_rfc_multiple_of_the_generator():
    for k, want in enumerate(VEC["multiples"]):
        assert ristretto.encode(ristretto.scalar_mult(k, B)) == h(want), k


def test_multiples_decode_and_reencode_to_the_same_bytes():
    for k, enc in enumerate(VEC["multiples"]):
        p = ristretto.decode(h(enc))
        assert ristretto.encode(p) == h(enc)
        assert ristretto.equal(p, ristretto.base_mult(k))


def test_adding_the_generator_steps_through_the_multiples():
    acc = ristretto.identity()
    for want in VEC["multiples"]:
        assert ristretto.encode(acc) == h(want)
        acc = ristretto.add(acc, ristretto.decode(h(VEC["multiples"][1])))


def test_identity_encodes_as_zero_bytes():
    assert ristretto.encode(ristretto.identity()) == bytes(32)
    assert ristretto.equal(ristretto.decode(bytes(32)), ristretto.identity())


def test_every_rfc_invalid_encoding_is_rejected():
    for enc in VEC["invalid_encodings"]:
        support.raises(errors.InvalidEncoding, ristretto.decode, h(enc))


def test_each_class_of_invalid_encoding_is_rejected():
    classes = {}
    for item in VEC["invalid_encodings_by_class"]:
        support.raises(errors.InvalidEncoding, ristretto.decode, h(item["hex"]))
        classes[item["class"]] = classes.get(item["class"], 0) + 1
    assert sorted(classes.values()) == [1, 4, 8, 8, 8]


def test_decode_rejects_wrong_lengths_and_types():
    one = h(VEC["multiples"][1])
    for bad in (b"", one[:31], one + b"\x00", None, 5, one.hex(), [0] * 32):
        support.raises(errors.InvalidEncoding, ristretto.decode, bad)


def test_decode_accepts_a_bytearray():
    one = h(VEC["multiples"][1])
    assert ristretto.encode(ristretto.decode(bytearray(one))) == one


def test_decode_rejects_p_and_a_set_top_bit_as_non_canonical():
    # s = p is even and would reduce to 0; s with bit 255 set is >= 2^255 > p.
    support.raises(errors.InvalidEncoding, ristretto.decode, P.to_bytes(32, "little"))
    high = bytearray(32)
    high[31] = 0x80
    support.raises(errors.InvalidEncoding, ristretto.decode, bytes(high))
    # A valid encoding with bit 255 set (some libsodium builds accept this and ignore the bit).
    for enc in VEC["multiples"][1:]:
        high = bytearray(h(enc))
        high[31] |= 0x80
        support.raises(errors.InvalidEncoding, ristretto.decode, bytes(high))


def test_element_derivation_matches_all_rfc_vectors():
    for item in VEC["hash_to_group"]:
        p = ristretto.from_uniform_bytes(h(item["uniform_bytes_hex"]))
        assert ristretto.encode(p) == h(item["output"]), item["uniform_bytes_hex"]


def test_element_derivation_maps_the_last_four_inputs_to_one_element():
    outs = [item["output"] for item in VEC["hash_to_group"][7:]]
    assert len(outs) == 4 and len(set(outs)) == 1


def test_element_derivation_rejects_wrong_lengths():
    for bad in (bytes(63), bytes(65), bytes(32), None):
        support.raises(errors.InvalidEncoding, ristretto.from_uniform_bytes, bad)


def test_sqrt_ratio_m1_matches_all_rfc_vectors():
    for item in VEC["sqrt_ratio_m1"]:
        was_square, r = ristretto.sqrt_ratio_m1(_le(item["u"]), _le(item["v"]))
        assert was_square == item["was_square"], item
        assert r.to_bytes(32, "little") == h(item["r"]), item


def test_sqrt_ratio_m1_root_is_non_negative_and_squares_back():
    for u, v in ((4, 1), (1, 4), (2, 1), (ristretto.D, 7)):
        was_square, r = ristretto.sqrt_ratio_m1(u, v)
        assert r & 1 == 0
        want = u if was_square else u * ristretto.SQRT_M1 % P
        assert r * r % P * v % P == want


def test_group_law_identities_hold():
    p = ristretto.base_mult(0x1234567890ABCDEF)
    q = ristretto.from_uniform_bytes(bytes(range(64)))
    assert ristretto.equal(ristretto.add(p, ristretto.neg(p)), ristretto.identity())
    assert ristretto.equal(ristretto.double(p), ristretto.add(p, p))
    assert ristretto.equal(ristretto.sub(ristretto.add(p, q), q), p)
    assert ristretto.equal(ristretto.add(p, q), ristretto.add(q, p))
    assert ristretto.equal(ristretto.add(p, ristretto.identity()), p)
    assert not ristretto.equal(p, q)


def test_torsion_representatives_are_the_same_element():
    p = ristretto.base_mult(987654321)
    p_t = ristretto.add(p, T4)
    assert ristretto.equal(p, p_t)
    assert ristretto.encode(p_t) == ristretto.encode(p)
    two = ristretto.add(p_t, T4)  # p + the 2-torsion point
    assert ristretto.encode(two) == ristretto.encode(p)


def test_scalar_mult_agrees_with_base_mult_on_large_scalars():
    for k in (L - 1, 2**252, 2**252 - 1, 0xDEADBEEF * (2**200) + 12345):
        assert ristretto.encode(ristretto.scalar_mult(k, B)) == ristretto.encode(
            ristretto.base_mult(k)
        )


def test_scalars_are_taken_mod_l():
    five = ristretto.encode(ristretto.base_mult(5))
    assert ristretto.encode(ristretto.base_mult(L + 5)) == five
    assert ristretto.encode(ristretto.scalar_mult(2 * L + 5, B)) == five
    assert ristretto.encode(ristretto.base_mult(L)) == bytes(32)
    assert ristretto.equal(ristretto.base_mult(-1), ristretto.neg(B))


def test_scalar_mult_rejects_non_int_scalars():
    for bad in (True, 1.0, "1", None):
        support.raises(errors.InvalidScalar, ristretto.scalar_mult, bad, B)
        support.raises(errors.InvalidScalar, ristretto.base_mult, bad)


def test_scalar_from_bytes_accepts_only_canonical_scalars():
    assert ristretto.scalar_from_bytes((L - 1).to_bytes(32, "little")) == L - 1
    assert ristretto.scalar_from_bytes(bytes(32)) == 0
    for bad in (L.to_bytes(32, "little"), (L + 1).to_bytes(32, "little"), b"\xff" * 32):
        support.raises(errors.InvalidScalar, ristretto.scalar_from_bytes, bad)
    for bad in (bytes(31), bytes(33), None, 5):
        support.raises(errors.InvalidScalar, ristretto.scalar_from_bytes, bad)


def test_scalar_to_bytes_round_trips_and_rejects_out_of_range():
    for k in (0, 1, L - 1, 2**252):
        assert ristretto.scalar_from_bytes(ristretto.scalar_to_bytes(k)) == k
    for bad in (-1, L, 2**256, True, 1.5):
        support.raises(errors.InvalidScalar, ristretto.scalar_to_bytes, bad)


def test_scalar_reduce64_is_wide_reduction_mod_l():
    assert ristretto.scalar_reduce64(b"\xff" * 64) == (2**512 - 1) % L
    # Pinned against libsodium crypto_core_ristretto255_scalar_reduce.
    assert ristretto.scalar_to_bytes(ristretto.scalar_reduce64(b"\xff" * 64)) == h(
        "000f9c44e31106a447938568a71b0ed065bef517d273ecce3d9a307c1b419903"
    )
    assert ristretto.scalar_reduce64(L.to_bytes(32, "little") + bytes(32)) == 0
    for bad in (bytes(32), bytes(63), None):
        support.raises(errors.InvalidScalar, ristretto.scalar_reduce64, bad)
