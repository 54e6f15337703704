"""Challenge answering (firmware/challenges.py): poll, find the one segment, signed Opening.

Runs under CPython (pytest) and the MicroPython unix port (tests/contract/mp_run.py).
"""

import errno

from firmware import challenges as chm
from firmware import ledger
from firmware import status as st
from firmware.challenges import ChallengeResponder, record_times
from firmware.ledger import atomic
from firmware.opening import opening_payload
from firmware.uplink.http import HttpClient
from protocol import cbor, cose, labels, messages, verify
from protocol.hashing import sha256
from tests.contract.support import raises
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
    challenge,
    challenge_list,
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

CID = bytes(range(100, 116))
CID2 = bytes(range(200, 216))


def _setup(records=None):
    root = tmpdir()
    built = build_statement(root, 0, records=records)
    return root, built


def _responder(root, net, clock=None, status=None):
    return ChallengeResponder(
        root,
        HttpClient(HOST, PORT, connect=net),
        obu_signer(),
        OBU_ID,
        authority_signer().public_key(),
        clock if clock is not None else Clock(),
        store=ledger.Store(root),
        rng=Rng(b"nonce"),
        status=status,
    )


def _obu_resolve(kid):
    s = obu_signer()
    return s.public_key() if kid == s.kid else None


def _check_signed(hdrs, method, path, body, now):
    env = b64url_decode(hdrs["qm-signed-request"])
    s1 = cose.verify_sign1(env, _obu_resolve, labels.CTY_REQUEST)
    m = cbor.decode(s1.payload)
    assert (m[1], m[2], m[3], m[4]) == (method, path, sha256(body), now)
    assert len(m[5]) == 16


def _posted_opening(net, built, ch_env, now=DEC_2026 + 300):
    """The Opening the responder POSTed (checked against the protocol verifier)."""
    line, hdrs, body = split_request(net.sent()[-1])
    assert line == "POST /api/v1/obu/openings HTTP/1.1"
    assert hdrs["content-type"] == "application/cose"
    assert int(hdrs["content-length"]) == len(body)
    _check_signed(hdrs, "POST", "/api/v1/obu/openings", body, now)
    s1 = cose.verify_sign1(body, _obu_resolve, labels.CTY_OPENING)
    opening = messages.Opening.decode(s1.payload)
    ch = messages.Challenge.decode(cose.decode_sign1(ch_env).payload)
    verify.check_opening_answers(opening, ch, built.statement)
    if not opening.is_empty:
        verify.check_commitments(opening, built.statement)
    return opening


# --- polling ---------------------------------------------------------------------------------
def test_poll_is_a_signed_get_and_204_means_none():
    root, built = _setup()
    try:
        net = FakeNet(response(204, b"", None))
        r = _responder(root, net)
        assert r.run() == [] and r.last_error is None
        line, hdrs, body = split_request(net.sent()[0])
        assert line == "GET /api/v1/obu/challenges?limit=8 HTTP/1.1" and body == b""
        names = [h.split(":")[0] for h in net.sent()[0].decode().split("\r\n")[1:4]]
        assert names == ["Host", "QM-Signed-Request", "Connection"]
        _check_signed(hdrs, "GET", "/api/v1/obu/challenges?limit=8", b"", DEC_2026 + 300)
        net.add(challenge_list())
        assert r.run() == []
        wire = net.wire()
        for needle in trace_secrets(built.records):  # no challenge: nothing of the trace
            assert wire.find(needle) < 0, needle
    finally:
        rmtree(root)


def test_no_gnss_time_means_no_poll():
    root, _ = _setup()
    try:
        net = FakeNet()
        r = _responder(root, net, Clock(None))
        assert r.run() == [] and r.last_error.code == "clock_unknown" and net.calls == []
    finally:
        rmtree(root)


