"""The statement chain's state and the statement registry, in small atomic files under ``root``.

    <root>/state/chain           "QMCH" ‖ 1 ‖ next_seq(4) ‖ prev_hash(32) ‖ has_end(1) ‖
                                 last period_end(8) ‖ SHA-256 of the rest [:8]
    <root>/statements/<seq>.meta CBOR {1: seq, 2: period_start, 3: period_end,
                                       4: statement_hash(32), 5: envelope path (from root),
                                       6: receipt held?, 7: receipt received_at or null,
                                       8: segment_count, 9: total_price_micro}

The chain file is the commit point of everything but the envelope: sealing (firmware.statement)
writes the envelope to ``outbox/<seq>.cose.tmp``, then ``<seq>.meta``, renames the envelope into
place, then rewrites the chain file. At boot, :meth:`ChainState.recover` finishes or forgets an
interrupted seal: a meta for ``next_seq`` whose envelope exists was sealed (the chain file is
rolled forward from the meta); one without its envelope was not (the meta goes). So once an
envelope is visible in the outbox it is final, even with a signer whose signatures are not
deterministic (a secure element), and the uplink may send any ``*.cose`` it finds.

Periods are sealed in order, each starting where the previous ended (SPEC §5.3: no holes), so
"sealed" is simply ``period_start < last period_end``. The initial head is configurable: a
replacement OBU continues its vehicle's chain from the next_seq and prev_hash the backend gave.
"""

import os

from firmware.ledger import atomic
from protocol import cbor
from protocol.compat import const, is_int, lazy_names
from protocol.hashing import sha256

ZERO_HASH = bytes(32)
_CHAIN_MAGIC = const(b"QMCH\x01")
_CHAIN_LEN = const(5 + 4 + 32 + 1 + 8 + 8)


class StateError(Exception):
    code = "state_error"


class PeriodOrder(StateError):
    """A period to seal that does not start where the last sealed one ended."""

    code = "period_order"


# AlreadySealed and StateCorrupt are in firmware/state_faults.py, loaded the first time one is
# raised or named (a unit in good order never raises them) and offered here by name.
# PeriodOrder stays: firmware.statement imports it at every seal.
TYPE_CHECKING = False
if TYPE_CHECKING:  # for mypy; at run time __getattr__ below provides them
    from firmware.state_faults import AlreadySealed as AlreadySealed
    from firmware.state_faults import StateCorrupt as StateCorrupt


# Inside this module the faults are not globals: raise _fault("StateCorrupt")(msg).
_fault = __getattr__ = lazy_names(
    __name__, ("firmware.state_faults", ("AlreadySealed", "StateCorrupt"))
)


def _decode(data, what):
    try:
        m = cbor.decode(data)
    except ValueError:
        m = None
    if not isinstance(m, dict):
        raise _fault("StateCorrupt")("%s does not decode" % what)
    return m


class StatementMeta:
    """What the unit remembers of one sealed statement (the registry entry)."""

    def __init__(
        self,
        seq,
        period_start,
        period_end,
        statement_hash,
        envelope,
        receipt_held=False,
        received_at=None,
        segment_count=0,
        total_price_micro=0,
    ):
        self.seq = seq
        self.period_start = period_start
        self.period_end = period_end
        self.statement_hash = statement_hash
        self.envelope = envelope  # path relative to the root, e.g. "outbox/3.cose"
        self.receipt_held = receipt_held
        self.received_at = received_at
        self.segment_count = segment_count
        self.total_price_micro = total_price_micro

    def to_bytes(self):
        return cbor.encode(
            {
                1: self.seq,
                2: self.period_start,
                3: self.period_end,
                4: self.statement_hash,
                5: self.envelope,
                6: self.receipt_held,
                7: self.received_at,
                8: self.segment_count,
                9: self.total_price_micro,
            }
        )

    @classmethod
    def from_bytes(cls, data):
        m = _decode(data, "statement meta")
        try:
            meta = cls(m[1], m[2], m[3], m[4], m[5], m[6], m[7], m[8], m[9])
        except KeyError:
            raise _fault("StateCorrupt")("statement meta lacks a field") from None
        if not (is_int(meta.seq) and isinstance(meta.statement_hash, bytes)):
            raise _fault("StateCorrupt")("statement meta fields")
        return meta

    def __repr__(self):
        return "StatementMeta(seq=%d, period=[%d, %d), receipt=%r)" % (
            self.seq,
            self.period_start,
            self.period_end,
            self.receipt_held,
        )


