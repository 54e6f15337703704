"""Sealed statements and their receipts on flash, read without loading them.

Layout (written by firmware/statement.py and firmware/state.py, read here; ``root`` is the
OBU's data folder)::

    <root>/outbox/<seq>.cose       the signed Statement envelope (final once it is there)
    <root>/statements/<seq>.meta   the registry entry (firmware.state.StatementMeta)
    <root>/receipts/<seq>.cose     the authority's Receipt, written here once it verified

A receipt file exists only if it verified against its statement, so "acknowledged" is exactly
"has a receipt file" (:meth:`StatementFiles.has_receipt`). Given the registry
(firmware.state.ChainState), the receipt is also noted in the statement's meta
(``mark_receipt``: retention counts from it). Envelopes are found where the registry says,
should they move after the receipt: through the chain when given, else from the entry's
file (:func:`meta_envelope`). A month's envelope is ~200 KB: the
uplink parses the header from its first kilobyte, finds commitment ``i`` by offset (every pair
is 69 bytes) and hashes the file in chunks.
"""

import hashlib
import os

from firmware.ledger import atomic
from protocol import cbor, labels
from protocol.compat import const
from protocol.errors import ProtocolError

PAIR_LEN = 69  # 0x82, bstr(32) price commitment, bstr(32) trace commitment
SIG_TAIL = 66  # the envelope ends with the signature: 0x58 0x40 + 64 bytes
_PREFIX = const(576)  # the envelope up to the commitments: at most ~522 bytes (test_outbox)


class SealedInvalid(ValueError):
    """A statement file on flash is not the envelope it should be (flash rot, a bug)."""

    code = "sealed_invalid"


class Sealed:
    """What the uplink needs to know about one sealed statement envelope file."""

    def __init__(self, path, size, fields, count, pairs_offset):
        self.path = path
        self.size = size
        self.obu_id = fields[1]
        self.seq = fields[2]
        self.period_start = fields[4]
        self.period_end = fields[5]
        self.total_price_micro = fields[7]
        self.segment_count = count
        self.pairs_offset = pairs_offset

    def commitment(self, index):
        """(price_commitment, trace_commitment) of segment ``index``, read by offset."""
        if not 0 <= index < self.segment_count:
            raise IndexError("segment %d of %d" % (index, self.segment_count))
        with open(self.path, "rb") as f:
            f.seek(self.pairs_offset + PAIR_LEN * index)
            b = f.read(PAIR_LEN)
        if len(b) != PAIR_LEN or b[0] != 0x82 or b[1:3] != b"\x58\x20" or b[35:37] != b"\x58\x20":
            raise SealedInvalid("%s: commitment %d is malformed" % (self.path, index))
        return b[3:35], b[37:69]


def cbor_head(b, i):
    """(major type, argument, next offset) of the CBOR head at ``b[i]``."""
    ib = b[i]
    ai = ib & 0x1F
    if ai < 24:
        return ib >> 5, ai, i + 1
    if ai > 27:
        raise SealedInvalid("unexpected CBOR head 0x%02x" % ib)
    n = 1 << (ai - 24)
    if i + 1 + n > len(b):
        raise SealedInvalid("truncated")
    return ib >> 5, int.from_bytes(b[i + 1 : i + 1 + n], "big"), i + 1 + n


def meta_envelope(root, seq):
    """The envelope path that statement ``seq``'s registry entry names (its meta file, a CBOR
    map written by firmware.state: key 5, relative to ``root``), or None without an entry.
    Read without the chain's code (firmware.state, ~3.4 KB at 64 bits), which the challenge
    responder does not load; SealedInvalid if the entry is not such a map."""
    data = atomic.read_file("%s/statements/%d.meta" % (root, seq))
    if data is None:
        return None
    try:
        major, n, i = cbor_head(data, 0)
        if major != 5:
            raise SealedInvalid("statement meta %d: not a map" % seq)
        for _ in range(n):
            major, key, i = cbor_head(data, i)
            vmajor, v, j = cbor_head(data, i)
            end = j + v if vmajor in (2, 3) else j
            if vmajor > 3 and vmajor != 7:
                raise SealedInvalid("statement meta %d: unexpected item" % seq)
            if major == 0 and key == 5:
                if vmajor != 3 or end > len(data):
                    raise SealedInvalid("statement meta %d: envelope is not a text" % seq)
                return root + "/" + data[j:end].decode()
            i = end
    except IndexError:
        pass
    raise SealedInvalid("statement meta %d: no envelope" % seq)


def _expect(b, i, major, value=None):
    m, v, j = cbor_head(b, i)
    if m != major or (value is not None and v != value):
        raise SealedInvalid("unexpected CBOR item at offset %d" % i)
    return v, j


