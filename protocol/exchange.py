"""The two messages the OBU receives from the backend: the Receipt for a statement and the
Challenge that asks it to open one segment.

Split from protocol/messages.py for the OBU's heap: its uplink decodes these two and nothing
else, so it imports this module rather than the whole of protocol.messages (statements,
openings, certificates, the policy codec). protocol.messages re-exports both classes.
"""

from protocol.fields import U32, U64, bstr, check_map, fail, tstr, uint
from protocol.message_base import (
    CHALLENGE_ID_LEN,
    CHALLENGE_INDEX,
    CHALLENGE_SIGHTING,
    HASH_LEN,
    MAX_OBU_ID_LEN,
    MAX_SEGMENTS,
    MAX_TIME,
    Message,
)


def _time(t, name, v):
    return uint(t, name, v, MAX_TIME)


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
