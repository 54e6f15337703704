"""Protocol messages: fields, CBOR layout, decoding with validation.

Each message is a CBOR map with small unsigned-integer keys (SPEC.md §4 lists them). ``encode``
gives the one deterministic encoding; ``decode`` accepts exactly that encoding and raises
errors.DecodeError (bad CBOR) or errors.InvalidMessage (bad fields) otherwise. The signed
envelopes (COSE_Sign1) around Statement, Receipt, Challenge, Opening and TariffPolicy are built
in protocol/envelopes.py.

Units are in the field names: ``*_micro`` money in micro-units of the policy currency,
``dist_m`` metres, ``*_e7`` degrees × 10^7, times ``t_*``/``*_at`` in Unix seconds (UTC).
"""

from protocol import cbor
from protocol.errors import InvalidMessage

# Receipt and Challenge, the two messages the OBU receives, live in protocol/exchange.py (the
# OBU's uplink decodes nothing else); re-exported like the names of protocol/record.py.
from protocol.exchange import Challenge, Receipt
from protocol.fields import (
    U32,
    U64,
    array,
    bstr,
    check_map,
    fail,
    tstr,
    uint,
)

# The bounds and the Message base live in protocol/message_base.py, SegmentRecord in
# protocol/record.py (the OBU's driving loop needs nothing else from here); they are
# re-exported so that every name stays importable.
from protocol.message_base import (
    CHALLENGE_ID_LEN,
    CHALLENGE_INDEX,
    CHALLENGE_SIGHTING,
    FLAG_CUT_MAX,
    FLAG_GAP_BRIDGED,
    FLAG_GAP_EVENT,
    FLAGS_ALL,
    HASH_LEN,
    MAX_OBU_ID_LEN,
    MAX_SEGMENTS,
    MAX_TIME,
    MAX_TRACE_POINTS,
    POINT_LEN,
    POLICY_ID_LEN,
    SALT_LEN,
    SCALAR_LEN,
    Message,
)

# The TariffPolicy wire format lives in protocol/policy_wire.py (the OBU verifies a policy at
# boot with it alone); re-exported so that every name stays importable from here.
from protocol.policy_wire import (
    decode_policy,
    encode_policy,
    policy_from_map,
    policy_id,
    policy_to_map,
)
from protocol.record import SegmentRecord, trace_commitment

__all__ = [
    "CHALLENGE_ID_LEN",
    "CHALLENGE_INDEX",
    "CHALLENGE_SIGHTING",
    "FLAGS_ALL",
    "FLAG_CUT_MAX",
    "FLAG_GAP_BRIDGED",
    "FLAG_GAP_EVENT",
    "HASH_LEN",
    "MAX_OBU_ID_LEN",
    "MAX_SEGMENTS",
    "MAX_TIME",
    "MAX_TRACE_POINTS",
    "POINT_LEN",
    "POLICY_ID_LEN",
    "SALT_LEN",
    "SCALAR_LEN",
    "Challenge",
    "Message",
    "ObuCertificate",
    "Opening",
    "Receipt",
    "SegmentCommitment",
    "SegmentRecord",
    "Statement",
    "decode_policy",
    "encode_policy",
    "encode_statement_stream",
    "policy_from_map",
    "policy_id",
    "policy_to_map",
    "trace_commitment",
]


def _time(t, name, v):
    return uint(t, name, v, MAX_TIME)


# --- SegmentCommitment -------------------------------------------------------------------


