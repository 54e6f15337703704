from protocol import errors, labels, p256
from protocol.hashing import sha256, tagged_hash
from tests.contract.support import h, raises, repo_root, shared_vector


def _rfc6979():
    v = shared_vector("rfc6979_p256_sha256.json")
    return v, int(v["private_key_x"], 16)


def _flip(b, i, bit=0):
    out = bytearray(b)
    out[i] ^= 1 << bit
    return bytes(out)


# --- RFC 6979 A.2.5 -------------------------------------------------------------------------


def test_rfc6979_public_key():
    v, d = _rfc6979()
    pub = p256.public_key(d)
    assert pub == h(v["public_key"]["uncompressed_sec1"])
    assert p256.decode_public_key(pub) == (
        int(v["public_key"]["Ux"], 16),
        int(v["public_key"]["Uy"], 16),
    )


def test_rfc6979_nonces():
    v, d = _rfc6979()
    for sig in v["signatures"]:
        digest = sha256(sig["message"].encode())
        assert digest == h(sig["sha256_of_message"])
        assert p256.rfc6979_k(d, digest) == int(sig["k"], 16)


def test_rfc6979_signatures_match_exactly():
    v, d = _rfc6979()
    for sig in v["signatures"]:
        expected = h(sig["r"]) + h(sig["s"])
        assert expected == h(sig["signature_p1363_hex"])
        assert p256.sign(d, sig["message"].encode()) == expected
        assert p256.sign_digest(d, h(sig["sha256_of_message"])) == expected


def test_rfc6979_signatures_verify():
    v = _rfc6979()[0]
    pub = h(v["public_key"]["uncompressed_sec1"])
    for sig in v["signatures"]:
        s = h(sig["signature_p1363_hex"])
        assert p256.verify(pub, sig["message"].encode(), s)
        assert p256.verify_digest(pub, h(sig["sha256_of_message"]), s)
        assert not p256.verify(pub, b"other message", s)


def test_high_s_is_kept_and_accepted():
    # The "sample" signature has s > n/2: we neither normalise nor reject it.
    v = _rfc6979()[0]
    sig = v["signatures"][0]
    assert sig["s_is_high"]
    assert int(sig["s"], 16) > p256.N // 2
    assert p256.verify(
        h(v["public_key"]["uncompressed_sec1"]), b"sample", h(sig["signature_p1363_hex"])
    )


# --- Wycheproof ---------------------------------------------------------------------------


def test_wycheproof_p1363_vectors():
    data = shared_vector("wycheproof_ecdsa_p256_sha256_p1363.json")
    count = 0
    for group in data["testGroups"]:
        pub = h(group["publicKey"]["uncompressed"])
        for t in group["tests"]:
            assert t["result"] in ("valid", "invalid"), t["tcId"]
            got = p256.verify(pub, h(t["msg"]), h(t["sig"]))
            assert got == (t["result"] == "valid"), (t["tcId"], t["comment"])
            count += 1
    assert count == 262 == data["numberOfTests"]


# --- signing and verification round trips ----------------------------------------------------


def test_sign_verify_round_trip_and_tampering():
    d = 0x1234567890ABCDEF
    pub = p256.public_key(d)
    for msg in (b"", b"x", b"quietmile" * 30):
        sig = p256.sign(d, msg)
        assert len(sig) == 64
        assert p256.verify(pub, msg, sig)
        assert not p256.verify(pub, msg + b"!", sig)
        for i in (0, 31, 32, 63):
            assert not p256.verify(pub, msg, _flip(sig, i, 3))
        assert not p256.verify(p256.public_key(d + 1), msg, sig)


def test_signing_is_deterministic():
    assert p256.sign(7, b"m") == p256.sign(7, b"m")
    assert p256.sign(7, b"m") != p256.sign(8, b"m")


def test_small_and_extreme_private_keys():
    gx = p256.GX.to_bytes(32, "big")
    gy = p256.GY.to_bytes(32, "big")
    assert p256.public_key(1) == b"\x04" + gx + gy
    # (n-1)·G = -G
    neg_gy = (p256.P - p256.GY).to_bytes(32, "big")
    assert p256.public_key(p256.N - 1) == b"\x04" + gx + neg_gy
    for d in (1, 2, 3, p256.N - 1, 2**255):
        pub = p256.public_key(d)
        assert p256.verify(pub, b"edge", p256.sign(d, b"edge"))


