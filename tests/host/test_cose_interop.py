"""Independent implementations check ours (CPython only).

- ``cryptography`` (OpenSSL) verifies our raw r||s ECDSA signatures and reproduces our
  RFC 6979 nonces; we verify its signatures.
- ``cwt`` (an independent COSE library) verifies our COSE_Sign1 envelopes, and we verify
  its envelopes; ``cbor2`` + ``cryptography`` rebuild the Sig_structure by hand as a second
  check.
- The CBOR decoder is fuzzed: on any input it may only raise errors.DecodeError subclasses.
"""

from __future__ import annotations

import os

import cbor2
import pytest
from cryptography.exceptions import InvalidSignature as CryptoInvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    Prehashed,
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cwt import COSE, COSEKey
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import cbor, cose, errors, labels, p256

CTY = labels.CTY_STATEMENT

scalars = st.integers(min_value=1, max_value=p256.N - 1)
messages = st.binary(max_size=512)
crypto_settings = settings(max_examples=60, deadline=None)


# --- helpers ---------------------------------------------------------------------------------


def crypto_private(d: int) -> ec.EllipticCurvePrivateKey:
    return ec.derive_private_key(d, ec.SECP256R1())


def crypto_public(pub: bytes) -> ec.EllipticCurvePublicKey:
    return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), pub)


def crypto_verify(pub: bytes, msg: bytes, sig: bytes) -> bool:
    """Same signature as p256.verify, backed by OpenSSL (what the backend uses)."""
    if len(sig) != 64:
        return False
    der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
    try:
        crypto_public(pub).verify(der, msg, ec.ECDSA(hashes.SHA256()))
    except CryptoInvalidSignature:
        return False
    return True


def crypto_sign(d: int, msg: bytes, deterministic: bool = False) -> bytes:
    der = crypto_private(d).sign(
        msg, ec.ECDSA(hashes.SHA256(), deterministic_signing=deterministic)
    )
    r, s = decode_dss_signature(der)
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def cwt_key(pub: bytes, kid: bytes, d: int | None = None):
    params = {1: 2, -1: 1, -2: pub[1:33], -3: pub[33:], 3: -7, 2: kid}
    if d is not None:
        params[-4] = d.to_bytes(32, "big")
    return COSEKey.new(params)


# --- ECDSA against cryptography ----------------------------------------------------------------


@crypto_settings
@given(d=scalars)
def test_public_key_matches_cryptography(d: int) -> None:
    expected = (
        crypto_private(d).public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    )
    assert p256.public_key(d) == expected
    assert p256.private_key_from_bytes(d.to_bytes(32, "big")) == d


@crypto_settings
@given(d=scalars, msg=messages)
def test_cryptography_verifies_our_signatures(d: int, msg: bytes) -> None:
    sig = p256.sign(d, msg)
    assert crypto_verify(p256.public_key(d), msg, sig)
    assert not crypto_verify(p256.public_key(d), msg + b"\x00", sig)


@crypto_settings
@given(d=scalars, msg=messages)
def test_our_nonces_match_cryptography_deterministic_signing(d: int, msg: bytes) -> None:
    # OpenSSL's RFC 6979 implementation gives the same (r, s) bit for bit.
    assert p256.sign(d, msg) == crypto_sign(d, msg, deterministic=True)