# --- pages -----------------------------------------------------------------------------------
def _requests(net):
    """(request line, signed path) of every request sent."""
    out = []
    for raw in net.sent():
        line, hdrs, _ = split_request(raw)
        env = b64url_decode(hdrs["qm-signed-request"])
        out.append((line, cbor.decode(cose.decode_sign1(env).payload)[2]))
    return out


def _ids(n, base=0):
    return [bytes([base + i]) * 16 for i in range(n)]


def test_each_page_is_answered_before_the_next_is_asked_for():
    root, built = _setup()
    try:
        a, b, c = _ids(3, 1)
        net = FakeNet(
            challenge_list(challenge(a, 1, index=0), challenge(b, 1, index=1), next_cursor="7.ab"),
            response(201, b""),
            response(201, b""),
            challenge_list(challenge(c, 1, index=2)),
            response(201, b""),
        )
        r = _responder(root, net)
        assert r.run() == [(a, chm.ANSWERED), (b, chm.ANSWERED), (c, chm.ANSWERED)]
        assert r.last_error is None
        sent = _requests(net)
        assert [line.split(" ")[0] for line, _ in sent] == ["GET", "POST", "POST", "GET", "POST"]
        # The cursor goes back as it came, and the signature covers the whole query.
        assert sent[0] == (
            "GET /api/v1/obu/challenges?limit=8 HTTP/1.1",
            "/api/v1/obu/challenges?limit=8",
        )
        assert sent[3] == (
            "GET /api/v1/obu/challenges?limit=8&cursor=7.ab HTTP/1.1",
            "/api/v1/obu/challenges?limit=8&cursor=7.ab",
        )
    finally:
        rmtree(root)


def test_a_run_can_keep_counts_instead_of_a_list():
    root, _ = _setup()
    try:
        a, b, c = _ids(3, 1)
        net = FakeNet(
            challenge_list(challenge(a, 1, index=0), challenge(b, 1, index=9), next_cursor="n"),
            response(201, b""),
            challenge_list(challenge(c, 1, index=2)),
            response(201, b""),
        )
        r = _responder(root, net)
        assert r.run(collect=False) == [] and (r.handled, r.answered) == (3, 2)
        net.add(challenge_list(challenge(a, 1, index=0)))
        assert r.run() == [(a, chm.ALREADY)] and (r.handled, r.answered) == (1, 0)
    finally:
        rmtree(root)


def test_the_page_size_is_the_units_to_choose_and_a_base_path_is_signed_too():
    root, _ = _setup()
    try:
        net = FakeNet(challenge_list())
        r = ChallengeResponder(
            root,
            HttpClient(HOST, PORT, connect=net, base_path="/toll"),
            obu_signer(),
            OBU_ID,
            authority_signer().public_key(),
            Clock(),
            store=ledger.Store(root),
            rng=Rng(b"nonce"),
            page_size=5,
        )
        assert r.run() == [] and r.last_error is None
        assert _requests(net) == [
            (
                "GET /toll/api/v1/obu/challenges?limit=5 HTTP/1.1",
                "/toll/api/v1/obu/challenges?limit=5",
            )
        ]
    finally:
        rmtree(root)


def test_a_run_asks_for_at_most_max_pages():
    root, _ = _setup()
    try:
        ids = _ids(5, 1)
        # An index beyond the statement is refused without a POST: only GETs go out.
        pages = [
            challenge_list(challenge(i, 1, index=9), next_cursor="c%d" % k)
            for k, i in enumerate(ids)
        ]
        net = FakeNet(*pages)
        r = _responder(root, net)
        r.max_pages = 3
        assert r.run() == [(i, chm.REFUSED) for i in ids[:3]] and r.last_error is None
        assert [p for _, p in _requests(net)] == [
            "/api/v1/obu/challenges?limit=8",
            "/api/v1/obu/challenges?limit=8&cursor=c0",
            "/api/v1/obu/challenges?limit=8&cursor=c1",
        ]
        assert chm.MAX_PAGES * chm.PAGE_SIZE <= chm.MAX_REMEMBERED  # a run forgets nothing
    finally:
        rmtree(root)


