"""The SegmentRecord, and (from protocol/message_base.py) the message base class and the
bounds every message shares.

Split from protocol/messages.py for the OBU's heap: the driving loop builds SegmentRecords and
commits to them on every segment, but decodes no message at all, so it imports this module and
never the rest of protocol.messages (statements, receipts, challenges, openings and the policy
codec), nor protocol.fields (the decoders' checks, imported when a record is decoded).
protocol.messages re-exports every name here: ``messages.SegmentRecord is
record.SegmentRecord``.
"""

from protocol.hashing import tagged_hash
from protocol.labels import TRACE_COMMITMENT

# The bounds and the base class live in protocol/message_base.py (the uplink's messages need
# them without the SegmentRecord); the record's own are offered here as before.
from protocol.message_base import (
    FLAG_CUT_MAX,  # noqa: F401
    FLAG_GAP_BRIDGED,  # noqa: F401
    FLAG_GAP_EVENT,  # noqa: F401
    FLAGS_ALL,
    MAX_SEGMENTS,
    MAX_TIME,
    MAX_TRACE_POINTS,
    POLICY_ID_LEN,
    SALT_LEN,
    Message,
)


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
        from protocol.fields import U32, array, bstr, check_map, fail, lat_e7, lon_e7, uint

        t = cls.TYPE
        check_map(t, m, (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12))
        t_start = uint(t, "t_start", m[2], MAX_TIME)
        t_end = uint(t, "t_end", m[3], MAX_TIME)
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
    """Salted SHA-256 commitment to a SegmentRecord's canonical encoding.

    ``record_bytes`` may be a list or tuple of pieces whose concatenation is the encoding (the
    OBU's commit path): the commitment is the same as for the joined bytes.
    """
    if len(salt) != SALT_LEN:
        from protocol.errors import InvalidMessage

        raise InvalidMessage("salt must be %d bytes" % SALT_LEN)
    return tagged_hash(TRACE_COMMITMENT, salt, record_bytes)
