from protocol import hashing
from tests.contract.support import h


def test_sha256_of_abc_matches_fips_180_2():
    assert hashing.sha256(b"abc") == h(
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )


def test_hmac_sha256_matches_rfc_4231_case_2():
    mac = hashing.hmac_sha256(b"Jefe", b"what do ya want for nothing?")
    assert mac == h("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")


def test_hmac_sha256_long_key_is_hashed_first_rfc_4231_case_6():
    key = b"\xaa" * 131
    msg = b"Test Using Larger Than Block-Size Key - Hash Key First"
    assert hashing.hmac_sha256(key, msg) == h(
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
    )


def test_tagged_hash_separates_parts_unambiguously():
    a = hashing.tagged_hash(b"L", b"ab", b"c")
    b = hashing.tagged_hash(b"L", b"a", b"bc")
    assert a != b
    assert hashing.tagged_hash(b"L1", b"x") != hashing.tagged_hash(b"L2", b"x")


def test_a_tagged_hash_part_in_pieces_hashes_as_their_concatenation():
    whole = hashing.tagged_hash(b"L", b"salt", b"abcdefgh")
    for pieces in ([b"abcdefgh"], [b"abc", b"", b"defgh"], (bytearray(b"a"), b"bcdefg", b"h")):
        assert hashing.tagged_hash(b"L", b"salt", pieces) == whole
    assert hashing.tagged_hash(b"L", [b"salt", b"abcdefgh"]) != whole
