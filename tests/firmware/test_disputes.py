"""Disputes on the unit (firmware/disputes.py): verify the authority's request, wait for the
driver's confirmation, then stream every opening of the period in resumable batches.

The privacy invariant is checked on the wire: every byte the unit sends (FakeNet) is searched
for the period's trace coordinates and times; none may appear before a verified request AND the
driver's yes. Runs under CPython (pytest) and the MicroPython unix port (tests/contract/mp_run.py).
"""

import errno
import io
import os

from firmware import disputes as dm
from firmware import ledger
from firmware import status as st
from firmware.board.confirm import ButtonConfirm
from firmware.board.host import ConfirmAll, FileConfirm
from firmware.disputes import CTY_DISPUTE_REQUEST, DisputeHandler
from firmware.ledger import atomic
from firmware.uplink.http import HttpClient
from protocol import cbor, cose, labels, messages, verify
from protocol.hashing import sha256
from tests.firmware.uplink_fixtures import (
    DEC_2026,
    DRIVE_T0,
    HOST,
    OBU_ID,
    PORT,
    Clock,
    FakeNet,
    FakeStream,
    Rng,
    authority_signer,
    b64url_decode,
    build_statement,
    json_error,
    obu_signer,
    other_signer,
    response,
    rmtree,
    segment_record,
    split_request,
    tmpdir,
    trace_secrets,
)

DID = bytes(range(40, 56))
DID2 = bytes(range(60, 76))
NOW = DEC_2026 + 300
PATH = "/api/v1/obu/disputes"


# --- helpers ---------------------------------------------------------------------------------
def request_env(did=DID, seq=0, count=4, obu_id=OBU_ID, signer=None, cty=CTY_DISPUTE_REQUEST,
                payload=None):  # fmt: skip
    """An authority-signed dispute request (SPEC §8.1), or a forged variant."""
    if payload is None:
        payload = cbor.encode({1: did, 2: obu_id, 3: seq, 4: count, 5: DEC_2026 + 100})
    return cose.sign1(payload, signer if signer is not None else authority_signer(), cty)


def listing(*envs):
    return response(200, cbor.encode(list(envs)), "application/cbor")


def accepted(received=1, complete=False):
    body = '{"received": %d, "repeated": 0, "failed": 0, "complete": %s}' % (
        received,
        "true" if complete else "false",
    )
    return response(200, body.encode(), "application/json")


class Answers:
    """A confirmation input whose answers the test sets; records what it was asked."""

    def __init__(self, verdict=None):
        self.verdict = verdict
        self.asked = []

    def ask(self, d):
        self.asked.append(d.dispute_id)

    def answer(self, d):
        return self.verdict


def _setup(records=None, seq=0):
    root = tmpdir()
    built = build_statement(root, seq, records=records)
    return root, built


def _handler(root, net, confirm=None, policy="ask", status=None, clock=None, **kw):
    return DisputeHandler(
        root,
        HttpClient(HOST, PORT, connect=net),
        obu_signer(),
        OBU_ID,
        authority_signer().public_key(),
        clock if clock is not None else Clock(),
        store=ledger.Store(root),
        rng=Rng(b"nonce"),
        confirm=confirm,
        policy=policy,
        status=status,
        **kw,
    )


def _obu_resolve(kid):
    s = obu_signer()
    return s.public_key() if kid == s.kid else None


def _check_signed(hdrs, method, path, body, now=NOW):
    env = b64url_decode(hdrs["qm-signed-request"])
    s1 = cose.verify_sign1(env, _obu_resolve, labels.CTY_REQUEST)
    m = cbor.decode(s1.payload)
    assert (m[1], m[2], m[3], m[4]) == (method, path, sha256(body), now)


def _uploads(net, did=DID):
    """The upload requests on the wire: [(request bytes, [Opening...])], checked in full."""
    path = "%s/%s/openings" % (PATH, did.hex())
    out = []
    for raw in net.sent():
        line, hdrs, body = split_request(raw)
        if not line.startswith("POST "):
            continue
        assert line == "POST %s HTTP/1.1" % path, line
        assert hdrs["content-type"] == "application/cbor"
        assert int(hdrs["content-length"]) == len(body)
        _check_signed(hdrs, "POST", path, body)
        items = cbor.decode(body)
        ops = []
        for env in items:
            s1 = cose.verify_sign1(env, _obu_resolve, labels.CTY_OPENING)
            ops.append(messages.Opening.decode(s1.payload))
        out.append((raw, body, ops))
    return out


