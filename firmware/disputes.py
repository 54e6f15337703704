"""Disputes: open a whole statement period, but only on a verified request and the driver's word.

SPEC §8.1. A driver who disputes a statement consents, at the backend, to open its period; the
backend then lists an authority-signed *dispute request* for the unit. The backend cannot prove
that consent to the unit, so the unit asks the driver itself before anything of the period
leaves it:

1. **Fetch** ``GET /api/v1/obu/disputes`` with a signed request (SPEC §4.8): a CBOR array of
   COSE_Sign1 envelopes. A 404 means a backend without disputes: nothing to do.
2. **Verify** each new envelope under the authority's key with content type
   ``application/quietmile.dispute-request+cbor``; its payload is exactly
   ``{1: dispute_id bstr(16), 2: obu_id, 3: statement_seq, 4: segment_count, 5: consent_at}``
   (deterministic CBOR); it names this unit, a statement this unit sealed with exactly
   ``segment_count`` (> 0) segments, and a period whose ledger still holds them all. An envelope
   that does not verify is dropped unremembered; one that verifies but does not match is
   remembered as ``refused`` or ``unavailable`` (retention purged the period) and never opened.
3. **Confirm** with the driver, per the configured policy: ``ask`` (default) asks the board's
   confirmation input (a button on the ESP32, a file or a flag on the host) about the oldest
   waiting dispute, and the status shows "dispute waiting for confirmation" until it answers;
   ``never`` declines every request; ``auto`` confirms on the verified request alone (only for
   units whose keeper consents for the driver, e.g. a fleet). Declined and waiting disputes are
   never opened; a waiting dispute the backend stops listing is ``withdrawn``.
4. **Upload** one Opening per segment (challenge_id = the dispute id, the ledger's record, salt
   and blind, each checked against the statement's commitment pair before it is signed) to
   ``POST /api/v1/obu/disputes/<id>/openings`` as CBOR arrays of envelopes. A batch is built
   on flash (``<id>.b<start>-<count>``: the array's items; the body is the array head plus the
   file, streamed), at most ``batch_bytes`` of body and ``MAX_BATCH_OPENINGS`` openings, so RAM
   holds one opening at a time. The batch file is complete before it is first sent and is sent
   byte for byte again until the backend accepts it (a lost answer, a reset, a failed upload):
   the backend counts identical re-sends as repeats, and with a secure element, whose
   signatures differ each time, a rebuilt batch would be refused as a different upload. Once
   it is accepted the progress (``next``) is written, then the file removed; a reset between
   the two leaves a batch below ``next``, deleted at the next run. At most
   ``batches_per_sync`` batches go per run, so the driving loop is not held up for long.
5. **Record**: the request envelope (``<id>.req``) and the dispute's state (``<id>.st``) stay
   on the unit, so the driver can see which period was opened, when they confirmed and when the
   last segment went out (state ``opened``). They hold no trace.

Layout under ``<root>/disputes/``; every file is written whole and renamed into place
(firmware.ledger.atomic). Nothing of a period is read from the ledger before the dispute is
``confirmed`` — the privacy invariant the tests check byte for byte on the wire.
"""

import hashlib
import os

from firmware import uplink
from firmware.ledger import LedgerError, atomic
from firmware.uplink import (
    MEDIA_CBOR,
    PATH_DISPUTES,
    SIGNED_REQUEST_HEADER,
    UplinkError,
    authority_resolver,
)
from firmware.uplink.sealed import SealedInvalid, StatementFiles, file_sha256
from firmware.uplink.signed import poll_disputes, signed_request
from protocol import cbor, cose, labels
from protocol.compat import const, is_int
from protocol.errors import InvalidMessage, ProtocolError

CTY_DISPUTE_REQUEST = labels.CTY_DISPUTE_REQUEST  # SPEC §2, §8.1

