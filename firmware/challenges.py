"""Challenges: fetch them page by page with signed requests, find the one segment, answer with
a signed Opening.

SPEC §4.5–4.6 and §5.4. A Challenge names one of our statements and either an instant (kind 0,
a camera saw the car) or a segment index (kind 1, a random audit). The answer opens exactly
one segment, or none:

* kind 0: the first segment in index order with ``t_start <= at_time <= t_end`` (so on a
  boundary instant shared by two segments, the lower index). The period's ledger is streamed
  record by record, reading only each record's times; nothing else of the period is held.
  If no segment covers the instant the honest answer is an Opening without keys 4–7.
* kind 1: the segment at ``segment_index`` (an index beyond the statement is refused).

Before answering, the Challenge must verify under the authority's key (CTY_CHALLENGE), name
our OBU and not be past its deadline by GNSS time (no GNSS time: wait for it). The opening is
checked against the statement before it leaves (its trace and price commitments must be the
statement's pair ``i``), written to ``challenges/pending/<id>.cose`` and then POSTed, so that a
lost answer is retried with the very same bytes and a challenge can never get two different
openings. Handled challenge ids (answered, expired, refused, unavailable) are remembered in
``challenges/answered.bin`` (17 bytes each, newest 256 kept), so a re-poll does not answer
twice. Without a challenge nothing of the trace leaves the unit (DESIGN §2.1).

The backend hands the open challenges out in pages, nearest deadline first (SPEC §4.9): a unit
with hundreds of them must not meet a list larger than its response-body limit, or they would
all expire unanswered. A run answers each page before it asks for the next one (with the
cursor the backend sent), so only one page is ever held, and it stops after ``max_pages``
pages: the rest waits for the next sync, nearest deadlines first.
"""

import os

# Other modules' names through their modules (uplink.X, sealed_files.X, message_base.X): a module
# with fewer globals has a smaller dict (36 globals: 37 entries, 592 bytes at 64 bits, not 47),
# one block the network phase's fragmented heap must find in one piece.
from firmware import opening, uplink
from firmware.ledger import LedgerError, atomic
from firmware.uplink import sealed as sealed_files
from firmware.uplink.signed import signed_headers
from protocol import cose, envelopes, labels, message_base
from protocol.compat import const, lazy_names
from protocol.errors import ProtocolError
from protocol.exchange import Challenge

# Outcomes of handle(); the numbers are how answered.bin stores them.
ANSWERED = "answered"  # the opening was accepted (2xx)
ALREADY = "already"  # handled before: not answered again
EXPIRED = "expired"  # past its deadline
REFUSED = "refused"  # does not verify, not ours, or asks for a segment the statement lacks
UNAVAILABLE = "unavailable"  # the statement or its ledger is gone (retention) or inconsistent
REJECTED = "rejected"  # the backend refused our opening (4xx)
DEFERRED = "deferred"  # no GNSS time yet, or the POST failed: again on the next poll
_CODES = (ANSWERED, EXPIRED, REFUSED, UNAVAILABLE, REJECTED)

MAX_REMEMBERED = 256

