"""A small HTTP/1.1 client for the OBU, over an injected transport.

``HttpClient`` never creates sockets itself: ``connect(host, port, timeout_ms)`` returns a
stream with ``write(buf)`` (bytes written), ``readinto(buf)`` (bytes read, 0 at the end) and
``close()``. On the ESP32 and the unix port that is :func:`socket_connect`; tests pass
``io.BytesIO``-backed fakes and compare the bytes written with the exact request expected.

One request per connection (``Connection: close``): the OBU talks to the backend a few times a
day, and a fresh connection after every error is simpler to get right than keep-alive. One
buffer of ``chunk`` bytes, allocated with the client, serves for streaming a request body from
flash and for parsing the response, so posting a month's statement needs no more heap than a
receipt. Bounds: ``max_header_bytes`` for the status line and headers together (over-long
header lines are skipped, not kept), ``max_body_bytes`` for a body kept in RAM, and
``timeout_ms`` for each stall while sending and for the whole response (socket timeouts bound
each wait; the deadline also stops a server that trickles its answer).

TLS: pass ``tls=tls_context(ca_der)`` to :func:`socket_connect` (MicroPython ``tls``/``ssl``
and CPython ``ssl`` share the SSLContext API). Plain ``http://`` is the default on the device
for now; see README.md for the TLS rollout. ``tls_context`` and the wrapper for CPython sockets
are in http_tls.py, loaded on first use (``tls_context`` is offered here by name).
"""

import errno

# The errors through the package (uplink.Timeout, …): they are loaded when first raised
# (firmware/uplink/failures.py), not with this module.
from firmware import uplink
from protocol.compat import lazy_names

TYPE_CHECKING = False
if TYPE_CHECKING:  # for mypy; at run time __getattr__ below provides it
    from firmware.uplink.http_tls import tls_context as tls_context

__getattr__ = lazy_names(__name__, ("firmware.uplink.http_tls", ("tls_context",)))

try:
    from time import ticks_add, ticks_diff, ticks_ms
except ImportError:  # CPython: the same names over the monotonic clock (which never wraps)
    import time as _time

    def ticks_ms():
        return _time.monotonic_ns() // 1000000

    def ticks_add(t, delta):
        return t + delta

    def ticks_diff(a, b):
        return a - b


# Response headers the client keeps (lower case); every other header is read and dropped.
KEEP_HEADERS = (
    "content-length",
    "content-type",
    "transfer-encoding",
    "retry-after",
    "qm-next-cursor",  # paged challenge lists (firmware/challenges.py)
)


def _is_timeout(e):
    if e.args and e.args[0] in (errno.ETIMEDOUT, errno.EAGAIN):
        return True
    return type(e).__name__ in ("timeout", "TimeoutError")


def _io_error(e, what):
    if _is_timeout(e):
        return uplink.Timeout("%s timed out" % what)
    return uplink.ConnectionClosed("%s failed: %r" % (what, e))


class Response:
    """Status, the kept headers (lower-case names, str values) and the body (bytes, or None
    when it went to a sink)."""

    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def ok(self):
        return 200 <= self.status < 300

    def header(self, name, default=None):
        return self.headers.get(name, default)

    def media_type(self):
        """Content type without parameters, lower case ("" if none)."""
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    def error(self):
        """HttpError for this answer, with the backend's JSON ``error`` code if it sent one."""
        code = None
        detail = None
        if self.body and self.media_type() == "application/json":
            try:
                import json

                doc = json.loads(self.body)
                if isinstance(doc, dict):
                    if isinstance(doc.get("error"), str):
                        code = doc["error"][:64]
                    detail = str(doc.get("detail", ""))[:200]
            except ValueError:
                pass  # a proxy's HTML error page: keep http_<status>
        retry = None
        ra = self.headers.get("retry-after", "").strip()
        if ra.isdigit():
            retry = int(ra)
        return uplink.HttpError(self.status, code, detail, retry)

    def raise_for_status(self):
        """Return self if 2xx, else raise the HttpError."""
        if not self.ok:
            raise self.error()
        return self


