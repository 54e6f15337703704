"""Helpers for the uplink, challenge and status suites (CPython and MicroPython).

They write the on-flash layout the statement writer (firmware/statement.py) produces —
``outbox/<seq>.cose`` envelopes and one ledger payload per segment in the period whose id is
the period start — straight from protocol code, so these suites do not depend on it. When the
writer exists, ``build_statement`` can call it instead.
"""

import io
import os

from firmware import ledger
from firmware.ledger import atomic
from protocol import cbor, envelopes, labels, messages, p256, pedersen
from tests.firmware.drive_support import Rng

NOV_2026 = 1793491200  # 2026-11-01T00:00Z
DEC_2026 = 1796083200
DRIVE_T0 = 1793689200  # 2026-11-03T07:00Z
OBU_ID = "OBU-0001"
POLICY_ID = bytes(range(16))
HOST = "backend.test"
PORT = 8000

OBU_KEY = 0x1D0B5EED1D0B5EED1D0B5EED1D0B5EED1D0B5EED1D0B5EED1D0B5EED1D0B5EED
AUTHORITY_KEY = 0xA07A07A07A07A07A07A07A07A07A07A07A07A07A07A07A07A07A07A07A07A07
OTHER_KEY = 0x0BAD0BAD0BAD0BAD0BAD0BAD0BAD0BAD0BAD0BAD0BAD0BAD0BAD0BAD0BAD0BAD

_keys = {}


def _signer(name, d):
    if name not in _keys:
        _keys[name] = p256.SoftwareSigner(d)
    return _keys[name]


def obu_signer():
    return _signer("obu", OBU_KEY)


def authority_signer():
    return _signer("auth", AUTHORITY_KEY)


def other_signer():
    return _signer("other", OTHER_KEY)


class Clock:
    """GNSS time as the firmware sees it: Unix seconds, or None before the first fix."""

    def __init__(self, now=DEC_2026 + 300):
        self.t = now

    def now(self):
        return self.t


class Ticks:
    """A monotonic millisecond counter that moves only when told to."""

    def __init__(self, ms=0, step=0):
        self.ms = ms
        self.step = step

    def __call__(self):
        self.ms += self.step
        return self.ms


# --- fake transport --------------------------------------------------------------------------
class FakeStream:
    """One connection: records what the client writes, answers from canned bytes.

    ``read_size`` caps each readinto (to split the answer at awkward places); ``fail`` is an
    OSError raised once the canned bytes are used up (instead of end-of-stream);
    ``write_size`` caps each write (a partial write, as a socket may do).
    """

    def __init__(self, response=b"", read_size=None, fail=None, write_size=None, write_fail=None):
        self.sent = bytearray()
        self.writes = []
        self._in = io.BytesIO(response)
        self.read_size = read_size
        self.fail = fail
        self.write_size = write_size
        self.write_fail = write_fail
        self.closed = False

    def write(self, buf):
        if self.write_fail is not None:
            raise self.write_fail
        n = len(buf) if self.write_size is None else min(self.write_size, len(buf))
        self.sent.extend(bytes(buf[:n]))
        self.writes.append(n)
        return n

    def readinto(self, buf):
        if self.read_size is not None and len(buf) > self.read_size:
            buf = memoryview(buf)[: self.read_size]
        k = self._in.readinto(buf)
        if not k and self.fail is not None:
            raise self.fail
        return k

    def close(self):
        self.closed = True


class FakeNet:
    """``connect`` factory handing out scripted connections (FakeStream, bytes or an OSError
    to raise at connect time), and keeping every stream for inspection."""

    def __init__(self, *script):
        self.script = list(script)
        self.streams = []
        self.calls = []

    def add(self, *items):
        self.script.extend(items)

    def __call__(self, host, port, timeout_ms):
        self.calls.append((host, port, timeout_ms))
        if not self.script:
            raise OSError(111)  # ECONNREFUSED: nothing scripted
        item = self.script.pop(0)
        if isinstance(item, Exception):
            raise item
        s = item if isinstance(item, FakeStream) else FakeStream(item)
        self.streams.append(s)
        return s

    def sent(self):
        return [bytes(s.sent) for s in self.streams]

    def wire(self):
        """Every byte sent on every connection, concatenated."""
        return b"".join(self.sent())


def response(status, body=b"", ctype="application/cose", extra=(), reason="X"):
    head = "HTTP/1.1 %d %s\r\n" % (status, reason)
    if ctype:
        head += "Content-Type: %s\r\n" % ctype
    for h in extra:
        head += h + "\r\n"
    head += "Content-Length: %d\r\n\r\n" % len(body)
    return head.encode() + body


def json_error(status, code):
    body = ('{"error":"%s","detail":"x"}' % code).encode()
    return response(status, body, "application/json")


# --- folders ---------------------------------------------------------------------------------
def tmpdir():
    path = "/tmp/qm-uplink-%d" % int.from_bytes(os.urandom(6), "big")
    os.mkdir(path)
    return path


def rmtree(path):
    for name in os.listdir(path):
        p = path + "/" + name
        if os.stat(p)[0] & 0x4000:
            rmtree(p)
        else:
            os.remove(p)
    os.rmdir(path)


