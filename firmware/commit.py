"""Commit one priced segment: encode its record, draw r and a salt, compute C and T (SPEC §5.2).

The per-segment half of firmware.accounting, in its own module so that sealing a period (which
never commits) does not load it or the protocol modules behind it (record, pedersen and its
comb tables, tariff, geo). ``commit_segment`` returns the ledger entry::

    CBOR [record_bytes, salt(16), blind(32, LE), C(32), T(32)]

with C = pedersen.commit(price_micro, r) and T = record.trace_commitment(record_bytes, salt).

The record and the entry are made, hashed and stored as a list of pieces of at most ~100
bytes, never joined: late in a day's driving a fragmented heap may have no free block as long
as a record (~450-600 bytes for a 15-minute segment) or an entry (123 bytes more), while it
has plenty of small ones.
"""

from firmware.accounting import SALT_LEN, InvalidSegment, entry_pieces
from protocol import cbor, pedersen
from protocol import record as _rec  # by module: 5 globals fewer (a smaller table to grow)
from protocol.compat import const, is_int
from protocol.geo import LAT_MAX_E7, LON_MAX_E7
from protocol.tariff import price_micro

# This module is imported again for every segment (firmware/app.py _COMMIT_MODULES), on
# whatever heap the drive has left: its globals stay under 17, so that their table never
# needs a block larger than 272 bytes at 64 bits.

_U32 = const(0x100000000)
# A piece of the record takes trace points until it holds this many bytes: with the fixed
# fields (at most 84 bytes) or points (at most 20 bytes each) a piece stays under 100 bytes.
_PIECE_BYTES = const(80)


def commit_segment(record, rng):
    """(entry as a list of pieces, blind as int, trace commitment) for a checked record with
    its index set; Ledger.append takes the pieces as they are."""
    blind = pedersen.random_blind(rng)
    salt = rng(SALT_LEN)
    pieces = record_pieces(record)
    price_c = pedersen.commit(record.price_micro, blind)
    trace_c = _rec.trace_commitment(pieces, salt)
    entry = entry_pieces(pieces, salt, pedersen.blind_to_bytes(blind), price_c, trace_c)
    return entry, blind, trace_c


def _int(buf, v):
    """Append the shortest CBOR head of the int ``v`` (major 0 or 1)."""
    mt = 0
    if v < 0:
        v = -1 - v
        mt = 0x20
    if v < 24:
        buf.append(mt | v)
    elif v < 0x100:
        buf.append(mt | 24)
        buf.append(v)
    elif v < 0x10000:
        buf.append(mt | 25)
        buf.append(v >> 8)
        buf.append(v & 0xFF)
    elif v < 0x100000000:
        buf.append(mt | 26)
        buf.extend(v.to_bytes(4, "big"))
    else:
        buf.append(mt | 27)
        buf.extend(v.to_bytes(8, "big"))


def record_pieces(r):
    """SegmentRecord.encode() without the generic encoder, as a list of pieces (bytearrays
    under 100 bytes) whose concatenation is the canonical encoding.

    The generic cbor.encode walks a freshly built map of lists (to_map) with type dispatch per
    item; a 15-minute record has ~90 trace points, and that walk cost a quarter of a Pedersen
    commitment on MicroPython (this is ~4x faster). Keys 1..12 are small ints, so canonical
    order is numeric order. Pieces, not one buffer: see the module's docstring. Fields must
    already be checked (check_record).
    """
    buf = bytearray(b"\xac\x01")
    _int(buf, r.index)
    for key, v in (
        (2, r.t_start),
        (3, r.t_end),
        (4, r.zone_id),
        (5, r.band_id),
        (6, r.vehicle_class),
        (7, r.dist_m),
        (8, r.rate_micro_per_km),
        (9, r.price_micro),
    ):
        buf.append(key)
        _int(buf, v)
    buf.append(10)
    buf.append(0x50)
    buf.extend(r.policy_id)
    buf.append(11)
    _int(buf, r.flags)
    buf.append(12)
    buf.extend(cbor.head(4, len(r.trace)))
    pieces = [buf]
    for dt, lat, lon in r.trace:
        if len(buf) >= _PIECE_BYTES:
            buf = bytearray()
            pieces.append(buf)
        buf.append(0x83)
        _int(buf, dt)
        _int(buf, lat)
        _int(buf, lon)
    return pieces


def check_record(r):
    """Refuse what would make an unopenable commitment (bounds of SPEC §4.2, price rule)."""
    if not isinstance(r, _rec.SegmentRecord):
        raise InvalidSegment("not a SegmentRecord")
    for name in ("t_start", "t_end", "zone_id", "band_id", "dist_m", "rate_micro_per_km"):
        v = getattr(r, name)
        if not is_int(v) or v < 0 or v >= (_U32 if name[0] != "t" else _rec.MAX_TIME + 1):
            raise InvalidSegment("%s out of range" % name)
    if r.t_end < r.t_start:
        raise InvalidSegment("t_end before t_start")
    if not is_int(r.vehicle_class) or not 0 <= r.vehicle_class <= 255:
        raise InvalidSegment("vehicle_class out of range")
    if not is_int(r.flags) or r.flags & ~_rec.FLAGS_ALL:
        raise InvalidSegment("unknown flags")
    if not isinstance(r.policy_id, (bytes, bytearray)) or len(r.policy_id) != 16:
        raise InvalidSegment("policy_id must be 16 bytes")
    if r.price_micro != price_micro(r.dist_m, r.rate_micro_per_km) or r.price_micro >= _U32:
        raise InvalidSegment("price_micro is not the tariff price of dist_m")
    if not r.trace or len(r.trace) > _rec.MAX_TRACE_POINTS:
        raise InvalidSegment("trace must hold 1..%d points" % _rec.MAX_TRACE_POINTS)
    span = r.t_end - r.t_start
    last = 0
    # type() is not int also excludes bool on both interpreters; cheaper than is_int per point
    for p in r.trace:
        if len(p) != 3:
            raise InvalidSegment("a trace point is (dt_s, lat_e7, lon_e7)")
        dt, lat, lon = p
        if type(dt) is not int or type(lat) is not int or type(lon) is not int:
            raise InvalidSegment("trace point fields must be ints")
        if not last <= dt <= span:
            raise InvalidSegment("trace times out of order or outside the segment")
        if not (-LAT_MAX_E7 <= lat <= LAT_MAX_E7 and -LON_MAX_E7 <= lon <= LON_MAX_E7):
            raise InvalidSegment("trace point off the globe")
        last = dt
