"""Statement submission (firmware/uplink/outbox.py, sealed.py): receipts, retries, backoff.

Runs under CPython (pytest) and the MicroPython unix port (tests/contract/mp_run.py).
"""

import errno

from firmware import status as st
from firmware.uplink import ReceiptInvalid
from firmware.uplink.http import HttpClient
from firmware.uplink.outbox import Backoff, Outbox, verify_receipt
from firmware.uplink.sealed import (
    PAIR_LEN,
    SealedInvalid,
    StatementFiles,
    read_sealed,
    statement_hash_of,
)
from protocol import envelopes, labels, messages
from tests.contract.support import raises
from tests.firmware.uplink_fixtures import (
    DEC_2026,
    HOST,
    OBU_ID,
    PORT,
    Clock,
    FakeNet,
    FakeStream,
    Rng,
    Ticks,
    authority_signer,
    build_statement,
    json_error,
    other_signer,
    receipt_for,
    response,
    rmtree,
    tmpdir,
    trace_secrets,
)

_cache = {}


def _two_statements():
    """Two chained statements (4 and 2 segments), built once and copied per test."""
    if "built" not in _cache:
        root = tmpdir()
        b0 = build_statement(root, 0)
        b1 = build_statement(root, 1, b0.hash, b0.records[:2])
        _cache["built"] = (b0, b1, receipt_for(b0), receipt_for(b1))
        rmtree(root)
    return _cache["built"]


def _setup(n=2):
    b0, b1, r0, r1 = _two_statements()
    root = tmpdir()
    from firmware.ledger import atomic

    atomic.ensure_dir(root + "/outbox")
    for b in (b0, b1)[:n]:
        atomic.atomic_write("%s/outbox/%d.cose" % (root, b.statement.seq), b.envelope)
    return root, b0, b1, r0, r1


def _outbox(root, net, clock=None, status=None, rng=None, ticks=None):
    client = HttpClient(HOST, PORT, connect=net)
    clock = clock if clock is not None else Clock()
    return Outbox(
        root,
        client,
        authority_signer().public_key(),
        clock,
        rng=rng if rng is not None else Rng(b"jitter"),
        status=status,
        ticks=ticks,
    )


def _post_bytes(envelope):
    return (
        b"POST /api/v1/statements HTTP/1.1\r\n"
        b"Host: backend.test:8000\r\n"
        b"Content-Type: application/cose\r\n"
        b"Content-Length: %d\r\n"
        b"Connection: close\r\n\r\n" % len(envelope)
    ) + envelope


# --- sealed files ----------------------------------------------------------------------------
def test_the_largest_statement_header_fits_the_prefix_read_sealed_reads():
    """read_sealed parses the header from one bounded read of the file's start: every field at
    its largest (64-character OBU id, 16 policy ids, the widest integers) still fits it."""
    from protocol.message_base import MAX_OBU_ID_LEN, MAX_TIME, POLICY_ID_LEN
    from tests.firmware.uplink_fixtures import obu_signer

    stmt = messages.Statement(
        "O" * MAX_OBU_ID_LEN,
        0xFFFFFFFF,
        b"\xff" * 32,
        MAX_TIME - 1,
        MAX_TIME,
        [bytes([i]) * POLICY_ID_LEN for i in range(16)],
        0xFFFFFFFFFFFFFFFF,
        b"\xee" * 32,
        [(b"\x01" * 32, b"\x02" * 32)],
    )
    env = envelopes.sign_statement(stmt, obu_signer())
    root = tmpdir()
    try:
        path = root + "/0.cose"
        with open(path, "wb") as f:
            f.write(env)
        s = read_sealed(path)
        assert (s.obu_id, s.seq, s.segment_count) == ("O" * MAX_OBU_ID_LEN, 0xFFFFFFFF, 1)
        assert s.total_price_micro == 0xFFFFFFFFFFFFFFFF
    finally:
        rmtree(root)


