"""Append-only, encrypted, crash-safe record log: one file per period (``<dir>/p<period>.log``).

File layout (all integers big-endian)::

    file header (22 B): magic "QMLG" ‖ version 1 ‖ cipher id ‖ tag(16)
    frame (24 B + n):   n(2) ‖ n ^ 0xFFFF (2) ‖ nonce(4) ‖ ciphertext(n) ‖ tag(16)

- The header is written once with an atomic rename, so a ledger file always has a whole
  header. Its tag (under the period key) authenticates magic, version and cipher id.
- ``ciphertext = payload XOR keystream(k_enc, nonce, seq)``, ``tag = HMAC-SHA-256(k_mac, seq ‖
  n ‖ ~n ‖ nonce ‖ ciphertext)[:16]`` (encrypt-then-MAC; cipher.py has the key schedule).
  ``seq`` is the record's index: authenticated, not stored, so moved or dropped records fail.
- Why a random nonce and not just ``seq``: a torn append leaves ciphertext for ``seq`` on flash
  (on LittleFS, in blocks the commit never adopted); the next append reuses ``seq`` with other
  data. The nonce makes the two keystreams differ, whatever the filesystem did.
- The length is stored with its complement so that a flipped length bit reads as corruption,
  never as a torn tail that would silently cut acknowledged records.

Crash model and repair. ``append`` writes the frame front to back (header, ciphertext in
pieces, tag) to a file opened for appending, then ``flush`` (LittleFS: commit; unix port: fsync),
and returns only then: a returned record survives any later kill. A
kill during an append leaves at most a *prefix* of one frame (POSIX page cache) or nothing
(LittleFS reverts to the last commit). So on open every frame is checked (length word, MAC) and:

- the tail is a strict prefix of a well-formed frame (under 8 bytes, or a valid length word
  whose frame runs past the end of the file) → torn: cut back to the last good frame;
- anything else (bad length word, or a complete frame with a bad MAC, even the last one) cannot
  come from a crash → ``LedgerCorrupt``. Records are never dropped silently; a caller that has
  logged the event may reopen with ``salvage=True`` to keep the good prefix.

There is no ``truncate`` in MicroPython, so the cut copies the good prefix in 512-byte chunks to
``<file>.tmp`` and renames it over the file (a kill during the copy leaves the old file; the
.tmp is discarded on the next open). We cut rather than append after the garbage because a
clean file keeps the rule above exact: after repair, a bad frame anywhere is corruption. The
copy is O(file) but only runs after a torn write, which LittleFS does not produce.

Memory: nothing is loaded whole. The open-time scan reads into one 512-byte buffer; reads
hold one record; appends take the payload whole or in pieces and write the frame as it is
encrypted, 128 bytes at a time; a sparse index (one offset per 32 records: ~150 ints for a 1 MB
month) makes ``read(i)`` skip at most 31 frame headers. One ``Ledger`` object per period at a
time.
"""

import os

from protocol.compat import const

from . import atomic, errors  # errors: the faults load when one is raised
from .cipher import NONCE_LEN, TAG_LEN, FileCrypto, available, default_cipher, header_tag
from .keys import check_period

MAGIC = b"QMLG"
VERSION = const(1)
FILE_HEADER_LEN = const(22)  # magic 4 + version 1 + cipher 1 + tag 16
FRAME_HEADER_LEN = const(8)  # n 2 + ~n 2 + nonce 4
FRAME_OVERHEAD = const(24)  # frame header + tag
MAX_PAYLOAD = const(8192)  # segment records are a few hundred bytes; bounds RAM per read
MAX_RECORDS = const(0xFFFFFFFF)  # seq is 4 bytes in the MAC and the counter block
PREFIX = "p"
SUFFIX = ".log"

_INDEX_EVERY = const(32)
_CHUNK = const(512)
_PIECE = const(128)  # bytes of ciphertext read at a time for a record (_read_next)
_HEAD = const(64)  # bytes of a payload Ledger.heads yields, and its buffer
_TORN = const(-1)
_BAD = const(-2)


def ledger_path(dir_path, period_id):
    return "%s/%s%d%s" % (dir_path, PREFIX, check_period(period_id), SUFFIX)


def _length(word):
    """Payload length from the 4-byte length word, or -1 if the word is not well formed."""
    if len(word) < 4:
        return -1
    n = (word[0] << 8) | word[1]
    if n ^ ((word[2] << 8) | word[3]) != 0xFFFF or n == 0 or n > MAX_PAYLOAD:
        return -1
    return n


