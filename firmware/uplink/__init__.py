"""OBU uplink: HTTP/1.1 to the authority's backend (README.md in this folder).

``http.py`` is the client over an injected transport, ``signed.py`` the signed-request header,
``sealed.py`` reads sealed statement files without loading them, ``outbox.py`` submits them and
keeps the receipts. Challenges are answered by firmware/challenges.py over the same client.

This module holds what they share and stays small, because every import of a submodule loads
it: the backend endpoints (one place, so the backend and the OBU agree) and the error classes.
"""

from protocol.compat import const

# --- backend endpoints ------------------------------------------------------------------------
# POST a sealed Statement envelope as-is (self-authenticating, no signed request).
# 201 (new) or 200 (same envelope again): body = the signed Receipt, application/cose.
# 4xx: JSON {"error": <code>, "detail": ...}; nothing was stored.
PATH_STATEMENTS = "/api/v1/statements"
# GET ?limit=<1..32>[&cursor=<c>] with a signed request over the path and query (empty body).
# 200: application/cbor, a CBOR array whose items are Challenge COSE_Sign1 envelopes as byte
# strings: one page of the open (unanswered, not expired) challenges of the calling OBU,
# nearest deadline first; 204 or an empty array: none. A QM-Next-Cursor header carries the
# cursor of the next page while more remain (SPEC §4.9).
PATH_CHALLENGES = "/api/v1/obu/challenges"
NEXT_CURSOR_HEADER = "QM-Next-Cursor"
# POST an Opening COSE_Sign1 envelope (application/cose) with a signed request over it.
# 2xx: stored (also when the identical envelope is posted again: the answer may be lost on the
# way back). 4xx: JSON error as above; the OBU does not resend.
PATH_OPENINGS = "/api/v1/obu/openings"
# GET (public): the authority's current signed TariffPolicy, application/cose.
PATH_POLICY = "/api/v1/policies/current"
# GET with a signed request: application/cbor, a CBOR array of authority-signed dispute
# requests (SPEC §8.1) still waiting for this OBU's openings; 404 from a backend without them.
# POST <PATH_DISPUTES>/<dispute id hex>/openings: a CBOR array of Opening envelopes
# (application/cbor) with a signed request; 200 with JSON counts; identical re-sends are
# counted as repeats (firmware/disputes.py).
PATH_DISPUTES = "/api/v1/obu/disputes"

MEDIA_COSE = "application/cose"
MEDIA_CBOR = "application/cbor"
SIGNED_REQUEST_HEADER = "QM-Signed-Request"


# --- errors -----------------------------------------------------------------------------------
class UplinkError(Exception):
    """Something went wrong talking to the backend. Retry later unless ``permanent``."""

    code = "uplink_error"
    permanent = False


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


def authority_resolver(keys):
    """``resolve_key(kid)`` for cose.verify_sign1 over the authority's public key(s).

    ``keys`` is one 65-byte SEC1 key or a list of them (a rotation announces the next key
    before it signs). Unknown kids resolve to None, which verify_sign1 rejects.
    """
    from protocol.p256 import key_id

    if isinstance(keys, (bytes, bytearray)):
        keys = [keys]
    table = [(key_id(bytes(k)), bytes(k)) for k in keys]

    def resolve(kid):
        for k, pub in table:
            if k == kid:
                return pub
        return None

    return resolve
