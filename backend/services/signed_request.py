"""Signed OBU requests (everything an OBU sends besides statements).

An OBU proves a request is its own with a COSE_Sign1 (content type
``application/quietmile.request+cbor``) over the canonical CBOR map::

    {1: method (tstr), 2: path (tstr, with "?query" if any), 3: body_sha256 (bstr 32),
     4: timestamp (uint, Unix s), 5: nonce (bstr 16)}

sent base64url-encoded in the ``QM-Signed-Request`` header. The signature binds the method,
path and body; the timestamp bounds the replay window and the nonce table refuses a second
use inside it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.crypto import ecdsa
from backend.db.models import Obu, RequestNonce
from backend.db.session import begin_write
from backend.errors import KeyRevoked, ReplayedRequest, RequestExpired, RequestMismatch
from protocol import cbor, cose, labels
from protocol.errors import InvalidMessage, UnknownKeyId
from protocol.fields import bstr, check_map, tstr, uint

HEADER = "QM-Signed-Request"
NONCE_LEN = 16
MAX_TIME = 0xFFFFFFFFFF


@dataclass(frozen=True)
class SignedRequest:
    method: str
    path: str
    body_sha256: bytes
    timestamp: int
    nonce: bytes

    def encode(self) -> bytes:
        return cbor.encode(
            {1: self.method, 2: self.path, 3: self.body_sha256, 4: self.timestamp, 5: self.nonce}
        )

    @classmethod
    def decode(cls, data: bytes) -> SignedRequest:
        t = "SignedRequest"
        m = cbor.decode(data)
        check_map(t, m, (1, 2, 3, 4, 5))
        return cls(
            tstr(t, "method", m[1], 16),
            tstr(t, "path", m[2], 2048),
            bstr(t, "body_sha256", m[3], 32),
            uint(t, "timestamp", m[4], MAX_TIME),
            bstr(t, "nonce", m[5], NONCE_LEN),
        )


@dataclass(frozen=True)
class ObuPrincipal:
    """The OBU that signed a request."""

    obu_ref: int
    obu_id: str
    vehicle_id: int
    kid: bytes


def sign_request(
    signer: object, method: str, path: str, body: bytes, timestamp: int, nonce: bytes
) -> str:
    """The header value for a request (used by OBU clients, the simulator and the tests)."""
    req = SignedRequest(method.upper(), path, hashlib.sha256(body).digest(), timestamp, nonce)
    env = cose.sign1(req.encode(), signer, labels.CTY_REQUEST)
    return base64.urlsafe_b64encode(env).rstrip(b"=").decode("ascii")


def _b64url(value: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        raise InvalidMessage(f"{HEADER} is not base64url") from None


def verify_request(
    session: Session,
    header: str,
    *,
    method: str,
    path: str,
    body: bytes,
    now: int,
    window_s: int,
) -> ObuPrincipal:
    """Check the signature, binding, freshness and novelty of one request; record its nonce.

    The nonce is committed at once (its own transaction), so a request whose handler fails
    later still cannot be replayed.
    """
    envelope = _b64url(header.strip())
    owner: dict[str, Obu] = {}

    def resolve_key(kid: bytes) -> bytes:
        obu = session.scalar(select(Obu).where(Obu.kid == kid))
        if obu is None:
            raise UnknownKeyId("kid %s is not registered" % kid.hex())
        if obu.revoked_at is not None:
            raise KeyRevoked("kid %s belongs to a revoked OBU" % kid.hex())
        owner["obu"] = obu
        return obu.public_key

    s1 = cose.verify_sign1(envelope, resolve_key, labels.CTY_REQUEST, verify=ecdsa.verify)
    req = SignedRequest.decode(s1.payload)
    if req.method != method.upper() or req.path != path:
        raise RequestMismatch(
            "signed for %s %s, received %s %s" % (req.method, req.path, method, path)
        )
    if req.body_sha256 != hashlib.sha256(body).digest():
        raise RequestMismatch("body does not match the signed body hash")
    if abs(now - req.timestamp) > window_s:
        raise RequestExpired("timestamp %d is outside now ± %d s" % (req.timestamp, window_s))
    obu = owner["obu"]
    principal = ObuPrincipal(obu.id, obu.obu_id, obu.vehicle_id, s1.kid)
    session.rollback()
    begin_write(session)
    # A replay is accepted by the timestamp check until timestamp + window: keep it that long.
    session.execute(delete(RequestNonce).where(RequestNonce.expires_at < now))
    session.add(RequestNonce(kid=s1.kid, nonce=req.nonce, expires_at=req.timestamp + window_s))
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise ReplayedRequest("nonce already used") from None
    return principal
