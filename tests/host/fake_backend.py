"""A small stand-in for the backend's OBU endpoints, on 127.0.0.1, for the uplink loopback tests.

It speaks the wire contract of firmware/uplink (README.md there): statements POSTed as
application/cose and answered with a signed Receipt (the same receipt for the same envelope),
``GET /api/v1/obu/challenges`` (paged like the backend, SPEC §4.9: ``limit``, ``cursor``,
``QM-Next-Cursor``) and ``POST /api/v1/obu/openings`` with signed requests. It checks
what it receives with the protocol verifier, so the loopback tests catch a firmware that sends
something the real backend would refuse, and it can misbehave on purpose: drop the connection
after reading a statement, sign receipts with a wrong key, refuse with a JSON error.

Every request is captured raw (request line, headers, body) for the privacy checks.
"""

from __future__ import annotations

import base64
import hashlib
import json
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from protocol import cbor, cose, envelopes, labels, messages, p256, verify
from protocol.errors import ProtocolError

try:  # libsodium makes verifying a 3,000-segment statement instant; the pure group also works
    from backend.crypto.group import SodiumGroup

    GROUP: Any = SodiumGroup()
except ImportError:  # pragma: no cover
    from protocol import pedersen as GROUP

WINDOW_S = 300
PAGE_MAX = 32  # the backend's page limit (backend/services/challenges.py)
NEXT_CURSOR = "QM-Next-Cursor"


