"""The uplink's errors other than the base class: what a sync in good order never raises.

Defined apart from firmware/uplink/__init__.py so that their class objects take no heap until
one is needed; the package offers every one of them by name (``from firmware.uplink import
Timeout``, ``uplink.HttpError``), loaded on first use and then kept, so they are the very same
classes wherever they are named.
"""

from firmware.uplink import UplinkError
from protocol.compat import const


class ConnectFailed(UplinkError):
    """No connection: no network, DNS failure, refused."""

    code = "connect_failed"


class TlsFailed(ConnectFailed):
    """The TLS handshake failed: certificate not from the pinned CA, wrong host, protocol."""

    code = "tls_failed"


class ConnectionClosed(UplinkError):
    """The connection broke or closed before a whole response arrived."""

    code = "connection_closed"


class Timeout(UplinkError):
    """The backend did not answer in time."""

    code = "timeout"


class BadResponse(UplinkError):
    """The answer is not HTTP/1.x we can parse, or exceeds a size bound."""

    code = "bad_response"


class ClockUnknown(UplinkError):
    """Signed requests need GNSS time (the backend checks the timestamp)."""

    code = "clock_unknown"


class ReceiptInvalid(UplinkError):
    """A 2xx answer whose Receipt does not verify or does not match the statement sent."""

    code = "receipt_invalid"


# Statuses that mean "try again later" although they are 4xx.
_TRANSIENT_4XX = const((408, 425, 429))


class HttpError(UplinkError):
    """A non-2xx answer. ``code`` is the backend's stable error code (JSON ``error``) when it
    sent one, else ``http_<status>``; ``retry_after_s`` from a Retry-After header or None."""

    def __init__(self, status, code=None, detail=None, retry_after_s=None):
        self.status = status
        self.code = code if code else "http_%d" % status
        self.detail = detail
        self.retry_after_s = retry_after_s
        self.permanent = 400 <= status < 500 and status not in _TRANSIENT_4XX
        super().__init__("HTTP %d %s" % (status, self.code))
