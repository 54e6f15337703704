import binascii

from protocol import cbor, cose, errors, labels, p256
from tests.contract.support import h, raises, shared_vector

COSE_PASS = ("ecdsa-sig-01", "sign-pass-01", "sign-pass-02", "sign-pass-03")
COSE_FAIL = ("sign-fail-02", "sign-fail-06")

CTY = labels.CTY_STATEMENT
D = 0xC9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721  # RFC 6979 A.2.5 key


def _b64url(s):
    s = s.replace("-", "+").replace("_", "/")
    return binascii.a2b_base64(s + "=" * (-len(s) % 4))


def _vector(name):
    v = shared_vector("cose/" + name + ".json")
    sign0 = v["input"]["sign0"]
    key = sign0["key"]
    pub = b"\x04" + _b64url(key["x"]) + _b64url(key["y"])
    d = int.from_bytes(_b64url(key["d"]), "big")
    aad = h(sign0.get("external", ""))
    return v, pub, d, aad


def _signer():
    return p256.SoftwareSigner(D)


def _resolver(signer):
    def resolve(kid):
        if kid != signer.kid:
            raise errors.UnknownKeyId("unknown")
        return signer.public_key()

    return resolve


def _envelope(protected_map, unprotected, payload, d=D, aad=b"", tagged=True):
    """Build and sign a COSE_Sign1 with arbitrary headers (for negative tests)."""
    prot = cbor.encode(protected_map) if protected_map else b""
    tbs = cbor.encode(["Signature1", prot, aad, payload])
    body = [prot, unprotected, payload, p256.sign(d, tbs)]
    return cbor.encode(cbor.Tag(18, body) if tagged else body)


def _flip(b, i):
    out = bytearray(b)
    out[i] ^= 0x01
    return bytes(out)


# --- cose-wg example vectors ----------------------------------------------------------------


def test_vector_key_is_consistent():
    for name in COSE_PASS + COSE_FAIL:
        _, pub, d, _ = _vector(name)
        assert p256.public_key(d) == pub, name


def test_pass_vectors_rebuild_to_be_signed_and_verify():
    for name in COSE_PASS:
        v, pub, _, aad = _vector(name)
        data = h(v["output"]["cbor"])
        msg = cose.decode_sign1(data, canonical=False)
        assert msg.to_be_signed(aad) == h(v["intermediates"]["ToBeSign_hex"]), name
        assert msg.payload == v["input"]["plaintext"].encode()
        assert msg.alg == cose.ALG_ES256
        assert msg.kid == b"11"
        cose.verify_signature(msg, pub, aad)
        # A wrong external AAD must break it.
        raises(errors.InvalidSignature, cose.verify_signature, msg, pub, aad + b"x")


def test_pass_vectors_tagged_and_untagged():
    assert h(_vector("sign-pass-02")[0]["output"]["cbor"])[0] == 0xD2
    assert h(_vector("sign-pass-03")[0]["output"]["cbor"])[0] == 0x84


def test_fail_vectors_raise_invalid_signature():
    for name in COSE_FAIL:
        v, pub, _, aad = _vector(name)
        msg = cose.decode_sign1(h(v["output"]["cbor"]), canonical=False)
        raises(errors.InvalidSignature, cose.verify_signature, msg, pub, aad)
        # The signature itself is genuine: it verifies over the original ToBeSign.
        assert p256.verify(pub, h(v["intermediates"]["ToBeSign_hex"]), msg.signature)


def test_empty_protected_map_signs_a_zero_length_bstr():
    v, _, _, _ = _vector("sign-pass-01")
    msg = cose.decode_sign1(h(v["output"]["cbor"]), canonical=False)
    assert msg.protected == h("a0")
    assert msg.protected_map == {}
    assert msg.to_be_signed() == cbor.encode(["Signature1", b"", b"", msg.payload])
    assert msg.alg == -7  # found in the unprotected header


def test_foreign_vectors_fail_our_header_policy():
    # Our verifier wants alg, kid and content type protected; the examples do not comply.
    def resolve(kid):
        return _vector("ecdsa-sig-01")[1]

    v = _vector("sign-pass-01")[0]
    raises(errors.UnsupportedAlgorithm, cose.verify_sign1, h(v["output"]["cbor"]), resolve)
    v = _vector("ecdsa-sig-01")[0]
    raises(errors.InvalidMessage, cose.verify_sign1, h(v["output"]["cbor"]), resolve)


# --- our envelopes --------------------------------------------------------------------------


