"""The base class of every message and the bounds every message shares.

Split from protocol/record.py for the OBU's heap: the uplink's messages (protocol/exchange.py:
Receipt, Challenge) derive from Message and check these bounds, but never build a
SegmentRecord, so a sync's network phase does not load the record's code (~1.5 KB at 64
bits) while the driving code is set aside. protocol.record and protocol.messages offer every
name here as before.
"""

from protocol import cbor

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