def test_sealed_header_is_read_from_the_file_prefix():
    root, b0, _, _, _ = _setup(1)
    try:
        s = read_sealed(root + "/outbox/0.cose")
        stmt = b0.statement
        assert (s.obu_id, s.seq, s.segment_count) == (OBU_ID, 0, 4)
        assert (s.period_start, s.period_end) == (stmt.period_start, stmt.period_end)
        assert s.total_price_micro == stmt.total_price_micro
        assert s.size == len(b0.envelope)
        assert s.pairs_offset + 4 * PAIR_LEN + 66 == s.size
        for i in range(4):
            assert s.commitment(i) == stmt.commitments[i]
        raises(IndexError, s.commitment, 4)
        assert statement_hash_of(s.path, bytearray(100)) == b0.hash
    finally:
        rmtree(root)


def test_damaged_sealed_files_are_detected():
    root, b0, _, _, _ = _setup(1)
    try:
        path = root + "/outbox/0.cose"
        from firmware.ledger import atomic

        for bad in (b0.envelope[:-1], b0.envelope + b"\x00", b"\x84" + b0.envelope[1:], b""):
            atomic.atomic_write(path, bad)
            raises(SealedInvalid, read_sealed, path)
    finally:
        rmtree(root)


def test_statement_files_list_and_acknowledge():
    root, b0, b1, r0, _ = _setup(2)
    try:
        files = StatementFiles(root)
        assert files.sealed_seqs() == [0, 1] and files.unacknowledged() == [0, 1]
        files.store_receipt(0, r0)
        assert files.has_receipt(0) and files.receipt(0) == r0
        assert files.unacknowledged() == [1]
        assert files.sealed(7) is None
    finally:
        rmtree(root)


# --- receipts --------------------------------------------------------------------------------
def test_receipt_must_verify_and_match_the_statement():
    root, b0, _, r0, _ = _setup(1)
    try:
        s = read_sealed(root + "/outbox/0.cose")
        resolve = _outbox(root, FakeNet())._resolve
        assert verify_receipt(r0, resolve, s, b0.hash).seq == 0
        forged = (
            receipt_for(b0, other_signer()),
            receipt_for(b0, statement_hash=bytes(32)),
            receipt_for(b0, seq=1),
            receipt_for(b0, obu_id="OBU-9999"),
            receipt_for(b0, total_price_micro=b0.statement.total_price_micro - 1),
            receipt_for(b0, segment_count=3),
            # the right signer but the wrong content type: a Challenge-typed envelope
            envelopes.sign_message(
                messages.Receipt.decode(envelopes.cose.decode_sign1(r0).payload),
                authority_signer(),
                labels.CTY_CHALLENGE,
            ),
            b"\xd2\x84garbage",
        )
        for bad in forged:
            raises(ReceiptInvalid, verify_receipt, bad, resolve, s, b0.hash)
    finally:
        rmtree(root)


# --- the submission loop ---------------------------------------------------------------------
def test_statements_go_up_in_order_and_receipts_are_kept():
    root, b0, b1, r0, r1 = _setup(2)
    try:
        net = FakeNet(response(201, r0), response(201, r1))
        status = st.Status()
        ob = _outbox(root, net, status=status)
        assert ob.run() == 2 and ob.last_error is None
        assert net.sent() == [_post_bytes(b0.envelope), _post_bytes(b1.envelope)]
        files = StatementFiles(root)
        assert files.receipt(0) == r0 and files.receipt(1) == r1
        assert ob.pending() == [] and ob.failures == 0
        assert ob.last_result == (DEC_2026 + 300, "ok")
        assert status.pending == 0 and status.last_upload_ok and status.faults == 0
        # Nothing left: the next run opens no connection.
        assert ob.run() == 0 and len(net.streams) == 2
    finally:
        rmtree(root)