def _check_openings(ops, built, did=DID):
    """Each opening answers "open segment i" of the statement and opens its commitments."""
    for op in ops:
        ch = messages.Challenge(did, OBU_ID, built.statement.seq, 1, None, op.segment_index, NOW)
        verify.check_opening_answers(op, ch, built.statement)
        verify.check_commitments(op, built.statement)
        assert op.record == built.records[op.segment_index]


def _nothing_of_the_period(net, built):
    wire = net.wire()
    for needle in trace_secrets(built.records):
        assert wire.find(needle) < 0, needle
    assert wire.find(b"POST ") < 0
    for rec in built.records:
        assert wire.find(rec.encode()) < 0


def _state(root, did=DID):
    data = atomic.read_file("%s/disputes/%s.st" % (root, did.hex()))
    return None if data is None else dm.Dispute.from_bytes(data)


def _batch_files(root):
    return sorted(n for n in os.listdir(root + "/disputes") if ".b" in n)


# --- fetching --------------------------------------------------------------------------------
def test_poll_is_a_signed_get_and_404_means_a_backend_without_disputes():
    root, _ = _setup()
    try:
        net = FakeNet(json_error(404, "not_found"), listing())
        h = _handler(root, net)
        assert h.run() == [] and h.last_error is None
        line, hdrs, body = split_request(net.sent()[0])
        assert line == "GET /api/v1/obu/disputes HTTP/1.1" and body == b""
        _check_signed(hdrs, "GET", PATH, b"")
        assert h.run() == [] and h.last_error is None and len(net.streams) == 2
    finally:
        rmtree(root)


def test_without_gnss_time_nothing_is_fetched():
    root, _ = _setup()
    try:
        net = FakeNet()
        h = _handler(root, net, clock=Clock(None))
        assert h.run() == [] and h.last_error.code == "clock_unknown" and net.calls == []
    finally:
        rmtree(root)


def test_a_server_error_is_kept_and_nothing_else_happens():
    root, _ = _setup()
    try:
        net = FakeNet(json_error(503, "unavailable"))
        h = _handler(root, net, confirm=ConfirmAll())
        assert h.run() == [] and h.last_error.status == 503 and len(net.streams) == 1
    finally:
        rmtree(root)


# --- verification ----------------------------------------------------------------------------
def test_requests_that_do_not_verify_are_dropped_unremembered():
    root, built = _setup()
    try:
        forged = (
            request_env(signer=other_signer()),  # not the authority
            request_env(signer=obu_signer()),
            request_env(cty=labels.CTY_CHALLENGE),  # the authority's, but another kind
            request_env(payload=cbor.encode({1: DID, 2: OBU_ID, 3: 0, 4: 4})),  # a key short
            request_env(payload=cbor.encode({1: DID, 2: OBU_ID, 3: 0, 4: 4, 5: 1, 6: 0})),
            request_env(payload=cbor.encode({1: DID[:8], 2: OBU_ID, 3: 0, 4: 4, 5: 1})),
            request_env(payload=cbor.encode({1: DID, 2: OBU_ID, 3: -1, 4: 4, 5: 1})),
            request_env(payload=cbor.encode([DID, OBU_ID, 0, 4, 1])),
            request_env(payload=b"\x18\x01"),  # non-canonical CBOR
            b"\xd2\x84not cose",
        )
        for env in forged:
            net = FakeNet(listing(env))
            h = _handler(root, net, confirm=ConfirmAll(), policy="auto")
            assert h.run() == [], env
            assert len(net.streams) == 1 and os.listdir(root + "/disputes") == []
            _nothing_of_the_period(net, built)
    finally:
        rmtree(root)


