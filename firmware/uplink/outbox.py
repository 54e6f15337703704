"""Statement submission: POST each sealed statement, verify and keep the receipt, back off.

``Outbox.run()`` is called by the main loop whenever a network is up (and at least at boot).
It submits the statements without a receipt in sequence order, because the backend accepts a
chain only in order. Per statement:

* POST the envelope file, streamed (never loaded), hashing it on the way;
* 2xx: the body is the Receipt. It must verify under the authority's key (content type
  CTY_RECEIPT) and name our statement: statement hash, seq, obu_id, total and segment count.
  Then it is stored atomically as ``receipts/<seq>.cose``, which marks the statement
  acknowledged. A resubmission after a lost answer returns the same receipt (SPEC §6.4), so
  retrying is always safe;
* timeout, broken connection, 5xx, 408/425/429 or an invalid receipt: try again after an
  exponential backoff (30 s doubling to 6 h, ±50 % jitter from the RNG, at least Retry-After);
* other 4xx: the statement is *rejected*. Its status and the backend's error code are kept and
  shown as a fault; later statements wait behind it (they would only fail the chain check)
  until ``retry_rejected()`` (after a firmware update or the operator's fix).

State (``uplink/outbox.state``, CBOR, written atomically) survives reboots: failures, next
attempt time, the last attempt and its result, the rejection. Without GNSS time the backoff
runs on the monotonic clock (in RAM), so a unit that boots without a fix still uploads.
"""

import os

from firmware import uplink
from firmware.ledger import atomic
from firmware.uplink import MEDIA_COSE, PATH_STATEMENTS, UplinkError, authority_resolver
from firmware.uplink.http import ticks_add, ticks_diff, ticks_ms
from firmware.uplink.sealed import HashingReader, SealedInvalid, StatementFiles, hash_start
from protocol import cbor, cose, envelopes, labels
from protocol.compat import const
from protocol.errors import ProtocolError
from protocol.exchange import Receipt

BASE_S = 30
CAP_S = 6 * 3600

# outbox.state keys
_FAILURES = const(1)
_NEXT_AT = const(2)
_LAST_AT = const(3)
_LAST_CODE = const(4)
_LAST_OK_AT = const(5)
_REJECTED = const(6)  # [seq, http status (0: local), error code]
# ReceiptInvalid.code, without loading the class for every report (firmware/uplink/failures.py)
_RECEIPT_INVALID = const("receipt_invalid")


def verify_receipt(receipt, resolve_key, sealed, statement_hash):
    """The Receipt in ``receipt`` (COSE bytes) acknowledges exactly ``sealed``; else
    ReceiptInvalid. Returns the decoded Receipt."""
    try:
        r, _ = envelopes.open_message(receipt, Receipt, resolve_key, labels.CTY_RECEIPT)
    except ProtocolError as e:
        raise uplink.ReceiptInvalid("receipt refused: %s" % e.code) from None
    if r.statement_hash != statement_hash:
        raise uplink.ReceiptInvalid("receipt is for another statement hash")
    if r.seq != sealed.seq or r.obu_id != sealed.obu_id:
        raise uplink.ReceiptInvalid("receipt names seq %d of %s" % (r.seq, r.obu_id))
    if r.total_price_micro != sealed.total_price_micro or r.segment_count != sealed.segment_count:
        raise uplink.ReceiptInvalid("receipt total or segment count differs from the statement")
    return r


class Backoff:
    """Exponential backoff with jitter: base·2^(n−1) capped, times a uniform factor in
    [0.5, 1.5) from ``rng``, capped again (so the wait never exceeds ``cap_s``)."""

    def __init__(self, rng, base_s=BASE_S, cap_s=CAP_S):
        self.rng = rng
        self.base_s = base_s
        self.cap_s = cap_s

    def delay(self, failures):
        """Seconds to wait after the ``failures``-th failure in a row (>= 1 s)."""
        d = self.cap_s
        if failures < 24:  # beyond that the cap has long been reached
            d = min(self.cap_s, self.base_s << max(0, failures - 1))
        r = int.from_bytes(self.rng(2), "big")  # 0..65535
        d = d // 2 + d * r // 65536
        return max(1, min(self.cap_s, d))


