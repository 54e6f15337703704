"""Protocol messages: fields, CBOR layout, decoding with validation.

Each message is a CBOR map with small unsigned-integer keys (SPEC.md §4 lists them). ``encode``
gives the one deterministic encoding; ``decode`` accepts exactly that encoding and raises
errors.DecodeError (bad CBOR) or errors.InvalidMessage (bad fields) otherwise. The signed
envelopes (COSE_Sign1) around Statement, Receipt, Challenge, Opening and TariffPolicy are built
in protocol/envelopes.py.

Units are in the field names: ``*_micro`` money in micro-units of the policy currency,
``dist_m`` metres, ``*_e7`` degrees × 10^7, times ``t_*``/``*_at`` in Unix seconds (UTC).
"""

from protocol import cbor, tariff
from protocol.errors import InvalidMessage
from protocol.fields import (
    U32,
    U64,
    array,
    bstr,
    check_map,
    fail,
    lat_e7,
    lon_e7,
    sint,
    tstr,
    uint,
)
from protocol.hashing import tagged_hash
from protocol.labels import POLICY_ID, TRACE_COMMITMENT

# Bounds shared by encoder, decoder and SPEC.md.
MAX_SEGMENTS = 100000  # per statement: ~30x a heavy month of driving
MAX_TRACE_POINTS = 512  # per segment record
MAX_OBU_ID_LEN = 64
POLICY_ID_LEN = 16
SALT_LEN = 16
HASH_LEN = 32
POINT_LEN = 32
SCALAR_LEN = 32
CHALLENGE_ID_LEN = 16
MAX_TIME = 0xFFFFFFFFFF  # 40 bits of Unix seconds: far beyond 2100, still a small CBOR head

# SegmentRecord.flags
FLAG_GAP_BRIDGED = 1  # contains a short outage bridged by a straight line
FLAG_GAP_EVENT = 2  # a long outage: no distance charged, committed as evidence
FLAG_CUT_MAX = 4  # cut at the maximum length/duration rather than a cell boundary
FLAGS_ALL = FLAG_GAP_BRIDGED | FLAG_GAP_EVENT | FLAG_CUT_MAX

# Challenge.kind
CHALLENGE_SIGHTING = 0  # open the segment covering at_time
CHALLENGE_INDEX = 1  # open segment number segment_index (random audit)


def _time(t, name, v):
    return uint(t, name, v, MAX_TIME)