def test_verified_requests_that_do_not_match_a_held_statement_are_never_opened():
    root, built = _setup()
    try:
        cases = (
            (request_env(DID, obu_id="OBU-0002"), dm.REFUSED),  # another unit's
            (request_env(DID, seq=7), dm.REFUSED),  # a statement this unit never sealed
            (request_env(DID, count=3), dm.REFUSED),  # not the statement's segment count
            (request_env(DID, count=5), dm.REFUSED),
        )
        for env, state in cases:
            net = FakeNet(listing(env), listing(env))
            answers = Answers(True)
            h = _handler(root, net, confirm=answers)
            [d] = h.run()
            assert (d.state, d.reason) == (state, "dispute_invalid"), d
            assert answers.asked == []  # the driver is not even asked
            assert h.run()[0].state == state  # remembered, not retried
            _nothing_of_the_period(net, built)
            rmtree(root + "/disputes")
    finally:
        rmtree(root)


def test_a_period_without_segments_is_not_opened():
    root, built = _setup(records=[])
    try:
        net = FakeNet(listing(request_env(count=0)))
        [d] = _handler(root, net, confirm=ConfirmAll()).run()
        assert d.state == dm.REFUSED and len(net.streams) == 1
    finally:
        rmtree(root)


def test_a_period_whose_records_are_gone_is_unavailable():
    root, built = _setup()
    try:
        ledger.Store(root).destroy(built.statement.period_start)  # retention purged it
        net = FakeNet(listing(request_env()))
        [d] = _handler(root, net, confirm=ConfirmAll()).run()
        assert (d.state, d.reason) == (dm.UNAVAILABLE, "period_unavailable")
        assert len(net.streams) == 1
    finally:
        rmtree(root)


# --- the driver's confirmation ---------------------------------------------------------------
def test_an_unconfirmed_dispute_waits_sends_nothing_and_shows_on_the_status():
    root, built = _setup()
    try:
        status = st.Status()
        status.set_fix(True)
        out = io.StringIO()
        status.outputs.append(st.TextStatus(out))
        env = request_env()
        net = FakeNet(listing(env), listing(env), listing(env))
        answers = Answers(None)
        h = _handler(root, net, confirm=answers, status=status)
        for _ in range(3):  # sync after sync: still waiting
            [d] = h.run()
            assert d.state == dm.WAITING and h.last_error is None
        assert answers.asked == [DID, DID, DID]
        assert (d.statement_seq, d.segment_count, d.next_index) == (0, 4, 0)
        assert (d.period_start, d.period_end, d.consent_at) == (
            built.statement.period_start,
            built.statement.period_end,
            DEC_2026 + 100,
        )
        assert status.state() == st.STATE_DISPUTE_WAITING
        assert "dispute waiting for confirmation" in st.render(status)
        assert out.getvalue().splitlines()[-1].endswith("| dispute waiting for confirmation")
        assert len(net.streams) == 3
        _nothing_of_the_period(net, built)
        # Without any input at all (policy ask), the same.
        net = FakeNet(listing(env))
        assert _handler(root, net).run()[0].state == dm.WAITING
        _nothing_of_the_period(net, built)
    finally:
        rmtree(root)


def test_a_declined_dispute_is_never_opened():
    root, built = _setup()
    try:
        env = request_env()
        status = st.Status()
        net = FakeNet(listing(env), listing(env), listing(env))
        answers = Answers(None)
        h = _handler(root, net, confirm=answers, status=status)
        assert h.run()[0].state == dm.WAITING and status.disputes_waiting == 1
        answers.verdict = False
        [d] = h.run()
        assert (d.state, d.reason, d.answered_at) == (dm.DECLINED, "driver", NOW)
        assert status.disputes_waiting == 0 and status.state() != st.STATE_DISPUTE_WAITING
        answers.verdict = True  # a later yes does not reopen the question
        assert h.run()[0].state == dm.DECLINED
        _nothing_of_the_period(net, built)
    finally:
        rmtree(root)


def test_policy_never_declines_and_policy_auto_confirms_without_asking():
    root, built = _setup()
    try:
        answers = Answers(True)
        net = FakeNet(listing(request_env()))
        [d] = _handler(root, net, confirm=answers, policy="never").run()
        assert (d.state, d.reason) == (dm.DECLINED, "policy_never") and answers.asked == []
        _nothing_of_the_period(net, built)
        rmtree(root + "/disputes")
        net = FakeNet(listing(request_env()), accepted(4, True))
        [d] = _handler(root, net, confirm=None, policy="auto").run()
        assert (d.state, d.reason) == (dm.OPENED, "policy_auto")
    finally:
        rmtree(root)