class Outbox:
    """Submits sealed statements and keeps their receipts (module docstring).

    ``client`` an HttpClient; ``authority`` the authority's public key (or a list of keys, or
    a resolve_key callable); ``clock.now()`` GNSS Unix time or None; ``rng(n)`` random bytes;
    ``files`` a StatementFiles (default: the layout under ``root``); ``status`` a
    firmware.status.Status or None.
    """

    def __init__(
        self,
        root,
        client,
        authority,
        clock,
        rng=None,
        files=None,
        status=None,
        base_s=BASE_S,
        cap_s=CAP_S,
        ticks=None,
    ):
        self.client = client
        self.clock = clock
        self.files = files if files is not None else StatementFiles(root)
        self.status = status
        self.backoff = Backoff(rng if rng is not None else os.urandom, base_s, cap_s)
        self._resolve = authority if callable(authority) else authority_resolver(authority)
        self._ticks = ticks if ticks is not None else ticks_ms
        self._dir = root + "/uplink"
        self._path = self._dir + "/outbox.state"
        self._mono_next = None  # backoff deadline on the monotonic clock, when time is unknown
        self.last_error = None
        self._reconciled = False
        self._state = {_FAILURES: 0, _NEXT_AT: 0}
        raw = atomic.read_file(self._path)
        if raw:
            try:
                st = cbor.decode(raw)
            except ProtocolError:
                st = None
            if isinstance(st, dict) and _FAILURES in st and _NEXT_AT in st:
                self._state = st  # else unreadable: start afresh, only a backoff is lost

    # --- state ------------------------------------------------------------------------------
    @property
    def failures(self):
        return self._state[_FAILURES]

    @property
    def next_at(self):
        """Unix time of the next attempt after a failure (0: none scheduled)."""
        return self._state[_NEXT_AT]

    @property
    def rejected(self):
        """(seq, status, code) of the statement the backend refused, or None."""
        r = self._state.get(_REJECTED)
        return tuple(r) if r else None

    @property
    def last_result(self):
        """(Unix time or None, "ok" or error code) of the last attempt, or None."""
        if _LAST_CODE not in self._state:
            return None
        return (self._state.get(_LAST_AT) or None, self._state[_LAST_CODE])

    def _save(self):
        atomic.ensure_dir(self._dir)
        atomic.atomic_write(self._path, cbor.encode(self._state))

    def due(self, now):
        """True if no backoff is running (``now``: Unix s or None when time is unknown)."""
        if self._state[_FAILURES] == 0:
            return True
        if now is not None and self._state[_NEXT_AT]:
            # A wait beyond the cap means the clock jumped back since the failure: go now.
            return not 0 < self._state[_NEXT_AT] - now <= self.backoff.cap_s
        # No GNSS time (or none when the failure happened): the monotonic clock decides.
        return self._mono_next is None or ticks_diff(self._ticks(), self._mono_next) >= 0

    def retry_rejected(self):
        """Forget a rejection so the statement is submitted again on the next run."""
        if _REJECTED in self._state:
            del self._state[_REJECTED]
            self._save()
            if self.status is not None:
                self.status.set_fault(self.status.FAULT_UPLINK_REJECTED, False)

    # --- work -------------------------------------------------------------------------------
    def pending(self):
        """Sequence numbers still waiting for a receipt, ascending."""
        return self.files.unacknowledged()

    def run(self):
        """One pass (module docstring). Returns how many statements got their receipt now;
        ``last_error`` holds the UplinkError/SealedInvalid that stopped the pass, if any."""
        now = self.clock.now()
        self.last_error = None
        done = 0
        if not self._reconciled:
            self._reconcile()
        pending = self.pending()
        rejected = self.rejected
        if rejected and rejected[0] not in pending:
            self.retry_rejected()  # it got its receipt after all, or it is gone
            rejected = None
        for seq in pending:
            if rejected or not self.due(now):
                break
            try:
                self.submit(seq)
            except uplink.HttpError as e:
                self.last_error = e
                if e.permanent:
                    self._reject(now, seq, e.status, e.code)
                else:
                    self._fail(now, e)
                break
            except SealedInvalid as e:
                self.last_error = e
                self._reject(now, seq, 0, e.code)
                if self.status is not None:
                    self.status.set_fault(self.status.FAULT_LEDGER)
                break
            except UplinkError as e:
                self.last_error = e
                self._fail(now, e)
                break
            done += 1
            self._succeed(now)
        self._report(now)
        return done

    def submit(self, seq):
        """One attempt for statement ``seq``: POST, verify, store. Returns the receipt bytes."""
        sealed = self.files.sealed(seq)
        if sealed is None or sealed.seq != seq:
            raise SealedInvalid("statement %d: envelope missing or numbered wrongly" % seq)
        h = hash_start(sealed.size)
        with open(sealed.path, "rb") as f:
            resp = self.client.request(
                "POST", PATH_STATEMENTS, HashingReader(f, h), sealed.size, MEDIA_COSE
            )
        resp.raise_for_status()
        receipt = resp.body
        r = verify_receipt(receipt, self._resolve, sealed, h.digest())
        self.files.store_receipt(seq, receipt, r.received_at)
        return receipt

    def _reconcile(self):
        """Mark receipts in the registry that a reset kept from being marked (see sealed)."""
        self._reconciled = True
        for seq in self.files.unmarked():
            receipt = self.files.receipt(seq)
            try:
                r = Receipt.decode(cose.decode_sign1(receipt).payload)
            except ProtocolError:
                continue  # cannot happen for a receipt that verified; never block uploads
            self.files.chain.mark_receipt(seq, r.received_at)

    # --- outcomes ---------------------------------------------------------------------------
    def _attempt(self, now, code):
        self._state[_LAST_AT] = now if now is not None else 0
        self._state[_LAST_CODE] = code

    def _succeed(self, now):
        self._attempt(now, "ok")
        if now is not None:
            self._state[_LAST_OK_AT] = now
        self._state[_FAILURES] = 0
        self._state[_NEXT_AT] = 0
        self._mono_next = None
        self._save()

    def _fail(self, now, err):
        n = self._state[_FAILURES] + 1
        wait = self.backoff.delay(n)
        retry = getattr(err, "retry_after_s", None)
        if retry:
            wait = max(wait, min(retry, self.backoff.cap_s))
        self._state[_FAILURES] = n
        self._state[_NEXT_AT] = now + wait if now is not None else 0
        self._mono_next = ticks_add(self._ticks(), wait * 1000)  # ticks wrap on the device
        self._attempt(now, err.code)
        self._save()

    def _reject(self, now, seq, status, code):
        self._state[_REJECTED] = [seq, status, code]
        self._attempt(now, code)
        self._save()

    def _report(self, now):
        st = self.status
        if st is None:
            return
        last = self.last_result
        if last is not None:
            st.upload_attempt(last[0], last[1] == "ok", last[1])
        rej = self.rejected
        st.set_fault(st.FAULT_UPLINK_REJECTED, rej is not None)
        st.set_fault(st.FAULT_RECEIPT_INVALID, self._state.get(_LAST_CODE) == _RECEIPT_INVALID)
        pending = self.pending()
        since = None
        if pending:
            try:
                oldest = self.files.sealed(pending[0])
            except SealedInvalid:
                oldest = None
            since = oldest.period_end if oldest is not None else None
        st.set_pending(len(pending), since)
        if now is not None:
            st.set_time(now)
