"""What :mod:`firmware.uplink.http` needs only off the plain-socket path, imported on first use
(a unit on plain ``http://`` with MicroPython sockets never loads it): the stream wrapper for
CPython sockets and the TLS context. ``tls_context`` stays importable from http.py.
"""


class SocketStream:
    """CPython socket (or SSLSocket) with the stream methods MicroPython sockets have."""

    def __init__(self, sock):
        self._s = sock

    def write(self, buf):
        self._s.sendall(buf)
        return len(buf)

    def readinto(self, buf):
        return self._s.recv_into(buf)

    def close(self):
        self._s.close()


def tls_context(ca_der):
    """A client SSLContext that trusts only ``ca_der`` (the authority's CA certificate)."""
    import ssl  # MicroPython: the wrapper over ``tls`` with CPython's keywords

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(cadata=ca_der)
    return ctx
