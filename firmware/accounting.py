"""Accounting: commit each priced segment and keep the period's running totals (SPEC §5.2).

``add(record)`` numbers the record within its statement period, draws the price blinding
factor r (64 random bytes mod ℓ) and a 16-byte salt, computes the Pedersen commitment
C = commit(price, r) and the trace commitment T = TH(trace-commitment, salt, record), and
appends one ledger entry per segment to the period's encrypted ledger (period id = the
period's start in Unix seconds)::

    entry = CBOR [record_bytes, salt(16), blind(32, LE), C(32), T(32)]

The per-segment work (record encoding, checks, r, salt, C, T) is in firmware/commit.py, loaded
with the first add. C is stored although r and the price determine it: recomputing 3,000
commitments at sealing would cost the ESP32 about 15 minutes. T is a cheap hash but stored
too, so sealing and challenges read it back instead of re-encoding records.

Running totals (count, Σ price, Σ r mod ℓ, policy ids used) live in RAM for the current period
and in a checkpoint file per period, ``<root>/accounting/c<period>.ckpt``, written atomically
every ``checkpoint_every`` appends, at period switches and when a period is closed. The ledger
is the truth and the checkpoint a cache of it: at boot only the entries after the checkpoint
are read back, and a checkpoint that does not match the ledger (count beyond it, or its last
trace commitment differs) is ignored and the totals rebuilt from the whole ledger. A kill
between an append and the next checkpoint therefore loses nothing.

Checkpoint layout (big-endian): "QMCK" ‖ version 1 ‖ flags (bit 0: closed) ‖ period(8) ‖
count(4) ‖ total(8) ‖ blind_sum(32, LE scalar) ‖ last T(32) ‖ n(1) ‖ policy ids(16 × n) ‖
SHA-256 of all that [:8] (flash rot reads as "no checkpoint", never as wrong totals).
"""

import os

from firmware.ledger import atomic
from firmware.ledger.log import ledger_path
from protocol import cbor
from protocol.compat import const, lazy_names
from protocol.hashing import sha256
from protocol.timeutil import month_start

# firmware.commit (with protocol.record, pedersen, tariff, geo and the comb tables behind it)
# is imported where segments are added, not here: sealing a period needs none of it, and on the
# 64-bit unix port that code takes ~50 KB of a 96 KB heap.

SALT_LEN = const(16)
_ENTRY_TAIL = const(119)  # salt 1+16, blind 2+32, C 2+32, T 2+32
_MAGIC = const(b"QMCK")
_VERSION = const(1)
_CLOSED = const(1)
_U32 = const(0x100000000)
_MAX_POLICIES = const(16)  # Statement.policy_ids bound (SPEC §4.3)
_MAX_OPEN = const(2)  # ledgers kept open: the current period and the one being sealed
# ristretto255's group order ℓ (= protocol.ristretto.L; a test checks): blinds add mod ℓ.
L = 2**252 + 27742317777372353535851937790883648493


def _blind_from_bytes(b):
    r = int.from_bytes(b, "little")
    if len(b) != 32 or r >= L:
        raise _fault("EntryCorrupt")("blinding factor is not a canonical scalar")
    return r


class AccountingError(Exception):
    code = "accounting_error"


class InvalidSegment(AccountingError):
    """A record that cannot be committed: it would not decode or open (SPEC §4.2, §6.6)."""

    code = "invalid_segment"


# PeriodClosed, PeriodFull and EntryCorrupt are in firmware/accounting_faults.py, loaded the
# first time one is raised or named (a unit in good order never raises them) and offered here
# by name. InvalidSegment stays: firmware.commit imports it whenever it is loaded.
TYPE_CHECKING = False
if TYPE_CHECKING:  # for mypy; at run time __getattr__ below provides them
    from firmware.accounting_faults import EntryCorrupt as EntryCorrupt
    from firmware.accounting_faults import PeriodClosed as PeriodClosed
    from firmware.accounting_faults import PeriodFull as PeriodFull


# Inside this module the faults are not globals (a module __getattr__ serves attribute lookups,
# not a module's own names): raise _fault("PeriodFull")(msg).
_fault = __getattr__ = lazy_names(
    __name__, ("firmware.accounting_faults", ("PeriodClosed", "PeriodFull", "EntryCorrupt"))
)


# --- ledger entries -------------------------------------------------------------------------