def test_a_page_without_progress_ends_the_run():
    root, _ = _setup()
    try:
        a, b = _ids(2, 1)
        for script in (
            # an empty page that claims more
            (challenge_list(next_cursor="c1"),),
            # the same cursor again: the backend would hand out the same page forever
            (
                challenge_list(challenge(a, 1, index=9), next_cursor="c1"),
                challenge_list(challenge(b, 1, index=9), next_cursor="c1"),
                challenge_list(),
            ),
        ):
            net = FakeNet(*script)
            r = _responder(root, net)
            r.run()
            assert r.last_error is None
            assert len(net.streams) == min(2, len(script)), script
    finally:
        rmtree(root)


def test_a_cursor_that_cannot_go_back_verbatim_is_a_bad_response():
    root, _ = _setup()
    try:
        for bad in ("a b", "a&limit=1", "a#b", "x" * 65, "\u00e9", "a/b", "a%20b"):
            a = _ids(1, 1)[0]
            net = FakeNet(
                challenge_list(challenge(a, 1, index=9), next_cursor=bad), challenge_list()
            )
            r = _responder(root, net)
            assert r.run() == [] and r.last_error.code == "bad_response", bad
            assert len(net.streams) == 1
        for good in ("1", "x" * 64, "1718000000.00ff", "A-z_0.9~"):
            assert chm.cursor_ok(good), good
    finally:
        rmtree(root)


def test_a_page_that_is_not_an_array_of_envelopes_is_a_bad_response():
    root, _ = _setup()
    try:
        env = challenge(_ids(1, 1)[0], 1, index=9)
        for body in (
            cbor.encode({1: env}),
            cbor.encode([env, 7]),  # every item must be a byte string
            cbor.encode([env])[:-1],  # truncated
            cbor.encode([env]) + b"\x00",  # trailing bytes
            cbor.encode([env, env])[: -len(env) - 2],  # fewer items than announced
            b"\x9f\x41a\xff",  # indefinite length
            b"\xff",
            cbor.encode([bytes(300)] * 7),  # over page_size x 256 bytes
        ):
            net = FakeNet(response(200, body, "application/cbor"))
            r = _responder(root, net)
            assert r.run() == [] and r.last_error.code == "bad_response", body[:8]
        # Control: a full page of the largest envelopes fits (they do not verify: refused).
        net = FakeNet(response(200, cbor.encode([bytes(250)] * 8), "application/cbor"))
        r = _responder(root, net)
        assert r.run() == [(None, chm.REFUSED)] * 8 and r.last_error is None
    finally:
        rmtree(root)


def test_a_refused_poll_keeps_the_backends_error_code():
    root, _ = _setup()
    try:
        for status, code in ((400, "invalid_cursor"), (401, "request_expired")):
            r = _responder(root, FakeNet(json_error(status, code)))
            assert r.run() == [] and r.last_error.code == code and r.last_error.status == status
    finally:
        rmtree(root)


def test_a_deferral_ends_the_run_and_the_rest_waits():
    root, _ = _setup()
    try:
        a, b, c = _ids(3, 1)
        net = FakeNet(
            challenge_list(challenge(a, 1, index=0), challenge(b, 1, index=1), next_cursor="n"),
            FakeStream(b"", fail=OSError(errno.ECONNRESET)),  # the network goes away
            challenge_list(challenge(c, 1, index=2)),
        )
        r = _responder(root, net)
        assert r.run() == [(a, chm.DEFERRED)] and r.last_error.code == "connection_closed"
        assert len(net.streams) == 2  # neither b's opening nor the next page was tried
    finally:
        rmtree(root)


