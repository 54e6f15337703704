from protocol import cbor, errors
from tests.contract.support import h, raises

# RFC 8949 Appendix A examples that are in deterministic form: (value, hex encoding).
RFC8949_EXAMPLES = [
    (0, "00"),
    (1, "01"),
    (10, "0a"),
    (23, "17"),
    (24, "1818"),
    (25, "1819"),
    (100, "1864"),
    (1000, "1903e8"),
    (1000000, "1a000f4240"),
    (1000000000000, "1b000000e8d4a51000"),
    (18446744073709551615, "1bffffffffffffffff"),
    (-1, "20"),
    (-10, "29"),
    (-100, "3863"),
    (-1000, "3903e7"),
    (-18446744073709551616, "3bffffffffffffffff"),
    (False, "f4"),
    (True, "f5"),
    (None, "f6"),
    (b"", "40"),
    (h("01020304"), "4401020304"),
    ("", "60"),
    ("a", "6161"),
    ("IETF", "6449455446"),
    ('"\\', "62225c"),
    ("\u00fc", "62c3bc"),
    ("\u6c34", "63e6b0b4"),
    ("\U00010151", "64f0908591"),
    ([], "80"),
    ([1, 2, 3], "83010203"),
    ([1, [2, 3], [4, 5]], "8301820203820405"),
    (list(range(1, 26)), "98190102030405060708090a0b0c0d0e0f101112131415161718181819"),
    ({}, "a0"),
    ({1: 2, 3: 4}, "a201020304"),
    ({"a": 1, "b": [2, 3]}, "a26161016162820203"),
    (["a", {"b": "c"}], "826161a161626163"),
    (
        {"a": "A", "b": "B", "c": "C", "d": "D", "e": "E"},
        "a56161614161626142616361436164614461656145",
    ),
    (cbor.Tag(0, "2013-03-21T20:04:00Z"), "c074323031332d30332d32315432303a30343a30305a"),
    (cbor.Tag(1, 1363896240), "c11a514b67b0"),
    (cbor.Tag(23, h("01020304")), "d74401020304"),
    (cbor.Tag(24, h("6449455446")), "d818456449455446"),
    (cbor.Tag(32, "http://www.example.com"), "d82076687474703a2f2f7777772e6578616d706c652e636f6d"),
]


def test_rfc8949_appendix_a_examples_encode():
    for value, enc in RFC8949_EXAMPLES:
        assert cbor.encode(value) == h(enc), (value, enc)


def test_rfc8949_appendix_a_examples_decode():
    for value, enc in RFC8949_EXAMPLES:
        got = cbor.decode(h(enc))
        assert got == value, (enc, got)
        assert type(got) is type(value), enc


def test_head_boundaries_round_trip_in_shortest_form():
    cases = [
        (23, "17"),
        (24, "1818"),
        (255, "18ff"),
        (256, "190100"),
        (65535, "19ffff"),
        (65536, "1a00010000"),
        (4294967295, "1affffffff"),
        (4294967296, "1b0000000100000000"),
        (-24, "37"),
        (-25, "3818"),
        (-256, "38ff"),
        (-257, "390100"),
    ]
    for value, enc in cases:
        assert cbor.encode(value) == h(enc), value
        assert cbor.decode(h(enc)) == value


def test_head_for_streaming_encoders():
    assert cbor.head(5, 9) == h("a9")
    assert cbor.head(4, 1000) == h("9903e8")
    assert cbor.head(4, 3) + cbor.encode(1) + cbor.encode(2) + cbor.encode(3) == cbor.encode(
        [1, 2, 3]
    )
    raises(errors.UnsupportedType, cbor.head, 8, 0)
    raises(errors.UnsupportedType, cbor.head, 4, -1)
    raises(errors.UnsupportedType, cbor.head, 4, 2**64)


def test_tuple_and_bytearray_encode_like_list_and_bytes():
    assert cbor.encode((1, 2)) == cbor.encode([1, 2])
    assert cbor.encode(bytearray(b"ab")) == cbor.encode(b"ab")
    assert cbor.decode(bytearray(h("83010203"))) == [1, 2, 3]


def test_map_keys_sorted_by_encoded_bytes():
    # Encodings: 10 -> 0a, 100 -> 1864, -1 -> 20, "z" -> 617a, "aa" -> 626161.
    m = {"aa": 0, 100: 0, "z": 0, -1: 0, 10: 0}
    enc = cbor.encode(m)
    assert enc == h("a5" + "0a00" + "186400" + "2000" + "617a00" + "62616100")
    assert cbor.decode(enc) == m