class Message:
    """Base: equality by canonical encoding, and encode/decode through to_map/from_map."""

    TYPE = "Message"

    def to_map(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def encode(self):
        """Deterministic CBOR encoding of this message."""
        return cbor.encode(self.to_map())

    @classmethod
    def decode(cls, data):
        """Decode canonical CBOR bytes into a validated message."""
        return cls.from_map(cbor.decode(data))

    @classmethod
    def from_map(cls, m):  # pragma: no cover - abstract
        raise NotImplementedError

    def __eq__(self, other):
        return type(self) is type(other) and self.encode() == other.encode()

    def __ne__(self, other):
        return not self.__eq__(other)

    def __repr__(self):
        return "%s(%r)" % (self.TYPE, self.to_map())


# --- TariffPolicy ------------------------------------------------------------------------


def _ring_to_wire(ring):
    flat = []
    for lat, lon in ring:
        flat.append(lat)
        flat.append(lon)
    return flat


def _ring_from_wire(flat, name):
    t = "TariffPolicy"
    array(t, name, flat, 2 * 4096)
    if len(flat) % 2 or len(flat) < 6:
        fail(t, name, "a ring is an even list of >= 3 lat_e7/lon_e7 pairs")
    ring = []
    for i in range(0, len(flat), 2):
        ring.append((lat_e7(t, name, flat[i]), lon_e7(t, name, flat[i + 1])))
    return ring


def policy_to_map(p):
    """Wire map of a tariff.TariffPolicy (the signed body of a tariff policy)."""
    return {
        1: p.version,
        2: p.valid_from,
        3: p.valid_until,
        4: p.currency,
        5: [[t, off] for t, off in p.utc_offsets],
        6: [
            [z.zone_id, z.name, [[_ring_to_wire(r) for r in poly] for poly in z.polygons]]
            for z in p.zones
        ],
        7: [[b.band_id, b.days_mask, b.start_min, b.end_min] for b in p.bands],
        8: [[r.zone_id, r.band_id, r.vehicle_class, r.rate_micro_per_km] for r in p.rates],
    }


def policy_from_map(m):
    """Build and validate a tariff.TariffPolicy from its wire map (PolicyError/InvalidMessage)."""
    t = "TariffPolicy"
    check_map(t, m, (1, 2, 3, 4, 5, 6, 7, 8))
    version = uint(t, "version", m[1], U32)
    valid_from = _time(t, "valid_from", m[2])
    valid_until = _time(t, "valid_until", m[3])
    currency = tstr(t, "currency", m[4], 8)
    offsets = []
    for e in array(t, "utc_offsets", m[5], 512):
        array(t, "utc_offsets[]", e, 2, 2)
        offsets.append(
            (
                _time(t, "utc_offsets.from", e[0]),
                sint(t, "utc_offsets.offset_s", e[1], -86400, 86400),
            )
        )
    zones = []
    for e in array(t, "zones", m[6], 256):
        array(t, "zones[]", e, 3, 3)
        polys = []
        for poly in array(t, "zones.polygons", e[2], 64):
            rings = [
                _ring_from_wire(r, "zones.polygons.ring")
                for r in array(t, "zones.polygon", poly, 64)
            ]
            if not rings:
                fail(t, "zones.polygon", "needs an outer ring")
            polys.append(rings)
        zones.append(
            tariff.Zone(uint(t, "zones.zone_id", e[0], U32), tstr(t, "zones.name", e[1]), polys)
        )
    bands = []
    for e in array(t, "bands", m[7], 256):
        array(t, "bands[]", e, 4, 4)
        bands.append(
            tariff.TimeBand(
                uint(t, "bands.band_id", e[0], U32),
                uint(t, "bands.days_mask", e[1], 127),
                uint(t, "bands.start_min", e[2], 1440),
                uint(t, "bands.end_min", e[3], 1440),
            )
        )
    rates = []
    for e in array(t, "rates", m[8], 65536):
        array(t, "rates[]", e, 4, 4)
        rates.append(
            tariff.Rate(
                uint(t, "rates.zone_id", e[0], U32),
                uint(t, "rates.band_id", e[1], U32),
                uint(t, "rates.vehicle_class", e[2], 255),
                uint(t, "rates.rate_micro_per_km", e[3], U32),
            )
        )
    p = tariff.TariffPolicy(
        version, valid_from, valid_until, offsets, zones, bands, rates, currency
    )
    p.validate()
    return p


def encode_policy(p):
    """Canonical CBOR of a policy body."""
    return cbor.encode(policy_to_map(p))


def decode_policy(data):
    """Decode and validate a policy body."""
    return policy_from_map(cbor.decode(data))


def policy_id(policy_body):
    """The 16-byte id of a policy: a tagged hash of its canonical CBOR body."""
    if not isinstance(policy_body, bytes):
        policy_body = encode_policy(policy_body)
    return tagged_hash(POLICY_ID, policy_body)[:POLICY_ID_LEN]


# --- SegmentRecord (OBU-private) ------------------------------------------------------------


class SegmentRecord(Message):
    """One charged run of driving in one tariff cell (or a committed gap event).

    Private to the OBU: it leaves the unit only inside an Opening. ``trace`` holds sampled
    points as (dt_s, lat_e7, lon_e7) with dt_s seconds after t_start.
    """

    TYPE = "SegmentRecord"

    def __init__(
        self,
        index,
        t_start,
        t_end,
        zone_id,
        band_id,
        vehicle_class,
        dist_m,
        rate_micro_per_km,
        price_micro,
        policy_id,
        flags,
        trace,
    ):
        self.index = index
        self.t_start = t_start
        self.t_end = t_end
        self.zone_id = zone_id
        self.band_id = band_id
        self.vehicle_class = vehicle_class
        self.dist_m = dist_m
        self.rate_micro_per_km = rate_micro_per_km
        self.price_micro = price_micro
        self.policy_id = policy_id
        self.flags = flags
        self.trace = trace

    def to_map(self):
        return {
            1: self.index,
            2: self.t_start,
            3: self.t_end,
            4: self.zone_id,
            5: self.band_id,
            6: self.vehicle_class,
            7: self.dist_m,
            8: self.rate_micro_per_km,
            9: self.price_micro,
            10: self.policy_id,
            11: self.flags,
            12: [[dt, la, lo] for dt, la, lo in self.trace],
        }

    @classmethod
    def from_map(cls, m):
        t = cls.TYPE
        check_map(t, m, (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12))
        t_start = _time(t, "t_start", m[2])
        t_end = _time(t, "t_end", m[3])
        if t_end < t_start:
            fail(t, "t_end", "before t_start")
        trace = []
        last_dt = -1
        for p in array(t, "trace", m[12], MAX_TRACE_POINTS):
            array(t, "trace[]", p, 3, 3)
            dt = uint(t, "trace.dt_s", p[0], t_end - t_start)
            if dt < last_dt:
                fail(t, "trace.dt_s", "not in time order")
            last_dt = dt
            trace.append((dt, lat_e7(t, "trace.lat_e7", p[1]), lon_e7(t, "trace.lon_e7", p[2])))
        rec = cls(
            uint(t, "index", m[1], MAX_SEGMENTS - 1),
            t_start,
            t_end,
            uint(t, "zone_id", m[4], U32),
            uint(t, "band_id", m[5], U32),
            uint(t, "vehicle_class", m[6], 255),
            uint(t, "dist_m", m[7], U32),
            uint(t, "rate_micro_per_km", m[8], U32),
            uint(t, "price_micro", m[9], U32),
            bstr(t, "policy_id", m[10], POLICY_ID_LEN),
            uint(t, "flags", m[11], FLAGS_ALL),
            trace,
        )
        return rec

    def covers(self, t):
        """True if instant ``t`` lies within [t_start, t_end]."""
        return self.t_start <= t <= self.t_end


def trace_commitment(record_bytes, salt):
    """Salted SHA-256 commitment to a SegmentRecord's canonical encoding."""
    if len(salt) != SALT_LEN:
        raise InvalidMessage("salt must be %d bytes" % SALT_LEN)
    return tagged_hash(TRACE_COMMITMENT, salt, record_bytes)


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


# --- Receipt ---------------------------------------------------------------------------------


class Receipt(Message):
    """The authority's acknowledgement of one statement; the driver keeps it as proof."""

    TYPE = "Receipt"

    def __init__(self, obu_id, seq, statement_hash, total_price_micro, segment_count, received_at):
        self.obu_id = obu_id
        self.seq = seq
        self.statement_hash = statement_hash
        self.total_price_micro = total_price_micro
        self.segment_count = segment_count
        self.received_at = received_at

    def to_map(self):
        return {
            1: self.obu_id,
            2: self.seq,
            3: self.statement_hash,
            4: self.total_price_micro,
            5: self.segment_count,
            6: self.received_at,
        }

    @classmethod
    def from_map(cls, m):
        t = cls.TYPE
        check_map(t, m, (1, 2, 3, 4, 5, 6))
        return cls(
            tstr(t, "obu_id", m[1], MAX_OBU_ID_LEN),
            uint(t, "seq", m[2], U32),
            bstr(t, "statement_hash", m[3], HASH_LEN),
            uint(t, "total_price_micro", m[4], U64),
            uint(t, "segment_count", m[5], MAX_SEGMENTS),
            _time(t, "received_at", m[6]),
        )


# --- Challenge ---------------------------------------------------------------------------


class Challenge(Message):
    """The authority asks one OBU to open one segment of one statement.

    kind CHALLENGE_SIGHTING: the segment covering instant ``at_time`` (a camera saw the car);
    kind CHALLENGE_INDEX: segment number ``segment_index`` (a random audit). The camera's
    position is never sent to the OBU.
    """

    TYPE = "Challenge"

    def __init__(self, challenge_id, obu_id, statement_seq, kind, at_time, segment_index, deadline):
        self.challenge_id = challenge_id
        self.obu_id = obu_id
        self.statement_seq = statement_seq
        self.kind = kind
        self.at_time = at_time
        self.segment_index = segment_index
        self.deadline = deadline

    def to_map(self):
        m = {
            1: self.challenge_id,
            2: self.obu_id,
            3: self.statement_seq,
            4: self.kind,
            7: self.deadline,
        }
        if self.kind == CHALLENGE_SIGHTING:
            m[5] = self.at_time
        else:
            m[6] = self.segment_index
        return m

    @classmethod
    def from_map(cls, m):
        t = cls.TYPE
        check_map(t, m, (1, 2, 3, 4, 7), (5, 6))
        kind = uint(t, "kind", m[4], CHALLENGE_INDEX)
        at_time = None
        segment_index = None
        if kind == CHALLENGE_SIGHTING:
            if 5 not in m or 6 in m:
                fail(t, "at_time", "a sighting challenge carries at_time and no segment_index")
            at_time = _time(t, "at_time", m[5])
        else:
            if 6 not in m or 5 in m:
                fail(t, "segment_index", "an index challenge carries segment_index and no at_time")
            segment_index = uint(t, "segment_index", m[6], MAX_SEGMENTS - 1)
        return cls(
            bstr(t, "challenge_id", m[1], CHALLENGE_ID_LEN),
            tstr(t, "obu_id", m[2], MAX_OBU_ID_LEN),
            uint(t, "statement_seq", m[3], U32),
            kind,
            at_time,
            segment_index,
            _time(t, "deadline", m[7]),
        )


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
