"""Sealing a statement period: the signed Statement (SPEC §4.3, §5.3), streamed to flash.

A month can hold ~3,000 segments (69 bytes each on the wire), more than the OBU's heap, so
nothing holds the commitments: one pass over the period's ledger writes the COSE_Sign1 envelope
(SPEC §3.5) straight to ``<root>/outbox/<seq>.cose.tmp`` while two SHA-256 states run over it:

- the signature's, over Sig_structure = ["Signature1", protected, h'', payload]: the heads are
  known up front because every commitment pair encodes to exactly 69 bytes, so the payload's
  length is computed before its first byte is written;
- the statement hash's, TH("quietmile/v1/statement-hash", envelope) (protocol.hashing
  .tagged_hash's encoding: the envelope's length is known the same way).

The signature is the envelope's last field, so it is appended once the payload is hashed: the
ledger is read once and the payload written once, with no temporary payload file. The bytes
equal protocol.envelopes.sign_statement(statement, signer) for the same statement
(tests/firmware/test_statement.py checks it).

Crash safety (firmware.state has the commit protocol): accounting closes the period first (its
final totals checkpointed, no more adds); the envelope is written to a temp file, its registry
entry written, the envelope renamed into the outbox (the commit point), and the chain advanced.
A reset before the rename leaves the period unsealed — sealing again gives the same statement,
since blinds and salts are in the ledger and RFC 6979 makes the software signature
deterministic; after it, boot recovery finishes the seal. A period is sealed exactly once.
"""

import hashlib
import os

from firmware.ledger import atomic
from firmware.state import PeriodOrder, StatementMeta
from protocol import cbor, labels
from protocol.compat import const
from protocol.errors import InvalidMessage

# The envelope and payload layouts are written out here rather than through protocol.cose and
# protocol.messages: sealing then needs neither module (nor tariff and geo behind messages),
# which keeps a 3,000-segment seal within a 96 KB heap on the 64-bit unix port. The tests pin
# the bytes to envelopes.sign_statement and messages.encode_statement_stream.
_TAG_SIGN1 = const(18)  # COSE_Sign1 (SPEC §3.5)
_ALG_ES256 = const(-7)
_HDR_ALG = const(1)
_HDR_CONTENT_TYPE = const(3)
_HDR_KID = const(4)
_MAX_OBU_ID_LEN = const(64)  # Statement.obu_id (SPEC §4.3)
_PAIR_LEN = const(69)  # cbor [bstr(32), bstr(32)]
_PAIR_HEAD = const(b"\x82\x58\x20")
_BSTR32 = const(b"\x58\x20")
_CHUNK = const(512)
_SIG_LEN = const(64)


class SealError(Exception):
    code = "seal_error"


class _HashingWriter:
    """Buffered file writes that also feed every byte to the current hash states."""

    def __init__(self, f):
        self.f = f
        self.buf = bytearray(_CHUNK)
        self.mv = memoryview(self.buf)
        self.pos = 0
        self.hashes = ()
        self.written = 0  # bytes through write() since the last reset of this counter

    def write(self, data):
        n = len(data)
        self.written += n
        if self.pos + n > _CHUNK:
            self.drain()
            if n > _CHUNK:
                self._out(data)
                return
        self.buf[self.pos : self.pos + n] = data
        self.pos += n

    def drain(self):
        if self.pos:
            self._out(self.mv[: self.pos])
            self.pos = 0

    def _out(self, data):
        for h in self.hashes:
            h.update(data)
        if self.f.write(data) != len(data):
            raise OSError(28)  # ENOSPC: never rename a short envelope into the outbox


def statement_header(obu_id, seq, prev_hash, period_start, period_end, policy_ids, total, blind):
    """A Statement's keys 1..8 as a map: what messages.Statement(...).header_map() returns."""
    return {
        1: obu_id,
        2: seq,
        3: prev_hash,
        4: period_start,
        5: period_end,
        6: list(policy_ids),
        7: total,
        8: blind,
    }


def _header_bytes(header_map):
    # Keys 1..8 are small ints: canonical order is numeric order; key 9 comes after them.
    parts = []
    for k in sorted(header_map):
        parts.append(cbor.encode(k))
        parts.append(cbor.encode(header_map[k]))
    return b"".join(parts)


def payload_length(header_map, count):
    """Length of the Statement payload with keys 1..8 ``header_map`` and ``count`` pairs."""
    return 2 + len(_header_bytes(header_map)) + len(cbor.head(4, count)) + _PAIR_LEN * count