def read_sealed(path):
    """Parse the statement header of the envelope at ``path``; SealedInvalid if inconsistent."""
    size = atomic.file_size(path)
    with open(path, "rb") as f:
        b = f.read(_PREFIX)
    try:
        _, i = _expect(b, 0, 6, 18)  # tag 18: COSE_Sign1
        _, i = _expect(b, i, 4, 4)
        n, i = _expect(b, i, 2)  # protected header
        _, i = _expect(b, i + n, 5, 0)  # empty unprotected map
        plen, i = _expect(b, i, 2)  # payload
        p0 = i
        _, i = _expect(b, i, 5, 9)  # Statement map; keys 1..8, then 9 (sorted)
        fields = {}
        for k in range(1, 9):
            key, i = cbor.decode_prefix(b, i)
            if key != k:
                raise SealedInvalid("%s: statement key %r where %d belongs" % (path, key, k))
            fields[k], i = cbor.decode_prefix(b, i)
        _, i = _expect(b, i, 0, 9)
        count, i = _expect(b, i, 4)
    except (IndexError, ProtocolError) as e:
        raise SealedInvalid("%s: %r" % (path, e)) from None
    if i + count * PAIR_LEN != p0 + plen or p0 + plen + SIG_TAIL != size:
        raise SealedInvalid("%s: sizes do not add up" % path)
    if not isinstance(fields[1], str) or not isinstance(fields[7], int):
        raise SealedInvalid("%s: not a statement" % path)
    return Sealed(path, size, fields, count, i)


def hash_start(size):
    """SHA-256 state of the statement hash (SPEC §5.3) before the ``size`` envelope bytes:
    TH(label, envelope) is SHA-256(len(label) ‖ label ‖ len(envelope) ‖ envelope)."""
    h = hashlib.sha256()
    lab = labels.STATEMENT_HASH
    h.update(len(lab).to_bytes(4, "big"))
    h.update(lab)
    h.update(size.to_bytes(4, "big"))
    return h


class HashingReader:
    """A file wrapper that hashes what is read through it (hash while posting: one pass)."""

    def __init__(self, f, h):
        self.f = f
        self.h = h

    def readinto(self, buf):
        k = self.f.readinto(buf)
        if k:
            self.h.update(buf[:k])
        return k


def statement_hash_of(path, buf):
    """Statement hash of the envelope file at ``path``, read through ``buf`` (a bytearray)."""
    return file_sha256(path, buf, hash_start(atomic.file_size(path)))


def file_sha256(path, buf, h=None):
    """SHA-256 of the file at ``path`` (its bytes fed on to the state ``h`` when given), read
    through ``buf`` (a bytearray): a file posted as it is read is hashed first for its signed
    request, never whole in RAM."""
    if h is None:
        h = hashlib.sha256()
    mv = memoryview(buf)
    with open(path, "rb") as f:
        while True:
            k = f.readinto(mv)
            if not k:
                return h.digest()
            h.update(mv[:k])


class StatementFiles:
    """The statements under ``root`` (the layout above). ``chain`` is the registry
    (firmware.state.ChainState) or None; only its ``envelope_path(seq)`` and
    ``mark_receipt(seq, received_at)`` are used. Replace or subclass this to read another
    layout: the uplink and the challenge responder only use these methods."""

    def __init__(self, root, chain=None):
        self.root = root
        self.chain = chain
        self.outbox = root + "/outbox"
        self.receipts = root + "/receipts"

    def envelope_path(self, seq):
        """Where the envelope of ``seq`` is: where the registry entry says (through the
        chain when given, else read from the entry itself: :func:`meta_envelope`), else
        in the outbox."""
        if self.chain is not None:
            path = self.chain.envelope_path(seq)
        else:
            path = meta_envelope(self.root, seq)
        if path is not None:
            return path
        return "%s/%d.cose" % (self.outbox, seq)

    def receipt_path(self, seq):
        return "%s/%d.cose" % (self.receipts, seq)

    def sealed_seqs(self):
        """Sequence numbers of the sealed statements in the outbox, ascending."""
        out = []
        try:
            names = os.listdir(self.outbox)
        except OSError:
            return out
        for name in names:
            if name.endswith(".cose") and name[:-5].isdigit():
                out.append(int(name[:-5]))
        out.sort()
        return out

    def unacknowledged(self):
        """Sealed statements without a receipt, ascending (the backend's chain order)."""
        return [s for s in self.sealed_seqs() if not self.has_receipt(s)]

    def sealed(self, seq):
        """The Sealed header of statement ``seq``, or None if its envelope is not on flash."""
        path = self.envelope_path(seq)
        if not atomic.exists(path):
            return None
        return read_sealed(path)

    def has_receipt(self, seq):
        return atomic.exists(self.receipt_path(seq))

    def receipt(self, seq):
        return atomic.read_file(self.receipt_path(seq))

    def store_receipt(self, seq, receipt, received_at=None):
        """Keep a verified receipt (atomic: it is the acknowledgement mark), then note it in
        the registry. A reset between the two leaves the meta unmarked; the next
        ``store_receipt`` cannot happen (the statement counts as acknowledged), so
        ``Outbox`` calls :meth:`unmarked` once per boot and marks what it returns."""
        atomic.ensure_dir(self.receipts)
        atomic.atomic_write(self.receipt_path(seq), receipt)
        if self.chain is not None:
            self.chain.mark_receipt(seq, received_at)

    def unmarked(self):
        """Seqs whose receipt file exists but whose registry entry does not say so."""
        if self.chain is None:
            return []
        out = []
        for seq in self.chain.statement_seqs():
            if self.has_receipt(seq):
                m = self.chain.meta(seq)
                if m is not None and not m.receipt_held:
                    out.append(seq)
        return out