def test_a_waiting_dispute_the_backend_drops_is_withdrawn():
    root, built = _setup()
    try:
        net = FakeNet(listing(request_env()), listing())
        h = _handler(root, net, confirm=Answers(None))
        assert h.run()[0].state == dm.WAITING
        [d] = h.run()
        assert d.state == dm.WITHDRAWN
        _nothing_of_the_period(net, built)
    finally:
        rmtree(root)


def test_one_question_at_a_time_oldest_first():
    root, built = _setup()
    try:
        answers = Answers(None)
        clock = Clock()
        net = FakeNet(listing(request_env(DID)))
        h = _handler(root, net, confirm=answers, clock=clock)
        h.run()
        clock.t += 10
        net.add(listing(request_env(DID, count=4), request_env(DID2, count=4)))
        ds = h.run()
        assert [d.state for d in ds] == [dm.WAITING, dm.WAITING]
        assert answers.asked == [DID, DID]
    finally:
        rmtree(root)


# --- uploading -------------------------------------------------------------------------------
def test_confirmed_period_is_uploaded_whole_and_every_opening_verifies():
    root, built = _setup()
    try:
        status = st.Status()
        net = FakeNet(listing(request_env()), accepted(4, True))
        h = _handler(root, net, confirm=ConfirmAll(), status=status)
        [d] = h.run()
        assert h.last_error is None and h.opened == 4
        assert (d.state, d.next_index, d.answered_at, d.done_at) == (dm.OPENED, 4, NOW, NOW)
        [(_raw, body, ops)] = _uploads(net)
        assert [op.segment_index for op in ops] == [0, 1, 2, 3]
        _check_openings(ops, built)
        assert len(body) <= dm.DEFAULT_BATCH_BYTES
        # The driver's record: the request as received and the final state.
        assert atomic.exists("%s/disputes/%s.req" % (root, DID.hex()))
        assert _state(root).state == dm.OPENED and _batch_files(root) == []
        assert dm.records(root)[0].dispute_id == DID
        assert status.disputes_waiting == 0
        # Listed again (the backend still holds it open): nothing more is sent.
        net.add(listing(request_env()))
        assert h.run()[0].state == dm.OPENED and len(net.streams) == 3
        # And now the trace is on the wire: the privacy checks above can fail.
        wire = net.wire()
        assert all(wire.find(rec.encode()) >= 0 for rec in built.records)
    finally:
        rmtree(root)


def test_the_period_goes_in_batches_within_the_byte_bound():
    records = [segment_record(i, DRIVE_T0 + 600 * i, points=12) for i in range(9)]
    root, built = _setup(records=records)
    try:
        net = FakeNet(listing(request_env(count=9)), *[accepted() for _ in range(9)])
        h = _handler(root, net, confirm=ConfirmAll(), batch_bytes=1500, batches_per_sync=20)
        [d] = h.run()
        assert d.state == dm.OPENED and h.opened == 9
        ups = _uploads(net)
        assert len(ups) > 2
        indices = []
        for _raw, body, ops in ups:
            assert len(body) <= 1500
            indices += [op.segment_index for op in ops]
            _check_openings(ops, built)
        assert indices == list(range(9))  # every segment once, in order
    finally:
        rmtree(root)


def test_the_item_size_is_known_before_signing():
    root, built = _setup()
    try:
        h = _handler(root, FakeNet())
        for n in (0, 23, 24, 255, 256, 300, 5000, 70000):
            body = b"\xa1" * n
            env = cose.sign1(body, obu_signer(), labels.CTY_OPENING)
            assert h._item_len(n) == len(cbor.encode(env)), n
    finally:
        rmtree(root)


def test_batches_per_sync_spreads_the_upload_over_syncs():
    records = [segment_record(i, DRIVE_T0 + 600 * i, points=12) for i in range(9)]
    root, built = _setup(records=records)
    try:
        env = request_env(count=9)
        net = FakeNet(listing(env), accepted(), accepted())
        h = _handler(root, net, confirm=ConfirmAll(), batch_bytes=1500, batches_per_sync=2)
        [d] = h.run()
        assert d.state == dm.CONFIRMED and 0 < d.next_index < 9 and len(_uploads(net)) == 2
        while d.state == dm.CONFIRMED:
            net.add(listing(env), accepted(), accepted())
            [d] = h.run()
        assert d.state == dm.OPENED
        indices = [op.segment_index for _r, _b, ops in _uploads(net) for op in ops]
        assert indices == list(range(9))
    finally:
        rmtree(root)


