"""HTTP client (firmware/uplink/http.py) and the signed-request header (signed.py).

Runs under CPython (pytest) and the MicroPython unix port (tests/contract/mp_run.py). The
transport is a fake: requests are compared byte for byte, answers are canned bytes.
"""

import errno
import io

from firmware.uplink import (
    BadResponse,
    ClockUnknown,
    ConnectFailed,
    ConnectionClosed,
    HttpError,
    Timeout,
)
from firmware.uplink.http import HttpClient, Response
from firmware.uplink.signed import EMPTY_SHA256, b64url, signed_headers, signed_request
from protocol import cbor, cose, labels
from protocol.hashing import sha256
from tests.contract.support import raises
from tests.firmware.uplink_fixtures import (
    FakeNet,
    FakeStream,
    Rng,
    Ticks,
    b64url_decode,
    obu_signer,
    response,
)


def _client(net, **kw):
    return HttpClient("backend.test", 8000, connect=net, **kw)


# --- requests on the wire --------------------------------------------------------------------
def test_get_sends_exactly_these_bytes():
    net = FakeNet(response(200, b"hi", "text/plain"))
    r = _client(net).get("/api/v1/obu/chain", headers=[("QM-Signed-Request", "abc")])
    assert net.sent() == [
        b"GET /api/v1/obu/chain HTTP/1.1\r\n"
        b"Host: backend.test:8000\r\n"
        b"QM-Signed-Request: abc\r\n"
        b"Connection: close\r\n\r\n"
    ]
    assert r.status == 200 and r.ok and r.body == b"hi"
    assert r.header("content-type") == "text/plain"
    assert net.streams[0].closed
    assert net.calls == [("backend.test", 8000, 30000)]


def test_post_sends_content_type_and_length_then_the_body():
    net = FakeNet(response(201, b"R"))
    r = _client(net).post("/api/v1/statements", b"\xd2\x84body", "application/cose")
    assert net.sent() == [
        b"POST /api/v1/statements HTTP/1.1\r\n"
        b"Host: backend.test:8000\r\n"
        b"Content-Type: application/cose\r\n"
        b"Content-Length: 6\r\n"
        b"Connection: close\r\n\r\n"
        b"\xd2\x84body"
    ]
    assert r.status == 201 and r.body == b"R"


def test_default_port_is_left_out_of_host_and_base_path_is_prefixed():
    net = FakeNet(response(204, b""))
    c = HttpClient("qm.example", 80, connect=net, base_path="/toll", user_agent="qm-obu/1")
    r = c.get("/api/v1/obu/challenges")
    assert net.sent()[0] == (
        b"GET /toll/api/v1/obu/challenges HTTP/1.1\r\nHost: qm.example\r\n"
        b"User-Agent: qm-obu/1\r\nConnection: close\r\n\r\n"
    )
    assert r.status == 204 and r.body == b""


def test_file_body_is_streamed_in_buffer_sized_chunks():
    body = bytes(i & 0xFF for i in range(1300))
    net = FakeNet(response(200, b"ok"))
    c = _client(net, chunk=512)
    c.request("POST", "/up", io.BytesIO(body), len(body), "application/cose")
    s = net.streams[0]
    head_len = len(bytes(s.sent)) - 1300
    assert s.writes == [head_len, 512, 512, 276]
    assert bytes(s.sent)[head_len:] == body
    assert c.sent_bytes == head_len + 1300
    assert c.received_bytes == len(response(200, b"ok"))


def test_partial_writes_are_completed():
    net = FakeNet(FakeStream(response(200, b""), write_size=7))
    _client(net).post("/p", b"0123456789" * 5, "text/plain")
    sent = bytes(net.streams[0].sent)
    assert sent.endswith(b"\r\n\r\n" + b"0123456789" * 5)
    assert max(net.streams[0].writes) == 7


def test_streamed_body_shorter_than_announced_is_refused():
    net = FakeNet(response(200))
    raises(ValueError, _client(net).request, "POST", "/p", io.BytesIO(b"abc"), 10, "x/y")
    raises(ValueError, _client(FakeNet()).request, "POST", "/p", io.BytesIO(b"abc"))


def test_header_values_with_line_breaks_are_refused():
    raises(ValueError, _client(FakeNet(response(200))).get, "/", [("X", "a\r\nEvil: 1")])