def entry_pieces(record, salt, blind, price_commitment, trace_commitment):
    """The ledger payload of one segment as a list of pieces whose concatenation is
    cbor.encode([record_bytes, salt, blind, C, T]); Ledger.append takes the list as it is.

    ``record`` is the record's canonical encoding, as bytes or as a list or tuple of its
    pieces (the commit path's, never joined: late in a day's driving the heap may have no
    block as long as a record or an entry in one piece).
    """
    if (len(salt), len(blind), len(price_commitment), len(trace_commitment)) != (16, 32, 32, 32):
        raise _fault("EntryCorrupt")("salt is 16 bytes; blind and commitments 32")
    pieces = (record,) if isinstance(record, (bytes, bytearray)) else record
    n = 0
    for p in pieces:
        n += len(p)
    h = b"\x58\x20"  # the 32-byte fields' bstr head
    out = [b"\x85" + cbor.head(2, n)]
    out.extend(pieces)
    out.extend((b"\x50", salt, h, blind, h, price_commitment, h, trace_commitment))
    return out


def split_entry(entry):
    """(record_bytes, salt, blind, C, T) of a ledger payload, without the CBOR decoder.

    The layout is fixed by entry_pieces, so the four 16/32-byte fields are at known offsets
    from the end and only the record's bstr head needs parsing.
    """
    n = len(entry)
    e = n - _ENTRY_TAIL
    if (
        e < 2
        or entry[0] != 0x85
        or entry[e] != 0x50
        or entry[e + 17 : e + 19] != b"\x58\x20"
        or entry[e + 51 : e + 53] != b"\x58\x20"
        or entry[e + 85 : e + 87] != b"\x58\x20"
    ):
        raise _fault("EntryCorrupt")("not an accounting entry")
    ai = entry[1] - 0x40
    if 0 <= ai < 24:
        start = 2
        length = ai
    elif ai == 24:
        start = 3
        length = entry[2]
    elif ai == 25:
        start = 4
        length = (entry[2] << 8) | entry[3]
    else:
        raise _fault("EntryCorrupt")("record length head")
    if start + length != e:
        raise _fault("EntryCorrupt")("record length")
    return (
        entry[start:e],
        entry[e + 1 : e + 17],
        entry[e + 19 : e + 51],
        entry[e + 53 : e + 85],
        entry[e + 87 : n],
    )


def _uint_at(b, i):
    """(value, next offset) of the CBOR unsigned int at b[i]."""
    ai = b[i] & 0x1F
    if b[i] >> 5 != 0 or ai > 27:
        raise _fault("EntryCorrupt")("expected an unsigned int")
    if ai < 24:
        return ai, i + 1
    n = 1 << (ai - 24)
    return int.from_bytes(b[i + 1 : i + 1 + n], "big"), i + 1 + n


def price_and_policy(record_bytes):
    """(price_micro, policy_id) of a canonical SegmentRecord encoding, without decoding it all.

    Keys 1..12 come in order (canonical CBOR); 1..9 are unsigned ints, 10 the 16-byte id.
    """
    b = record_bytes
    if len(b) < 40 or b[0] != 0xAC:
        raise _fault("EntryCorrupt")("not a SegmentRecord")
    i = 1
    value = 0
    for key in range(1, 10):
        if b[i] != key:
            raise _fault("EntryCorrupt")("SegmentRecord key %d" % key)
        value, i = _uint_at(b, i + 1)
    if b[i] != 10 or b[i + 1] != 0x50:
        raise _fault("EntryCorrupt")("SegmentRecord policy id")
    return value, bytes(b[i + 2 : i + 18])


# --- totals and checkpoints -----------------------------------------------------------------


class Totals:
    """Running totals of one period: what its statement will reveal (SPEC §4.3)."""

    def __init__(self, period):
        self.period = period
        self.count = 0
        self.total = 0
        self.blind_sum = 0
        self.policy_ids = []  # sorted, so a re-sealed statement is byte-identical
        self.closed = False
        self.last_t = bytes(32)  # trace commitment of entry count-1: ties the cache to the ledger

    def fold(self, price, blind, pid, trace_c):
        self.count += 1
        self.total += price
        self.blind_sum = (self.blind_sum + blind) % L
        if pid not in self.policy_ids:
            self.policy_ids.append(pid)
            self.policy_ids.sort()
        self.last_t = trace_c

    def as_tuple(self):
        return (self.count, self.total, self.blind_sum, list(self.policy_ids))

    def to_bytes(self):
        body = (
            _MAGIC
            + bytes((_VERSION, _CLOSED if self.closed else 0))
            + self.period.to_bytes(8, "big")
            + self.count.to_bytes(4, "big")
            + self.total.to_bytes(8, "big")
            + self.blind_sum.to_bytes(32, "little")
            + self.last_t
            + bytes((len(self.policy_ids),))
            + b"".join(self.policy_ids)
        )
        return body + sha256(body)[:8]

    @classmethod
    def from_bytes(cls, data, period):
        """Totals from a checkpoint file, or None if it is not a sound one for ``period``."""
        if data is None or len(data) < 99 or data[:4] != _MAGIC or data[4] != _VERSION:
            return None
        body = data[:-8]
        if sha256(body)[:8] != data[-8:] or int.from_bytes(body[6:14], "big") != period:
            return None
        n = body[90]
        if len(body) != 91 + 16 * n:
            return None
        t = cls(period)
        t.closed = bool(body[5] & _CLOSED)
        t.count = int.from_bytes(body[14:18], "big")
        t.total = int.from_bytes(body[18:26], "big")
        t.blind_sum = int.from_bytes(body[26:58], "little")
        if t.blind_sum >= L:
            return None
        t.last_t = body[58:90]
        t.policy_ids = [body[91 + 16 * i : 107 + 16 * i] for i in range(n)]
        return t


