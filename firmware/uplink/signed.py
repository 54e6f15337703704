"""The ``QM-Signed-Request`` header: the OBU's signature over one HTTP request (SPEC §4.8).

COSE_Sign1 (content type labels.CTY_REQUEST) over the canonical CBOR map
``{1: method, 2: path, 3: SHA-256(body), 4: timestamp, 5: nonce(16)}``, sent as base64url
without padding. The backend checks method, path and body against the request, the timestamp
against its clock (±300 s by default, so the OBU needs GNSS time) and refuses a nonce twice.
Statements do not use it: they are signed envelopes already.
"""

import binascii
import hashlib

from firmware import uplink
from firmware.uplink import PATH_DISPUTES, SIGNED_REQUEST_HEADER
from protocol import cbor, cose, labels
from protocol.errors import ProtocolError

NONCE_LEN = 16
EMPTY_SHA256 = hashlib.sha256(b"").digest()


def b64url(data):
    """base64url of ``data`` without padding (RFC 4648 §5), as bytes."""
    b = binascii.b2a_base64(data, newline=False)
    return b.replace(b"+", b"-").replace(b"/", b"_").rstrip(b"=")


def signed_request(signer, method, path, body_sha256, timestamp, nonce):
    """The header value (str) for one request; ``path`` exactly as sent, query included."""
    if timestamp is None:
        raise uplink.ClockUnknown("a signed request needs GNSS time")
    if len(nonce) != NONCE_LEN or len(body_sha256) != 32:
        raise ValueError("nonce must be 16 bytes and body_sha256 32")
    payload = cbor.encode(
        {1: method.upper(), 2: path, 3: body_sha256, 4: timestamp, 5: bytes(nonce)}
    )
    return b64url(cose.sign1(payload, signer, labels.CTY_REQUEST)).decode()


def signed_headers(signer, method, path, body, timestamp, rng, body_sha256=None):
    """``[(QM-Signed-Request, value)]`` for ``body`` (bytes; b"" for a GET), or for a body
    streamed from flash whose SHA-256 is ``body_sha256``."""
    if body_sha256 is not None:
        digest = body_sha256
    else:
        digest = hashlib.sha256(body).digest() if body else EMPTY_SHA256
    value = signed_request(signer, method, path, digest, timestamp, rng(NONCE_LEN))
    return [(SIGNED_REQUEST_HEADER, value)]


def poll_disputes(client, signer, now, rng):
    """The dispute request envelopes the backend lists for this unit (a list of bytes; SPEC
    §8.1): a signed ``GET /api/v1/obu/disputes``, a 404 meaning a backend without disputes.

    Here rather than in firmware.disputes so that a sync can learn that there is nothing to
    do — the usual answer — without loading the dispute handler (App.handle_disputes)."""
    path = client.base_path + PATH_DISPUTES
    hdrs = signed_headers(signer, "GET", path, b"", now, rng)
    resp = client.request("GET", PATH_DISPUTES, headers=hdrs)
    if resp.status == 404:
        return []  # a backend without disputes
    resp.raise_for_status()
    if resp.status == 204 or not resp.body:
        return []
    try:
        items = cbor.decode(resp.body)
    except ProtocolError:
        items = None
    if not isinstance(items, list):
        raise uplink.BadResponse("dispute list is not a CBOR array")
    return [e for e in items if isinstance(e, bytes)]