# --- responses -------------------------------------------------------------------------------
def test_answer_split_into_single_bytes_still_parses():
    net = FakeNet(FakeStream(response(200, b"abcdef", extra=("X-Other: 1",)), read_size=1))
    r = _client(net).get("/")
    assert r.status == 200 and r.body == b"abcdef"
    assert "x-other" not in r.headers  # only the headers the client uses are kept


def test_chunked_body_with_extensions_and_trailers():
    raw = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: application/cbor\r\n\r\n"
        b"4;ext=1\r\nabcd\r\n"
        b"A\r\n0123456789\r\n"
        b"0\r\nX-Trailer: y\r\n\r\n"
    )
    r = _client(FakeNet(FakeStream(raw, read_size=5))).get("/")
    assert r.body == b"abcd0123456789"
    assert r.media_type() == "application/cbor"


def test_bad_chunk_size_and_missing_chunk_crlf_are_refused():
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    raises(BadResponse, _client(FakeNet(head + b"zz\r\nab\r\n0\r\n\r\n")).get, "/")
    raises(BadResponse, _client(FakeNet(head + b"2\r\nabX\r\n0\r\n\r\n")).get, "/")
    te = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n"
    raises(BadResponse, _client(FakeNet(te)).get, "/")


def test_body_without_length_runs_to_the_end_of_the_connection():
    r = _client(FakeNet(b"HTTP/1.0 200 OK\r\n\r\nuntil close")).get("/")
    assert r.body == b"until close"


def test_interim_100_continue_is_skipped():
    raw = b"HTTP/1.1 100 Continue\r\n\r\n" + response(201, b"R")
    r = _client(FakeNet(raw)).post("/", b"x", "a/b")
    assert r.status == 201 and r.body == b"R"


def test_body_into_a_sink_is_not_kept():
    sink = io.BytesIO()
    big = b"p" * 40000
    r = _client(FakeNet(response(200, big)), max_body_bytes=100).get("/", sink=sink)
    assert r.body is None and sink.getvalue() == big


def test_body_over_the_limit_is_refused():
    raises(BadResponse, _client(FakeNet(response(200, b"x" * 101)), max_body_bytes=100).get, "/")
    raw = b"HTTP/1.1 200 OK\r\n\r\n" + b"y" * 101
    raises(BadResponse, _client(FakeNet(raw), max_body_bytes=100).get, "/")


def test_response_head_is_bounded():
    many = tuple("X-H%d: %s" % (i, "v" * 50) for i in range(100))
    raises(BadResponse, _client(FakeNet(response(200, b"", extra=many))).get, "/")
    # One long header line we do not keep is skipped, as long as the head stays in bounds.
    long_line = ("X-Long: " + "w" * 1500,)
    c = _client(FakeNet(response(200, b"ok", extra=long_line)), chunk=256)
    assert c.get("/").body == b"ok"
    c = _client(FakeNet(response(200, b"ok", extra=long_line)), max_header_bytes=1024)
    raises(BadResponse, c.get, "/")


def test_malformed_heads_are_refused():
    for raw in (
        b"SMTP ready\r\n\r\n",
        b"HTTP/1.1 2x0 OK\r\n\r\n",
        b"HTTP/2 200\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nabcdef",
        b"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n",
    ):
        raises(BadResponse, _client(FakeNet(raw)).get, "/")


def test_connection_closed_early_is_a_transient_error():
    e = raises(ConnectionClosed, _client(FakeNet(b"")).get, "/")
    assert not e.permanent
    raises(ConnectionClosed, _client(FakeNet(b"HTTP/1.1 200 OK\r\nContent-")).get, "/")
    raw = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"
    raises(ConnectionClosed, _client(FakeNet(raw)).get, "/")
    reset = FakeStream(b"HTTP/1.1 20", fail=OSError(errno.ECONNRESET))
    raises(ConnectionClosed, _client(FakeNet(reset)).get, "/")
    broken = FakeStream(write_fail=OSError(errno.ECONNABORTED))
    raises(ConnectionClosed, _client(FakeNet(broken)).post, "/", b"x", "a/b")


