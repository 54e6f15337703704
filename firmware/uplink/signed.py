"""The ``QM-Signed-Request`` header: the OBU's signature over one HTTP request (SPEC §4.8).

COSE_Sign1 (content type labels.CTY_REQUEST) over the canonical CBOR map
``{1: method, 2: path, 3: SHA-256(body), 4: timestamp, 5: nonce(16)}``, sent as base64url
without padding. The backend checks method, path and body against the request, the timestamp
against its clock (±300 s by default, so the OBU needs GNSS time) and refuses a nonce twice.
Statements do not use it: they are signed envelopes already.
"""

import binascii
import hashlib

from firmware.uplink import SIGNED_REQUEST_HEADER, ClockUnknown
from protocol import cbor, cose, labels

NONCE_LEN = 16
EMPTY_SHA256 = hashlib.sha256(b"").digest()


def b64url(data):
    """base64url of ``data`` without padding (RFC 4648 §5), as bytes."""
    b = binascii.b2a_base64(data, newline=False)
    return b.replace(b"+", b"-").replace(b"/", b"_").rstrip(b"=")


def signed_request(signer, method, path, body_sha256, timestamp, nonce):
    """The header value (str) for one request; ``path`` exactly as sent, query included."""
    if timestamp is None:
        raise ClockUnknown("a signed request needs GNSS time")
    if len(nonce) != NONCE_LEN or len(body_sha256) != 32:
        raise ValueError("nonce must be 16 bytes and body_sha256 32")
    payload = cbor.encode(
        {1: method.upper(), 2: path, 3: body_sha256, 4: timestamp, 5: bytes(nonce)}
    )
    return b64url(cose.sign1(payload, signer, labels.CTY_REQUEST)).decode()


def signed_headers(signer, method, path, body, timestamp, rng):
    """``[(QM-Signed-Request, value)]`` for ``body`` (bytes; b"" for a GET)."""
    digest = hashlib.sha256(body).digest() if body else EMPTY_SHA256
    value = signed_request(signer, method, path, digest, timestamp, rng(NONCE_LEN))
    return [(SIGNED_REQUEST_HEADER, value)]