def socket_connect(host, port, timeout_ms, tls=None):
    """Open a TCP connection (ESP32, unix port, CPython); wrap it with ``tls`` if given."""
    import socket

    try:
        ai = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)[0]
        s = socket.socket(ai[0], socket.SOCK_STREAM, ai[2])
    except OSError as e:
        raise uplink.ConnectFailed("%s:%d: %r" % (host, port, e)) from None
    try:
        # Whole seconds: ESP32 floats are single precision and the bound is coarse anyway.
        s.settimeout(max(1, timeout_ms // 1000))
        s.connect(ai[-1])
    except OSError as e:
        s.close()
        if _is_timeout(e):
            raise uplink.Timeout("connect to %s:%d timed out" % (host, port)) from None
        raise uplink.ConnectFailed("%s:%d: %r" % (host, port, e)) from None
    if tls is not None:
        try:
            s = tls.wrap_socket(s, server_hostname=host)
        except (OSError, ValueError) as e:  # MicroPython reports a bad certificate as ValueError
            s.close()
            raise uplink.TlsFailed("%s:%d: %s" % (host, port, str(e).strip()[:120])) from None
    if hasattr(s, "recv_into"):  # CPython: MicroPython sockets are streams already
        from firmware.uplink.http_tls import SocketStream

        return SocketStream(s)
    return s


class HttpClient:
    """HTTP/1.1 requests to one backend (``host``:``port``, paths under ``base_path``)."""

    def __init__(
        self,
        host,
        port=80,
        connect=None,
        base_path="",
        timeout_ms=30000,
        max_header_bytes=4096,
        max_body_bytes=16384,
        chunk=512,
        ticks=None,
        user_agent=None,
        default_port=80,
    ):
        self.host = host
        self.port = port
        self.base_path = base_path
        self._connect = connect if connect is not None else socket_connect
        self.timeout_ms = timeout_ms
        self.max_header_bytes = max_header_bytes
        self.max_body_bytes = max_body_bytes
        self._ticks = ticks if ticks is not None else ticks_ms
        self.user_agent = user_agent
        self._host_header = host if port == default_port else "%s:%d" % (host, port)
        self._buf = bytearray(chunk)
        self._mv = memoryview(self._buf)
        # Totals over the client's life, for the uplink budget (DESIGN §8).
        self.sent_bytes = 0
        self.received_bytes = 0

    # --- public ---------------------------------------------------------------------------
    def request(
        self,
        method,
        path,
        body=None,
        body_len=None,
        content_type=None,
        headers=None,
        sink=None,
    ):
        """Send one request; return the Response (any status). Raises UplinkError subclasses.

        ``body``: bytes, or a file-like object with ``readinto`` streamed in chunks (then
        ``body_len`` is required). ``headers``: extra (name, value) pairs, sent in order.
        ``sink``: an object with ``write`` that receives the response body instead of RAM.
        """
        if body is not None and body_len is None:
            if not isinstance(body, (bytes, bytearray, memoryview)):
                raise ValueError("body_len is required for a streamed body")
            body_len = len(body)
        head = self._head(method, self.base_path + path, body_len, content_type, headers)
        self._start = self._ticks()
        try:
            s = self._connect(self.host, self.port, self.timeout_ms)
        except OSError as e:
            raise uplink.ConnectFailed("%s:%d: %r" % (self.host, self.port, e)) from None
        try:
            self._send(s, head)
            if body is not None:
                self._send_body(s, body, body_len)
            return self._response(s, method, sink)
        finally:
            try:
                s.close()
            except OSError:
                pass

    def get(self, path, headers=None, sink=None):
        return self.request("GET", path, headers=headers, sink=sink)

    def post(self, path, body, content_type, headers=None, body_len=None):
        return self.request("POST", path, body, body_len, content_type, headers)

    # --- request ----------------------------------------------------------------------------
    def _head(self, method, target, body_len, content_type, headers):
        parts = ["%s %s HTTP/1.1\r\nHost: %s\r\n" % (method, target, self._host_header)]
        if self.user_agent:
            parts.append("User-Agent: %s\r\n" % self.user_agent)
        if headers:
            for name, value in headers:
                if "\n" in name or "\n" in value or "\r" in value:
                    raise ValueError("header %s: line breaks not allowed" % name)
                parts.append("%s: %s\r\n" % (name, value))
        if content_type:
            parts.append("Content-Type: %s\r\n" % content_type)
        if body_len is not None:
            parts.append("Content-Length: %d\r\n" % body_len)
        parts.append("Connection: close\r\n\r\n")
        return "".join(parts).encode()

    def _send(self, s, data):
        mv = memoryview(data)
        n = len(mv)
        off = 0
        while off < n:
            if ticks_diff(self._ticks(), self._start) > self.timeout_ms:
                raise uplink.Timeout("no complete answer within %d ms" % self.timeout_ms)
            try:
                k = s.write(mv[off:])
            except OSError as e:
                raise _io_error(e, "send") from None
            if k:
                off += k
                # A month's statement over a slow modem link takes longer than one timeout:
                # while sending, the deadline counts from the last progress.
                self._start = self._ticks()
        self.sent_bytes += n

    def _send_body(self, s, body, n):
        if isinstance(body, (bytes, bytearray, memoryview)):
            if len(body) != n:
                raise ValueError("body_len differs from the body")
            self._send(s, body)
            return
        mv = self._mv
        left = n
        while left:
            k = body.readinto(mv[: min(left, len(mv))])
            if not k:
                raise ValueError("body ended %d bytes early" % left)
            self._send(s, mv[:k])
            left -= k

    # --- response ---------------------------------------------------------------------------
    def _response(self, s, method, sink):
        r = _Reader(self, s, sink)
        while True:
            status = self._status_line(r)
            hdrs = self._headers(r)
            if status >= 200 or status == 101:
                break  # 1xx (100 Continue, 103 Early Hints) precede the real answer
        if method == "HEAD" or status in (204, 304) or status < 200:
            body = b"" if sink is None else None
        else:
            body = self._body(r, hdrs)
        self.received_bytes += r.total
        return Response(status, hdrs, body)

    def _status_line(self, r):
        line = r.readline(self.max_header_bytes - r.line_bytes)
        if line is None:
            raise uplink.BadResponse("status line too long")
        parts = line.split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or len(parts[1]) != 3:
            raise uplink.BadResponse("not an HTTP/1.x status line: %r" % line[:40])
        try:
            return int(parts[1])
        except ValueError:
            raise uplink.BadResponse("bad status code %r" % parts[1]) from None

    def _headers(self, r):
        hdrs = {}
        while True:
            line = r.readline(self.max_header_bytes - r.line_bytes)
            if line is None:
                continue  # an over-long header we would not keep anyway
            if not line:
                return hdrs
            name, sep, value = line.partition(b":")
            if not sep or not name or name[0] in b" \t":
                raise uplink.BadResponse("malformed header line")
            key = name.strip().lower().decode()
            if key in KEEP_HEADERS:
                v = value.strip().decode()
                if key in hdrs and hdrs[key] != v:
                    raise uplink.BadResponse("conflicting %s headers" % key)
                hdrs[key] = v

    def _body(self, r, hdrs):
        te = hdrs.get("transfer-encoding", "").lower()
        if te:
            if te.split(",")[-1].strip() != "chunked":
                raise uplink.BadResponse("transfer-encoding %s not supported" % te)
            self._chunked(r)
        elif "content-length" in hdrs:
            cl = hdrs["content-length"]
            if not cl.isdigit():
                raise uplink.BadResponse("bad content-length")
            r.copy(int(cl))
        else:
            r.copy(-1)  # delimited by the end of the connection
        return None if r.out is None else bytes(r.out)

    def _chunked(self, r):
        while True:
            line = r.readline(self.max_header_bytes)
            if line is None:
                raise uplink.BadResponse("chunk size line too long")
            size = line.split(b";")[0].strip()
            try:
                n = int(size, 16)
            except ValueError:
                raise uplink.BadResponse("bad chunk size %r" % size[:16]) from None
            if n < 0:
                raise uplink.BadResponse("bad chunk size")
            if n == 0:
                break
            r.copy(n)
            if r.readline(4) != b"":
                raise uplink.BadResponse("chunk not followed by CRLF")
        while r.readline(self.max_header_bytes) != b"":
            pass  # trailer fields: none we use


class _Reader:
    """Buffered reads from the stream through the client's one buffer, within the deadline;
    the body goes to the caller's sink or to ``out``, a bytearray bounded by the client's
    ``max_body_bytes`` (one object for both: a class less on the heap)."""

    def __init__(self, client, stream, sink):
        self.c = client
        self.s = stream
        self.buf = client._buf
        self.mv = client._mv
        self.pos = 0
        self.end = 0
        self.total = 0  # bytes received
        self.line_bytes = 0  # bytes consumed by readline
        self.sink = sink
        self.out = bytearray() if sink is None else None
        self.body_bytes = 0  # bytes moved by copy

    def _fill(self):
        """Read more after the buffered bytes; return the count (0 at the end of stream)."""
        if self.pos == self.end:
            self.pos = self.end = 0
        elif self.end == len(self.buf) and self.pos:
            n = self.end - self.pos
            self.mv[:n] = self.mv[self.pos : self.end]
            self.pos = 0
            self.end = n
        c = self.c
        while True:
            if ticks_diff(c._ticks(), c._start) > c.timeout_ms:
                raise uplink.Timeout("no complete answer within %d ms" % c.timeout_ms)
            try:
                k = self.s.readinto(self.mv[self.end :])
            except OSError as e:
                raise _io_error(e, "receive") from None
            if k is not None:
                break  # None: a non-blocking stream has nothing yet
        self.end += k
        self.total += k
        return k

    def readline(self, limit):
        """The next line without its CRLF (bytes), or None if it was longer than the buffer
        (then dropped up to its end). BadResponse if the line, CRLF included, exceeds
        ``limit`` bytes; ``line_bytes`` adds up what every call consumed."""
        skipped = False
        used = 0
        while True:
            i = self.buf.find(b"\n", self.pos, self.end)
            if i >= 0:
                used += i + 1 - self.pos
                if used > limit:
                    raise uplink.BadResponse("response line or head over %d bytes" % limit)
                line = None if skipped else bytes(self.mv[self.pos : i])
                self.pos = i + 1
                self.line_bytes += used
                if line is not None and line.endswith(b"\r"):
                    line = line[:-1]
                return line
            if self.end - self.pos == len(self.buf):
                used += self.end - self.pos  # longer than the buffer: drop what we have
                if used > limit:
                    raise uplink.BadResponse("response line or head over %d bytes" % limit)
                self.pos = self.end
                skipped = True
            if not self._fill():
                raise uplink.ConnectionClosed("connection closed inside the response head")

    def copy(self, n):
        """Move ``n`` body bytes (``-1``: up to the end of the stream) to the sink or ``out``;
        BadResponse before ``out`` would exceed ``max_body_bytes``."""
        limit = self.c.max_body_bytes
        total = self.body_bytes + n  # a declared size is checked before reading any of it
        while True:
            if self.out is not None and total > limit:
                raise uplink.BadResponse("body of %d bytes exceeds %d" % (total, limit))
            if not n:
                return
            if self.pos == self.end and not self._fill():
                if n > 0:
                    raise uplink.ConnectionClosed("connection closed inside the body")
                return
            k = self.end - self.pos
            if 0 < n < k:
                k = n
            piece = self.mv[self.pos : self.pos + k]
            self.body_bytes += k
            if n > 0:
                n -= k
            else:
                total = self.body_bytes  # delimited by the end of the stream: checked as read
                if self.out is not None and total > limit:
                    raise uplink.BadResponse("body of %d bytes exceeds %d" % (total, limit))
            if self.out is None:
                self.sink.write(piece)
            else:
                self.out.extend(piece)
            self.pos += k