# States of a dispute on the unit (``<id>.st``, key 1).
WAITING = "waiting"  # verified; the driver has not answered
CONFIRMED = "confirmed"  # the driver said yes: uploading
OPENED = "opened"  # every segment accepted by the backend: the driver's record
DECLINED = "declined"  # the driver (or the policy) said no: never opened
REFUSED = "refused"  # verified, but not about a statement of this unit as it claims
UNAVAILABLE = "unavailable"  # the period's records are gone (retention) or inconsistent
WITHDRAWN = "withdrawn"  # no longer listed by the backend while it waited
CLOSED = "closed"  # the backend closed the dispute before every segment was in
REJECTED = "rejected"  # the backend refused a batch for good (4xx); see ``reason``
FINAL = (OPENED, DECLINED, REFUSED, UNAVAILABLE, WITHDRAWN, CLOSED, REJECTED)

# Confirmation policies (config ``disputes.confirm``).
POLICY_ASK = "ask"
POLICY_AUTO = "auto"
POLICY_NEVER = "never"
POLICIES = (POLICY_ASK, POLICY_AUTO, POLICY_NEVER)

DEFAULT_BATCH_BYTES = const(16384)  # = HttpClient.max_body_bytes, the OBU's body bound
DEFAULT_BATCHES_PER_SYNC = const(4)
MAX_BATCH_OPENINGS = const(64)  # far below the backend's dispute_batch_max (1000)
_ID_LEN = const(16)
_MAX_SEGMENTS = const(100000)  # Statement.commitments bound (SPEC §4.3)
_CHUNK = const(512)
_DIR = const("/disputes")


class DisputeInvalid(ValueError):
    """A verified dispute request that does not match a statement of this unit."""

    code = "dispute_invalid"


class PeriodUnavailable(ValueError):
    """The disputed period's records are not (or no longer) on the unit, or inconsistent."""

    code = "period_unavailable"


class DisputeStateCorrupt(ValueError):
    """A dispute state file that does not decode (flash rot): the dispute counts as unknown,
    so it is verified and asked about again."""

    code = "dispute_state_corrupt"


def decode_request(payload):
    """(dispute_id, obu_id, statement_seq, segment_count, consent_at) of a dispute request
    payload; ProtocolError (DecodeError / InvalidMessage) if it is not exactly one."""
    m = cbor.decode(payload)  # strict: deterministic encoding only
    if not isinstance(m, dict) or sorted(m) != [1, 2, 3, 4, 5]:
        raise InvalidMessage("a dispute request is the map {1..5}")
    did, obu_id, seq, count, consent_at = m[1], m[2], m[3], m[4], m[5]
    if not (isinstance(did, bytes) and len(did) == _ID_LEN):
        raise InvalidMessage("dispute_id must be 16 bytes")
    if not (isinstance(obu_id, str) and 1 <= len(obu_id) <= 64):
        raise InvalidMessage("obu_id must be 1..64 characters")
    if not (is_int(seq) and 0 <= seq < 0x100000000):
        raise InvalidMessage("statement_seq must be a 32-bit unsigned int")
    if not (is_int(count) and 0 <= count <= _MAX_SEGMENTS):
        raise InvalidMessage("segment_count out of range")
    if not (is_int(consent_at) and 0 <= consent_at < 1 << 40):
        raise InvalidMessage("consent_at must be a time")
    return did, obu_id, seq, count, consent_at