def test_lost_answer_is_retried_after_backoff_and_gets_the_same_receipt():
    root, b0, _, r0, _ = _setup(1)
    try:
        clock = Clock()
        # The backend stored the statement, but the connection broke before the receipt came.
        net = FakeNet(FakeStream(b"", fail=OSError(errno.ECONNRESET)))
        ob = _outbox(root, net, clock)
        assert ob.run() == 0 and ob.last_error.code == "connection_closed"
        assert ob.failures == 1 and ob.pending() == [0]
        wait = ob.next_at - clock.t
        assert 15 <= wait < 45  # 30 s ± 50 %
        clock.t += wait - 1
        assert ob.run() == 0 and len(net.streams) == 1  # still backing off: no connection
        clock.t += 1
        net.add(response(200, r0))  # "already accepted": the original receipt
        assert ob.run() == 1
        assert net.sent()[0] == net.sent()[1] == _post_bytes(b0.envelope)
        assert StatementFiles(root).receipt(0) == r0 and ob.failures == 0 and ob.next_at == 0
    finally:
        rmtree(root)


def test_a_receipt_under_another_key_is_refused_and_retried():
    root, b0, _, r0, _ = _setup(1)
    try:
        clock = Clock()
        status = st.Status()
        net = FakeNet(response(201, receipt_for(b0, other_signer())))
        ob = _outbox(root, net, clock, status)
        assert ob.run() == 0 and isinstance(ob.last_error, ReceiptInvalid)
        assert not StatementFiles(root).has_receipt(0)
        assert ob.failures == 1 and ob.last_result[1] == "receipt_invalid"
        assert status.faults & st.FAULT_RECEIPT_INVALID
        clock.t = ob.next_at
        net.add(response(200, r0))
        assert ob.run() == 1 and status.faults == 0
    finally:
        rmtree(root)


def test_a_4xx_is_recorded_with_its_code_and_blocks_the_chain_until_cleared():
    root, b0, b1, r0, r1 = _setup(2)
    try:
        status = st.Status()
        net = FakeNet(json_error(422, "sum_mismatch"))
        ob = _outbox(root, net, status=status)
        assert ob.run() == 0
        assert ob.rejected == (0, 422, "sum_mismatch") and ob.failures == 0
        assert status.faults & st.FAULT_UPLINK_REJECTED
        assert status.last_upload_code == "sum_mismatch" and not status.last_upload_ok
        # Statement 1 would only fail the chain check: nothing is sent while 0 is rejected.
        assert ob.run() == 0 and len(net.streams) == 1
        # ... also after a reboot.
        ob = _outbox(root, net, status=status)
        assert ob.rejected == (0, 422, "sum_mismatch")
        assert ob.run() == 0 and len(net.streams) == 1
        ob.retry_rejected()
        assert not status.faults & st.FAULT_UPLINK_REJECTED
        net.add(response(201, r0), response(201, r1))
        assert ob.run() == 2 and ob.rejected is None
    finally:
        rmtree(root)


def test_server_errors_and_timeouts_back_off_exponentially_up_to_the_cap():
    root, b0, _, r0, _ = _setup(1)
    try:
        clock = Clock()
        net = FakeNet()
        ob = _outbox(root, net, clock)
        failures = (
            json_error(500, "internal"),
            FakeStream(b"HTTP/1.1 200 OK\r\n", fail=OSError(errno.ETIMEDOUT)),
            OSError(errno.EHOSTUNREACH),
            response(503, b"", None),
            json_error(429, "slow_down"),
        )
        for n in range(1, 16):
            net.add(failures[n % len(failures)])
            assert ob.run() == 0 and ob.rejected is None
            assert ob.failures == n
            d = min(21600, 30 << (n - 1))
            wait = ob.next_at - clock.t
            assert d // 2 <= wait <= min(21600, d + d // 2), (n, wait)
            clock.t = ob.next_at
        assert ob.next_at - clock.t <= 21600
        net.add(response(201, r0))
        assert ob.run() == 1 and ob.failures == 0
    finally:
        rmtree(root)


