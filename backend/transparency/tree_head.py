"""Signed tree heads: the log's commitment to its size and root hash at a point in time.

A TreeHead is the deterministic CBOR map ``{1: size, 2: root_hash, 3: timestamp}``, signed as
a tagged COSE_Sign1 (RFC 9052) with ES256, exactly like the protocol's other envelopes
(protocol/SPEC.md §3.5): protected header ``{1: -7, 3: CONTENT_TYPE, 4: kid}``, empty
unprotected header, Sig_structure ``["Signature1", protected, h'', payload]``, raw 64-byte
r || s signature. Drivers and DPOs hold the log's public key; with two signed heads and a
consistency proof they can check the log only ever grew.

Signing and verification use ``cryptography`` directly so this module does not depend on the
protocol's COSE code. CBOR is ``protocol.cbor`` (strict deterministic decoder) when it imports,
else ``cbor2`` with an explicit re-encode check; both give byte-identical encodings.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeGuard

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from backend.transparency.merkle import HASH_SIZE

CONTENT_TYPE = "application/quietmile.tree-head+cbor"

# COSE (RFC 9052 §3.1, §4.2; RFC 9053 §2.1).
TAG_COSE_SIGN1 = 18
ALG_ES256 = -7
HDR_ALG = 1
HDR_CONTENT_TYPE = 3
HDR_KID = 4
_SIG_CONTEXT = "Signature1"

# TreeHead map keys.
KEY_SIZE = 1
KEY_ROOT_HASH = 2
KEY_TIMESTAMP = 3

# Protocol time bound (SPEC.md §4: times are uint ≤ 2^40 − 1 Unix seconds).
MAX_TIMESTAMP = (1 << 40) - 1
MAX_SIZE = (1 << 64) - 1
MAX_KID_LEN = 64

_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())


class InvalidTreeHead(ValueError):
    """An envelope that is not a correctly signed, well-formed tree head under the given key."""


@dataclass(frozen=True)
class TreeHead:
    """The log had ``size`` entries with tree hash ``root_hash`` at ``timestamp`` (Unix s)."""

    size: int
    root_hash: bytes
    timestamp: int

    def __post_init__(self) -> None:
        if not _is_uint(self.size, MAX_SIZE):
            raise ValueError("size must be an int in [0, 2^64)")
        if not (isinstance(self.root_hash, bytes) and len(self.root_hash) == HASH_SIZE):
            raise ValueError("root_hash must be %d bytes" % HASH_SIZE)
        if not _is_uint(self.timestamp, MAX_TIMESTAMP):
            raise ValueError("timestamp must be an int in [0, 2^40)")

    def encode(self) -> bytes:
        """Deterministic CBOR {1: size, 2: root_hash, 3: timestamp}."""
        return _CODEC.encode(
            {KEY_SIZE: self.size, KEY_ROOT_HASH: self.root_hash, KEY_TIMESTAMP: self.timestamp}
        )

    @classmethod
    def decode(cls, data: bytes) -> TreeHead:
        """Parse the deterministic encoding; InvalidTreeHead on anything else."""
        obj = _CODEC.decode(data)
        if not _is_int_keyed(obj, {KEY_SIZE, KEY_ROOT_HASH, KEY_TIMESTAMP}):
            raise InvalidTreeHead("tree head must be a map with exactly the keys 1, 2, 3")
        size, root_hash, timestamp = obj[KEY_SIZE], obj[KEY_ROOT_HASH], obj[KEY_TIMESTAMP]
        if not (
            isinstance(size, int) and isinstance(root_hash, bytes) and isinstance(timestamp, int)
        ):
            raise InvalidTreeHead("tree head fields must be uint, bstr, uint")
        try:
            return cls(size, root_hash, timestamp)
        except ValueError as e:
            raise InvalidTreeHead(str(e)) from None


def _is_uint(x: object, limit: int) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and 0 <= x <= limit


def _is_int_keyed(obj: object, keys: set[int]) -> TypeGuard[dict[int, object]]:
    """A map with exactly ``keys``, all true ints (cbor2 would let 1.0 pass as 1)."""
    return isinstance(obj, dict) and all(type(k) is int for k in obj) and set(obj) == keys


# --- CBOR backend -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Codec:
    """The few CBOR operations this module needs, over protocol.cbor or cbor2."""

    name: str
    encode: Callable[[object], bytes]
    # Strict: raises InvalidTreeHead unless ``data`` is exactly one deterministic item.
    decode: Callable[[bytes], object]
    tag: Callable[[int, object], object]
    # (tag number, content) for a tagged item, else None.
    untag: Callable[[object], tuple[int, object] | None]


def _protocol_codec() -> _Codec:
    # Imported by name: protocol/ is MicroPython-compatible and unannotated, so mypy is kept
    # out of it and its functions are bound to typed names here.
    cbor: Any = importlib.import_module("protocol.cbor")
    errors: Any = importlib.import_module("protocol.errors")
    encode: Callable[[object], bytes] = cbor.encode
    decode_strict: Callable[[bytes], object] = cbor.decode
    tag_cls: Callable[[int, object], object] = cbor.Tag
    tag_type: Any = cbor.Tag
    decode_error: type[Exception] = errors.DecodeError

    def decode(data: bytes) -> object:
        try:
            return decode_strict(data)
        except decode_error as e:
            raise InvalidTreeHead("malformed CBOR: %s" % e) from None

    def untag(obj: object) -> tuple[int, object] | None:
        if isinstance(obj, tag_type):
            tagged: Any = obj
            number: int = tagged.tag
            value: object = tagged.value
            return number, value
        return None

    return _Codec("protocol.cbor", encode, decode, tag_cls, untag)


def _cbor2_codec() -> _Codec:
    import cbor2

    def encode(obj: object) -> bytes:
        return cbor2.dumps(obj, canonical=True)

    def decode(data: bytes) -> object:
        try:
            obj: object = cbor2.loads(data)
        except (cbor2.CBORDecodeError, ValueError, TypeError, RecursionError) as e:
            raise InvalidTreeHead("malformed CBOR: %s" % e) from None
        # cbor2 accepts non-deterministic forms and ignores trailing bytes; re-encoding proves
        # the input was exactly one item in its deterministic encoding.
        try:
            again = encode(obj)
        except (cbor2.CBOREncodeError, ValueError, TypeError) as e:
            raise InvalidTreeHead("unsupported CBOR item: %s" % e) from None
        if again != data:
            raise InvalidTreeHead("CBOR is not in deterministic encoding")
        return obj

    def untag(obj: object) -> tuple[int, object] | None:
        if isinstance(obj, cbor2.CBORTag):
            number: int = obj.tag
            return number, obj.value
        return None

    return _Codec("cbor2", encode, decode, cbor2.CBORTag, untag)


def _load_codec() -> _Codec:
    try:
        return _protocol_codec()
    except ImportError:
        return _cbor2_codec()


_CODEC = _load_codec()


# --- COSE_Sign1 -------------------------------------------------------------------------------


def _protected_header(kid: bytes) -> bytes:
    return _CODEC.encode({HDR_ALG: ALG_ES256, HDR_CONTENT_TYPE: CONTENT_TYPE, HDR_KID: kid})


def _to_be_signed(protected: bytes, payload: bytes) -> bytes:
    return _CODEC.encode([_SIG_CONTEXT, protected, b"", payload])


def sign_tree_head(head: TreeHead, private_key: ec.EllipticCurvePrivateKey, kid: bytes) -> bytes:
    """The tagged COSE_Sign1 (ES256) envelope of ``head``, signed by the log's key ``kid``."""
    if not isinstance(private_key.curve, ec.SECP256R1):
        raise ValueError("ES256 needs a P-256 key")
    if not (isinstance(kid, bytes) and 0 < len(kid) <= MAX_KID_LEN):
        raise ValueError("kid must be 1..%d bytes" % MAX_KID_LEN)
    protected = _protected_header(kid)
    payload = head.encode()
    der = private_key.sign(_to_be_signed(protected, payload), _ECDSA_SHA256)
    r, s = decode_dss_signature(der)
    signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return _CODEC.encode(_CODEC.tag(TAG_COSE_SIGN1, [protected, {}, payload, signature]))