def test_sign1_layout():
    s = _signer()
    env = cose.sign1(b"payload", s, CTY)
    cty = CTY.encode()
    protected = h("a3 01 26 03 78") + bytes([len(cty)]) + cty + h("04 50") + s.kid
    assert env[:2] == h("d2 84")
    top = cbor.decode(env)
    assert top.tag == 18
    assert top.value[0] == protected
    assert top.value[1] == {}
    assert top.value[2] == b"payload"
    assert len(top.value[3]) == 64
    tbs = cbor.encode(["Signature1", protected, b"", b"payload"])
    assert p256.verify(s.public_key(), tbs, top.value[3])


def test_sign1_round_trip():
    s = _signer()
    for tagged in (True, False):
        env = cose.sign1(b"\x00" * 200, s, CTY, tagged=tagged)
        msg = cose.verify_sign1(env, _resolver(s), CTY)
        assert msg.payload == b"\x00" * 200
        assert msg.kid == s.kid
        assert msg.content_type == CTY
        assert msg.alg == -7
        assert msg.encode(tagged) == env
    # content_type may be left unchecked by the caller.
    assert cose.verify_sign1(cose.sign1(b"", s, CTY), _resolver(s)).payload == b""


def test_sign1_rejects_bad_arguments():
    s = _signer()
    raises(errors.InvalidMessage, cose.sign1, "text", s, CTY)
    raises(errors.InvalidMessage, cose.sign1, b"p", s, 0)
    raises(errors.InvalidKey, cose.sign1, b"p", p256.SoftwareSigner(D, kid="11"), CTY)
    raises(errors.InvalidKey, cose.sign1, b"p", p256.SoftwareSigner(D, kid=b""), CTY)


def test_sign1_is_deterministic():
    s = _signer()
    assert cose.sign1(b"m", s, CTY) == cose.sign1(b"m", s, CTY)


def test_external_aad_is_bound():
    s = _signer()
    env = cose.sign1(b"p", s, CTY, external_aad=b"ctx")
    assert cose.verify_sign1(env, _resolver(s), CTY, external_aad=b"ctx").payload == b"p"
    raises(errors.InvalidSignature, cose.verify_sign1, env, _resolver(s), CTY)
    raises(errors.InvalidSignature, cose.verify_sign1, env, _resolver(s), CTY, b"ctx2")


def test_bit_flipped_signature_is_rejected():
    s = _signer()
    env = cose.sign1(b"p", s, CTY)
    for i in (len(env) - 1, len(env) - 33, len(env) - 64):
        raises(errors.InvalidSignature, cose.verify_sign1, _flip(env, i), _resolver(s), CTY)


def test_changed_payload_is_rejected():
    s = _signer()
    top = cbor.decode(cose.sign1(b"pay", s, CTY))
    top.value[2] = b"pax"
    raises(errors.InvalidSignature, cose.verify_sign1, cbor.encode(top), _resolver(s), CTY)


def test_unknown_kid_is_rejected():
    s = _signer()
    other = p256.SoftwareSigner(D, kid=b"someone-else")
    env = cose.sign1(b"p", other, CTY)
    raises(errors.UnknownKeyId, cose.verify_sign1, env, _resolver(s), CTY)
    raises(errors.UnknownKeyId, cose.verify_sign1, env, lambda kid: None, CTY)


def test_wrong_key_for_kid_is_rejected():
    s = _signer()
    env = cose.sign1(b"p", s, CTY)
    raises(errors.InvalidSignature, cose.verify_sign1, env, lambda kid: p256.public_key(5), CTY)


def test_wrong_content_type_is_rejected():
    s = _signer()
    env = cose.sign1(b"p", s, labels.CTY_RECEIPT)
    raises(errors.InvalidMessage, cose.verify_sign1, env, _resolver(s), CTY)


def test_wrong_or_missing_alg_is_rejected():
    s = _signer()
    r = _resolver(s)
    for prot in ({1: -35, 3: CTY, 4: s.kid}, {1: "ES256", 3: CTY, 4: s.kid}, {3: CTY, 4: s.kid}):
        raises(errors.UnsupportedAlgorithm, cose.verify_sign1, _envelope(prot, {}, b"p"), r, CTY)
    # alg only in the unprotected header does not count
    env = _envelope({3: CTY, 4: s.kid}, {1: -7}, b"p")
    raises(errors.UnsupportedAlgorithm, cose.verify_sign1, env, r, CTY)


def test_kid_and_content_type_must_be_protected():
    s = _signer()
    r = _resolver(s)
    env = _envelope({1: -7, 3: CTY}, {4: s.kid}, b"p")
    raises(errors.InvalidMessage, cose.verify_sign1, env, r, CTY)
    env = _envelope({1: -7, 4: s.kid}, {3: CTY}, b"p")
    raises(errors.InvalidMessage, cose.verify_sign1, env, r, CTY)
    env = _envelope({1: -7, 3: 60, 4: s.kid}, {}, b"p")
    raises(errors.InvalidMessage, cose.verify_sign1, env, r)
    # Correct placement built by hand is accepted: _envelope agrees with sign1.
    env = _envelope({1: -7, 3: CTY, 4: s.kid}, {}, b"p")
    assert env == cose.sign1(b"p", s, CTY)