# --- the accounting ----------------------------------------------------------------------------


class Accounting:
    """Commit segments into the ledger ``store`` and keep each period's totals.

    ``rng(n)`` returns n random bytes (os.urandom on the device); ``period_of(t)`` the start of
    the statement period containing t (default: the calendar month, UTC) and thereby the
    ledger period id. Checkpoints go to ``<root>/accounting`` (``root`` defaults to the
    folder holding the store's ``ledger/``). Counters: rescans (checkpoints found stale).
    """

    def __init__(self, store, rng=None, period_of=None, checkpoint_every=16, root=None):
        self.store = store
        self.rng = rng if rng is not None else os.urandom
        self.period_of = period_of if period_of is not None else month_start
        self.checkpoint_every = checkpoint_every
        if root is None:
            root = store.dir[: store.dir.rfind("/")] if "/" in store.dir else "."
        self.dir = root + "/accounting"
        atomic.ensure_dir(self.dir)
        atomic.discard_tmp(self.dir)
        self._ledgers = {}  # period -> Ledger, at most _MAX_OPEN
        self._totals = {}  # period -> Totals, the same periods
        self._current = None
        self.rescans = 0

    # --- writing -------------------------------------------------------------------------

    def add(self, record):
        """Commit ``record`` (a protocol.record.SegmentRecord, index ignored) and return its index.

        Sets ``record.index``. The entry is durable when this returns; the totals follow in
        RAM and reach the checkpoint within ``checkpoint_every`` appends.
        """
        from firmware import commit  # the commit path's code, loaded with each segment
        from protocol.message_base import MAX_SEGMENTS  # (loaded with it)

        commit.check_record(record)
        period = self.period_of(record.t_start)
        if self.period_of(record.t_end) != period:
            raise InvalidSegment("segment spans two statement periods")
        tot = self._load(period)
        if tot.closed:
            raise _fault("PeriodClosed")("period %d is closed for sealing" % period)
        if tot.count >= MAX_SEGMENTS:
            raise _fault("PeriodFull")("period %d holds %d segments" % (period, tot.count))
        pid = bytes(record.policy_id)
        if pid not in tot.policy_ids and len(tot.policy_ids) >= _MAX_POLICIES:
            raise _fault("PeriodFull")(
                "period %d already uses %d policies" % (period, _MAX_POLICIES)
            )
        self._switch_current(period)
        lg = self.ledger(period)
        if lg.count != tot.count:
            # The ledger moved without us (a failed append's frame kept by its repair): refold.
            self._totals.pop(period, None)
            tot = self._load(period)
        self._totals[period] = tot  # a period's first entry creates its ledger
        record.index = lg.count
        entry, blind, trace_c = commit.commit_segment(record, self.rng)
        try:
            index = lg.append(entry)
        except Exception:
            # Stored or not, the ledger knows: reopen it (its scan repairs a torn tail) and
            # refold the totals from it before the next add.
            self._ledgers.pop(period, None)
            self._totals.pop(period, None)
            raise
        tot.fold(record.price_micro, blind, pid, trace_c)
        if tot.count % self.checkpoint_every == 0:
            self._write_checkpoint(tot)
        return index

    def close_period(self, period):
        """Close ``period`` for sealing: no more adds; its final totals are checkpointed.

        Returns totals(period). Idempotent (a seal interrupted by a reset calls it again).
        """
        tot = self._load(period)
        if not tot.closed:
            tot.closed = True
            self._write_checkpoint(tot)
        return tot.as_tuple()

    def checkpoint(self):
        """Write the checkpoints of the periods held in RAM (e.g. before a planned power-off)."""
        for tot in self._totals.values():
            self._write_checkpoint(tot)

    def release(self):
        """Close the open ledgers of every period but the current one, their totals
        checkpointed (after sealing: a sealed period's ledger is not appended to again, and
        the heap is better spent on the sync; reading one opens it again)."""
        for p in list(self._ledgers):
            if p != self._current:
                self._evict(p)

    def destroy(self, period):
        """Retention: destroy the period's ledger (key first) and its checkpoint."""
        self._ledgers.pop(period, None)
        self._totals.pop(period, None)
        if self._current == period:
            self._current = None
        self.store.destroy(period)
        atomic.remove(self._ckpt_path(period))

    # --- reading -------------------------------------------------------------------------

    def totals(self, period):
        """(count, total_price_micro, blind_sum (int mod ℓ), sorted policy ids) of a period."""
        return self._load(period).as_tuple()

    def is_closed(self, period):
        return self._load(period).closed

    def periods(self):
        """Ids (start times) of the periods that have a ledger, ascending."""
        return self.store.periods()

    def count(self, period):
        return self._load(period).count

    def has_ledger(self, period):
        """True if the period has a ledger (a period without driving has none)."""
        return period in self._ledgers or atomic.exists(ledger_path(self.store.dir, period))

    def records(self, period, start=0):
        """Yield (index, record_bytes, salt, blind, C, T) from ``start`` on, one at a time."""
        if not self.has_ledger(period):
            return
        i = start
        for entry in self.ledger(period).records(start):
            rb, salt, blind, c, t = split_entry(entry)
            yield i, rb, salt, blind, c, t
            i += 1

    def entry(self, period, index):
        """(record_bytes, salt, blind, C, T) of one segment (challenges open one)."""
        return split_entry(self.ledger(period).read(index))

    def commitments(self, period):
        """Yield the (C, T) pairs of a period in index order: a statement's key 9."""
        if not self.has_ledger(period):
            return
        for entry in self.ledger(period).records(0):
            # Only the two fixed-size tail fields: no slices of the record (less garbage in
            # a 3,000-entry pass on a small heap). The ledger's MAC vouches for the rest.
            n = len(entry)
            if (
                n < _ENTRY_TAIL + 2
                or entry[n - 68 : n - 66] != b"\x58\x20"
                or entry[n - 34 : n - 32] != b"\x58\x20"
            ):
                raise _fault("EntryCorrupt")("not an accounting entry")
            yield entry[n - 66 : n - 34], entry[n - 32 :]

    def ledger(self, period):
        """The period's open Ledger (opened once; a scan of a 1 MB log takes seconds)."""
        lg = self._ledgers.get(period)
        if lg is None:
            if len(self._ledgers) >= _MAX_OPEN:
                for p in list(self._ledgers):
                    if p != self._current:
                        self._evict(p)
                        break
            lg = self.store.open(period)
            self._ledgers[period] = lg
        return lg

    # --- internals -----------------------------------------------------------------------

    def _evict(self, period):
        tot = self._totals.pop(period, None)
        if tot is not None:
            self._write_checkpoint(tot)
        self._ledgers.pop(period, None)

    def _switch_current(self, period):
        old = self._current
        if old != period:
            if old is not None and old in self._totals:
                self._write_checkpoint(self._totals[old])
            self._current = period

    def _ckpt_path(self, period):
        return "%s/c%d.ckpt" % (self.dir, period)

    def _write_checkpoint(self, tot):
        atomic.atomic_write(self._ckpt_path(tot.period), tot.to_bytes())

    def _load(self, period):
        """The period's totals: the checkpoint, plus the ledger entries written after it."""
        tot = self._totals.get(period)
        if tot is not None:
            return tot
        ckpt = Totals.from_bytes(atomic.read_file(self._ckpt_path(period)), period)
        if not self.has_ledger(period):
            # No driving in this period (or its ledger was destroyed): nothing to open.
            tot = Totals(period)
            tot.closed = ckpt is not None and ckpt.closed
            return tot
        lg = self.ledger(period)
        tot = ckpt
        if tot is not None and (
            tot.count > lg.count
            or (tot.count and split_entry(lg.read(tot.count - 1))[4] != tot.last_t)
        ):
            closed = tot.closed
            tot = Totals(period)
            tot.closed = closed
            self.rescans += 1
        if tot is None:
            tot = Totals(period)
            if lg.count:
                self.rescans += 1
        start = tot.count
        if start < lg.count:
            for entry in lg.records(start):
                rb, _, blind, _, trace_c = split_entry(entry)
                price, pid = price_and_policy(rb)
                tot.fold(price, _blind_from_bytes(blind), pid, trace_c)
            self._write_checkpoint(tot)
        self._totals[period] = tot
        return tot