def write_envelope(f, header, count, pairs, signer):
    """Write the signed statement envelope to the open file ``f``; return its statement hash.

    ``header`` is the map of keys 1..8 (statement_header, or Statement.header_map()); ``pairs``
    yields the ``count`` (C, T) commitment pairs in index order; ``signer`` has ``kid`` and
    ``sign_digest`` (protocol.p256.Signer).
    """
    kid = signer.kid
    if not isinstance(kid, (bytes, bytearray)) or not kid:
        raise SealError("signer.kid must be a non-empty byte string")
    protected = cbor.encode(
        {_HDR_ALG: _ALG_ES256, _HDR_CONTENT_TYPE: labels.CTY_STATEMENT, _HDR_KID: bytes(kid)}
    )
    header_bytes = _header_bytes(header)
    n = 2 + len(header_bytes) + len(cbor.head(4, count)) + _PAIR_LEN * count
    payload_head = cbor.head(2, n)
    env_prefix = cbor.head(6, _TAG_SIGN1) + b"\x84" + cbor.encode(protected) + b"\xa0"
    env_prefix += payload_head
    sig_head = cbor.head(2, _SIG_LEN)
    env_len = len(env_prefix) + n + len(sig_head) + _SIG_LEN

    sig_h = hashlib.sha256()  # Sig_structure = ["Signature1", protected, h'', payload]
    sig_h.update(b"\x84")
    sig_h.update(cbor.encode("Signature1"))
    sig_h.update(cbor.encode(protected))
    sig_h.update(b"\x40")
    sig_h.update(payload_head)
    st_h = hashlib.sha256()  # protocol.hashing.tagged_hash(STATEMENT_HASH, envelope), streamed
    st_h.update(len(labels.STATEMENT_HASH).to_bytes(4, "big"))
    st_h.update(labels.STATEMENT_HASH)
    st_h.update(env_len.to_bytes(4, "big"))

    w = _HashingWriter(f)
    w.hashes = (st_h,)
    w.write(env_prefix)
    w.drain()
    w.hashes = (sig_h, st_h)
    w.written = 0
    w.write(b"\xa9")  # a map of 9 entries
    w.write(header_bytes)
    w.write(b"\x09")
    w.write(cbor.head(4, count))
    k = 0
    for c, t in pairs:
        if len(c) != 32 or len(t) != 32:
            raise SealError("commitment pair of the wrong size")
        w.write(_PAIR_HEAD)
        w.write(c)
        w.write(_BSTR32)
        w.write(t)
        k += 1
    w.drain()
    if k != count or w.written != n:
        raise SealError("%d pairs in %d bytes, %d announced" % (k, w.written, count))
    signature = signer.sign_digest(sig_h.digest())
    if len(signature) != _SIG_LEN:
        raise SealError("signature must be 64 bytes")
    w.hashes = (st_h,)
    w.write(sig_head)
    w.write(signature)
    w.drain()
    f.flush()
    return st_h.digest()


def seal_period(accounting, state, period_start, period_end, obu_id, signer):
    """Seal the period [period_start, period_end): returns (seq, envelope_path, statement_hash).

    ``accounting`` is the firmware.accounting.Accounting holding the period (ledger period id
    = period_start), ``state`` the firmware.state.ChainState. Sealing an already sealed period
    returns its existing result; periods are sealed in order (state.PeriodOrder otherwise).
    """
    if state.is_sealed(period_start):
        seq = state.seq_of_period(period_start)
        meta = state.meta(seq) if seq is not None else None
        if meta is None or meta.period_end != period_end:
            raise PeriodOrder("period starting %d is already sealed" % period_start)
        return seq, state.root + "/" + meta.envelope, meta.statement_hash
    state.check_next_period(period_start, period_end)
    if (
        accounting.period_of(period_start) != period_start
        or accounting.period_of(period_end - 1) != period_start
    ):
        raise PeriodOrder("[%d, %d) is not one accounting period" % (period_start, period_end))
    if not isinstance(obu_id, str) or not 0 < len(obu_id) <= _MAX_OBU_ID_LEN:
        raise InvalidMessage("obu_id must be 1..%d characters" % _MAX_OBU_ID_LEN)

    count, total, blind_sum, policy_ids = accounting.close_period(period_start)
    seq = state.next_seq
    header = statement_header(
        obu_id,
        seq,
        state.prev_hash,
        period_start,
        period_end,
        policy_ids,
        total,
        blind_sum.to_bytes(32, "little"),
    )
    relative = "outbox/%d.cose" % seq
    path = state.root + "/" + relative
    tmp = path + atomic.TMP
    with open(tmp, "wb") as f:
        digest = write_envelope(f, header, count, accounting.commitments(period_start), signer)
    meta = StatementMeta(seq, period_start, period_end, digest, relative, False, None, count, total)
    state.begin(meta)
    os.rename(tmp, path)  # the commit point: from here on boot recovery finishes the seal
    state.commit(meta)
    return seq, path, digest


def read_statement(path):
    """Decode a sealed envelope file back into (Statement, envelope bytes), for host checks.

    Loads the whole envelope: not for the device's heap.
    """
    from protocol import cose, messages

    with open(path, "rb") as f:
        env = f.read()
    return messages.Statement.decode(cose.decode_sign1(env).payload), env