# --- statements and ledgers ------------------------------------------------------------------
def segment_record(
    index, t_start, duration=600, points=4, policy_id=POLICY_ID, zone=1, band=1, rate=150000
):
    """A plausible SegmentRecord with distinctive coordinates (lat 52.5°, lon 13.4°)."""
    trace = []
    for k in range(points):
        dt = duration * k // (points - 1)
        trace.append((dt, 525123457 + 9173 * index + 131 * k, 134012345 + 7919 * index + 97 * k))
    dist_m = 1000 + 37 * index
    return messages.SegmentRecord(
        index,
        t_start,
        t_start + duration,
        zone,
        band,
        1,
        dist_m,
        rate,
        dist_m * rate // 1000,
        policy_id,
        0,
        trace,
    )


class Built:
    """A statement written to ``root``: envelope, records and ledger payloads."""

    def __init__(self, envelope, statement, records, payloads):
        self.envelope = envelope
        self.statement = statement
        self.records = records
        self.payloads = payloads
        self.hash = envelopes.statement_hash(envelope)


def build_statement(
    root, seq=0, prev_hash=None, records=None, signer=None, rng=None, ledger_rng=None
):
    """Commit ``records`` (default: 4 back-to-back 10-minute segments from DRIVE_T0), write
    their ledger payloads and the signed statement envelope under ``root``; return a Built."""
    signer = signer if signer is not None else obu_signer()
    rng = rng if rng is not None else Rng(b"commit%d" % seq)
    if records is None:
        records = [segment_record(i, DRIVE_T0 + 600 * i) for i in range(4)]
    period_start = NOV_2026 + seq * (DEC_2026 - NOV_2026)
    period_end = period_start + (DEC_2026 - NOV_2026)
    store = ledger.Store(root, rng=ledger_rng if ledger_rng is not None else Rng(b"ledger"))
    log = store.open(period_start)
    pairs = []
    payloads = []
    total = 0
    blind_sum = 0
    for rec in records:
        rb = rec.encode()
        salt = rng(16)
        blind = pedersen.random_blind(rng)
        c = pedersen.commit(rec.price_micro, blind)
        t = messages.trace_commitment(rb, salt)
        payload = cbor.encode([rb, salt, pedersen.blind_to_bytes(blind), c, t])
        log.append(payload)
        payloads.append(payload)
        pairs.append((c, t))
        total += rec.price_micro
        blind_sum = pedersen.add_blinds(blind_sum, blind)
    st = messages.Statement(
        OBU_ID,
        seq,
        prev_hash if prev_hash is not None else bytes(32),
        period_start,
        period_end,
        [records[0].policy_id] if records else [],
        total,
        pedersen.blind_to_bytes(blind_sum),
        pairs,
    )
    env = envelopes.sign_statement(st, signer)
    atomic.ensure_dir(root + "/outbox")
    atomic.atomic_write("%s/outbox/%d.cose" % (root, seq), env)
    return Built(env, st, records, payloads)


def receipt_for(built, signer=None, received_at=DEC_2026 + 301, **changes):
    """The authority's Receipt envelope for ``built`` (fields overridable to forge one)."""
    st = built.statement
    f = {
        "obu_id": st.obu_id,
        "seq": st.seq,
        "statement_hash": built.hash,
        "total_price_micro": st.total_price_micro,
        "segment_count": st.segment_count,
    }
    f.update(changes)
    r = messages.Receipt(
        f["obu_id"],
        f["seq"],
        f["statement_hash"],
        f["total_price_micro"],
        f["segment_count"],
        received_at,
    )
    signer = signer if signer is not None else authority_signer()
    return envelopes.sign_message(r, signer, labels.CTY_RECEIPT)


def challenge(
    cid, kind, seq=0, at_time=None, index=None, deadline=None, obu_id=OBU_ID, signer=None
):
    """A signed Challenge envelope."""
    ch = messages.Challenge(
        cid,
        obu_id,
        seq,
        kind,
        at_time,
        index,
        deadline if deadline is not None else DEC_2026 + 14 * 86400,
    )
    signer = signer if signer is not None else authority_signer()
    return envelopes.sign_message(ch, signer, labels.CTY_CHALLENGE)


def challenge_list(*envs, next_cursor=None):
    """A page of the challenge list; ``next_cursor`` set: more pages follow (SPEC §4.9)."""
    extra = () if next_cursor is None else ("QM-Next-Cursor: " + next_cursor,)
    return response(200, cbor.encode(list(envs)), "application/cbor", extra)


def b64url_decode(s):
    import binascii

    if isinstance(s, str):
        s = s.encode()
    s = s.replace(b"-", b"+").replace(b"_", b"/")
    return binascii.a2b_base64(s + b"=" * (-len(s) % 4))


def split_request(raw):
    """(request line, {lower-case header: value}, body) of one raw HTTP request."""
    i = raw.find(b"\r\n\r\n")
    head = raw[:i].decode()
    lines = head.split("\r\n")
    hdrs = {}
    for line in lines[1:]:
        k, v = line.split(":", 1)
        hdrs[k.strip().lower()] = v.strip()
    return lines[0], hdrs, raw[i + 4 :]


def trace_secrets(records):
    """Every coordinate and absolute time of the records' traces, as CBOR and decimal text."""
    values = []
    for rec in records:
        values.append(rec.t_start)
        values.append(rec.t_end)
        for dt, lat, lon in rec.trace:
            values.append(rec.t_start + dt)
            values.append(lat)
            values.append(lon)
    needles = []
    for v in values:
        needles.append(cbor.encode(v))
        needles.append(str(v).encode())
    return needles
