"""Building an Opening (SPEC §4.6) from a ledger entry: what challenges and disputes share.

Kept apart from firmware/challenges.py so that a dispute upload (firmware/disputes.py) does not
load the challenge responder's code for one function: on the 64-bit unix port that is ~16 KB
of heap during the upload. Loaded with the network phase and unloaded after it.
"""

from protocol import cbor, labels
from protocol.hashing import tagged_hash


def span(pieces, start, end):
    """Bytes ``start``..``end`` of the concatenation of ``pieces``, as a list of pieces (each
    a piece or a slice of one: nothing longer than the pieces is made)."""
    out = []
    o = 0
    for p in pieces:
        q = o + len(p)
        if q > start and o < end:
            a = start - o if start > o else 0
            b = end - o if end < q else len(p)
            out.append(p if a == 0 and b == len(p) else p[a:b])
        o = q
    return out


def opening_payload(
    challenge_id, obu_id, seq, index=None, record_bytes=None, salt=None, blind=None
):
    """Canonical CBOR of an Opening, with the stored record bytes spliced in unchanged
    (decoding a 512-point trace only to encode it again would cost heap for nothing).
    ``record_bytes`` may be a list of pieces: then so is the result (a list of parts that
    stands for the payload), and nothing as long as the record is made."""
    parts = [
        cbor.head(5, 3 if index is None else 7),
        b"\x01",
        cbor.encode(challenge_id),
        b"\x02",
        cbor.encode(obu_id),
        b"\x03",
        cbor.encode(seq),
    ]
    pieces = isinstance(record_bytes, list)
    if index is not None:
        parts += [b"\x04", cbor.encode(index), b"\x05"]
        parts += record_bytes if pieces else [record_bytes]
        parts += [b"\x06", cbor.encode(salt), b"\x07", cbor.encode(blind)]
    return parts if pieces else b"".join(parts)


def record_index(record_bytes):
    """Key 1 (index) of a canonical SegmentRecord, from its first heads; None if it does not
    start like one (a 12-entry map whose first key is 1). ``record_bytes`` may be a list of
    pieces."""
    b = b"".join(span(record_bytes, 0, 11)) if isinstance(record_bytes, list) else record_bytes
    if len(b) < 3 or b[0] != 0xAC or b[1] != 0x01:
        return None
    ai = b[2]
    if ai < 24:
        return ai
    if ai > 27:
        return None
    n = 1 << (ai - 24)
    if len(b) < 3 + n:
        return None
    return int.from_bytes(b[3 : 3 + n], "big")


def opens_pair(index, record_bytes, salt, price_commitment, trace_commitment, pair):
    """Whether a ledger entry opens the statement's commitment ``pair`` (C_i, T_i) at
    ``index``: the record is segment ``index``, its salted hash is T_i and the stored
    commitments are the statement's. An Opening that fails this would only prove the unit
    broken; it is never sent."""
    return (
        record_index(record_bytes) == index
        and tagged_hash(labels.TRACE_COMMITMENT, salt, record_bytes) == trace_commitment
        and (price_commitment, trace_commitment) == pair
    )