def test_comb_agrees_with_wnaf_multiplication():
    # Two independent code paths for k·G must agree (comb table vs generic wNAF).
    for k in (1, 2, 5, 63, 2**43, 2**200 + 12345, p256.N - 2, 0xDEADBEEF << 180):
        a = p256._to_affine(*p256._base_mul(k))
        b = p256._to_affine(*p256._mul(k, p256.GX, p256.GY))
        assert a == b, k


def test_wnaf_digits_reconstruct_the_scalar():
    for k in (
        0,
        1,
        7,
        8,
        9,
        15,
        16,
        17,
        31,
        2**255,
        2**256 - 1,
        p256.N - 1,
        0x5555 << 200,
        0xF0F0F0F0F0F0F0F,
    ):
        digits = p256._wnaf(k)
        total = 0
        last_nonzero = -4
        for i in range(len(digits) - 1, -1, -1):
            d = digits[i] - 256 if digits[i] > 127 else digits[i]
            total = 2 * total + d
            if d:
                assert d & 1 and -7 <= d <= 7, (k, i, d)
        for i in range(len(digits)):
            if digits[i]:
                assert i - last_nonzero >= 4, (k, i)  # width-4 NAF: 3 zeros after a digit
                last_nonzero = i
        assert total == k, k


def test_comb_table_matches_generator_output():
    # The committed table is exactly what tools/gen_p256_table.py writes.
    from tools import gen_p256_table

    with open(repo_root() + "/protocol/tables_p256.py") as f:
        committed = f.read()
    assert gen_p256_table.render() == committed


# --- keys -----------------------------------------------------------------------------------


def test_private_key_from_bytes_range():
    assert p256.private_key_from_bytes(b"\x00" * 31 + b"\x01") == 1
    assert p256.private_key_from_bytes((p256.N - 1).to_bytes(32, "big")) == p256.N - 1
    raises(errors.InvalidKey, p256.private_key_from_bytes, b"\x00" * 32)
    raises(errors.InvalidKey, p256.private_key_from_bytes, p256.N.to_bytes(32, "big"))
    raises(errors.InvalidKey, p256.private_key_from_bytes, b"\xff" * 32)
    raises(errors.InvalidKey, p256.private_key_from_bytes, b"\x01" * 31)
    raises(errors.InvalidKey, p256.private_key_from_bytes, b"\x01" * 33)


def test_public_key_rejects_bad_scalars():
    for d in (0, -1, p256.N, p256.N + 1, True):
        raises(errors.InvalidKey, p256.public_key, d)
        raises(errors.InvalidKey, p256.sign, d, b"m")


def test_generate_private_key_rejection_samples():
    outputs = [b"\x00" * 32, b"\xff" * 32, p256.N.to_bytes(32, "big"), b"\x00" * 31 + b"\x05"]

    def rng(n):
        assert n == 32
        return outputs.pop(0)

    assert p256.generate_private_key(rng) == 5
    raises(errors.InvalidKey, p256.generate_private_key, lambda n: b"\x00" * 32)
    raises(errors.InvalidKey, p256.generate_private_key, lambda n: b"\x01" * 16)