def test_a_backend_without_pages_is_still_answered_in_full():
    # A backend from before SPEC §4.9 ignores the query: one list, no cursor header.
    root, _ = _setup()
    try:
        ids = _ids(3, 1)
        net = FakeNet(
            challenge_list(*[challenge(i, 1, index=k) for k, i in enumerate(ids)]),
            *[response(201, b"") for _ in ids],
        )
        assert _responder(root, net).run() == [(i, chm.ANSWERED) for i in ids]
        assert len(net.streams) == 4
    finally:
        rmtree(root)


# --- finding the segment ---------------------------------------------------------------------
def test_a_sighting_opens_the_one_segment_covering_the_instant():
    root, built = _setup()
    try:
        env = challenge(CID, 0, at_time=DRIVE_T0 + 2 * 600 + 123)
        net = FakeNet(challenge_list(env), response(201, b""))
        assert _responder(root, net).run() == [(CID, chm.ANSWERED)]
        opening = _posted_opening(net, built, env)
        assert opening.segment_index == 2 and opening.record == built.records[2]
        assert len(net.streams) == 2
    finally:
        rmtree(root)


def test_an_envelope_is_found_where_the_registry_entry_says():
    """The responder reads the registry entry's file (sealed.meta_envelope), not the chain
    (firmware.state, whose code a sync drops before answering challenges)."""
    import os

    root, built = _setup()
    try:
        atomic.ensure_dir(root + "/sent")
        os.rename(root + "/outbox/0.cose", root + "/sent/0.cose")  # moved after its receipt
        net = FakeNet(challenge_list(challenge(CID, 1, index=1)))
        assert _responder(root, net).run() == [(CID, chm.UNAVAILABLE)]  # no entry: outbox
        atomic.ensure_dir(root + "/statements")
        meta = cbor.encode({1: 0, 4: b"\x00" * 32, 5: "sent/0.cose", 6: True, 7: None})
        atomic.atomic_write(root + "/statements/0.meta", meta)
        net = FakeNet(challenge_list(challenge(CID2, 1, index=1)), response(201, b""))
        assert _responder(root, net).run() == [(CID2, chm.ANSWERED)]
        assert _posted_opening(net, built, challenge(CID2, 1, index=1)).segment_index == 1
    finally:
        rmtree(root)


def test_on_a_shared_boundary_the_lower_index_is_opened():
    root, built = _setup()
    try:
        # Segment 1 ends at DRIVE_T0 + 1200, where segment 2 starts.
        env = challenge(CID, 0, at_time=DRIVE_T0 + 1200)
        net = FakeNet(challenge_list(env), response(201, b""))
        _responder(root, net).run()
        assert _posted_opening(net, built, env).segment_index == 1
        env = challenge(CID2, 0, at_time=DRIVE_T0)
        net = FakeNet(challenge_list(env), response(201, b""))
        _responder(root, net).run()
        assert _posted_opening(net, built, env).segment_index == 0
    finally:
        rmtree(root)


def test_an_index_challenge_opens_that_segment():
    root, built = _setup()
    try:
        env = challenge(CID, 1, index=3)
        net = FakeNet(challenge_list(env), response(200, b""))
        assert _responder(root, net).run() == [(CID, chm.ANSWERED)]
        opening = _posted_opening(net, built, env)
        assert opening.segment_index == 3 and opening.record == built.records[3]
    finally:
        rmtree(root)


def test_no_covering_segment_is_answered_honestly_with_an_empty_opening():
    root, built = _setup()
    try:
        for cid, at in ((CID, DRIVE_T0 - 1), (CID2, DRIVE_T0 + 4 * 600 + 1)):
            env = challenge(cid, 0, at_time=at)
            net = FakeNet(challenge_list(env), response(201, b""))
            assert _responder(root, net).run() == [(cid, chm.ANSWERED)]
            opening = _posted_opening(net, built, env)
            assert opening.is_empty
            body = split_request(net.sent()[-1])[2]
            assert sorted(cbor.decode(cose.decode_sign1(body).payload)) == [1, 2, 3]
    finally:
        rmtree(root)