# Challenges per page: 8 envelopes are at most ~2 KB. The backend sends up to 32 (~8 KB, within
# the 16 KB body limit), but a body is one block of RAM, and after some answers a fragmented
# heap lacks a free 4-8 KB block first: on the unix port (.mpy modules, 70 challenges) pages of
# 4-16 run in the 160K that answering one challenge needs, pages of 32 need 170K. One more GET
# per 8 answers costs little next to their 8 signed openings. Pages per run: 32 × 8 = 256
# challenges a sync, as many as answered.bin remembers, so a run forgets nothing it handled.
PAGE_SIZE = 8
MAX_PAGES = 32
# A Challenge envelope is at most ~250 bytes (64-character obu_id, largest field values).
_MAX_ENVELOPE_BYTES = const(256)
_MAX_CURSOR_LEN = const(64)
_CURSOR_CHARS = const("-._~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


# The two reasons not to answer a challenge, ChallengeInvalid and SegmentUnavailable, are
# defined in firmware/challenge_refusals.py and loaded when one is first raised (a unit in good
# order answers every challenge); this module offers both by name (__getattr__ below).
TYPE_CHECKING = False
if TYPE_CHECKING:  # for mypy; at run time __getattr__ below provides them
    from firmware.challenge_refusals import ChallengeInvalid as ChallengeInvalid
    from firmware.challenge_refusals import SegmentUnavailable as SegmentUnavailable


# Inside this module the refusals are not globals (a module __getattr__ serves attribute
# lookups, not a module's own names): raise _refusal("SegmentUnavailable")(why).
_refusal = __getattr__ = lazy_names(
    __name__, ("firmware.challenge_refusals", ("ChallengeInvalid", "SegmentUnavailable"))
)


# --- ledger payloads -------------------------------------------------------------------------
# The fixed end of a ledger payload: bstr(16) salt, bstr(32) blind, bstr(32) C, bstr(32) T.
_TAIL_LEN = const(119)
# One ledger record per segment (firmware/statement.py writes them, in index order, in the
# ledger period whose id is the statement's period_start):
#     CBOR [record_bytes, salt(16), blind(32, LE), price_commitment(32), trace_commitment(32)]
# record_bytes is the canonical SegmentRecord; its keys 1..3 (index, t_start, t_end) come first.


def record_times(payload):
    """(index, t_start, t_end) of the SegmentRecord inside a ledger payload, from the heads
    only: the trace is not decoded. SegmentUnavailable if the payload is not such an entry."""
    try:
        m, v, i = sealed_files.cbor_head(payload, 0)
        m2, _, i = sealed_files.cbor_head(payload, i)  # bstr head of record_bytes
        m3, n, i = sealed_files.cbor_head(payload, i)
        if (m, v, m2, m3, n) != (4, 5, 2, 5, 12):
            raise _refusal("SegmentUnavailable")("ledger payload does not hold a SegmentRecord")
        out = []
        for key in (1, 2, 3):
            m, k, i = sealed_files.cbor_head(payload, i)
            m2, val, i = sealed_files.cbor_head(payload, i)
            if (m, k, m2) != (0, key, 0):
                raise _refusal("SegmentUnavailable")("SegmentRecord keys 1..3 malformed")
            out.append(val)
    except (IndexError, sealed_files.SealedInvalid):
        raise _refusal("SegmentUnavailable")("ledger payload truncated") from None
    return out[0], out[1], out[2]


def split_payload(payload):
    """[record_bytes, salt, blind, price_commitment, trace_commitment] of a ledger payload:
    CBOR [bstr record, bstr(16), bstr(32), bstr(32), bstr(32)] (accounting.entry_pieces).
    ``payload`` is bytes, or a list of pieces standing for it (Ledger.read ``pieces``): then
    record_bytes is a list of pieces too, and nothing as long as the record is made.
    SegmentUnavailable if the payload is not such an entry."""
    pieces = payload if isinstance(payload, list) else [payload]
    n = 0
    for p in pieces:
        n += len(p)
    head = b"".join(opening.span(pieces, 0, 4))
    tail = b"".join(opening.span(pieces, n - _TAIL_LEN, n))
    try:
        if n < 2 + _TAIL_LEN or head[0] != 0x85 or head[1] >> 5 != 2:
            raise IndexError
        ai = head[1] & 0x1F
        if ai < 24:
            start, length = 2, ai
        elif ai == 24 and head[2] >= 24:
            start, length = 3, head[2]
        elif ai == 25 and head[2]:
            start, length = 4, head[2] << 8 | head[3]
        else:
            raise IndexError
        if start + length + _TAIL_LEN != n or tail[0] != 0x50:
            raise IndexError
        for at in (17, 51, 85):
            if tail[at] != 0x58 or tail[at + 1] != 32:
                raise IndexError
    except IndexError:
        raise _refusal("SegmentUnavailable")("ledger payload malformed") from None
    if pieces is payload:
        rec = opening.span(pieces, start, start + length)
    else:
        rec = payload[start : start + length]
    return [rec, tail[1:17], tail[19:51], tail[53:85], tail[87:119]]


def cursor_ok(cursor):
    """Whether a next-page cursor can go into our request line as it is: 1..64 characters
    unreserved in a URI (RFC 3986), so no escaping and no header or line injection."""
    if not 0 < len(cursor) <= _MAX_CURSOR_LEN:
        return False
    for c in cursor:
        if c not in _CURSOR_CHARS:
            return False
    return True


class _PageBuffer:
    """The response sink for one challenge page: the body in a bytearray that grows as it
    arrives, as far as ``limit`` (BadResponse beyond), and the envelopes found in it. Kept
    as received: no copy of the whole page, no decoded list."""

    def __init__(self, limit):
        self.buf = bytearray()
        self.limit = limit

    def write(self, data):
        if len(self.buf) + len(data) > self.limit:
            raise uplink.BadResponse("challenge page over %d bytes" % self.limit)
        self.buf.extend(data)

    def value(self):
        return bytes(self.buf)

    def items(self):
        """An iterator over the byte strings of the CBOR array in the buffer, each copied out
        when reached. The whole array is checked first: BadResponse unless it is exactly one
        definite-length array of byte strings."""
        body = memoryview(self.buf)
        try:
            major, count, i = sealed_files.cbor_head(body, 0)
            if major != 4:
                raise sealed_files.SealedInvalid("not an array")
            start = i
            for _ in range(count):
                major, k, i = sealed_files.cbor_head(body, i)
                if major != 2:
                    raise sealed_files.SealedInvalid("an item is not a byte string")
                i += k
            if i != len(body):
                raise sealed_files.SealedInvalid("not one array")
        except (IndexError, sealed_files.SealedInvalid) as e:
            raise uplink.BadResponse(
                "challenge page is not a CBOR array of envelopes: %s" % e
            ) from None
        return self._envelopes(start, count)

    def _envelopes(self, i, count):
        body = memoryview(self.buf)
        for _ in range(count):
            _, k, i = sealed_files.cbor_head(body, i)
            yield bytes(body[i : i + k])
            i += k


class _Remembered:
    """Handled challenge ids with their outcome, in one small file replaced atomically."""

    def __init__(self, path):
        self.path = path
        self.data = atomic.read_file(path, b"")

    def outcome(self, cid):
        d = self.data
        n = message_base.CHALLENGE_ID_LEN
        for off in range(0, len(d) - n, n + 1):  # entries of the id and a code byte
            if d[off : off + n] == cid:
                code = d[off + n]
                return _CODES[code - 1] if 1 <= code <= len(_CODES) else REFUSED
        return None

    def add(self, cid, outcome):
        keep = (MAX_REMEMBERED - 1) * (message_base.CHALLENGE_ID_LEN + 1)
        d = self.data[-keep:] if len(self.data) > keep else self.data
        self.data = d + cid + bytes((_CODES.index(outcome) + 1,))
        atomic.atomic_write(self.path, self.data)


class ChallengeResponder:
    """Polls for challenges and answers them (module docstring).

    ``client`` an HttpClient; ``signer`` the OBU's p256.Signer (signs requests and openings);
    ``authority`` the authority's public key(s) or a resolve_key callable; ``clock.now()``
    GNSS Unix time or None; ``store`` the firmware.ledger.Store holding the periods;
    ``files`` a StatementFiles; ``open_period(period_id)`` may replace the ledger lookup;
    ``page_size`` challenges asked for per request, ``max_pages`` requests per run.
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
        status=None,
        open_period=None,
        page_size=PAGE_SIZE,
        max_pages=MAX_PAGES,
    ):
        self.client = client
        self.signer = signer
        self.obu_id = obu_id
        self.clock = clock
        self.store = store
        self.rng = rng if rng is not None else os.urandom
        self.files = files if files is not None else sealed_files.StatementFiles(root)
        self.status = status
        self._open_period = open_period
        self._resolve = authority if callable(authority) else uplink.authority_resolver(authority)
        self._dir = root + "/challenges"
        self._pending = self._dir + "/pending"
        atomic.ensure_dir(self._pending)
        self._done = _Remembered(self._dir + "/answered.bin")
        self.page_size = page_size
        self.max_pages = max_pages
        self.last_error = None
        self.handled = 0  # challenges handled by the last run (and resent openings)
        self.answered = 0  # of which answered
        self._last = None  # the last outcome of this run
        self._collect = True

    # --- the loop ---------------------------------------------------------------------------
    def run(self, collect=True):
        """Resend unanswered openings, then fetch the open challenges page by page, handling
        each page before asking for the next, at most ``max_pages`` pages. Returns the list of
        (challenge_id, outcome); ``collect=False`` keeps no list (it grows with every handled
        challenge, up to ``max_pages × page_size``) and returns []: the counts are in
        ``handled`` and ``answered`` either way. ``last_error`` holds the uplink.UplinkError that
        cut the run short. A deferral (no GNSS time, an opening the network did not take) ends
        the run: the rest would only wait for the same timeout; it comes again next time."""
        self.last_error = None
        self.handled = 0
        self.answered = 0
        self._last = None
        self._collect = collect
        out = []
        try:
            for res in self.resend_pending():
                self._count(res)
                if collect:
                    out.append(res)
            if self._last == DEFERRED:
                return out  # the backend is unreachable: poll next time
            cursor = None
            for _ in range(self.max_pages):
                cursor = self._answer_page(cursor, out)
                if cursor is None:
                    break
        except uplink.UplinkError as e:
            self.last_error = e
        return out

    def _count(self, res):
        self.handled += 1
        if res[1] == ANSWERED:
            self.answered += 1
        self._last = res[1]

    def _answer_page(self, cursor, out):
        """Fetch one page and handle it (results counted, and collected in ``out``); the next
        page's cursor, or None to stop."""
        page, next_cursor = self.fetch_page(cursor)
        count = 0
        for env in page:
            count += 1
            res = self.handle(env)
            self._count(res)
            if self._collect:
                out.append(res)
            if res[1] == DEFERRED:
                return None
        if not count or next_cursor == cursor:
            return None  # no progress: a confused backend must not keep us asking
        return next_cursor

    def fetch_page(self, cursor=None):
        """One page of the Challenge envelopes the backend holds for us: (an iterator over
        them as bytes, the next page's cursor or None when this is the last page).

        The body stays as it arrived, and the iterator copies out one envelope at a time: a
        run holds one page and one envelope, never a list; the previous page is let go before
        the next one is asked for."""
        target = "%s?limit=%d" % (uplink.PATH_CHALLENGES, self.page_size)
        if cursor is not None:
            target += "&cursor=" + cursor
        path = self.client.base_path + target
        hdrs = signed_headers(self.signer, "GET", path, b"", self.clock.now(), self.rng)
        buf = _PageBuffer(self.page_size * _MAX_ENVELOPE_BYTES + 16)
        resp = self.client.request("GET", target, headers=hdrs, sink=buf)
        if not resp.ok:
            resp.body = buf.value()  # the JSON error, for its code
            raise resp.error()
        next_cursor = resp.header(uplink.NEXT_CURSOR_HEADER.lower())
        if next_cursor is not None and not cursor_ok(next_cursor):
            raise uplink.BadResponse(
                "%s is not a cursor we can send back" % uplink.NEXT_CURSOR_HEADER
            )
        if resp.status == 204 or not buf.buf:
            return (), None
        return buf.items(), next_cursor

    def handle(self, envelope):
        """Verify one Challenge envelope and answer it; return (challenge_id, outcome)."""
        try:
            ch, _ = envelopes.open_message(envelope, Challenge, self._resolve, labels.CTY_CHALLENGE)
        except ProtocolError:
            return (None, REFUSED)  # not from the authority: not worth remembering
        cid = ch.challenge_id
        done = self._done.outcome(cid)
        if done is not None or atomic.exists(self._pending_path(cid)):
            return (cid, ALREADY)
        if ch.obu_id != self.obu_id:
            return (cid, self._remember(cid, REFUSED))
        now = self.clock.now()
        if now is None:
            return (cid, DEFERRED)  # cannot judge the deadline without GNSS time
        if now > ch.deadline:
            return (cid, self._remember(cid, EXPIRED))
        try:
            opening = self.build_opening(ch)
        except ValueError as e:  # the refusals are ValueErrors; anything else goes on up
            from firmware.challenge_refusals import ChallengeInvalid, SegmentUnavailable

            if isinstance(e, ChallengeInvalid):
                return (cid, self._remember(cid, REFUSED))
            if isinstance(e, SegmentUnavailable):
                return (cid, self._remember(cid, UNAVAILABLE))
            raise
        atomic.atomic_write(self._pending_path(cid), opening)
        del opening
        return (cid, self._post(cid, now))

    def resend_pending(self):
        """POST the openings built earlier whose answer did not arrive; same bytes again."""
        out = []
        for name in os.listdir(self._pending):
            if not name.endswith(".cose"):
                continue
            cid = bytes.fromhex(name[:-5])
            out.append((cid, self._post(cid, self.clock.now())))
            if out[-1][1] == DEFERRED:
                break  # the network is down: leave the rest for the next run
        return out

    # --- building the answer ------------------------------------------------------------
    def build_opening(self, ch):
        """The signed Opening for a verified Challenge ``ch``: its COSE bytes as a list of
        pieces, none as long as the record (written to the pending file one by one)."""
        seq = ch.statement_seq
        try:
            sealed = self.files.sealed(seq)
        except sealed_files.SealedInvalid:
            self._fault()
            raise _refusal("SegmentUnavailable")("statement %d is damaged on flash" % seq) from None
        if sealed is None:
            raise _refusal("SegmentUnavailable")("statement %d is not on this unit" % seq)
        if sealed.obu_id != self.obu_id:
            raise _refusal("ChallengeInvalid")("statement %d names another OBU" % seq)
        found = self.find_segment(ch, sealed)
        if found is None:
            payload = opening.opening_payload(ch.challenge_id, self.obu_id, seq)
        else:
            index, ledger_payload = found  # in pieces: the record is never whole in RAM
            rec, salt, blind, price_c, trace_c = split_payload(ledger_payload)
            # The opening must open the statement's pair i; if the ledger disagrees, sending
            # it would only prove the unit broken: report instead.
            if not opening.opens_pair(index, rec, salt, price_c, trace_c, sealed.commitment(index)):
                self._fault()
                raise _refusal("SegmentUnavailable")(
                    "ledger segment %d disagrees with statement" % index
                )
            payload = opening.opening_payload(
                ch.challenge_id, self.obu_id, seq, index, rec, salt, blind
            )
        return cose.sign1(payload, self.signer, labels.CTY_OPENING, pieces=True)

    def find_segment(self, ch, sealed):
        """(index, ledger payload) of the challenged segment, or None if none covers."""
        count = sealed.segment_count
        if ch.kind == message_base.CHALLENGE_INDEX and ch.segment_index >= count:
            raise _refusal("ChallengeInvalid")("segment %d of %d" % (ch.segment_index, count))
        if count == 0:
            return None
        log = self._period(sealed.period_start)
        try:
            if log.count < count:
                raise _refusal("SegmentUnavailable")(
                    "ledger holds %d of %d segments" % (log.count, count)
                )
            if ch.kind == message_base.CHALLENGE_INDEX:
                return ch.segment_index, log.read(ch.segment_index, True)
            at = ch.at_time
            i = 0
            # the times are in the first bytes: each record's head only, the covering one whole
            for head in log.heads():
                if i >= count:
                    break
                _, t_start, t_end = record_times(head)
                if t_start <= at <= t_end:
                    return i, log.read(i, True)  # the first (lowest) index that covers wins
                i += 1
            return None
        except LedgerError:
            self._fault()
            raise _refusal("SegmentUnavailable")(
                "ledger of period %d unreadable" % sealed.period_start
            ) from None

    def _period(self, period_id):
        if self._open_period is not None:
            log = self._open_period(period_id)
        elif self.store is not None and period_id in self.store.periods():
            try:
                log = self.store.open(period_id)
            except LedgerError:
                self._fault()
                log = None
        else:
            log = None  # Store.open would create an empty period: never for a lookup
        if log is None:
            raise _refusal("SegmentUnavailable")("ledger period %d is gone" % period_id)
        return log

    # --- sending ------------------------------------------------------------------------
    def _post(self, cid, now):
        # The opening is streamed from its pending file (the same bytes at every try), and
        # hashed from it for the signed request: never whole in RAM.
        path = self.client.base_path + uplink.PATH_OPENINGS
        file = self._pending_path(cid)
        try:
            size = atomic.file_size(file)
            digest = sealed_files.file_sha256(file, bytearray(128))
            hdrs = signed_headers(self.signer, "POST", path, None, now, self.rng, digest)
            with open(file, "rb") as f:
                self.client.request(
                    "POST", uplink.PATH_OPENINGS, f, size, uplink.MEDIA_COSE, hdrs
                ).raise_for_status()
        except uplink.HttpError as e:
            if not e.permanent:
                self.last_error = e
                return DEFERRED
            self.last_error = e
            outcome = REJECTED
        except uplink.UplinkError as e:  # ClockUnknown among them
            self.last_error = e
            return DEFERRED
        else:
            outcome = ANSWERED
        self._remember(cid, outcome)
        atomic.remove(self._pending_path(cid))
        return outcome

    def _pending_path(self, cid):
        return "%s/%s.cose" % (self._pending, cid.hex())

    def _remember(self, cid, outcome):
        self._done.add(cid, outcome)
        return outcome

    def _fault(self):
        if self.status is not None:
            self.status.set_fault(self.status.FAULT_LEDGER)