def test_retry_after_lengthens_the_wait():
    root, _, _, _, _ = _setup(1)
    try:
        clock = Clock()
        ob = _outbox(root, FakeNet(response(503, b"", None, extra=("Retry-After: 3600",))), clock)
        ob.run()
        assert ob.next_at - clock.t == 3600
    finally:
        rmtree(root)


def test_backoff_survives_a_reboot():
    root, _, _, r0, _ = _setup(1)
    try:
        clock = Clock()
        net = FakeNet(OSError(errno.ENOTCONN))
        _outbox(root, net, clock).run()
        again = _outbox(root, net, clock)  # a new instance: as after a reset
        assert again.failures == 1 and not again.due(clock.t)
        assert again.run() == 0 and len(net.calls) == 1
        clock.t = again.next_at
        net.add(response(201, r0))
        assert again.run() == 1
    finally:
        rmtree(root)


def test_without_gnss_time_the_backoff_runs_on_the_monotonic_clock():
    root, _, _, r0, _ = _setup(1)
    try:
        clock = Clock(None)
        ticks = Ticks(1000)
        net = FakeNet(OSError(errno.ENOTCONN))
        ob = _outbox(root, net, clock, ticks=ticks)
        assert ob.run() == 0 and ob.failures == 1 and ob.next_at == 0
        assert ob.last_result == (None, "connect_failed")
        assert ob.run() == 0 and len(net.calls) == 1
        ticks.ms += 45000  # beyond 30 s + 50 %
        net.add(response(201, r0))
        assert ob.run() == 1
    finally:
        rmtree(root)


def test_backoff_delays_stay_within_jitter_bounds():
    lo = Backoff(lambda n: b"\x00" * n)
    hi = Backoff(lambda n: b"\xff" * n)
    assert [lo.delay(n) for n in (1, 2, 3, 10, 11, 100)] == [15, 30, 60, 7680, 10800, 10800]
    assert [hi.delay(n) for n in (1, 2, 3, 9)] == [44, 89, 179, 11519]
    assert hi.delay(10) == 21600 and hi.delay(1000) == 21600  # never beyond the cap
    assert Backoff(lambda n: b"\x00" * n, base_s=1).delay(1) == 1


def test_a_damaged_statement_file_is_a_ledger_fault_not_a_retry_loop():
    root, b0, _, _, _ = _setup(1)
    try:
        from firmware.ledger import atomic

        atomic.atomic_write(root + "/outbox/0.cose", b0.envelope[:-3])
        status = st.Status()
        net = FakeNet()
        ob = _outbox(root, net, status=status)
        assert ob.run() == 0 and ob.rejected == (0, 0, "sealed_invalid")
        assert status.faults & st.FAULT_LEDGER and net.calls == []
    finally:
        rmtree(root)


def test_status_shows_pending_statements_and_overdue_uploads():
    root, b0, _, _, _ = _setup(1)
    try:
        clock = Clock(b0.statement.period_end + 4 * 86400)
        status = st.Status(overdue_s=3 * 86400)
        status.set_fix(True)
        ob = _outbox(root, FakeNet(OSError(errno.EHOSTUNREACH)), clock, status)
        ob.run()
        assert status.pending == 1 and status.pending_since == b0.statement.period_end
        assert status.last_upload_code == "connect_failed"
        assert status.state() == st.STATE_UPLOAD_OVERDUE
    finally:
        rmtree(root)


# --- privacy ---------------------------------------------------------------------------------
def test_uploading_statements_sends_no_trace_coordinate_or_time():
    root, b0, b1, r0, r1 = _setup(2)
    try:
        net = FakeNet(FakeStream(b"", fail=OSError(errno.ECONNRESET)))
        clock = Clock()
        ob = _outbox(root, net, clock)
        ob.run()
        clock.t = ob.next_at
        net.add(response(200, r0), response(201, r1))
        assert ob.run() == 2
        wire = net.wire()
        assert len(wire) > len(b0.envelope) + len(b1.envelope)
        needles = trace_secrets(b0.records)
        assert len(needles) == 2 * (4 * 2 + 4 * 4 * 3)
        for needle in needles:
            assert wire.find(needle) < 0, needle
    finally:
        rmtree(root)