def test_a_period_without_segments_answers_empty():
    root, built = _setup(records=[])
    try:
        env = challenge(CID, 0, at_time=DRIVE_T0)
        net = FakeNet(challenge_list(env), response(201, b""))
        assert _responder(root, net).run() == [(CID, chm.ANSWERED)]
        assert _posted_opening(net, built, env).is_empty
    finally:
        rmtree(root)


def test_an_opening_carries_exactly_one_record():
    root, built = _setup()
    try:
        env = challenge(CID, 0, at_time=DRIVE_T0 + 900)
        net = FakeNet(challenge_list(env), response(201, b""))
        _responder(root, net).run()
        body = split_request(net.sent()[-1])[2]
        for i, rec in enumerate(built.records):
            found = body.find(rec.encode()) >= 0
            assert found == (i == 1), i
    finally:
        rmtree(root)


# --- refusals --------------------------------------------------------------------------------
def test_challenges_that_do_not_verify_or_are_not_ours_are_refused():
    root, built = _setup()
    try:
        cases = (
            challenge(CID, 1, index=0, signer=other_signer()),  # not the authority
            challenge(CID, 1, index=0, signer=obu_signer()),
            b"\xd2\x84not cose",
        )
        for env in cases:
            net = FakeNet(challenge_list(env))
            assert _responder(root, net).run() == [(None, chm.REFUSED)]
            assert len(net.streams) == 1  # no opening posted
        wrong_type = cose.sign1(
            cose.decode_sign1(challenge(CID, 1, index=0)).payload,
            authority_signer(),
            labels.CTY_RECEIPT,
        )
        assert _responder(root, FakeNet(challenge_list(wrong_type))).run() == [(None, chm.REFUSED)]
        for env in (
            challenge(CID, 1, index=0, obu_id="OBU-0002"),  # someone else's
            challenge(CID2, 1, index=4),  # beyond the statement's 4 segments
        ):
            net = FakeNet(challenge_list(env))
            out = _responder(root, net).run()
            assert out[0][1] == chm.REFUSED and len(net.streams) == 1
    finally:
        rmtree(root)


def test_past_deadline_is_not_answered_and_unknown_time_waits():
    root, built = _setup()
    try:
        env = challenge(CID, 1, index=0, deadline=DEC_2026 + 299)
        net = FakeNet(challenge_list(env))
        assert _responder(root, net).run() == [(CID, chm.EXPIRED)]
        assert len(net.streams) == 1
        env = challenge(CID2, 1, index=0)
        clock = Clock()
        r = _responder(root, net, clock)
        clock.t = None
        assert r.handle(env) == (CID2, chm.DEFERRED) and len(net.streams) == 1
        clock.t = DEC_2026 + 300
        net.add(response(201, b""))
        assert r.handle(env) == (CID2, chm.ANSWERED)
    finally:
        rmtree(root)


def test_unknown_statement_or_destroyed_period_is_unavailable():
    root, built = _setup()
    try:
        net = FakeNet(challenge_list(challenge(CID, 1, index=0, seq=5)))
        assert _responder(root, net).run() == [(CID, chm.UNAVAILABLE)]
        ledger.Store(root).destroy(built.statement.period_start)  # retention
        net = FakeNet(challenge_list(challenge(CID2, 0, at_time=DRIVE_T0)))
        assert _responder(root, net).run() == [(CID2, chm.UNAVAILABLE)]
        assert len(net.streams) == 1
        assert built.statement.period_start not in ledger.Store(root).periods()  # not recreated
    finally:
        rmtree(root)