class Ledger:
    """The record log of one period. Opening it checks every frame and repairs a torn tail.

    ``keystore`` supplies the period key (created with the file). ``cipher`` picks the keystream
    of a new file (default: AES where available); an existing file keeps the one in its header.
    ``rng(n)`` gives nonces; ``opener`` replaces ``open`` for the log's reads and appends (tests
    inject faults through it). After opening: ``count`` records, ``size_bytes`` on flash,
    ``repaired_bytes`` cut from the tail by this open (log it as an event when non-zero).
    """

    def __init__(
        self, dir_path, period_id, keystore, cipher=None, rng=None, salvage=False, opener=None
    ):
        self.period_id = period_id
        self.path = ledger_path(dir_path, period_id)
        self._rng = rng if rng is not None else os.urandom
        self._open = opener if opener is not None else open
        atomic.ensure_dir(dir_path)
        atomic.remove(self.path + atomic.TMP)  # an interrupted repair; the log itself is whole
        if atomic.exists(self.path):
            key = keystore.get(period_id)
            if key is None:
                raise errors.KeyMissing("period %d: key destroyed, ledger unreadable" % period_id)
            cipher_id = self._read_header(key)
        else:
            key = keystore.key(period_id)
            cipher_id = cipher if cipher is not None else default_cipher()
            if not available(cipher_id):
                raise errors.CipherUnavailable("cipher %r not available here" % (cipher_id,))
            head = MAGIC + bytes((VERSION, cipher_id))
            atomic.atomic_write(self.path, head + header_tag(key, period_id, head))
        self.cipher_id = cipher_id
        self._crypto = FileCrypto(key, period_id, cipher_id)
        self._broken = False
        self._scan(salvage)

    def _read_header(self, key):
        with self._open(self.path, "rb") as f:
            head = f.read(FILE_HEADER_LEN)
        if len(head) != FILE_HEADER_LEN or head[:4] != MAGIC or head[4] != VERSION:
            raise errors.LedgerCorrupt("%s: not a version %d ledger" % (self.path, VERSION), 0)
        if head[6:] != header_tag(key, self.period_id, head[:6]):
            raise errors.LedgerCorrupt("%s: header fails its tag (wrong key?)" % self.path, 0)
        return head[5]

    # --- open-time scan and repair ------------------------------------------------------------
    def _scan(self, salvage):
        size = atomic.file_size(self.path)
        pos = FILE_HEADER_LEN
        seq = 0
        index = [pos]
        end = pos
        buf = None  # none for a new period's ledger (just its header), opened mid-drive
        if pos < size:
            buf = bytearray(_CHUNK)
            with self._open(self.path, "rb") as f:
                f.seek(pos)
                while pos < size:
                    end = self._check_frame(f, seq, pos, size, buf)
                    if end < 0:
                        break
                    seq += 1
                    pos = end
                    if seq % _INDEX_EVERY == 0:
                        index.append(pos)
        self.repaired_bytes = size - pos
        if pos < size:
            if end == _BAD and not salvage:
                raise errors.LedgerCorrupt("%s: record %d fails its checks" % (self.path, seq), pos)
            self._cut(pos, buf)
        self.count = seq
        self.size_bytes = pos
        self._index = index

    def _check_frame(self, f, seq, pos, size, buf):
        """End offset of the valid frame at ``pos`` (``f`` is there), else _TORN or _BAD."""
        if size - pos < FRAME_HEADER_LEN:
            return _TORN
        head = f.read(FRAME_HEADER_LEN)
        n = _length(head)
        if n < 0:
            return _BAD
        end = pos + FRAME_HEADER_LEN + n + TAG_LEN
        if end > size:
            return _TORN
        h = self._crypto.mac_start(seq, head)
        mv = memoryview(buf)
        if n + TAG_LEN <= _CHUNK:  # the usual case: body and tag in one read
            if f.readinto(mv[: n + TAG_LEN]) != n + TAG_LEN:
                return _TORN  # the file shrank under us
            h.update(mv[:n])
            return end if mv[n : n + TAG_LEN] == self._crypto.mac_finish(h) else _BAD
        ok = self._tail_checked(f, h, n, mv)
        return _TORN if ok is None else end if ok else _BAD

    def _tail_checked(self, f, h, n, mv):
        """Hash the next ``n`` bytes of ``f`` into the MAC ``h`` through the buffer ``mv``,
        then read the tag: whether it matches, None if the file ends first."""
        while n:
            k = f.readinto(mv[: min(n, len(mv))])
            if not k:
                return None
            h.update(mv[:k])
            n -= k
        return f.read(TAG_LEN) == self._crypto.mac_finish(h)

    def _cut(self, pos, buf):
        """Keep the first ``pos`` bytes: copy them to a temp file and rename it over the log."""
        tmp = self.path + atomic.TMP
        mv = memoryview(buf)
        with self._open(self.path, "rb") as src, self._open(tmp, "wb") as dst:
            left = pos
            while left:
                k = src.readinto(mv[: min(left, _CHUNK)])
                if not k or dst.write(mv[:k]) != k:
                    raise errors.WriteFailed("%s: repair copy failed" % self.path)
                left -= k
            dst.flush()
        os.rename(tmp, self.path)

    # --- writing -------------------------------------------------------------------------------
    def append(self, payload):
        """Encrypt, frame and store ``payload``; return its index once it is durable.

        ``payload`` is bytes, or a list or tuple of pieces (bytes or bytearray) stored exactly
        as their concatenation would be (same nonce, keystream and tag): the accounting hands
        a segment's entry over in pieces, so that nothing as long as the entry is allocated.
        If this raises, the record may or may not be stored (``count`` tells); the next append
        first repairs whatever a failed write left behind.
        """
        if isinstance(payload, (bytes, bytearray)):
            n = len(payload)
        elif isinstance(payload, (list, tuple)):
            n = 0
            for p in payload:
                if not isinstance(p, (bytes, bytearray)):
                    raise errors.InvalidRecord("payload pieces must be bytes")
                n += len(p)
        else:
            raise errors.InvalidRecord("payload must be bytes or a list of bytes")
        if n == 0 or n > MAX_PAYLOAD:
            raise errors.InvalidRecord("payload length %d not in 1..%d" % (n, MAX_PAYLOAD))
        if self._broken:
            self._scan(False)
        seq = self.count
        if seq >= MAX_RECORDS:
            raise errors.InvalidRecord("period %d is full" % self.period_id)
        nonce = self._rng(NONCE_LEN)
        head = bytes((n >> 8, n & 0xFF, (n >> 8) ^ 0xFF, (n & 0xFF) ^ 0xFF)) + nonce
        # The frame goes out in pieces — header, the ciphertext as it is made, the tag — so
        # that no record-long buffer is allocated (a torn frame is repaired like any torn tail).
        crypto = self._crypto
        h = crypto.mac_start(seq, head)
        self._broken = True  # until the whole frame is known to be on flash
        path = self.path
        with self._open(path, "ab") as f:
            _write(f, head, path)

            def out(piece):
                h.update(piece)
                _write(f, piece, path)

            crypto.chunks(seq, nonce, payload, out)
            _write(f, crypto.mac_finish(h), path)
            f.flush()
        self._broken = False
        self.count = seq + 1
        self.size_bytes += FRAME_OVERHEAD + n
        if self.count % _INDEX_EVERY == 0:
            self._index.append(self.size_bytes)
        return seq

    # --- reading -------------------------------------------------------------------------------
    def read(self, i, pieces=False):
        """The payload of record ``i`` (0-based); with ``pieces``, a list of plaintext pieces of
        at most 128 bytes standing for it, so that nothing as long as the record is made (a
        challenge's opening is built from them)."""
        if i < 0 or i >= self.count:
            raise IndexError("record %d of %d" % (i, self.count))
        with self._open(self.path, "rb") as f:
            self._seek_record(f, i)
            return self._read_next(f, i, pieces)

    def records(self, start=0):
        """Yield the payloads from record ``start`` on, in order, holding one at a time."""
        count = self.count
        if start >= count:
            return
        with self._open(self.path, "rb") as f:
            self._seek_record(f, start)
            for seq in range(start, count):
                yield self._read_next(f, seq)

    def heads(self, start=0, n=_HEAD):
        """Yield the first ``n`` bytes (at most ``_HEAD``) of the payloads from record
        ``start`` on — all of a shorter payload — each record's tag checked over all of it,
        as :meth:`records` does. For a scan that reads a field or two of each record (a
        sighting's search for the segment that covers it): the body passes through one
        small buffer, and nothing as long as a record is allocated (a sync's heap may not
        have that in one piece)."""
        count = self.count
        if start >= count:
            return
        mv = memoryview(bytearray(_HEAD))
        with self._open(self.path, "rb") as f:
            self._seek_record(f, start)
            for seq in range(start, count):
                head = f.read(FRAME_HEADER_LEN)
                size = _length(head)
                first = f.read(min(size, n)) if size > 0 else b""
                h = self._crypto.mac_start(seq, head)
                h.update(first)
                if size < 0 or not self._tail_checked(f, h, size - len(first), mv):
                    raise errors.LedgerCorrupt("%s: record %d fails its checks" % (self.path, seq))
                yield self._crypto.xor(seq, head[4:], first)

    def __iter__(self):
        return self.records()

    def __len__(self):
        return self.count

    def _seek_record(self, f, i):
        pos = self._index[i // _INDEX_EVERY]
        for _ in range(i % _INDEX_EVERY):
            f.seek(pos)
            n = _length(f.read(4))
            if n < 0:
                raise errors.LedgerCorrupt("%s: bad length word" % self.path, pos)
            pos += FRAME_OVERHEAD + n
        f.seek(pos)

    def _read_next(self, f, seq, pieces=False):
        # Re-verified on every read: flash may have changed since the open-time scan.
        head = f.read(FRAME_HEADER_LEN)
        n = _length(head)
        h = self._crypto.mac_start(seq, head)
        # The ciphertext in pieces of _PIECE bytes, never whole: the plaintext is the one
        # record-long block (a challenge's opening reads one at a sync's fullest point).
        body = []
        left = n if n > 0 else 0
        while left:
            piece = f.read(left if left < _PIECE else _PIECE)
            if not piece:
                break
            h.update(piece)
            body.append(piece)
            left -= len(piece)
        if n < 0 or left or f.read(TAG_LEN) != self._crypto.mac_finish(h):
            raise errors.LedgerCorrupt("%s: record %d fails its checks" % (self.path, seq))
        if pieces:
            out = []
            self._crypto.chunks(seq, head[4:], body, out.append)
            return out
        return self._crypto.xor(seq, head[4:], body)


def _write(f, data, path):
    if f.write(data) != len(data):
        raise errors.WriteFailed("%s: short write" % path)