@crypto_settings
@given(d=scalars, msg=messages, flip=st.integers(min_value=0, max_value=511))
def test_we_verify_cryptography_signatures(d: int, msg: bytes, flip: int) -> None:
    pub = p256.public_key(d)
    sig = crypto_sign(d, msg)
    assert p256.verify(pub, msg, sig)
    bad = bytearray(sig)
    bad[flip // 8] ^= 1 << (flip % 8)
    assert p256.verify(pub, msg, bytes(bad)) is False
    assert crypto_verify(pub, msg, bytes(bad)) is False


def test_wycheproof_agrees_with_cryptography() -> None:
    import json

    from tests.conftest import SHARED

    data = json.loads((SHARED / "vectors" / "wycheproof_ecdsa_p256_sha256_p1363.json").read_text())
    for group in data["testGroups"]:
        pub = bytes.fromhex(group["publicKey"]["uncompressed"])
        for t in group["tests"]:
            msg, sig = bytes.fromhex(t["msg"]), bytes.fromhex(t["sig"])
            assert p256.verify(pub, msg, sig) == crypto_verify(pub, msg, sig), t["tcId"]


# --- COSE against cwt and a hand-built Sig_structure --------------------------------------------


@crypto_settings
@given(d=scalars, payload=messages, aad=st.binary(max_size=32), tagged=st.booleans())
def test_cwt_verifies_our_envelopes(d: int, payload: bytes, aad: bytes, tagged: bool) -> None:
    signer = p256.SoftwareSigner(d)
    env = cose.sign1(payload, signer, CTY, external_aad=aad, tagged=tagged)
    key = cwt_key(signer.public_key(), signer.kid)
    # cwt wants the tag; untagged envelopes are handed over as the tagged equivalent.
    wire = env if tagged else b"\xd2" + env
    protected, unprotected, got = COSE.new().decode_with_headers(wire, key, external_aad=aad)
    assert got == payload
    assert protected == {1: -7, 3: CTY, 4: signer.kid}
    assert unprotected == {}


@crypto_settings
@given(d=scalars, payload=messages, aad=st.binary(max_size=32))
def test_hand_built_sig_structure_verifies_our_envelopes(
    d: int, payload: bytes, aad: bytes
) -> None:
    signer = p256.SoftwareSigner(d)
    env = cose.sign1(payload, signer, CTY, external_aad=aad)
    top = cbor2.loads(env)
    assert top.tag == 18
    protected, unprotected, got, sig = top.value
    assert cbor2.loads(protected) == {1: -7, 3: CTY, 4: signer.kid}
    assert unprotected == {} and got == payload
    tbs = cbor2.dumps(["Signature1", protected, aad, payload])
    assert crypto_verify(signer.public_key(), tbs, sig)


@crypto_settings
@given(d=scalars, payload=messages, aad=st.binary(max_size=32))
def test_we_verify_cwt_envelopes(d: int, payload: bytes, aad: bytes) -> None:
    pub = p256.public_key(d)
    kid = p256.key_id(pub)
    key = cwt_key(pub, kid, d)
    env = COSE.new().encode_and_sign(
        payload, key, protected={1: -7, 3: CTY, 4: kid}, external_aad=aad
    )
    msg = cose.verify_sign1(env, {kid: pub}.get, CTY, external_aad=aad)
    assert msg.payload == payload
    # Same, with the OpenSSL-backed verify function the backend passes in.
    assert cose.verify_sign1(env, {kid: pub}.get, CTY, aad, crypto_verify).payload == payload
    with pytest.raises(errors.InvalidSignature):
        cose.verify_sign1(env, {kid: pub}.get, CTY, external_aad=aad + b"!")


def test_foreign_header_layout_from_cwt_needs_lenient_decoding() -> None:
    d = 0x1234
    pub = p256.public_key(d)
    key = cwt_key(pub, b"k1", d)
    # kid unprotected, as most COSE producers do: parseable and verifiable, but not ours.
    env = COSE.new().encode_and_sign(b"x", key, protected={1: -7}, unprotected={4: b"k1"})
    msg = cose.decode_sign1(env, canonical=False)
    assert msg.kid == b"k1" and msg.alg == -7
    cose.verify_signature(msg, pub)
    with pytest.raises(errors.InvalidMessage):
        cose.verify_sign1(env, {b"k1": pub}.get)


@crypto_settings
@given(d=scalars, payload=messages)
def test_envelope_signed_by_cryptography_verifies(d: int, payload: bytes) -> None:
    """OpenSSL signs in both ways cose.sign1 asks: the Sig_structure's digest (a signer with
    sign_digest, as every OBU signer: the structure is hashed as it is encoded) and the
    Sig_structure itself (a signer of messages only, an HSM's say). The envelopes are the
    same bytes but for the signatures' randomness."""

    class OpenSSLDigestSigner(p256.Signer):
        def __init__(self) -> None:
            self.kid = b"openssl"

        def public_key(self) -> bytes:
            return p256.public_key(d)

        def sign_digest(self, digest32: bytes) -> bytes:
            der = crypto_private(d).sign(digest32, ec.ECDSA(Prehashed(hashes.SHA256())))
            r, s = decode_dss_signature(der)
            return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    class OpenSSLMessageSigner:
        kid = b"openssl"

        def sign(self, msg: bytes) -> bytes:
            return crypto_sign(d, msg)

    envs = []
    for s in (OpenSSLDigestSigner(), OpenSSLMessageSigner()):
        env = cose.sign1(payload, s, CTY)
        assert cose.verify_sign1(env, {b"openssl": p256.public_key(d)}.get, CTY).payload == payload
        envs.append(env)
    assert envs[0][:-64] == envs[1][:-64]


# --- CBOR: cross-check with cbor2 and fuzz -------------------------------------------------------

ints = st.integers(min_value=-(2**64), max_value=2**64 - 1)
keys = st.one_of(ints, st.text(max_size=8))
scalar_values = st.one_of(
    st.none(), st.booleans(), ints, st.binary(max_size=40), st.text(max_size=40)
)


def _values(with_tags: bool):
    def extend(children):
        out = st.one_of(
            st.lists(children, max_size=6),
            st.dictionaries(keys, children, max_size=6),
        )
        if with_tags:
            tags = st.builds(cbor.Tag, st.integers(min_value=0, max_value=2**64 - 1), children)
            out = st.one_of(out, tags)
        return out

    return st.recursive(scalar_values, extend, max_leaves=30)


@settings(max_examples=500, deadline=None)
@given(v=_values(with_tags=True))
def test_cbor_round_trip(v) -> None:
    enc = cbor.encode(v)
    assert cbor.decode(enc, max_depth=64) == v
    assert cbor.encode(cbor.decode(enc, max_depth=64)) == enc


@settings(max_examples=500, deadline=None)
@given(v=_values(with_tags=False))
def test_cbor_agrees_with_cbor2(v) -> None:
    enc = cbor.encode(v)
    assert cbor2.loads(enc) == v
    # cbor2's canonical form sorts map keys length-first (RFC 7049), so it may differ from
    # ours in key order only: the lenient decoder reads it, the strict one may refuse it.
    theirs = cbor2.dumps(v, canonical=True)
    assert cbor.decode(theirs, max_depth=64, canonical=False) == v
    assert len(theirs) == len(enc)


def _decode_only_decode_errors(data: bytes) -> None:
    for canonical in (True, False):
        try:
            cbor.decode(data, canonical=canonical)
        except errors.DecodeError:
            pass
        try:
            cose.decode_sign1(data, canonical=canonical)
        except (errors.DecodeError, errors.InvalidMessage):
            pass


@settings(max_examples=3000, deadline=None)
@given(data=st.binary(max_size=64))
def test_fuzz_random_bytes_raise_only_decode_errors(data: bytes) -> None:
    _decode_only_decode_errors(data)


@settings(max_examples=1000, deadline=None)
@given(v=_values(with_tags=True), pos=st.integers(min_value=0), bit=st.integers(0, 7))
def test_fuzz_bit_flips_raise_only_decode_errors(v, pos: int, bit: int) -> None:
    enc = bytearray(cbor.encode(v))
    enc[pos % len(enc)] ^= 1 << bit
    _decode_only_decode_errors(bytes(enc))


@settings(max_examples=300, deadline=None)
@given(payload=st.binary(max_size=64), cut=st.integers(min_value=0), pos=st.integers(min_value=0))
def test_fuzz_mutated_envelopes(payload: bytes, cut: int, pos: int) -> None:
    signer = p256.SoftwareSigner(0xC0FFEE)
    env = cose.sign1(payload, signer, CTY)
    resolve = {signer.kid: signer.public_key()}.get
    mutated = bytearray(env)
    mutated[pos % len(env)] ^= 0x40
    for data in (env[: cut % len(env)], bytes(mutated)):
        with pytest.raises(
            (
                errors.DecodeError,
                errors.InvalidMessage,
                errors.InvalidSignature,
                errors.UnknownKeyId,
                errors.UnsupportedAlgorithm,
            )
        ):
            cose.verify_sign1(data, resolve, CTY)


def test_fuzz_os_random_bytes() -> None:
    # Plain os.urandom inputs of every size up to 300 bytes, also prefixed with an array
    # head so more of them get past the first byte.
    for size in range(300):
        data = os.urandom(size)
        _decode_only_decode_errors(data)
        _decode_only_decode_errors(b"\x84" + data)
        _decode_only_decode_errors(b"\xd2\x84" + data)


def test_deep_nesting_is_refused_without_recursion_error() -> None:
    for head in (b"\x81", b"\x9f", b"\xa1\x00", b"\xc1"):
        with pytest.raises(errors.TooDeep):
            cbor.decode(head * 100000 + b"\x00", canonical=False)