def test_a_ledger_that_disagrees_with_the_statement_is_not_sent():
    root, built = _setup()
    try:
        # Another statement's ledger under the same period: same records, other commitments.
        other = tmpdir()
        build_statement(other, 0, rng=Rng(b"different"))
        for name in ("keys", "ledger"):
            for f in ("k%d.key", "p%d.log"):
                p = "%s/%s/%s" % (other, name, f % built.statement.period_start)
                if atomic.exists(p):
                    atomic.atomic_write(p.replace(other, root), atomic.read_file(p))
        rmtree(other)
        status = st.Status()
        net = FakeNet(challenge_list(challenge(CID, 1, index=2)))
        assert _responder(root, net, status=status).run() == [(CID, chm.UNAVAILABLE)]
        assert len(net.streams) == 1 and status.faults & st.FAULT_LEDGER
    finally:
        rmtree(root)


# --- only once -------------------------------------------------------------------------------
def test_a_repoll_does_not_answer_twice():
    root, built = _setup()
    try:
        env = challenge(CID, 0, at_time=DRIVE_T0 + 60)
        net = FakeNet(challenge_list(env), response(201, b""), challenge_list(env))
        assert _responder(root, net).run() == [(CID, chm.ANSWERED)]
        # A new responder (after a reboot) sees the same challenge again.
        assert _responder(root, net).run() == [(CID, chm.ALREADY)]
        assert len(net.streams) == 3  # GET, POST, GET: no second opening
    finally:
        rmtree(root)


def test_a_lost_answer_is_resent_with_the_same_bytes():
    root, built = _setup()
    try:
        env = challenge(CID, 0, at_time=DRIVE_T0 + 60)
        net = FakeNet(
            challenge_list(env),
            FakeStream(b"", fail=OSError(errno.ECONNRESET)),  # the POST's answer is lost
        )
        r = _responder(root, net)
        assert r.run() == [(CID, chm.DEFERRED)]
        first = split_request(net.sent()[1])[2]
        net.add(response(503, b"", None))
        assert r.run() == [(CID, chm.DEFERRED)]  # resend fails: stop, no poll this time
        assert r.last_error.code == "http_503" and net.sent()[-1].startswith(b"POST")
        net.add(response(201, b""), challenge_list(env))
        assert r.run() == [(CID, chm.ANSWERED), (CID, chm.ALREADY)]
        bodies = [split_request(s)[2] for s in net.sent() if s.startswith(b"POST")]
        assert len(bodies) == 3 and bodies[0] == bodies[1] == bodies[2] == first
        net.add(response(204, b"", None))
        assert r.run() == [] and net.sent()[-1].startswith(b"GET")  # nothing pending any more
    finally:
        rmtree(root)


def test_an_opening_the_backend_rejects_is_not_retried():
    root, built = _setup()
    try:
        env = challenge(CID, 1, index=1)
        net = FakeNet(challenge_list(env), json_error(422, "challenge_mismatch"))
        r = _responder(root, net)
        assert r.run() == [(CID, chm.REJECTED)]
        assert r.last_error.code == "challenge_mismatch"
        net.add(challenge_list(env))
        assert r.run() == [(CID, chm.ALREADY)] and len(net.streams) == 3
    finally:
        rmtree(root)


# --- building blocks -------------------------------------------------------------------------
def test_record_times_reads_only_the_record_heads():
    rec = segment_record(7, DRIVE_T0 + 99, duration=1234, points=300)
    payload = cbor.encode([rec.encode(), bytes(16), bytes(32), bytes(32), bytes(32)])
    assert record_times(payload) == (7, DRIVE_T0 + 99, DRIVE_T0 + 1333)