class SegmentCommitment:
    """What a statement carries per segment: the Pedersen commitment to its price and the
    salted hash commitment to its record. On the wire a 2-element array of 32-byte strings
    (69 bytes); inside Statement.commitments a plain (price, trace) pair to save heap."""

    TYPE = "SegmentCommitment"

    def __init__(self, price_commitment, trace_commitment):
        self.price_commitment = price_commitment
        self.trace_commitment = trace_commitment

    def pair(self):
        return (self.price_commitment, self.trace_commitment)

    def encode(self):
        return cbor.encode([self.price_commitment, self.trace_commitment])

    @classmethod
    def from_wire(cls, e):
        t = cls.TYPE
        array(t, "commitment", e, 2, 2)
        return cls(bstr(t, "price", e[0], POINT_LEN), bstr(t, "trace", e[1], HASH_LEN))

    @classmethod
    def decode(cls, data):
        return cls.from_wire(cbor.decode(data))

    def __eq__(self, other):
        return isinstance(other, SegmentCommitment) and self.pair() == other.pair()


# --- Statement ---------------------------------------------------------------------------


class Statement(Message):
    """A period's signed summary: commitments and totals, nothing else (SPEC.md §5).

    ``commitments`` is a list of (price_commitment, trace_commitment) pairs, 32 bytes each.
    ``blind_sum`` is the sum of the segments' price blinding factors mod ℓ (32 bytes LE), so
    that the verifier can check sum(C_i) == total_price_micro·B + blind_sum·H.
    """

    TYPE = "Statement"

    def __init__(
        self,
        obu_id,
        seq,
        prev_hash,
        period_start,
        period_end,
        policy_ids,
        total_price_micro,
        blind_sum,
        commitments,
    ):
        self.obu_id = obu_id
        self.seq = seq
        self.prev_hash = prev_hash
        self.period_start = period_start
        self.period_end = period_end
        self.policy_ids = policy_ids
        self.total_price_micro = total_price_micro
        self.blind_sum = blind_sum
        self.commitments = commitments

    @property
    def segment_count(self):
        return len(self.commitments)

    def segment(self, index):
        """The SegmentCommitment of segment ``index``."""
        c, tc = self.commitments[index]
        return SegmentCommitment(c, tc)

    def header_map(self):
        """Every field but the commitments (keys 1..8); key 9 sorts last in canonical order."""
        return {
            1: self.obu_id,
            2: self.seq,
            3: self.prev_hash,
            4: self.period_start,
            5: self.period_end,
            6: list(self.policy_ids),
            7: self.total_price_micro,
            8: self.blind_sum,
        }

    def to_map(self):
        m = self.header_map()
        m[9] = [[c, tc] for c, tc in self.commitments]
        return m

    @classmethod
    def from_map(cls, m):
        t = cls.TYPE
        check_map(t, m, (1, 2, 3, 4, 5, 6, 7, 8, 9))
        start = _time(t, "period_start", m[4])
        end = _time(t, "period_end", m[5])
        if end <= start:
            fail(t, "period_end", "not after period_start")
        pids = [bstr(t, "policy_ids[]", p, POLICY_ID_LEN) for p in array(t, "policy_ids", m[6], 16)]
        commitments = [
            SegmentCommitment.from_wire(e).pair()
            for e in array(t, "commitments", m[9], MAX_SEGMENTS)
        ]
        if commitments and not pids:
            fail(t, "policy_ids", "segments need at least one policy id")
        total = uint(t, "total_price_micro", m[7], U64)
        if total > len(commitments) * U32:
            # every segment price is < 2^32: a larger total can only come from out-of-range
            # committed values (e.g. "negative" prices wrapping mod ℓ)
            fail(t, "total_price_micro", "exceeds segment_count × (2^32 − 1)")
        return cls(
            tstr(t, "obu_id", m[1], MAX_OBU_ID_LEN),
            uint(t, "seq", m[2], U32),
            bstr(t, "prev_hash", m[3], HASH_LEN),
            start,
            end,
            pids,
            total,
            bstr(t, "blind_sum", m[8], SCALAR_LEN),
            commitments,
        )