def test_a_failed_upload_is_resent_byte_for_byte_and_accepted_batches_never_again():
    records = [segment_record(i, DRIVE_T0 + 600 * i, points=12) for i in range(6)]
    root, built = _setup(records=records)
    try:
        env = request_env(count=6)
        net = FakeNet(
            listing(env),
            accepted(),  # batch 1 accepted
            FakeStream(b"", fail=OSError(errno.ECONNRESET)),  # batch 2: the answer is lost
        )
        h = _handler(root, net, confirm=ConfirmAll(), batch_bytes=1500, batches_per_sync=10)
        [d] = h.run()
        assert d.state == dm.CONFIRMED and h.last_error.code == "connection_closed"
        first, lost = _uploads(net)
        assert len(_batch_files(root)) == 1
        # A reboot: a new handler, the same files. The lost batch goes again, unchanged.
        net2 = FakeNet(listing(env), *[accepted() for _ in range(6)])
        h2 = _handler(root, net2, confirm=ConfirmAll(), batch_bytes=1500, batches_per_sync=10)
        [d] = h2.run()
        assert d.state == dm.OPENED
        ups = _uploads(net2)
        assert ups[0][1] == lost[1]  # the same body: the backend counts a repeat
        ups.insert(0, first)
        sent = [op.segment_index for _r, _b, ops in ups for op in ops]
        assert sent == list(range(6))
    finally:
        rmtree(root)


def test_a_reset_after_the_acceptance_neither_loses_nor_resends_a_batch():
    records = [segment_record(i, DRIVE_T0 + 600 * i, points=12) for i in range(6)]
    root, built = _setup(records=records)
    try:
        env = request_env(count=6)
        net = FakeNet(listing(env), accepted())
        h = _handler(root, net, confirm=ConfirmAll(), batch_bytes=1500, batches_per_sync=1)
        [d] = h.run()
        [(_raw, body, ops)] = _uploads(net)
        n = len(ops)
        assert d.next_index == n and _batch_files(root) == []
        # Reset between "progress written" and "batch file removed": the file is stale.
        stale = "%s/disputes/%s.b0-%d" % (root, DID.hex(), n)
        atomic.atomic_write(stale, body[1:])
        net2 = FakeNet(listing(env), accepted(), accepted(), accepted(), accepted())
        h2 = _handler(root, net2, confirm=ConfirmAll(), batch_bytes=1500, batches_per_sync=5)
        assert h2.run()[0].state == dm.OPENED
        again = [op.segment_index for _r, _b, ops in _uploads(net2) for op in ops]
        assert again == list(range(n, 6))
        # Reset between "accepted" and "progress written": the stored batch goes again as it
        # is (a marker shows it is not rebuilt: a secure element's signatures would differ).
        rmtree(root + "/disputes")
        net3 = FakeNet(listing(env), accepted())
        h3 = _handler(root, net3, confirm=ConfirmAll(), batch_bytes=1500, batches_per_sync=1)
        h3.run()
        d = _state(root)
        d.next_index = 0
        h3.save(d)
        atomic.atomic_write(stale, b"stored batch bytes")
        net4 = FakeNet(listing(env), accepted())
        _handler(root, net4, confirm=ConfirmAll(), batch_bytes=1500, batches_per_sync=1).run()
        line, hdrs, body = split_request(net4.sent()[1])
        assert body == cbor.head(4, n) + b"stored batch bytes"
        _check_signed(hdrs, "POST", "%s/%s/openings" % (PATH, DID.hex()), body)
        assert _state(root).next_index == n and _batch_files(root) == []
    finally:
        rmtree(root)