class RawSigner(Protocol):
    """A P-256 signer returning raw r || s over SHA-256(msg) (backend.crypto.signer.Signer)."""

    kid: bytes

    def sign(self, msg: bytes) -> bytes: ...


def sign_tree_head_with(head: TreeHead, signer: RawSigner) -> bytes:
    """Like sign_tree_head, with a signer object (key file, HSM) instead of a private key."""
    kid = signer.kid
    if not (isinstance(kid, bytes) and 0 < len(kid) <= MAX_KID_LEN):
        raise ValueError("kid must be 1..%d bytes" % MAX_KID_LEN)
    protected = _protected_header(kid)
    payload = head.encode()
    signature = signer.sign(_to_be_signed(protected, payload))
    if len(signature) != 64:
        raise ValueError("the signer must return a 64-byte r || s signature")
    return _CODEC.encode(_CODEC.tag(TAG_COSE_SIGN1, [protected, {}, payload, signature]))


def _parse_envelope(envelope: bytes) -> tuple[bytes, bytes, bytes, bytes]:
    """(protected, kid, payload, signature) of one of our tree-head envelopes, unverified."""
    if not isinstance(envelope, bytes):
        raise InvalidTreeHead("envelope must be bytes")
    tagged = _CODEC.untag(_CODEC.decode(envelope))
    if tagged is None or tagged[0] != TAG_COSE_SIGN1:
        raise InvalidTreeHead("not a tagged COSE_Sign1")
    body = tagged[1]
    if not isinstance(body, list) or len(body) != 4:
        raise InvalidTreeHead("COSE_Sign1 must be an array of 4 items")
    protected, unprotected, payload, signature = body
    if not isinstance(protected, bytes) or not isinstance(payload, bytes):
        raise InvalidTreeHead("protected header and payload must be byte strings")
    if unprotected != {}:
        raise InvalidTreeHead("unprotected header must be empty")
    if not isinstance(signature, bytes) or len(signature) != 64:
        raise InvalidTreeHead("signature must be 64 bytes r || s")
    header = _CODEC.decode(protected)
    if not _is_int_keyed(header, {HDR_ALG, HDR_CONTENT_TYPE, HDR_KID}):
        raise InvalidTreeHead("protected header must hold exactly alg, content type and kid")
    if type(header[HDR_ALG]) is not int or header[HDR_ALG] != ALG_ES256:
        raise InvalidTreeHead("alg must be ES256 (-7)")
    if header[HDR_CONTENT_TYPE] != CONTENT_TYPE:
        raise InvalidTreeHead("content type must be %s" % CONTENT_TYPE)
    kid = header[HDR_KID]
    if not isinstance(kid, bytes) or not 0 < len(kid) <= MAX_KID_LEN:
        raise InvalidTreeHead("kid must be 1..%d bytes" % MAX_KID_LEN)
    return protected, kid, payload, signature


def tree_head_kid(envelope: bytes) -> bytes:
    """The kid of a tree-head envelope, *unverified*: for choosing the key to verify with."""
    return _parse_envelope(envelope)[1]


def verify_tree_head(envelope: bytes, public_key: ec.EllipticCurvePublicKey) -> TreeHead:
    """Check a tree-head envelope against the log's public key and return the TreeHead.

    Raises InvalidTreeHead for non-deterministic or malformed CBOR, any header other than
    {alg: ES256, content type, kid}, a bad signature, a non-P-256 key, or a bad payload.
    """
    protected, _kid, payload, signature = _parse_envelope(envelope)
    if not isinstance(public_key, ec.EllipticCurvePublicKey) or not isinstance(
        public_key.curve, ec.SECP256R1
    ):
        raise InvalidTreeHead("ES256 needs a P-256 public key")
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:], "big")
    if not (0 < r < _P256_ORDER and 0 < s < _P256_ORDER):
        raise InvalidTreeHead("signature out of range")
    try:
        public_key.verify(
            encode_dss_signature(r, s), _to_be_signed(protected, payload), _ECDSA_SHA256
        )
    except InvalidSignature:
        raise InvalidTreeHead("signature does not verify") from None
    return TreeHead.decode(payload)