class ChainState:
    """Chain head (next_seq, prev_hash, last_period_end) and the statement registry.

    ``next_seq``/``prev_hash``/``last_period_end`` give the initial head when the unit has no
    chain file yet (first boot); afterwards the file wins. Boot recovery runs in the
    constructor. Counters: rolled_forward, discarded (interrupted seals found at boot).
    """

    def __init__(self, root, next_seq=0, prev_hash=ZERO_HASH, last_period_end=None):
        self.root = root
        self.dir = root + "/state"
        self.statements_dir = root + "/statements"
        self.outbox_dir = root + "/outbox"
        for d in (self.dir, self.statements_dir, self.outbox_dir):
            atomic.ensure_dir(d)
            atomic.discard_tmp(d)
        self._chain_path = self.dir + "/chain"
        self.rolled_forward = 0
        self.discarded = 0
        data = atomic.read_file(self._chain_path)
        if data is None:
            self._set(next_seq, prev_hash, last_period_end)
            self._write()
        else:
            # Fixed layout, read without the CBOR decoder (boot and sealing stay small).
            body = data[:-8]
            if len(data) != _CHAIN_LEN or body[:5] != _CHAIN_MAGIC or sha256(body)[:8] != data[-8:]:
                raise _fault("StateCorrupt")("chain state file is damaged")
            end = int.from_bytes(body[42:50], "big") if body[41] else None
            self._set(int.from_bytes(body[5:9], "big"), bytes(body[9:41]), end)
        self.recover()

    def _set(self, next_seq, prev_hash, last_period_end):
        if not (is_int(next_seq) and 0 <= next_seq < 0x100000000):
            raise _fault("StateCorrupt")("next_seq must be a 32-bit unsigned int")
        if not (isinstance(prev_hash, bytes) and len(prev_hash) == 32):
            raise _fault("StateCorrupt")("prev_hash must be 32 bytes")
        if last_period_end is not None and not (
            is_int(last_period_end) and 0 <= last_period_end < 1 << 63
        ):
            raise _fault("StateCorrupt")("last_period_end must be a time or None")
        self.next_seq = next_seq
        self.prev_hash = prev_hash
        self.last_period_end = last_period_end

    def _write(self):
        end = self.last_period_end
        body = (
            _CHAIN_MAGIC
            + self.next_seq.to_bytes(4, "big")
            + self.prev_hash
            + (b"\x01" + end.to_bytes(8, "big") if end is not None else bytes(9))
        )
        atomic.atomic_write(self._chain_path, body + sha256(body)[:8])

    # --- boot -----------------------------------------------------------------------------

    def recover(self):
        """Finish (roll forward) or forget a seal interrupted by a reset; see the module doc."""
        meta = self.meta(self.next_seq)
        if meta is None:
            return
        if atomic.exists(self.root + "/" + meta.envelope):
            self.rolled_forward += 1
            self.commit(meta)
        else:
            self.discarded += 1
            atomic.remove(self._meta_path(meta.seq))

    def provision(self, next_seq, prev_hash, last_period_end=None):
        """Set the chain head (replacement OBU); only before this unit sealed anything."""
        if self.statement_seqs():
            raise _fault("AlreadySealed")("this unit has sealed statements; the head is its own")
        self._set(next_seq, prev_hash, last_period_end)
        self._write()

    # --- sealing (firmware.statement) --------------------------------------------------------

    def check_next_period(self, period_start, period_end):
        """Raise PeriodOrder unless [period_start, period_end) is the next period to seal."""
        if not (is_int(period_start) and is_int(period_end) and 0 <= period_start < period_end):
            raise PeriodOrder("a period is [start, end) with start < end")
        last = self.last_period_end
        if last is not None and period_start != last:
            if period_start < last:
                raise PeriodOrder("period starting %d is already sealed" % period_start)
            raise PeriodOrder(
                "period starting %d leaves a hole after %d: seal the periods between first"
                % (period_start, last)
            )

    def begin(self, meta):
        """Record the statement about to be committed (its envelope not yet in place)."""
        if meta.seq != self.next_seq:
            raise StateError("seal of seq %d, expected %d" % (meta.seq, self.next_seq))
        atomic.atomic_write(self._meta_path(meta.seq), meta.to_bytes())

    def commit(self, meta):
        """Advance the chain past ``meta`` (its envelope is in place)."""
        self._set(meta.seq + 1, meta.statement_hash, meta.period_end)
        self._write()

    # --- registry -----------------------------------------------------------------------------

    def is_sealed(self, period_start):
        """True if the period starting at ``period_start`` (or a later one) is sealed."""
        return self.last_period_end is not None and period_start < self.last_period_end

    def _meta_path(self, seq):
        return "%s/%d.meta" % (self.statements_dir, seq)

    def meta(self, seq):
        """The StatementMeta of ``seq``, or None."""
        data = atomic.read_file(self._meta_path(seq))
        return None if data is None else StatementMeta.from_bytes(data)

    def statement_seqs(self):
        """Sequence numbers of the statements in the registry, ascending (committed ones)."""
        out = []
        for name in os.listdir(self.statements_dir):
            if name.endswith(".meta") and name[:-5].isdigit():
                seq = int(name[:-5])
                if seq < self.next_seq:
                    out.append(seq)
        out.sort()
        return out

    def seq_of_period(self, period_start):
        """The seq of the statement of the period starting at ``period_start``, or None."""
        for seq in self.statement_seqs():
            m = self.meta(seq)
            if m.period_start == period_start:
                return seq
        return None

    def envelope_path(self, seq):
        """Absolute path of the envelope of ``seq`` (None if unknown)."""
        m = self.meta(seq)
        return None if m is None else self.root + "/" + m.envelope

    def mark_receipt(self, seq, received_at):
        """Note that the backend's receipt for ``seq`` is held (retention counts from it)."""
        m = self.meta(seq)
        if m is None or seq >= self.next_seq:
            raise StateError("no sealed statement %d" % seq)
        m.receipt_held = True
        m.received_at = received_at
        atomic.atomic_write(self._meta_path(seq), m.to_bytes())