class BadQuery(ProtocolError):
    """A limit or cursor the backend refuses with 400 (``code`` as the backend's)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def _b64url_decode(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


class FakeBackend:
    """Backend state and misbehaviour switches; ``serve()`` runs it on a free port."""

    def __init__(self, authority: p256.Signer, obu: p256.Signer, now: int) -> None:
        self.authority = authority
        self.receipt_signer: p256.Signer = authority
        self.obu = obu
        self.now = now
        self.receipts: dict[bytes, bytes] = {}  # statement hash -> receipt envelope
        self.statements: dict[int, messages.Statement] = {}
        self.challenges: dict[bytes, bytes] = {}  # id -> envelope, while open
        self.openings: dict[bytes, bytes] = {}  # id -> opening envelope
        self.nonces: set[bytes] = set()
        self.drop_statements = 0  # read the statement, store it, then close without answering
        self.reject: tuple[int, str] | None = None  # answer statements with this JSON error
        self.requests: list[bytes] = []  # raw captured requests
        self.log: list[tuple[str, str, int]] = []  # (method, path, status)
        self.pages = 0  # challenge pages served
        self.lock = threading.Lock()

    # --- helpers ------------------------------------------------------------------------------
    def resolve_obu(self, kid: bytes) -> bytes | None:
        return self.obu.public_key() if kid == self.obu.kid else None

    def add_challenge(self, ch: messages.Challenge) -> bytes:
        env = envelopes.sign_message(ch, self.authority, labels.CTY_CHALLENGE)
        self.challenges[ch.challenge_id] = env
        return env

    def check_signed(self, header: str | None, method: str, path: str, body: bytes) -> None:
        """The backend's signed-request rules (backend/services/signed_request.py)."""
        if not header:
            raise ProtocolError("signed request missing")
        s1 = cose.verify_sign1(_b64url_decode(header), self.resolve_obu, labels.CTY_REQUEST)
        m = cbor.decode(s1.payload)
        if sorted(m) != [1, 2, 3, 4, 5] or len(m[5]) != 16:
            raise ProtocolError("signed request map malformed")
        if m[1] != method or m[2] != path or m[3] != hashlib.sha256(body).digest():
            raise ProtocolError("signed request does not match the request")
        if abs(self.now - m[4]) > WINDOW_S:
            raise ProtocolError("signed request expired")
        if m[5] in self.nonces:
            raise ProtocolError("nonce replayed")
        self.nonces.add(m[5])

    # --- endpoints ----------------------------------------------------------------------------
    def submit(self, body: bytes) -> tuple[int, bytes, str]:
        st, _ = verify.verify_statement(body, self.resolve_obu, group=GROUP)
        h = envelopes.statement_hash(body)
        if h in self.receipts:
            return 200, self.receipts[h], "application/cose"
        r = messages.Receipt(st.obu_id, st.seq, h, st.total_price_micro, st.segment_count, self.now)
        receipt = envelopes.sign_message(r, self.receipt_signer, labels.CTY_RECEIPT)
        self.receipts[h] = receipt
        self.statements[st.seq] = st
        return 201, receipt, "application/cose"

    def poll(self, query: str = "") -> tuple[int, bytes, str, str | None]:
        """One page of the open challenges, nearest deadline first; the last item is the
        next page's cursor (None on the last page). BadQuery for a bad limit or cursor."""
        args = parse_qs(query, keep_blank_values=True)
        limits = args.get("limit", [str(PAGE_MAX)])
        if len(limits) != 1 or not limits[0].isdigit() or not 1 <= int(limits[0]) <= PAGE_MAX:
            raise BadQuery("invalid_limit")
        limit = int(limits[0])
        keyed = sorted(
            ((messages.Challenge.decode(cose.decode_sign1(e).payload).deadline, cid), e)
            for cid, e in self.challenges.items()
        )
        if "cursor" in args:
            cursors = args["cursor"]
            d, _, h = cursors[0].partition(".")
            if len(cursors) != 1 or not d.isdigit() or len(h) != 32 or h != h.lower():
                raise BadQuery("invalid_cursor")
            try:
                after = (int(d), bytes.fromhex(h))
            except ValueError:
                raise BadQuery("invalid_cursor") from None
            keyed = [(k, e) for k, e in keyed if k > after]
        self.pages += 1
        if not keyed:
            return 204, b"", "", None
        page = keyed[:limit]
        more = len(keyed) > limit
        nxt = "%d.%s" % (page[-1][0][0], page[-1][0][1].hex()) if more else None
        return 200, cbor.encode([e for _, e in page]), "application/cbor", nxt

    def answer(self, body: bytes) -> tuple[int, bytes, str]:
        s1 = cose.verify_sign1(body, self.resolve_obu, labels.CTY_OPENING)
        opening = messages.Opening.decode(s1.payload)
        cid = opening.challenge_id
        if self.openings.get(cid) == body:
            return 200, b"", ""
        ch_env = self.challenges.get(cid)
        if ch_env is None:
            raise ProtocolError("no such open challenge")
        ch = messages.Challenge.decode(cose.decode_sign1(ch_env).payload)
        st = self.statements[ch.statement_seq]
        verify.check_opening_answers(opening, ch, st)
        if not opening.is_empty:
            verify.check_commitments(opening, st, GROUP)
        self.openings[cid] = body
        del self.challenges[cid]
        return 201, b"", ""

    @contextmanager
    def serve(self, tls: tuple[str, str] | None = None) -> Iterator[int]:
        """Serve on 127.0.0.1 (a free port, yielded); ``tls`` = (cert PEM, key PEM) for https."""
        backend = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _reply(
                self, status: int, body: bytes, ctype: str, extra: dict[str, str] | None = None
            ) -> None:
                self.send_response(status)
                if ctype:
                    self.send_header("Content-Type", ctype)
                for name, value in (extra or {}).items():
                    self.send_header(name, value)
                if status != 204:
                    self.send_header("Content-Length", str(len(body)))
                self.send_header("Connection", "close")
                self.end_headers()
                if status != 204:
                    self.wfile.write(body)
                self.close_connection = True

            def _error(self, status: int, code: str, detail: str) -> None:
                self._reply(
                    status,
                    json.dumps({"error": code, "detail": detail}).encode(),
                    "application/json",
                )

            def _handle(self, method: str) -> None:
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n) if n else b""
                head = "".join("%s: %s\r\n" % kv for kv in self.headers.items())
                raw = ("%s\r\n%s\r\n" % (self.requestline, head)).encode("latin-1") + body
                with backend.lock:
                    backend.requests.append(raw)
                    status = self._route(method, body)
                    backend.log.append((method, self.path, status))

            def _route(self, method: str, body: bytes) -> int:
                route, _, query = self.path.partition("?")
                extra: dict[str, str] = {}
                try:
                    if method == "POST" and self.path == "/api/v1/statements":
                        if self.headers.get("Content-Type") != "application/cose":
                            self._error(415, "unsupported_media_type", "send application/cose")
                            return 415
                        if backend.reject is not None:
                            status, code = backend.reject
                            self._error(status, code, "refused on purpose")
                            return status
                        status, out, ctype = backend.submit(body)
                        if backend.drop_statements:
                            backend.drop_statements -= 1
                            self.close_connection = True
                            return 0  # stored, but the answer is lost
                    elif method == "GET" and route == "/api/v1/obu/challenges":
                        backend.check_signed(
                            self.headers.get("QM-Signed-Request"), method, self.path, body
                        )
                        status, out, ctype, nxt = backend.poll(query)
                        if nxt is not None:
                            extra[NEXT_CURSOR] = nxt
                    elif method == "POST" and self.path == "/api/v1/obu/openings":
                        backend.check_signed(
                            self.headers.get("QM-Signed-Request"), method, self.path, body
                        )
                        status, out, ctype = backend.answer(body)
                    else:
                        self._error(404, "not_found", self.path)
                        return 404
                except BadQuery as e:
                    self._error(400, e.code, str(e))
                    return 400
                except ProtocolError as e:
                    self._error(422, getattr(e, "code", "protocol_error"), str(e))
                    return 422
                self._reply(status, out, ctype, extra)
                return status

            def do_GET(self) -> None:
                self._handle("GET")

            def do_POST(self) -> None:
                self._handle("POST")

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*tls)
            server.socket = ctx.wrap_socket(server.socket, server_side=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield server.server_address[1]
        finally:
            server.shutdown()
            server.server_close()
            thread.join(5)


class ReplayBackend(FakeBackend):
    """A FakeBackend for whole-day replays: its clock runs with the replay, and it audits.

    A replay feeds hours of GNSS time through the unit in seconds, so no wall clock can agree
    with the unit's: this backend's ``now`` follows the GNSS time the unit signs into its
    requests (the ±300 s window check then always passes; nonces, signatures, method, path and
    body are still checked). Every statement with segments that arrives for the first time gets
    one challenge, alternating a sighting at ``sighting_at(statement)`` (default: the middle of
    its period) and a random-index audit of its middle segment; ``answer`` verifies the
    opening against the statement and its commitments before accepting it.
    """

    def __init__(self, authority: p256.Signer, obu: p256.Signer, now: int = 0, sighting_at=None):
        super().__init__(authority, obu, now)
        self.sighting_at = sighting_at or (lambda st: (st.period_start + st.period_end) // 2)
        self.issued: list[messages.Challenge] = []

    def check_signed(self, header: str | None, method: str, path: str, body: bytes) -> None:
        if header:
            try:
                s1 = cose.decode_sign1(_b64url_decode(header))
                ts = cbor.decode(s1.payload).get(4)
            except (ProtocolError, ValueError, AttributeError):
                ts = None
            if isinstance(ts, int) and ts > self.now:
                self.now = ts
        super().check_signed(header, method, path, body)

    def submit(self, body: bytes) -> tuple[int, bytes, str]:
        st, _ = verify.verify_statement(body, self.resolve_obu, group=GROUP)
        self.now = max(self.now, st.period_end)
        new = envelopes.statement_hash(body) not in self.receipts
        out = super().submit(body)
        if new and st.segment_count:
            cid = hashlib.sha256(b"replay-challenge %d" % st.seq).digest()[:16]
            deadline = self.now + 7 * 86400
            if len(self.issued) % 2 == 0:
                at = self.sighting_at(st)
                ch = messages.Challenge(cid, st.obu_id, st.seq, 0, at, None, deadline)
            else:
                mid = st.segment_count // 2
                ch = messages.Challenge(cid, st.obu_id, st.seq, 1, None, mid, deadline)
            self.add_challenge(ch)
            self.issued.append(ch)
        return out