def test_map_key_order_ignores_insertion_order():
    a = {}
    b = {}
    for k in (3, 1, "b", "a", -5):
        a[k] = k
    for k in ("a", -5, 1, "b", 3):
        b[k] = k
    assert cbor.encode(a) == cbor.encode(b)


def test_nested_round_trip():
    v = {1: [b"\x00\xff", {"k": None}, cbor.Tag(18, [True, False])], "s": -(2**63)}
    assert cbor.decode(cbor.encode(v)) == v


def test_tag_equality():
    assert cbor.Tag(1, 2) == cbor.Tag(1, 2)
    assert cbor.Tag(1, 2) != cbor.Tag(1, 3)
    assert cbor.Tag(1, 2) != cbor.Tag(2, 2)
    assert cbor.Tag(1, 2) != 2


# --- encoder refusals ----------------------------------------------------------------------


def test_encode_rejects_unsupported_types():
    raises(errors.UnsupportedType, cbor.encode, 1.5)
    raises(errors.UnsupportedType, cbor.encode, {1, 2})
    raises(errors.UnsupportedType, cbor.encode, object())
    raises(errors.UnsupportedType, cbor.encode, [1, 2.0])


def test_encode_rejects_integers_outside_64_bits():
    raises(errors.UnsupportedType, cbor.encode, 2**64)
    raises(errors.UnsupportedType, cbor.encode, -(2**64) - 1)


def test_encode_rejects_bad_map_keys():
    raises(errors.UnsupportedType, cbor.encode, {b"k": 1})
    raises(errors.UnsupportedType, cbor.encode, {(1, 2): 1})
    raises(errors.UnsupportedType, cbor.encode, {True: 1})


def test_encode_rejects_bad_tag_numbers():
    raises(errors.UnsupportedType, cbor.encode, cbor.Tag(-1, 0))
    raises(errors.UnsupportedType, cbor.encode, cbor.Tag(2**64, 0))
    raises(errors.UnsupportedType, cbor.encode, cbor.Tag("x", 0))


# --- decoder refusals: one test per class ---------------------------------------------------


def test_decode_rejects_non_shortest_heads():
    for enc in ("1817", "190017", "1900ff", "1a0000ffff", "1b00000000ffffffff", "3817", "5800"):
        raises(errors.NonCanonical, cbor.decode, h(enc))
    raises(errors.NonCanonical, cbor.decode, h("7801") + b"a")
    raises(errors.NonCanonical, cbor.decode, h("9800"))
    raises(errors.NonCanonical, cbor.decode, h("b800"))
    raises(errors.NonCanonical, cbor.decode, h("d80100"))


def test_decode_rejects_indefinite_lengths():
    for enc in ("5f4101ff", "7f6161ff", "9f01ff", "bf0101ff"):
        raises(errors.NonCanonical, cbor.decode, h(enc))


def test_decode_rejects_unsorted_map_keys():
    raises(errors.NonCanonical, cbor.decode, h("a203040102"))  # {3: 4, 1: 2}
    raises(errors.NonCanonical, cbor.decode, h("a2186400 0a00"))  # 100 before 10
    raises(errors.NonCanonical, cbor.decode, h("a2626161 00 617a 00"))  # "aa" before "z"


def test_decode_rejects_duplicate_map_keys():
    raises(errors.NonCanonical, cbor.decode, h("a201020103"))
    raises(errors.NonCanonical, cbor.decode, h("a2616100616101"))


def test_decode_rejects_floats_and_simple_values():
    for enc in ("f93c00", "fa47c35000", "fb3ff199999999999a", "f7", "f0", "f820", "f8ff"):
        raises(errors.UnsupportedType, cbor.decode, h(enc))


def test_decode_rejects_non_int_or_text_map_keys():
    raises(errors.UnsupportedType, cbor.decode, h("a1416100"))  # {h'61': 0}
    raises(errors.UnsupportedType, cbor.decode, h("a18000"))  # {[]: 0}
    raises(errors.UnsupportedType, cbor.decode, h("a1f500"))  # {true: 0}
    raises(errors.UnsupportedType, cbor.decode, h("a1c10000"))  # {1(0): 0}


def test_decode_rejects_trailing_bytes():
    raises(errors.TrailingBytes, cbor.decode, h("0000"))
    raises(errors.TrailingBytes, cbor.decode, h("8101ff"))


def test_decode_rejects_truncated_input():
    for enc in ("", "18", "19ff", "1a0000", "1b00000000000000", "c1", "826161", "a16161"):
        raises(errors.Truncated, cbor.decode, h(enc))


