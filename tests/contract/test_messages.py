"""Message layouts: round trips, strict field checks, one test per bad-input class."""

from protocol import cbor, messages
from protocol.errors import DecodeError, InvalidMessage, NonCanonical, TrailingBytes
from tests.contract.support import raises

PID = b"\x11" * 16


def record(**kw):
    f = dict(
        index=3,
        t_start=1793000000,
        t_end=1793000060,
        zone_id=1,
        band_id=0,
        vehicle_class=1,
        dist_m=1234,
        rate_micro_per_km=60000,
        price_micro=74040,
        policy_id=PID,
        flags=0,
        trace=[(0, 508500000, 43500000), (30, 508510000, 43510000), (60, 508520000, 43520000)],
    )
    f.update(kw)
    return messages.SegmentRecord(
        f["index"],
        f["t_start"],
        f["t_end"],
        f["zone_id"],
        f["band_id"],
        f["vehicle_class"],
        f["dist_m"],
        f["rate_micro_per_km"],
        f["price_micro"],
        f["policy_id"],
        f["flags"],
        f["trace"],
    )


def statement(n=3):
    return messages.Statement(
        "OBU-1",
        4,
        b"\x22" * 32,
        1793000000,
        1795600000,
        [PID],
        999,
        b"\x01" + bytes(31),
        [(bytes([i]) * 32, bytes([i + 100]) * 32) for i in range(n)],
    )


def test_segment_record_round_trips_through_canonical_cbor():
    r = record()
    data = r.encode()
    back = messages.SegmentRecord.decode(data)
    assert back == r
    assert back.trace[1] == (30, 508510000, 43510000)
    assert back.encode() == data


def test_statement_round_trips_and_costs_69_bytes_per_segment():
    s3 = statement(3).encode()
    s4 = statement(4).encode()
    assert len(s4) - len(s3) == 69
    assert messages.Statement.decode(s3) == statement(3)


def test_segment_commitment_is_a_69_byte_pair():
    st = statement(2)
    sc = st.segment(1)
    assert len(sc.encode()) == 69
    assert messages.SegmentCommitment.decode(sc.encode()) == sc
    raises(InvalidMessage, messages.SegmentCommitment.decode, cbor.encode([bytes(32)]))
    raises(InvalidMessage, messages.SegmentCommitment.decode, cbor.encode([bytes(32), bytes(31)]))


def test_statement_stream_encoding_matches_one_shot():
    st = statement(30)
    out = []
    messages.encode_statement_stream(st.header_map(), 30, iter(st.commitments), out.append)
    assert b"".join(out) == st.encode()


def test_statement_stream_with_wrong_count_is_refused():
    st = statement(3)
    raises(
        InvalidMessage,
        messages.encode_statement_stream,
        st.header_map(),
        4,
        iter(st.commitments),
        lambda b: None,
    )


def test_unknown_field_is_rejected():
    m = record().to_map()
    m[99] = 1
    raises(InvalidMessage, messages.SegmentRecord.decode, cbor.encode(m))


def test_missing_field_is_rejected():
    m = statement().to_map()
    del m[8]
    raises(InvalidMessage, messages.Statement.decode, cbor.encode(m))


def test_wrong_type_is_rejected():
    m = statement().to_map()
    m[2] = "4"
    raises(InvalidMessage, messages.Statement.decode, cbor.encode(m))
    m = statement().to_map()
    m[2] = True
    raises(InvalidMessage, messages.Statement.decode, cbor.encode(m))


def test_wrong_length_byte_strings_are_rejected():
    m = statement().to_map()
    m[9][0][0] = bytes(31)
    raises(InvalidMessage, messages.Statement.decode, cbor.encode(m))
    m = statement().to_map()
    m[3] = bytes(33)
    raises(InvalidMessage, messages.Statement.decode, cbor.encode(m))