# --- with the statement writer's own code (firmware/statement.py, firmware/state.py) ---------
def test_the_statement_writers_envelope_is_read_as_sealed():
    from firmware.statement import statement_header, write_envelope
    from tests.firmware.uplink_fixtures import obu_signer

    root, b0, _, _, _ = _setup(1)
    try:
        path = root + "/outbox/0.cose"
        st_ = b0.statement
        header = statement_header(
            st_.obu_id,
            st_.seq,
            st_.prev_hash,
            st_.period_start,
            st_.period_end,
            st_.policy_ids,
            st_.total_price_micro,
            st_.blind_sum,
        )
        with open(path, "wb") as f:
            h = write_envelope(f, header, st_.segment_count, st_.commitments, obu_signer())
        assert h == b0.hash
        s = read_sealed(path)
        assert (s.seq, s.segment_count, s.total_price_micro) == (0, 4, st_.total_price_micro)
        assert s.commitment(3) == st_.commitments[3]
    finally:
        rmtree(root)


def test_receipts_are_noted_in_the_statement_registry():
    from firmware.state import ChainState, StatementMeta

    root, b0, _, r0, _ = _setup(1)
    try:
        chain = ChainState(root)
        stmt = b0.statement
        meta = StatementMeta(
            0,
            stmt.period_start,
            stmt.period_end,
            b0.hash,
            "outbox/0.cose",
            False,
            None,
            stmt.segment_count,
            stmt.total_price_micro,
        )
        chain.begin(meta)
        chain.commit(meta)
        files = StatementFiles(root, chain)
        ob = Outbox(
            root,
            HttpClient(HOST, PORT, connect=FakeNet(response(201, r0))),
            authority_signer().public_key(),
            Clock(),
            rng=Rng(),
            files=files,
        )
        assert ob.run() == 1
        m = chain.meta(0)
        assert m.receipt_held and m.received_at == DEC_2026 + 301
        # A reset between keeping the receipt and noting it: the next boot's first run notes it.
        m.receipt_held = False
        m.received_at = None
        from firmware.ledger import atomic

        atomic.atomic_write(root + "/statements/0.meta", m.to_bytes())
        assert files.unmarked() == [0]
        ob = Outbox(
            root,
            HttpClient(HOST, PORT, connect=FakeNet()),
            authority_signer().public_key(),
            Clock(),
            rng=Rng(),
            files=files,
        )
        assert ob.run() == 0 and chain.meta(0).receipt_held and files.unmarked() == []
    finally:
        rmtree(root)


def test_a_clock_that_jumped_back_does_not_stall_the_backoff():
    root, _, _, r0, _ = _setup(1)
    try:
        clock = Clock()
        net = FakeNet(OSError(errno.ENOTCONN))
        ob = _outbox(root, net, clock)
        ob.run()
        assert not ob.due(clock.t)
        clock.t -= 86400  # GNSS time corrected by a day: the stored next attempt is 1 day away
        net.add(response(201, r0))
        assert ob.due(clock.t) and ob.run() == 1
    finally:
        rmtree(root)


def test_an_unreadable_state_file_starts_afresh():
    root, _, _, r0, _ = _setup(1)
    try:
        from firmware.ledger import atomic

        atomic.ensure_dir(root + "/uplink")
        for junk in (b"\xff\xfe", b"\x01", b"\xa1\x01\x00"):
            atomic.atomic_write(root + "/uplink/outbox.state", junk)
            ob = _outbox(root, FakeNet())
            assert ob.failures == 0 and ob.due(DEC_2026)
    finally:
        rmtree(root)