def test_decode_rejects_lengths_beyond_the_input():
    raises(errors.TooLarge, cbor.decode, h("4401"))
    raises(errors.TooLarge, cbor.decode, h("5bffffffffffffffff"))
    raises(errors.TooLarge, cbor.decode, h("9bffffffffffffffff"))
    raises(errors.TooLarge, cbor.decode, h("a2010203"))  # 2 pairs need at least 4 bytes
    raises(errors.TooLarge, cbor.decode, h("8201"))  # 2 items need at least 2 bytes
    raises(errors.TooLarge, cbor.decode, h("a101"))


def test_decode_rejects_containers_over_max_items():
    assert cbor.decode(h("83010203"), max_items=3) == [1, 2, 3]
    raises(errors.TooLarge, cbor.decode, h("83010203"), max_items=2)
    raises(errors.TooLarge, cbor.decode, h("a201020304"), max_items=1)


def test_decode_rejects_nesting_deeper_than_max_depth():
    ok = b"\x81" * 16 + b"\x00"
    assert cbor.decode(ok) == cbor.decode(ok, max_depth=16)
    raises(errors.TooDeep, cbor.decode, b"\x81" * 17 + b"\x00")
    raises(errors.TooDeep, cbor.decode, h("c1c100"), max_depth=1)
    assert cbor.decode(h("00"), max_depth=0) == 0
    raises(errors.TooDeep, cbor.decode, h("80"), max_depth=0)


def test_decode_rejects_invalid_utf8():
    for bad in (
        "61ff",
        "61c0",
        "62c080",
        "61c3",
        "63eda080",
        "63e08080",
        "64f4908080",
        "64f0808080",
    ):
        raises(errors.DecodeError, cbor.decode, h(bad))
    assert cbor.decode(h("64f48fbfbf")) == "\U0010ffff"
    assert cbor.decode(h("63ed9fbf")) == "\ud7ff"


def test_decode_rejects_reserved_and_misplaced_heads():
    for enc in ("1c", "3d", "5e", "ff", "1f", "3f", "df00"):
        raises(errors.DecodeError, cbor.decode, h(enc))


def test_decode_rejects_non_bytes_input():
    raises(errors.DecodeError, cbor.decode, "00")
    raises(errors.DecodeError, cbor.decode, None)


def test_every_decode_error_class_is_a_decode_error():
    for cls in (
        errors.NonCanonical,
        errors.UnsupportedType,
        errors.TrailingBytes,
        errors.Truncated,
        errors.TooDeep,
        errors.TooLarge,
    ):
        assert issubclass(cls, errors.DecodeError)


# --- lenient mode (foreign envelopes) -------------------------------------------------------


def test_lenient_decode_accepts_non_deterministic_forms():
    assert cbor.decode(h("1817"), canonical=False) == 23
    assert cbor.decode(h("a203040102"), canonical=False) == {1: 2, 3: 4}
    assert cbor.decode(h("9f0102ff"), canonical=False) == [1, 2]
    assert cbor.decode(h("bf0102ff"), canonical=False) == {1: 2}
    assert cbor.decode(h("5f42010241ffff"), canonical=False) == h("0102ff")
    assert cbor.decode(h("7f616161626060ff"), canonical=False) == "ab"


def test_lenient_decode_is_still_strict_on_structure():
    raises(errors.Truncated, cbor.decode, h("9f01"), canonical=False)
    raises(errors.TrailingBytes, cbor.decode, h("9fff00"), canonical=False)
    raises(errors.NonCanonical, cbor.decode, h("a201000100"), canonical=False)
    raises(errors.NonCanonical, cbor.decode, h("a2011801 1801 00"), canonical=False)
    raises(errors.DecodeError, cbor.decode, h("5f6161ff"), canonical=False)  # text chunk
    raises(errors.DecodeError, cbor.decode, h("5f5f4100ffff"), canonical=False)  # nested
    raises(errors.TooDeep, cbor.decode, b"\x9f" * 17 + b"\xff" * 17, canonical=False)
    raises(errors.TooLarge, cbor.decode, h("9f010101ff"), canonical=False, max_items=2)
    raises(errors.UnsupportedType, cbor.decode, h("f93c00"), canonical=False)


def test_decode_prefix_returns_item_and_offset():
    data = h("8201020304")
    assert cbor.decode_prefix(data, 0) == ([1, 2], 3)
    assert cbor.decode_prefix(data, 3) == (3, 4)
    raises(errors.Truncated, cbor.decode_prefix, data, 5)
    raises(errors.DecodeError, cbor.decode_prefix, data, -1)
