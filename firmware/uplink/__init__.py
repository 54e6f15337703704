"""OBU uplink: HTTP/1.1 to the authority's backend (README.md in this folder).

``http.py`` is the client over an injected transport, ``signed.py`` the signed-request header,
``sealed.py`` reads sealed statement files without loading them, ``outbox.py`` submits them and
keeps the receipts. Challenges are answered by firmware/challenges.py over the same client.

This module holds what they share and stays small, because every import of a submodule loads
it: the backend endpoints (one place, so the backend and the OBU agree) and the base error
class; the others (failures.py) load when one is first raised or named.
"""

import sys

from protocol.compat import const, lazy_names

# A copy of failures.py left from an earlier import of this package derives from that copy's
# UplinkError, which ``except UplinkError`` here would not catch: it goes with the old package
# (App unloads this package after every sync).
sys.modules.pop("firmware.uplink.failures", None)

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


# The other errors, raised only when something went wrong, are defined in failures.py and
# offered here by name, loaded on first use (then kept): a sync in good order never raises one,
# so their class objects stay off the heap. ``from firmware.uplink import HttpError`` and
# ``uplink.HttpError`` give the very same classes.
TYPE_CHECKING = False
if TYPE_CHECKING:  # for mypy; at run time __getattr__ below provides them
    from firmware.uplink.failures import BadResponse as BadResponse
    from firmware.uplink.failures import ClockUnknown as ClockUnknown
    from firmware.uplink.failures import ConnectFailed as ConnectFailed
    from firmware.uplink.failures import ConnectionClosed as ConnectionClosed
    from firmware.uplink.failures import HttpError as HttpError
    from firmware.uplink.failures import ReceiptInvalid as ReceiptInvalid
    from firmware.uplink.failures import Timeout as Timeout
    from firmware.uplink.failures import TlsFailed as TlsFailed

_FAILURES = const(
    (
        "BadResponse",
        "ClockUnknown",
        "ConnectFailed",
        "ConnectionClosed",
        "HttpError",
        "ReceiptInvalid",
        "Timeout",
        "TlsFailed",
    )
)


# The package's modules, served by name too (protocol.compat.lazy_names says why).
__getattr__ = lazy_names(
    __name__,
    ("firmware.uplink.failures", _FAILURES),
    submodules=("failures", "http", "http_tls", "outbox", "sealed", "signed"),
)


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