def test_backend_answers_close_reject_or_defer_the_upload():
    root, built = _setup()
    try:
        env = request_env()
        for answer, state in (
            (json_error(409, "dispute_closed"), dm.CLOSED),
            (json_error(404, "not_found"), dm.CLOSED),
            (json_error(409, "duplicate_segment"), dm.REJECTED),
            (json_error(422, "challenge_mismatch"), dm.REJECTED),
            (json_error(401, "request_expired"), dm.CONFIRMED),  # the time or nonce: again
            (json_error(503, "unavailable"), dm.CONFIRMED),
        ):
            net = FakeNet(listing(env), answer)
            h = _handler(root, net, confirm=ConfirmAll())
            [d] = h.run()
            assert d.state == state, (answer, d)
            pending = _batch_files(root)
            assert len(pending) == (1 if state == dm.CONFIRMED else 0), pending
            if state == dm.REJECTED:
                assert d.reason == split_request(answer)[2].decode().split('"')[3]
            rmtree(root + "/disputes")
    finally:
        rmtree(root)


def test_a_ledger_that_disagrees_with_the_statement_sends_nothing():
    root, built = _setup()
    other = tmpdir()
    try:
        # The same period sealed from other commitments: the ledger no longer opens it.
        b2 = build_statement(other, 0, rng=Rng(b"other commitments"))
        atomic.atomic_write(root + "/outbox/0.cose", b2.envelope)
        status = st.Status()
        net = FakeNet(listing(request_env()))
        [d] = _handler(root, net, confirm=ConfirmAll(), status=status).run()
        assert (d.state, d.reason) == (dm.UNAVAILABLE, "period_unavailable")
        assert status.faults & st.FAULT_LEDGER and len(net.streams) == 1
        assert _batch_files(root) == []
    finally:
        rmtree(other)
        rmtree(root)


# --- confirmation inputs ---------------------------------------------------------------------
class _D:
    def __init__(self, did):
        self.dispute_id = did
        self.id_hex = did.hex()
        self.statement_seq = 3
        self.segment_count = 12


def test_button_hold_confirms_and_double_press_declines_only_what_was_asked():
    a, b = _D(DID), _D(DID2)
    btn = ButtonConfirm()
    btn.edge(0, 0)
    btn.edge(1, 4000)  # a long press before any question: nothing
    btn.ask(a)
    assert btn.answer(a) is None
    btn.edge(0, 5000)
    btn.edge(1, 5010)  # bounce
    btn.edge(0, 5100)
    btn.edge(1, 7000)  # 1.9 s: not long enough, one short press
    assert btn.answer(a) is None
    btn.edge(0, 9000)
    btn.edge(1, 12100)  # held 3.1 s
    assert btn.answer(b) is None  # an answer belongs to its question
    assert btn.answer(a) is True and btn.answer(a) is None
    btn.ask(b)
    btn.edge(0, 20000)
    btn.edge(1, 20200)
    btn.edge(0, 20600)
    btn.edge(1, 20800)  # two short presses within 1.5 s
    assert btn.answer(b) is False
    btn.ask(a)
    btn.edge(0, 30000)
    btn.edge(1, 30200)
    btn.ask(b)  # the question changed: the half-given answer is forgotten
    btn.edge(0, 30600)
    btn.edge(1, 30800)
    assert btn.answer(b) is None and btn.answer(a) is None


def test_button_irq_reads_the_pin_active_low():
    class Pin:
        level = 1

        def value(self):
            return self.level

    t = [0]
    btn = ButtonConfirm(ticks=lambda: t[0])
    btn.ask(_D(DID))
    pin = Pin()
    pin.level = 0
    btn.irq(pin)
    t[0] = 3500
    pin.level = 1
    btn.irq(pin)
    assert btn.answer(_D(DID)) is True


def test_confirm_file_needs_the_dispute_id_and_is_used_once():
    root = tmpdir()
    try:
        path = root + "/confirm"
        printed = []
        fc = FileConfirm(path, write=printed.append)
        a, b = _D(DID), _D(DID2)
        fc.ask(a)
        fc.ask(a)
        assert len(printed) == 1 and DID.hex() in printed[0] and DID.hex()[:8] in printed[0]
        assert fc.answer(a) is None  # no file
        for text in ("yes", "yes " + DID.hex()[:7], "maybe " + DID.hex(), "yes " + DID2.hex()):
            atomic.atomic_write(path, text.encode())
            assert fc.answer(a) is None, text
        atomic.atomic_write(path, ("no %s\nyes %s\n" % (DID2.hex()[:8], DID.hex())).encode())
        assert fc.answer(a) is True
        assert atomic.read_file(path).decode().strip() == "no " + DID2.hex()[:8]
        assert fc.answer(b) is False and not atomic.exists(path)
    finally:
        rmtree(root)