def test_socket_timeouts_become_timeout():
    slow = FakeStream(b"HTTP/1.1 200 OK\r\n", fail=OSError(errno.ETIMEDOUT))
    raises(Timeout, _client(FakeNet(slow)).get, "/")
    stuck = FakeStream(write_fail=OSError(errno.EAGAIN))
    raises(Timeout, _client(FakeNet(stuck)).post, "/", b"x", "a/b")


def test_the_whole_exchange_has_a_deadline():
    # Each read returns one byte and 1 s passes per clock reading: a trickle never ends.
    trickle = FakeStream(response(200, b"x" * 100), read_size=1)
    c = _client(FakeNet(trickle), timeout_ms=20000, ticks=Ticks(step=1000))
    raises(Timeout, c.get, "/")


def test_a_slow_upload_that_makes_progress_is_not_cut_off():
    # 1 s passes per clock reading, 7 bytes per write: the upload takes far longer than the
    # 5 s timeout, but never stalls for 5 s.
    net = FakeNet(FakeStream(response(200, b"ok"), write_size=7))
    c = _client(net, timeout_ms=5000, ticks=Ticks(step=1000))
    body = bytes(300)
    assert c.post("/p", body, "a/b").body == b"ok"
    assert bytes(net.streams[0].sent).endswith(body)


def test_connect_failures_are_typed_and_transient():
    e = raises(ConnectFailed, _client(FakeNet(OSError(errno.ECONNREFUSED))).get, "/")
    assert not e.permanent


# --- errors ----------------------------------------------------------------------------------
def test_error_carries_the_backends_code_and_retry_after():
    body = b'{"error":"chain_broken","detail":"seq 3 does not follow 1"}'
    r = _client(FakeNet(response(409, body, "application/json"))).get("/")
    e = r.error()
    assert isinstance(e, HttpError) and e.status == 409 and e.code == "chain_broken"
    assert e.permanent and "does not follow" in e.detail
    raises(HttpError, r.raise_for_status)
    busy = response(503, b"<html>", "text/html", extra=("Retry-After: 120",))
    e = _client(FakeNet(busy)).get("/").error()
    assert e.code == "http_503" and e.retry_after_s == 120 and not e.permanent


def test_which_statuses_are_permanent():
    for status, permanent in ((400, True), (401, True), (409, True), (413, True), (422, True)):
        assert Response(status, {}, b"").error().permanent == permanent
    for status in (408, 425, 429, 500, 502, 503, 504):
        assert not Response(status, {}, b"").error().permanent
    assert Response(200, {}, b"").raise_for_status().status == 200


# --- signed requests -------------------------------------------------------------------------
def test_b64url_has_no_padding_and_the_url_alphabet():
    assert b64url(b"\xfb\xff") == b"-_8"
    assert b64url(b"") == b""
    assert b64url(b"abcd") == b"YWJjZA"
    assert b64url_decode(b64url(bytes(range(200)))) == bytes(range(200))


def test_signed_request_is_a_cose_sign1_over_method_path_body_time_nonce():
    signer = obu_signer()
    nonce = bytes(range(16))
    value = signed_request(
        signer, "post", "/api/v1/obu/openings?x=1", sha256(b"B"), 1796083500, nonce
    )
    env = b64url_decode(value)

    def resolve(kid):
        return signer.public_key() if kid == signer.kid else None

    s1 = cose.verify_sign1(env, resolve, labels.CTY_REQUEST)
    assert cbor.decode(s1.payload) == {
        1: "POST",
        2: "/api/v1/obu/openings?x=1",
        3: sha256(b"B"),
        4: 1796083500,
        5: nonce,
    }


def test_signed_headers_hash_the_body_and_draw_a_fresh_nonce():
    signer = obu_signer()
    rng = Rng(b"n")
    ((name, v1),) = signed_headers(signer, "GET", "/c", b"", 1796083500, rng)
    ((_, v2),) = signed_headers(signer, "GET", "/c", b"", 1796083500, rng)
    assert name == "QM-Signed-Request"
    m1 = cbor.decode(cose.decode_sign1(b64url_decode(v1)).payload)
    m2 = cbor.decode(cose.decode_sign1(b64url_decode(v2)).payload)
    assert m1[3] == EMPTY_SHA256 == sha256(b"")
    assert m1[5] != m2[5] and len(m1[5]) == 16
    raises(ClockUnknown, signed_headers, signer, "GET", "/c", b"", None, rng)