def test_crit_header_is_rejected():
    s = _signer()
    env = _envelope({1: -7, 2: [3], 3: CTY, 4: s.kid}, {}, b"p")
    raises(errors.InvalidMessage, cose.verify_sign1, env, _resolver(s), CTY)


def test_truncated_envelope_is_rejected():
    s = _signer()
    env = cose.sign1(b"payload", s, CTY)
    for cut in (0, 1, 2, 10, len(env) // 2, len(env) - 1):
        raises(errors.DecodeError, cose.verify_sign1, env[:cut], _resolver(s), CTY)


def test_trailing_bytes_are_rejected():
    s = _signer()
    env = cose.sign1(b"payload", s, CTY)
    raises(errors.TrailingBytes, cose.verify_sign1, env + b"\x00", _resolver(s), CTY)


def test_non_deterministic_envelope_is_rejected_by_verify_sign1():
    s = _signer()
    top = cbor.decode(cose.sign1(b"p", s, CTY))
    # Same message, payload length written as a 1-byte argument (not shortest form).
    prot, _, payload, sig = top.value
    body = h("d2 84") + cbor.encode(prot) + h("a0") + h("58 01") + payload + cbor.encode(sig)
    msg = cose.decode_sign1(body, canonical=False)
    cose.verify_signature(msg, s.public_key())
    raises(errors.NonCanonical, cose.verify_sign1, body, _resolver(s), CTY)


def test_custom_verify_function_is_used():
    s = _signer()
    env = cose.sign1(b"p", s, CTY)
    calls = []

    def never(pub, data, sig):
        calls.append((pub, data, sig))
        return False

    raises(errors.InvalidSignature, cose.verify_sign1, env, _resolver(s), CTY, b"", never)
    msg = cose.decode_sign1(env)
    assert calls == [(s.public_key(), msg.to_be_signed(), msg.signature)]
    assert cose.verify_sign1(env, _resolver(s), CTY, verify=lambda *a: True).payload == b"p"


def test_decode_sign1_structure_checks():
    good = [h("a10126"), {4: b"11"}, b"p", b"s" * 64]
    assert cose.decode_sign1(cbor.encode(cbor.Tag(18, good))).payload == b"p"
    assert cose.decode_sign1(cbor.encode(good)).kid == b"11"
    bad_bodies = [
        cbor.Tag(98, good),
        cbor.Tag(18, good[:3]),
        good + [b""],
        {1: 2},
        b"not an array",
        [{1: -7}, {}, b"p", b"s"],  # protected must be a bstr
        [h("a10126"), [], b"p", b"s"],  # unprotected must be a map
        [h("a10126"), {}, None, b"s"],  # detached payload
        [h("a10126"), {}, "p", b"s"],
        [h("a10126"), {}, b"p", "s"],
        [h("80"), {}, b"p", b"s"],  # protected not a map
        [h("a10126"), {1: -7}, b"p", b"s"],  # label in both buckets
        [h("a10126"), {4: "11"}, b"p", b"s"],  # kid must be bytes
        [h("a101f5"), {}, b"p", b"s"],  # alg must be int or text
        [h("a10320"), {}, b"p", b"s"],  # content type must be uint or text
    ]
    for body in bad_bodies:
        raises(errors.InvalidMessage, cose.decode_sign1, cbor.encode(body))
    raises(errors.DecodeError, cose.decode_sign1, cbor.encode([h("a101"), {}, b"p", b"s"]))
    raises(errors.DecodeError, cose.decode_sign1, b"")


def test_a_payload_in_pieces_signs_as_it_does_whole():
    """sign1 of a payload given as pieces, and with the envelope asked for as pieces (the
    OBU's openings): the same envelope, signature aside (ECDSA is randomised)."""
    s = p256.SoftwareSigner(0xC05E)
    payload = bytes(range(256)) * 3
    whole = cose.sign1(payload, s, CTY)
    for pieces in ([payload], [payload[:1], payload[1:300], payload[300:]]):
        for as_pieces in (False, True):
            env = cose.sign1(pieces, s, CTY, pieces=as_pieces)
            if as_pieces:
                assert type(env) is list
                env = b"".join(env)
            assert env[:-64] == whole[:-64]
            assert cose.verify_sign1(env, _resolver(s), CTY).payload == payload