def test_dispute_waiting_shows_after_faults_and_before_everything_else():
    s = st.Status(overdue_s=86400)
    s.set_fix(True)
    s.set_charging(True)
    s.set_time(DEC_2026 + 2 * 86400)
    s.set_pending(1, DEC_2026)
    assert s.state() == st.STATE_UPLOAD_OVERDUE
    s.set_disputes_waiting(2)
    assert s.state() == st.STATE_DISPUTE_WAITING
    assert st.render(s).endswith("| 2 disputes waiting for confirmation")
    s.set_fault(st.FAULT_LEDGER)
    assert s.state() == st.STATE_FAULT
    s.set_fault(st.FAULT_LEDGER, False)
    s.set_disputes_waiting(0)
    assert s.state() == st.STATE_UPLOAD_OVERDUE and "dispute" not in st.render(s)
    # LEDs: amber blinks (1 Hz); without an amber LED, green and red blink together.
    assert st.LED_PATTERNS[st.STATE_DISPUTE_WAITING] == (st.OFF, st.OFF, st.BLINK)


def test_record_index_reads_the_first_key_of_a_segment_record():
    from firmware.opening import record_index

    for i in (0, 23, 24, 255, 256, 65535, 65536, 0xFFFFFFFF):
        rec = segment_record(0, DRIVE_T0)
        rec.index = i
        assert record_index(rec.encode()) == i, i
    for bad in (
        b"",
        b"\xac\x01",
        b"\xa1\x01\x00",
        b"\xac\x02\x00",
        b"\xac\x01\x1c",
        b"\xac\x01\x19\x01",
    ):
        assert record_index(bad) is None, bad


def test_a_damaged_state_file_makes_the_dispute_unknown_so_the_driver_is_asked_again():
    root, built = _setup()
    try:
        env = request_env()
        answers = Answers(None)
        net = FakeNet(listing(env), listing(env))
        h = _handler(root, net, confirm=answers)
        assert h.run()[0].state == dm.WAITING
        atomic.atomic_write("%s/disputes/%s.st" % (root, DID.hex()), b"\xa1\x01")
        assert dm.records(root) == []
        [d] = h.run()
        assert d.state == dm.WAITING and answers.asked == [DID, DID]
        _nothing_of_the_period(net, built)
    finally:
        rmtree(root)


def test_the_watchdog_is_fed_for_every_opening_and_every_upload():
    root, built = _setup()
    try:
        fed = []
        net = FakeNet(listing(request_env()), accepted(4, True))
        h = _handler(root, net, confirm=ConfirmAll(), feed=lambda: fed.append(1))
        assert h.run()[0].state == dm.OPENED
        assert len(fed) == 4 + 1  # four signatures, one upload
    finally:
        rmtree(root)


def test_dispute_settings_default_to_asking_and_bad_ones_are_named():
    from firmware import config
    from tests.contract.support import raises

    base = {
        "obu_id": "OBU-7",
        "vehicle_class": 2,
        "backend_url": "http://10.0.0.1:8080",
        "authority_public_key": "04" + "11" * 64,
    }
    c = config.Config(base)
    assert (c.dispute_confirm, c.dispute_batch_bytes, c.dispute_batches_per_sync) == (
        "ask",
        dm.DEFAULT_BATCH_BYTES,
        dm.DEFAULT_BATCHES_PER_SYNC,
    )
    for bad, field in (
        ({"confirm": "yes"}, "disputes.confirm"),
        ({"batch_bytes": 100}, "disputes.batch_bytes"),
        ({"batches_per_sync": 0}, "disputes.batches_per_sync"),
    ):
        d = dict(base)
        d["disputes"] = bad
        assert "config." + field in str(raises(config.ConfigError, config.Config, d)), bad
    d = dict(base)
    d["disputes"] = {"confirm": "never", "batch_bytes": 4096, "batches_per_sync": 1}
    c = config.Config(d)
    assert (c.dispute_confirm, c.dispute_batch_bytes, c.dispute_batches_per_sync) == (
        "never",
        4096,
        1,
    )