def encode_statement_stream(header_map, count, commitments, write):
    """Write a Statement payload's canonical CBOR without holding the commitments in memory.

    ``header_map`` is Statement.header_map() of the statement (keys 1..8), ``commitments`` an
    iterator of ``count`` (price, trace) pairs, ``write`` a callable taking bytes. The bytes
    written equal Statement(...).encode() — the OBU builds month-long statements this way.
    """
    write(cbor.head(5, 9))  # a map of 9 entries
    for k in sorted(header_map):
        write(cbor.encode(k))
        write(cbor.encode(header_map[k]))
    write(cbor.encode(9))
    write(cbor.head(4, count))
    n = 0
    for c, tc in commitments:
        write(cbor.encode([c, tc]))
        n += 1
    if n != count:
        raise InvalidMessage("Statement.commitments: %d written, %d announced" % (n, count))


# --- Opening -----------------------------------------------------------------------------


class Opening(Message):
    """The OBU's answer to one Challenge: exactly one segment opened, or none.

    ``segment_index``/``record``/``salt``/``blind`` are all None when no segment covers the
    challenged instant (an honest "I was not driving / not recording" answer, which the
    authority judges against the sighting and the committed gap events).
    """

    TYPE = "Opening"

    def __init__(self, challenge_id, obu_id, statement_seq, segment_index, record, salt, blind):
        self.challenge_id = challenge_id
        self.obu_id = obu_id
        self.statement_seq = statement_seq
        self.segment_index = segment_index
        self.record = record
        self.salt = salt
        self.blind = blind

    @property
    def is_empty(self):
        return self.record is None

    def to_map(self):
        m = {1: self.challenge_id, 2: self.obu_id, 3: self.statement_seq}
        if self.record is not None:
            m[4] = self.segment_index
            m[5] = self.record.to_map()
            m[6] = self.salt
            m[7] = self.blind
        return m

    @classmethod
    def from_map(cls, m):
        t = cls.TYPE
        check_map(t, m, (1, 2, 3), (4, 5, 6, 7))
        present = [k in m for k in (4, 5, 6, 7)]
        if any(present) and not all(present):
            fail(t, "record", "segment_index, record, salt and blind come together or not at all")
        record = None
        index = None
        salt = None
        blind = None
        if all(present):
            index = uint(t, "segment_index", m[4], MAX_SEGMENTS - 1)
            record = SegmentRecord.from_map(m[5])
            if record.index != index:
                fail(t, "segment_index", "differs from record.index")
            salt = bstr(t, "salt", m[6], SALT_LEN)
            blind = bstr(t, "blind", m[7], SCALAR_LEN)
        return cls(
            bstr(t, "challenge_id", m[1], CHALLENGE_ID_LEN),
            tstr(t, "obu_id", m[2], MAX_OBU_ID_LEN),
            uint(t, "statement_seq", m[3], U32),
            index,
            record,
            salt,
            blind,
        )


# --- ObuCertificate ----------------------------------------------------------------------


class ObuCertificate(Message):
    """The authority binds an OBU id to its public key and vehicle class."""

    TYPE = "ObuCertificate"

    def __init__(self, obu_id, public_key, vehicle_class, issued_at, valid_until):
        self.obu_id = obu_id
        self.public_key = public_key
        self.vehicle_class = vehicle_class
        self.issued_at = issued_at
        self.valid_until = valid_until

    def to_map(self):
        return {
            1: self.obu_id,
            2: self.public_key,
            3: self.vehicle_class,
            4: self.issued_at,
            5: self.valid_until,
        }

    @classmethod
    def from_map(cls, m):
        t = cls.TYPE
        check_map(t, m, (1, 2, 3, 4, 5))
        pub = bstr(t, "public_key", m[2], 65)
        if pub[0] != 4:
            fail(t, "public_key", "expected an uncompressed SEC1 P-256 point")
        return cls(
            tstr(t, "obu_id", m[1], MAX_OBU_ID_LEN),
            pub,
            uint(t, "vehicle_class", m[3], 255),
            _time(t, "issued_at", m[4]),
            _time(t, "valid_until", m[5]),
        )