class Dispute:
    """What the unit keeps about one dispute (``<id>.st``): the driver's record."""

    def __init__(
        self,
        dispute_id,
        state,
        statement_seq,
        segment_count,
        period_start=None,
        period_end=None,
        consent_at=None,
        received_at=None,
        answered_at=None,
        next_index=0,
        done_at=None,
        reason=None,
    ):
        self.dispute_id = dispute_id
        self.state = state
        self.statement_seq = statement_seq
        self.segment_count = segment_count
        self.period_start = period_start
        self.period_end = period_end
        self.consent_at = consent_at  # when the driver consented at the backend
        self.received_at = received_at  # GNSS time the unit verified the request
        self.answered_at = answered_at  # GNSS time the driver (or policy) answered
        self.next_index = next_index  # segments [0, next_index) accepted by the backend
        self.done_at = done_at  # GNSS time it reached a final state
        self.reason = reason  # why it was refused, rejected, ... (an error code)

    def to_bytes(self):
        return cbor.encode(
            {
                1: self.state,
                2: self.statement_seq,
                3: self.segment_count,
                4: self.period_start,
                5: self.period_end,
                6: self.consent_at,
                7: self.received_at,
                8: self.answered_at,
                9: self.next_index,
                10: self.done_at,
                11: self.reason,
                12: self.dispute_id,
            }
        )

    @classmethod
    def from_bytes(cls, data):
        try:
            m = cbor.decode(data)
            d = cls(m[12], m[1], m[2], m[3], m[4], m[5], m[6], m[7], m[8], m[9], m[10], m[11])
        except (ProtocolError, KeyError, IndexError, TypeError):
            raise DisputeStateCorrupt("dispute state file does not decode") from None
        if not (isinstance(d.dispute_id, bytes) and is_int(d.next_index)):
            raise DisputeStateCorrupt("dispute state file fields")
        return d

    @property
    def id_hex(self):
        return self.dispute_id.hex()

    def __repr__(self):
        return "Dispute(%s %s seq=%d %d/%d)" % (
            self.id_hex[:8],
            self.state,
            self.statement_seq,
            self.next_index,
            self.segment_count,
        )


def records(root):
    """Every dispute the unit knows (the driver's record), oldest request first."""
    d = root + _DIR
    try:
        names = os.listdir(d)
    except OSError:
        return []
    out = []
    for name in names:
        if name.endswith(".st"):
            try:
                out.append(Dispute.from_bytes(atomic.read_file(d + "/" + name)))
            except DisputeStateCorrupt:
                continue
    out.sort(key=lambda x: (x.received_at or 0, x.id_hex))
    return out


class _Body:
    """A batch body for HttpClient: the CBOR array head, then the items file."""

    def __init__(self, head, f):
        self.head = head
        self.f = f

    def readinto(self, buf):
        if self.head:
            n = min(len(buf), len(self.head))
            buf[:n] = self.head[:n]
            self.head = self.head[n:]
            return n
        return self.f.readinto(buf)