def test_malformed_ledger_entries_are_unavailable_not_crashes():
    rec = segment_record(7, DRIVE_T0)
    good = cbor.encode([rec.encode(), bytes(16), bytes(32), bytes(32), bytes(32)])
    for bad in (b"", good[:3], good[:12], cbor.encode([1, 2, 3, 4, 5]), b"\xff" + good[1:]):
        raises(chm.SegmentUnavailable, record_times, bad)
    short = cbor.encode([b"a" * 30, bytes(16), bytes(32), bytes(32), bytes(32)])
    noncanonical = short[:1] + b"\x58\x1e" + short[2:]  # a 30-byte string's head in 2 bytes
    for bad in (
        b"",
        good[:-1],
        cbor.encode([b"a", b"b"]),
        cbor.encode([1, 2, 3, 4, 5]),
        cbor.encode([rec.encode(), bytes(15), bytes(32), bytes(32), bytes(33)]),
        noncanonical,
        good + b"\x00",
    ):
        raises(chm.SegmentUnavailable, chm.split_payload, bad)
        raises(
            chm.SegmentUnavailable,
            chm.split_payload,
            [bad[i : i + 7] for i in range(0, len(bad), 7)],
        )


def test_a_payload_in_pieces_splits_as_it_does_whole():
    """split_payload of the ledger's pieces: the same fields, the record as pieces that are
    each a piece or a slice of one."""
    from firmware.opening import span

    rec = segment_record(7, DRIVE_T0).encode()
    for n in (10, 30, 300):  # record heads of 1, 2 and 3 bytes
        r = rec[:n] if n < len(rec) else rec
        payload = cbor.encode([r, bytes(range(16)), bytes(32), b"\x01" * 32, b"\x02" * 32])
        whole = chm.split_payload(payload)
        assert whole[0] == r
        for size in (1, 5, 128):
            pieces = [payload[i : i + size] for i in range(0, len(payload), size)]
            parts = chm.split_payload(pieces)
            assert [b"".join(parts[0])] + parts[1:] == whole  # noqa: RUF005 (MicroPython)
            assert max(len(p) for p in parts[0]) <= size
    assert span([b"abc", b"de", b"fgh"], 2, 6) == [b"c", b"de", b"f"]
    assert span([b"abc", b"de"], 0, 5) == [b"abc", b"de"] and span([b"abc"], 3, 3) == []


def test_spliced_opening_payload_equals_the_message_encoding():
    rec = segment_record(2, DRIVE_T0)
    salt = bytes(range(16))
    blind = bytes(range(32))
    o = messages.Opening(CID, OBU_ID, 3, 2, rec, salt, blind)
    assert opening_payload(CID, OBU_ID, 3, 2, rec.encode(), salt, blind) == o.encode()
    empty = messages.Opening(CID, OBU_ID, 3, None, None, None, None)
    assert opening_payload(CID, OBU_ID, 3) == empty.encode()
    enc = rec.encode()
    parts = opening_payload(CID, OBU_ID, 3, 2, [enc[:50], enc[50:]], salt, blind)
    assert type(parts) is list and b"".join(parts) == o.encode()


def test_remembered_ids_are_bounded():
    root = tmpdir()
    try:
        path = root + "/answered.bin"
        mem = chm._Remembered(path)
        for i in range(chm.MAX_REMEMBERED + 10):
            mem.add(i.to_bytes(16, "big"), chm.EXPIRED)
        mem = chm._Remembered(path)
        assert len(mem.data) == chm.MAX_REMEMBERED * 17
        assert mem.outcome((0).to_bytes(16, "big")) is None
        assert mem.outcome((chm.MAX_REMEMBERED + 9).to_bytes(16, "big")) == chm.EXPIRED
    finally:
        rmtree(root)


def test_ledger_entries_of_the_accounting_code_are_read_alike():
    from firmware.accounting import entry_pieces, split_entry

    rec = segment_record(5, DRIVE_T0 + 3000)
    parts = [rec.encode(), bytes(range(16)), bytes(32), b"C" * 32, b"T" * 32]
    entry = b"".join(entry_pieces(*parts))
    assert record_times(entry) == (5, DRIVE_T0 + 3000, DRIVE_T0 + 3600)
    assert chm.split_payload(entry) == parts
    assert list(split_entry(entry)) == parts
