"""The pure ristretto255/Pedersen code and libsodium agree byte for byte (CPython only).

libsodium (through rbcl) is an independent implementation of RFC 9496, so agreement on random
inputs checks the pure code far beyond the RFC's handful of vectors, and checks that
backend.crypto.group.SodiumGroup is a drop-in for protocol.pedersen.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from typing import Any

import pytest
import rbcl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend.crypto.group import SodiumGroup
from protocol import errors, labels, pedersen, ristretto
from tools import gen_ristretto_tables

L = ristretto.L
SODIUM = SodiumGroup()
EXAMPLES = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

values = st.one_of(
    st.integers(0, 2**32 - 1), st.integers(0, 2**64 - 1), st.sampled_from([0, 1, 2**64 - 1])
)
blinds = st.one_of(st.integers(0, L - 1), st.sampled_from([0, 1, L - 1, 2**252]))
nonzero_scalars = st.one_of(st.integers(1, L - 1), st.sampled_from([1, 2, L - 1, 2**252]))
uniform64 = st.binary(min_size=64, max_size=64)


def _le(k: int) -> bytes:
    return k.to_bytes(32, "little")


def _sodium_point(seed: bytes) -> bytes:
    out: bytes = rbcl.crypto_core_ristretto255_from_hash(seed)
    return out


def _raises_same(fn_a: Callable[[], Any], fn_b: Callable[[], Any]) -> type[Exception] | None:
    """Run both; assert they raise the same protocol error class (or neither raises)."""
    kinds: list[type[Exception] | None] = []
    for fn in (fn_a, fn_b):
        try:
            fn()
        except errors.ProtocolError as e:
            kinds.append(type(e))
        else:
            kinds.append(None)
    assert kinds[0] is kinds[1], kinds
    return kinds[0]


def test_h_is_libsodium_from_hash_of_sha512_of_the_label() -> None:
    digest = hashlib.sha512(labels.PEDERSEN_H).digest()
    assert rbcl.crypto_core_ristretto255_from_hash(digest) == pedersen.H_ENCODED
    assert ristretto.encode(ristretto.from_uniform_bytes(digest)) == pedersen.H_ENCODED
    assert SODIUM.H_ENCODED == pedersen.H_ENCODED


def test_tables_regenerate_byte_identically() -> None:
    assert gen_ristretto_tables.OUT.read_text() == gen_ristretto_tables.render()


@EXAMPLES
@given(values, blinds)
def test_commitments_agree(value: int, blind: int) -> None:
    c = pedersen.commit(value, blind)
    assert c == SODIUM.commit(value, blind)
    want = rbcl.crypto_core_ristretto255_add(
        rbcl.crypto_scalarmult_ristretto255_base_allow_scalar_zero(_le(value)),
        rbcl.crypto_scalarmult_ristretto255_allow_scalar_zero(_le(blind), pedersen.H_ENCODED),
    )
    assert c == want
    pedersen.verify_opening(c, value, blind)
    SODIUM.verify_opening(c, value, blind)


@pytest.mark.parametrize(("value", "blind"), [(0, 0), (0, 1), (1, 0), (0, L - 1), (2**64 - 1, 0)])
def test_zero_edge_cases_agree(value: int, blind: int) -> None:
    assert pedersen.commit(value, blind) == SODIUM.commit(value, blind)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(values, blinds), max_size=12))
def test_sums_agree(openings: list[tuple[int, int]]) -> None:
    cs = [SODIUM.commit(v, r) for v, r in openings]
    total = sum(v for v, _ in openings) % 2**64
    blind_sum = sum(r for _, r in openings) % L
    assert pedersen.sum_commitments(iter(cs)) == SODIUM.sum_commitments(iter(cs))
    if sum(v for v, _ in openings) < 2**64:
        pedersen.verify_sum(cs, total, blind_sum)
        SODIUM.verify_sum(cs, total, blind_sum)
    wrong = (blind_sum + 1) % L
    assert _raises_same(
        lambda: pedersen.verify_sum(cs, total, wrong), lambda: SODIUM.verify_sum(cs, total, wrong)
    ) in (errors.SumMismatch, errors.InvalidScalar)


@EXAMPLES
@given(nonzero_scalars)
def test_base_mult_agrees(k: int) -> None:
    want = rbcl.crypto_scalarmult_ristretto255_base(_le(k))
    assert ristretto.encode(ristretto.base_mult(k)) == want


@EXAMPLES
@given(nonzero_scalars, uniform64)
def test_scalar_mult_agrees(k: int, seed: bytes) -> None:
    p = _sodium_point(seed)
    got = ristretto.encode(ristretto.scalar_mult(k, ristretto.decode(p)))
    if p == bytes(32):
        # from_hash can give the identity (e.g. for 64 zero bytes); libsodium then refuses.
        assert got == p
        return
    assert got == rbcl.crypto_scalarmult_ristretto255(_le(k), p)


@EXAMPLES
@given(uniform64)
def test_from_hash_agrees(seed: bytes) -> None:
    want = rbcl.crypto_core_ristretto255_from_hash(seed)
    assert ristretto.encode(ristretto.from_uniform_bytes(seed)) == want


@EXAMPLES
@given(uniform64, uniform64)
def test_add_and_sub_agree(s1: bytes, s2: bytes) -> None:
    a, b = _sodium_point(s1), _sodium_point(s2)
    pa, pb = ristretto.decode(a), ristretto.decode(b)
    assert ristretto.encode(ristretto.add(pa, pb)) == rbcl.crypto_core_ristretto255_add(a, b)
    assert ristretto.encode(ristretto.sub(pa, pb)) == rbcl.crypto_core_ristretto255_sub(a, b)
    assert ristretto.encode(ristretto.double(pa)) == rbcl.crypto_core_ristretto255_add(a, a)


def _sodium_valid(b: bytes) -> bool:
    """libsodium's validity with the RFC's top-bit rule added (see test_top_bit_...)."""
    return not b[31] & 0x80 and bool(rbcl.crypto_core_ristretto255_is_valid_point(b))


@EXAMPLES
@given(uniform64)
def test_top_bit_set_encodings_are_rejected_although_bundled_libsodium_accepts_them(
    seed: bytes,
) -> None:
    c = _sodium_point(seed)
    high = c[:31] + bytes([c[31] | 0x80])
    # The libsodium bundled with rbcl 1.1.2 reads bit 255 as 0 and accepts the string; RFC
    # 9496 §4.3.1 rejects it as non-canonical. Both of ours must reject it.
    assert rbcl.crypto_core_ristretto255_is_valid_point(high)
    assert not SODIUM.is_valid_point(high)
    with pytest.raises(errors.InvalidEncoding):
        ristretto.decode(high)
    for group in (pedersen, SODIUM):
        with pytest.raises(errors.InvalidEncoding):
            group.sum_commitments([high])  # type: ignore[attr-defined]


@settings(max_examples=500, deadline=None)
@given(st.binary(min_size=32, max_size=32))
def test_validity_of_random_strings_agrees(b: bytes) -> None:
    sodium_ok = _sodium_valid(b)
    assert SODIUM.is_valid_point(b) == sodium_ok
    try:
        p = ristretto.decode(b)
    except errors.InvalidEncoding:
        assert not sodium_ok
    else:
        assert sodium_ok
        assert ristretto.encode(p) == b


@EXAMPLES
@given(uniform64, st.integers(0, 255))
def test_validity_of_one_bit_corruptions_agrees(seed: bytes, bit: int) -> None:
    # Random strings are valid about 1 time in 8; flipping one bit of a valid encoding probes
    # the boundary cases (sign bit, top bit, near-valid squares) much more often.
    b = bytearray(_sodium_point(seed))
    b[bit // 8] ^= 1 << (bit % 8)
    enc = bytes(b)
    sodium_ok = _sodium_valid(enc)
    assert SODIUM.is_valid_point(enc) == sodium_ok
    try:
        ristretto.decode(enc)
    except errors.InvalidEncoding:
        assert not sodium_ok
    else:
        assert sodium_ok


@EXAMPLES
@given(st.binary(min_size=32, max_size=32))
def test_scalar_canonicity_agrees(b: bytes) -> None:
    assert _raises_same(
        lambda: pedersen.blind_from_bytes(b), lambda: SODIUM.blind_from_bytes(b)
    ) in (
        None,
        errors.InvalidScalar,
    )
    if int.from_bytes(b, "little") < L:
        assert pedersen.blind_from_bytes(b) == SODIUM.blind_from_bytes(b)


@EXAMPLES
@given(uniform64)
def test_wide_reduction_agrees(b: bytes) -> None:
    want = rbcl.crypto_core_ristretto255_scalar_reduce(b)
    assert ristretto.scalar_to_bytes(ristretto.scalar_reduce64(b)) == want
    assert SODIUM.random_blind(lambda n: b) == pedersen.random_blind(lambda n: b)


@EXAMPLES
@given(blinds, blinds)
def test_blind_addition_agrees(a: int, b: int) -> None:
    want = rbcl.crypto_core_ristretto255_scalar_add(_le(a), _le(b))
    assert pedersen.blind_to_bytes(pedersen.add_blinds(a, b)) == want
    assert SODIUM.blind_to_bytes(SODIUM.add_blinds(a, b)) == want


@EXAMPLES
@given(values, blinds, values)
def test_opening_errors_agree(value: int, blind: int, other: int) -> None:
    c = SODIUM.commit(value, blind)
    kind = _raises_same(
        lambda: pedersen.verify_opening(c, other, blind),
        lambda: SODIUM.verify_opening(c, other, blind),
    )
    assert kind is (None if other == value else errors.OpeningMismatch)


BAD_INPUTS: list[Any] = [
    bytes(31),
    bytes(33),
    b"\xff" * 32,
    bytes.fromhex("0100000000000000000000000000000000000000000000000000000000000000"),
    None,
    "00" * 32,
]


@pytest.mark.parametrize("bad", BAD_INPUTS)
def test_bad_encodings_raise_the_same_errors(bad: Any) -> None:
    good = SODIUM.commit(1, 2)
    checks: list[Callable[[Any], Any]] = [
        lambda g: g.sum_commitments([good, bad]),
        lambda g: g.verify_sum([good, bad], 1, 2),
        lambda g: g.verify_opening(bad, 1, 2),
    ]
    for fn in checks:
        kind = _raises_same(functools.partial(fn, pedersen), functools.partial(fn, SODIUM))
        assert kind is errors.InvalidEncoding
    assert not SODIUM.is_valid_point(bad)


@pytest.mark.parametrize(
    ("value", "blind"), [(-1, 0), (2**64, 0), (True, 0), (0, -1), (0, L), (0, False), (1.0, 1)]
)
def test_out_of_range_scalars_raise_the_same_errors(value: Any, blind: Any) -> None:
    assert (
        _raises_same(lambda: pedersen.commit(value, blind), lambda: SODIUM.commit(value, blind))
        is errors.InvalidScalar
    )


def test_bytearray_commitments_are_accepted_by_both() -> None:
    c = SODIUM.commit(9, 10)
    ba: Any = bytearray(c)
    assert pedersen.sum_commitments([ba]) == SODIUM.sum_commitments([ba]) == c
    SODIUM.verify_opening(ba, 9, 10)
    pedersen.verify_opening(ba, 9, 10)