class DisputeHandler:
    """Fetches, verifies, confirms and uploads disputes (module docstring).

    ``client`` an HttpClient; ``signer`` the OBU's signer (requests and openings); ``authority``
    the authority's public key(s) or a resolve_key callable; ``clock.now()`` GNSS time or None;
    ``store`` the firmware.ledger.Store; ``files`` a StatementFiles; ``confirm`` the board's
    confirmation input (``ask(dispute)``, ``answer(dispute)`` → True / False / None) or None;
    ``policy`` one of POLICIES; ``status`` a firmware.status.Status or None; ``feed`` a
    callable run after every signature and upload (the App's watchdog: a sync that opens a
    period signs up to ``batches_per_sync`` × 64 openings).
    """

    def __init__(
        self,
        root,
        client,
        signer,
        obu_id,
        authority,
        clock,
        store=None,
        rng=None,
        files=None,
        confirm=None,
        policy=POLICY_ASK,
        status=None,
        batch_bytes=DEFAULT_BATCH_BYTES,
        batches_per_sync=DEFAULT_BATCHES_PER_SYNC,
        feed=None,
    ):
        if policy not in POLICIES:
            raise ValueError("dispute policy must be one of %r" % (POLICIES,))
        self.client = client
        self.signer = signer
        self.obu_id = obu_id
        self.clock = clock
        self.store = store
        self.rng = rng if rng is not None else os.urandom
        self.files = files if files is not None else StatementFiles(root)
        self.confirm = confirm
        self.policy = policy
        self.status = status
        self.batch_bytes = batch_bytes
        self.batches_per_sync = batches_per_sync
        self._feed = feed if feed is not None else _nothing
        self._resolve = authority if callable(authority) else authority_resolver(authority)
        self.root = root
        self.dir = root + _DIR
        atomic.ensure_dir(self.dir)
        atomic.discard_tmp(self.dir)
        self.last_error = None
        self.opened = 0  # segments accepted by the backend during this run
        self._env_overhead = None

    # --- the run ----------------------------------------------------------------------------
    def run(self, listed=None, error=None):
        """One sync's worth: poll, register new requests, take the driver's answers, upload
        confirmed periods. Returns the known disputes (list of Dispute). ``listed`` or
        ``error``: the outcome of a poll already made this sync (App.handle_disputes polls
        first and loads this module only when there is something to do)."""
        self.last_error = error
        self.opened = 0
        if listed is None and error is None:
            try:
                listed = self.poll()
            except UplinkError as e:
                self.last_error = e
        if listed is not None:
            self.register(listed)
        self.take_answers()
        if self.last_error is None:
            try:
                self.upload_confirmed()
            except UplinkError as e:
                self.last_error = e
        known = records(self.root)
        self._show(known)
        return known

    def poll(self):
        """The dispute request envelopes the backend lists for us (a list of bytes)."""
        return poll_disputes(self.client, self.signer, self.clock.now(), self.rng)

    # --- registering requests ---------------------------------------------------------------
    def register(self, envelopes_):
        """Verify and remember new requests; withdraw waiting ones the backend dropped."""
        listed = set()
        for env in envelopes_:
            d = self.handle(env)
            if d is not None:
                listed.add(d.dispute_id)
        for d in records(self.root):
            if d.state == WAITING and d.dispute_id not in listed:
                self._finish(d, WITHDRAWN)

    def handle(self, envelope):
        """Verify one request and remember it (or find it known); returns its Dispute, or None
        if it does not verify (then nothing is kept: it is not from the authority)."""
        try:
            s1 = cose.verify_sign1(envelope, self._resolve, CTY_DISPUTE_REQUEST)
            did, obu_id, seq, count, consent_at = decode_request(s1.payload)
        except ProtocolError:
            return None
        known = self.load(did)
        if known is not None:
            return known
        d = Dispute(did, WAITING, seq, count, consent_at=consent_at, received_at=self.clock.now())
        try:
            if obu_id != self.obu_id:
                raise DisputeInvalid("the request names another OBU")
            self._check_period(d)
        except DisputeInvalid as e:
            d.state, d.reason, d.done_at = REFUSED, e.code, d.received_at
        except PeriodUnavailable as e:
            d.state, d.reason, d.done_at = UNAVAILABLE, e.code, d.received_at
        else:
            if self.policy == POLICY_NEVER:
                d.state, d.reason, d.answered_at = DECLINED, "policy_never", d.received_at
                d.done_at = d.received_at
            elif self.policy == POLICY_AUTO:
                d.state, d.reason, d.answered_at = CONFIRMED, "policy_auto", d.received_at
        atomic.atomic_write(self._path(did, ".req"), envelope)
        self.save(d)  # the commit point: from here on the dispute is known
        return d

    def _check_period(self, d):
        """The request matches a sealed statement whose period's records are all here."""
        try:
            sealed = self.files.sealed(d.statement_seq)
        except SealedInvalid:
            self._fault()
            raise PeriodUnavailable("statement %d is damaged on flash" % d.statement_seq) from None
        if sealed is None:
            raise DisputeInvalid("statement %d is not on this unit" % d.statement_seq)
        if sealed.obu_id != self.obu_id:
            raise DisputeInvalid("statement %d names another OBU" % d.statement_seq)
        if sealed.segment_count != d.segment_count or d.segment_count == 0:
            raise DisputeInvalid(
                "statement %d has %d segments, not %d"
                % (d.statement_seq, sealed.segment_count, d.segment_count)
            )
        d.period_start = sealed.period_start
        d.period_end = sealed.period_end
        log = self._ledger(sealed.period_start)
        if log.count < d.segment_count:
            raise PeriodUnavailable("ledger holds %d of %d segments" % (log.count, d.segment_count))

    def _ledger(self, period_id):
        # Store.open would create an empty period: only ever open one that exists.
        if self.store is None or period_id not in self.store.periods():
            raise PeriodUnavailable("ledger period %d is gone" % period_id)
        try:
            return self.store.open(period_id)
        except LedgerError:
            self._fault()
            raise PeriodUnavailable("ledger period %d unreadable" % period_id) from None

    # --- the driver's answer ----------------------------------------------------------------
    def take_answers(self):
        """Ask the driver about the oldest waiting dispute, and take any answers given."""
        if self.confirm is None:
            return
        now = self.clock.now()
        asked = False
        for d in records(self.root):
            if d.state != WAITING:
                continue
            if not asked:
                self.confirm.ask(d)  # one question at a time: the oldest
                asked = True
            verdict = self.confirm.answer(d)
            if verdict is True:
                d.state, d.answered_at, d.reason = CONFIRMED, now, "driver"
                self.save(d)
                asked = False  # the next one may be asked at once
            elif verdict is False:
                d.answered_at = now
                d.reason = "driver"
                self._finish(d, DECLINED)
                asked = False

    # --- uploading --------------------------------------------------------------------------
    def upload_confirmed(self):
        """Send batches of every confirmed dispute, oldest first, within the run's budget."""
        budget = self.batches_per_sync
        for d in records(self.root):
            if d.state != CONFIRMED:
                continue
            while budget > 0 and d.state == CONFIRMED:
                budget -= 1
                self.send_next_batch(d)
            if budget <= 0:
                return

    def send_next_batch(self, d):
        """Resend the pending batch of ``d`` or build the next one, and send it."""
        if d.next_index >= d.segment_count:
            self._finish(d, OPENED)
            return
        batch = self._pending_batch(d)
        if batch is None:
            try:
                batch = self.build_batch(d)
            except PeriodUnavailable as e:
                d.reason = e.code
                self._finish(d, UNAVAILABLE)
                return
        start, count, path = batch
        self._post(d, start, count, path)
        self._feed()

    def _pending_batch(self, d):
        """(start, count, path) of the built batch at ``d.next_index``; stale ones removed."""
        prefix = d.id_hex + ".b"
        found = None
        for name in os.listdir(self.dir):
            if not name.startswith(prefix):
                continue
            start, _, count = name[len(prefix) :].partition("-")
            if not (start.isdigit() and count.isdigit()):
                continue
            if int(start) == d.next_index and found is None:
                found = (int(start), int(count), self.dir + "/" + name)
            else:
                atomic.remove(self.dir + "/" + name)  # accepted earlier (or never sendable)
        return found

    def build_batch(self, d):
        """Write the next batch's items (Opening envelopes as CBOR bstr) to flash, from
        ``d.next_index`` on, within the byte and count bounds; returns (start, count, path)."""
        from firmware.accounting import EntryCorrupt, split_entry
        from firmware.opening import opening_payload, opens_pair

        start = d.next_index
        try:
            sealed = self.files.sealed(d.statement_seq)
        except SealedInvalid:
            sealed = None
        if sealed is None or sealed.segment_count != d.segment_count:
            self._fault()
            raise PeriodUnavailable("statement %d is gone or changed" % d.statement_seq)
        log = self._ledger(d.period_start)
        if log.count < d.segment_count:
            raise PeriodUnavailable("ledger holds %d of %d segments" % (log.count, d.segment_count))
        limit = self.batch_bytes - 5  # the array head takes at most 5 bytes
        size = 0
        count = 0
        tmp = self.dir + "/" + d.id_hex + ".part" + atomic.TMP
        entries = log.records(start)
        try:
            with open(tmp, "wb") as f:
                i = start
                for payload in entries:
                    if i >= d.segment_count or count >= MAX_BATCH_OPENINGS:
                        break
                    rb, salt, blind, price_c, trace_c = split_entry(payload)
                    del payload  # (the heap holds one opening at a time)
                    if not opens_pair(i, rb, salt, price_c, trace_c, sealed.commitment(i)):
                        raise PeriodUnavailable("ledger segment %d disagrees with statement" % i)
                    body = opening_payload(d.dispute_id, self.obu_id, d.statement_seq, i, rb,
                                           salt, blind)  # fmt: skip
                    del rb
                    item = self._item_len(len(body))
                    if count and size + item > limit:
                        break  # sized before signing: no signature is wasted
                    env = cose.sign1(body, self.signer, labels.CTY_OPENING)
                    self._feed()
                    del body
                    f.write(cbor.head(2, len(env)))
                    f.write(env)
                    del env
                    size += item
                    count += 1
                    i += 1
                f.flush()
        except (LedgerError, EntryCorrupt, SealedInvalid, IndexError):
            atomic.remove(tmp)
            self._fault()
            raise PeriodUnavailable("ledger of period %d unreadable" % d.period_start) from None
        except PeriodUnavailable:
            atomic.remove(tmp)
            self._fault()
            raise
        finally:
            entries.close()  # the ledger's file, if the loop stopped early
        if count == 0:
            atomic.remove(tmp)
            raise PeriodUnavailable("no segment left to open")
        path = "%s/%s.b%d-%d" % (self.dir, d.id_hex, start, count)
        os.rename(tmp, path)  # the batch is final from here: sent as it is until accepted
        return start, count, path

    def _item_len(self, payload_len):
        """Bytes of one Opening envelope as an array item, from its payload's length (the
        envelope's other parts have fixed sizes for a given signer)."""
        if self._env_overhead is None:
            prot = cbor.encode(
                {1: -7, 3: labels.CTY_OPENING, 4: bytes(self.signer.kid)}
            )  # cose.sign1's protected header
            # tag, array head, bstr(protected), empty map, bstr head of the signature + 64
            self._env_overhead = 2 + len(cbor.encode(prot)) + 1 + 2 + 64
        env = self._env_overhead + len(cbor.head(2, payload_len)) + payload_len
        return len(cbor.head(2, env)) + env

    def _post(self, d, start, count, path):
        now = self.clock.now()
        head = cbor.head(4, count)
        size = atomic.file_size(path)
        target = "%s/%s/openings" % (PATH_DISPUTES, d.id_hex)
        digest = _sha256_of(head, path)
        try:
            if now is None:
                raise uplink.ClockUnknown("a signed request needs GNSS time")
            nonce = self.rng(16)
            value = signed_request(
                self.signer, "POST", self.client.base_path + target, digest, now, nonce
            )
            with open(path, "rb") as f:
                resp = self.client.request(
                    "POST",
                    target,
                    _Body(head, f),
                    len(head) + size,
                    content_type=MEDIA_CBOR,
                    headers=[(SIGNED_REQUEST_HEADER, value)],
                )
            resp.raise_for_status()
        except uplink.HttpError as e:
            if e.status in (404, 410) or e.code == "dispute_closed":
                d.reason = e.code
                self._finish(d, CLOSED)
                atomic.remove(path)
                return
            if e.permanent and e.status != 401:  # 401: the request's time or nonce; retry
                d.reason = e.code
                self._finish(d, REJECTED)
                atomic.remove(path)
                return
            raise
        # Accepted: progress first, then the batch file (a reset between leaves a stale batch
        # that the next run deletes, never a gap).
        d.next_index = start + count
        self.opened += count
        if d.next_index >= d.segment_count or _complete(resp):
            self._finish(d, OPENED)
        else:
            self.save(d)
        atomic.remove(path)

    # --- files ------------------------------------------------------------------------------
    def _path(self, did, ext):
        return "%s/%s%s" % (self.dir, did.hex(), ext)

    def load(self, did):
        data = atomic.read_file(self._path(did, ".st"))
        if data is None:
            return None
        try:
            return Dispute.from_bytes(data)
        except DisputeStateCorrupt:
            return None

    def save(self, d):
        atomic.atomic_write(self._path(d.dispute_id, ".st"), d.to_bytes())

    def _finish(self, d, state):
        d.state = state
        d.done_at = self.clock.now()
        self.save(d)

    def _show(self, known):
        if self.status is not None:
            self.status.set_disputes_waiting(sum(1 for d in known if d.state == WAITING))

    def _fault(self):
        if self.status is not None:
            self.status.set_fault(self.status.FAULT_LEDGER)


def _nothing():
    pass


def _sha256_of(head, path):
    return file_sha256(path, bytearray(_CHUNK), hashlib.sha256(head))


def _complete(resp):
    """The backend's ``complete`` flag from a JSON upload answer (False if absent)."""
    if not resp.body or resp.media_type() != "application/json":
        return False
    try:
        import json

        doc = json.loads(resp.body)
    except ValueError:
        return False
    return isinstance(doc, dict) and doc.get("complete") is True