def test_out_of_range_values_are_rejected():
    raises(InvalidMessage, messages.SegmentRecord.decode, record(price_micro=1 << 32).encode())
    raises(InvalidMessage, messages.SegmentRecord.decode, record(flags=64).encode())
    raises(InvalidMessage, messages.SegmentRecord.decode, record(t_end=1792999999).encode())
    raises(
        InvalidMessage, messages.SegmentRecord.decode, record(trace=[(0, 900000001, 0)]).encode()
    )
    raises(InvalidMessage, messages.SegmentRecord.decode, record(trace=[(61, 0, 0)]).encode())
    raises(
        InvalidMessage, messages.SegmentRecord.decode, record(trace=[(5, 0, 0), (4, 0, 0)]).encode()
    )


def test_negative_price_cannot_be_expressed():
    raises(InvalidMessage, messages.SegmentRecord.decode, record(price_micro=-1).encode())


def test_non_canonical_and_trailing_bytes_are_rejected():
    data = record().encode()
    raises(TrailingBytes, messages.SegmentRecord.decode, data + b"\x00")
    # index 3 written with a one-byte-argument head (0x18 0x03) instead of 0x03
    bad = data.replace(b"\x01\x03", b"\x01\x18\x03", 1)
    raises(NonCanonical, messages.SegmentRecord.decode, bad)
    raises(DecodeError, messages.SegmentRecord.decode, data[:-1])


def test_challenge_kinds_carry_exactly_their_field():
    sighting = messages.Challenge(
        b"\x05" * 16, "OBU-1", 2, messages.CHALLENGE_SIGHTING, 1793000030, None, 1796000000
    )
    index = messages.Challenge(
        b"\x06" * 16, "OBU-1", 2, messages.CHALLENGE_INDEX, None, 7, 1796000000
    )
    assert messages.Challenge.decode(sighting.encode()).at_time == 1793000030
    assert messages.Challenge.decode(index.encode()).segment_index == 7
    m = sighting.to_map()
    m[6] = 1
    raises(InvalidMessage, messages.Challenge.decode, cbor.encode(m))
    m = index.to_map()
    del m[6]
    raises(InvalidMessage, messages.Challenge.decode, cbor.encode(m))


def test_opening_fields_come_all_or_none():
    r = record()
    op = messages.Opening(b"\x05" * 16, "OBU-1", 2, 3, r, b"\x07" * 16, b"\x08" * 32)
    back = messages.Opening.decode(op.encode())
    assert back.record == r and not back.is_empty
    empty = messages.Opening(b"\x05" * 16, "OBU-1", 2, None, None, None, None)
    assert messages.Opening.decode(empty.encode()).is_empty
    m = op.to_map()
    del m[6]
    raises(InvalidMessage, messages.Opening.decode, cbor.encode(m))
    m = op.to_map()
    m[4] = 4  # index disagrees with the record's own index
    raises(InvalidMessage, messages.Opening.decode, cbor.encode(m))


def test_receipt_and_certificate_round_trip():
    rc = messages.Receipt("OBU-1", 2, b"\x09" * 32, 999, 3, 1795600100)
    assert messages.Receipt.decode(rc.encode()) == rc
    cert = messages.ObuCertificate("OBU-1", b"\x04" + bytes(64), 2, 1793000000, 1900000000)
    assert messages.ObuCertificate.decode(cert.encode()) == cert
    m = cert.to_map()
    m[2] = b"\x02" + bytes(64)
    raises(InvalidMessage, messages.ObuCertificate.decode, cbor.encode(m))


def test_trace_commitment_depends_on_salt_and_every_record_byte():
    r = record().encode()
    a = messages.trace_commitment(r, bytes(16))
    assert a != messages.trace_commitment(r, b"\x01" + bytes(15))
    assert a != messages.trace_commitment(record(dist_m=1235).encode(), bytes(16))
    raises(InvalidMessage, messages.trace_commitment, r, bytes(15))


def test_trace_commitment_of_a_record_in_pieces_is_that_of_its_bytes():
    r = record().encode()
    salt = bytes(range(16))
    pieces = [r[:7], r[7:8], b"", r[8:]]
    assert messages.trace_commitment(pieces, salt) == messages.trace_commitment(r, salt)