def test_decode_public_key_rejects_bad_encodings():
    v, _ = _rfc6979()
    pub = h(v["public_key"]["uncompressed_sec1"])
    raises(errors.InvalidKey, p256.decode_public_key, pub[:64])
    raises(errors.InvalidKey, p256.decode_public_key, pub + b"\x00")
    raises(errors.InvalidKey, p256.decode_public_key, b"\x02" + pub[1:33])  # compressed
    raises(errors.InvalidKey, p256.decode_public_key, b"\x03" + pub[1:])  # wrong prefix
    raises(errors.InvalidKey, p256.decode_public_key, _flip(pub, 64))  # off the curve
    raises(errors.InvalidKey, p256.decode_public_key, b"\x04" + bytes(64))
    # Coordinates >= p (x + p would fit 32 bytes only for tiny x: use x = y = p).
    big = p256.P.to_bytes(32, "big")
    raises(errors.InvalidKey, p256.decode_public_key, b"\x04" + big + pub[33:])
    raises(errors.InvalidKey, p256.decode_public_key, b"\x04" + pub[1:33] + big)
    # Same point with y replaced by y + p does not fit; y replaced by p - y is the negation.
    neg = b"\x04" + pub[1:33] + (p256.P - int.from_bytes(pub[33:], "big")).to_bytes(32, "big")
    assert p256.decode_public_key(neg)[0] == p256.decode_public_key(pub)[0]


def test_verify_raises_only_for_bad_public_keys():
    v, _ = _rfc6979()
    sig = v["signatures"][1]
    good = h(sig["signature_p1363_hex"])
    bad_pub = b"\x04" + bytes(64)
    raises(errors.InvalidKey, p256.verify, bad_pub, b"test", good)
    raises(errors.InvalidKey, p256.verify, b"", b"test", good)


def test_key_id_is_tagged_hash_prefix():
    pub = p256.public_key(42)
    assert p256.key_id(pub) == tagged_hash(labels.KEY_ID, pub)[:16]
    assert len(p256.key_id(pub)) == 16


# --- bad signatures: always False, never an exception ----------------------------------------


def test_bad_signatures_return_false():
    v, _ = _rfc6979()
    pub = h(v["public_key"]["uncompressed_sec1"])
    sig = h(v["signatures"][1]["signature_p1363_hex"])
    r, s = sig[:32], sig[32:]
    zero = bytes(32)
    n = p256.N.to_bytes(32, "big")
    ff = b"\xff" * 32
    assert p256.verify(pub, b"test", sig)
    for bad in (
        b"",
        sig[:63],
        sig + b"\x00",
        b"\x00" + sig,
        zero + s,
        r + zero,
        zero + zero,
        n + s,
        r + n,
        ff + s,
        r + ff,
        (int.from_bytes(r, "big") + p256.N).to_bytes(33, "big")[1:] + s,
    ):
        assert p256.verify(pub, b"test", bad) is False
    for i in range(64):
        assert p256.verify(pub, b"test", _flip(sig, i, i % 8)) is False


def test_digest_must_be_32_bytes():
    raises(errors.InvalidMessage, p256.sign_digest, 5, b"\x00" * 31)
    raises(errors.InvalidMessage, p256.rfc6979_k, 5, b"\x00" * 33)


# --- signer interface --------------------------------------------------------------------------


def test_software_signer():
    v, d = _rfc6979()
    pub = h(v["public_key"]["uncompressed_sec1"])
    s1 = p256.SoftwareSigner(d)
    s2 = p256.SoftwareSigner(d.to_bytes(32, "big"), kid=b"custom")
    assert s1.public_key() == pub == s2.public_key()
    assert s1.kid == p256.key_id(pub)
    assert s2.kid == b"custom"
    assert s1.sign(b"sample") == h(v["signatures"][0]["signature_p1363_hex"])
    assert s2.sign_digest(sha256(b"test")) == h(v["signatures"][1]["signature_p1363_hex"])
    assert "%x" % d not in repr(s1)
    raises(errors.InvalidKey, p256.SoftwareSigner, 0)
    raises(errors.InvalidKey, p256.SoftwareSigner, b"\x00" * 32)


def test_signer_subclass_gets_sign_from_sign_digest():
    class Fixed(p256.Signer):
        kid = b"se"

        def __init__(self):
            self.seen = []

        def public_key(self):
            return p256.public_key(9)

        def sign_digest(self, digest32):
            self.seen.append(digest32)
            return p256.sign_digest(9, digest32)

    s = Fixed()
    sig = s.sign(b"hello")
    assert s.seen == [sha256(b"hello")]
    assert p256.verify(s.public_key(), b"hello", sig)
    raises(NotImplementedError, p256.Signer().public_key)
    raises(NotImplementedError, p256.Signer().sign, b"x")
