"""COSE_Sign1 (RFC 9052 §4.2) with ES256 (alg -7, ECDSA P-256/SHA-256, raw r||s signature).

Our envelopes carry alg, content type and kid in the protected header, so none of them can
be changed without breaking the signature; ``verify_sign1`` insists on that. Foreign
envelopes (e.g. the cose-wg examples) can still be parsed with ``decode_sign1(data,
canonical=False)`` and checked with ``verify_signature``.
"""

from protocol import cbor, errors, p256
from protocol.compat import const, is_int

TAG_SIGN1 = 18
ALG_ES256 = -7

# Common header labels (RFC 9052 §3.1).
HDR_ALG = 1
HDR_CRIT = 2
HDR_CONTENT_TYPE = 3
HDR_KID = 4

_CONTEXT = const("Signature1")


class Sign1:
    """A decoded COSE_Sign1 message.

    ``protected`` is the protected header exactly as received (the signature covers those
    bytes); ``protected_map`` is its decoded form.
    """

    def __init__(self, protected, protected_map, unprotected, payload, signature):
        self.protected = protected
        self.protected_map = protected_map
        self.unprotected = unprotected
        self.payload = payload
        self.signature = signature

    def _header(self, label):
        if label in self.protected_map:
            return self.protected_map[label]
        return self.unprotected.get(label)

    @property
    def alg(self):
        """Algorithm (label 1), protected header first, then unprotected; None if absent."""
        return self._header(HDR_ALG)

    @property
    def kid(self):
        """Key id (label 4), protected header first, then unprotected; None if absent."""
        return self._header(HDR_KID)

    @property
    def content_type(self):
        """Content type (label 3), protected header first, then unprotected; None if absent."""
        return self._header(HDR_CONTENT_TYPE)

    def to_be_signed(self, external_aad=b""):
        """Sig_structure ["Signature1", protected, external_aad, payload] as CBOR.

        RFC 9052 §4.4: with no protected attributes the protected field is a zero-length
        bstr, even if the message carried an encoded empty map (h'A0').
        """
        protected = self.protected if self.protected_map else b""
        return cbor.encode([_CONTEXT, protected, external_aad, self.payload])

    def encode(self, tagged=True):
        """CBOR encoding of this message (tag 18 if ``tagged``)."""
        body = [self.protected, self.unprotected, self.payload, self.signature]
        return cbor.encode(cbor.Tag(TAG_SIGN1, body) if tagged else body)


def _check_header_map(hdr):
    """Type checks for the common labels we interpret (RFC 9052 §3.1)."""
    if HDR_ALG in hdr:
        alg = hdr[HDR_ALG]
        if not (is_int(alg) or isinstance(alg, str)):
            raise errors.InvalidMessage("alg must be int or text")
    if HDR_CONTENT_TYPE in hdr:
        cty = hdr[HDR_CONTENT_TYPE]
        if not ((is_int(cty) and cty >= 0) or isinstance(cty, str)):
            raise errors.InvalidMessage("content type must be uint or text")
    if HDR_KID in hdr and not isinstance(hdr[HDR_KID], bytes):
        raise errors.InvalidMessage("kid must be a byte string")


def decode_sign1(data: bytes, canonical=True) -> Sign1:
    """Parse a tagged (18) or untagged COSE_Sign1; errors.DecodeError / InvalidMessage.

    ``canonical=False`` accepts CBOR that is valid but not deterministic (foreign envelopes).
    The payload must be attached (detached payloads are not used by the protocol).
    """
    obj = cbor.decode(data, canonical=canonical)
    if isinstance(obj, cbor.Tag):
        if obj.tag != TAG_SIGN1:
            raise errors.InvalidMessage("not a COSE_Sign1 tag: %d" % obj.tag)
        obj = obj.value
    if not isinstance(obj, list) or len(obj) != 4:
        raise errors.InvalidMessage("COSE_Sign1 must be an array of 4 items")
    protected, unprotected, payload, signature = obj
    if not isinstance(protected, bytes):
        raise errors.InvalidMessage("protected header must be a byte string")
    if not isinstance(unprotected, dict):
        raise errors.InvalidMessage("unprotected header must be a map")
    if not isinstance(payload, bytes):
        raise errors.InvalidMessage("payload must be an attached byte string")
    if not isinstance(signature, bytes):
        raise errors.InvalidMessage("signature must be a byte string")
    if protected:
        protected_map = cbor.decode(protected, canonical=canonical)
        if not isinstance(protected_map, dict):
            raise errors.InvalidMessage("protected header must encode a map")
    else:
        protected_map = {}
    for label in protected_map:
        if label in unprotected:
            # RFC 9052 §3: a label must not occur in both buckets.
            raise errors.InvalidMessage("header label %r both protected and unprotected" % label)
    _check_header_map(protected_map)
    _check_header_map(unprotected)
    return Sign1(protected, protected_map, unprotected, payload, signature)


def sign1(payload, signer, content_type: str, external_aad=b"", tagged=True, pieces=False):
    """COSE_Sign1 over ``payload`` with protected {alg: ES256, cty, kid} and empty unprotected.

    ``signer`` is a p256.Signer (software or secure element). ``payload`` is bytes, or a list
    of pieces standing for it; with ``pieces`` the envelope comes back as a list of pieces
    too (the OBU writes an opening to flash so, never whole in RAM).
    """
    if not isinstance(payload, (bytes, bytearray, list)):
        raise errors.InvalidMessage("payload must be bytes")
    if not isinstance(content_type, str):
        raise errors.InvalidMessage("content type must be text")
    kid = signer.kid
    if not isinstance(kid, (bytes, bytearray)) or not kid:
        raise errors.InvalidKey("signer.kid must be a non-empty byte string")
    protected_map = {HDR_ALG: ALG_ES256, HDR_CONTENT_TYPE: content_type, HDR_KID: bytes(kid)}
    protected = cbor.encode(protected_map)
    parts = payload if isinstance(payload, list) else [bytes(payload)]
    n = 0
    for p in parts:
        n += len(p)
    head = cbor.head
    sign_digest = getattr(signer, "sign_digest", None)
    if sign_digest is not None:
        # The Sig_structure is hashed as it is encoded, never held whole: on the OBU a
        # block as long as the payload (an opening: ~600 bytes) that a fragmented heap
        # need not find. The same bytes are signed as by sign(to_be_signed).
        import hashlib

        h = hashlib.sha256(b"\x84\x6aSignature1")  # [ "Signature1", …
        for piece in (protected, external_aad):
            h.update(head(2, len(piece)))
            h.update(piece)
        h.update(head(2, n))
        for p in parts:
            h.update(p)
        signature = sign_digest(h.digest())
    else:  # a signer that signs messages only (an HSM's, say)
        msg = Sign1(protected, protected_map, {}, b"".join(parts), b"")
        signature = signer.sign(msg.to_be_signed(external_aad))
    # Tag 18, [protected, {}, payload, signature]: joined in one allocation of its exact
    # length (cbor.encode would grow a buffer and copy it), or left in pieces.
    out = [b"\xd2\x84" if tagged else b"\x84", head(2, len(protected)), protected, b"\xa0"]
    out.append(head(2, n))
    out += parts
    out += [head(2, len(signature)), signature]
    return out if pieces else b"".join(out)


def verify_signature(msg: Sign1, pub: bytes, external_aad=b"", verify=None):
    """Check ``msg``'s ES256 signature under ``pub``; raise errors.InvalidSignature if wrong.

    Signature check only: no header policy (see verify_sign1). ``verify(pub, data, sig)``
    defaults to p256.verify.
    """
    if verify is None:
        verify = p256.verify
    if not verify(pub, msg.to_be_signed(external_aad), msg.signature):
        raise errors.InvalidSignature("COSE_Sign1 signature does not verify")


def verify_sign1(data: bytes, resolve_key, content_type=None, external_aad=b"", verify=None):
    """Decode and verify one of our COSE_Sign1 envelopes; return the Sign1.

    Requires deterministic CBOR and alg ES256, a kid and a text content type in the
    protected header. ``resolve_key(kid)`` returns the 65-byte public key (or raises
    errors.UnknownKeyId; None counts as unknown). If ``content_type`` is given it must
    match. Raises errors.DecodeError / InvalidMessage / UnsupportedAlgorithm /
    UnknownKeyId / InvalidSignature.
    """
    msg = decode_sign1(data)
    hdr = msg.protected_map
    if hdr.get(HDR_ALG) != ALG_ES256:
        raise errors.UnsupportedAlgorithm("protected alg must be ES256 (-7)")
    if HDR_CRIT in hdr:
        raise errors.InvalidMessage("critical header parameters are not supported")
    kid = hdr.get(HDR_KID)
    if kid is None:
        raise errors.InvalidMessage("kid must be in the protected header")
    cty = hdr.get(HDR_CONTENT_TYPE)
    if not isinstance(cty, str):
        raise errors.InvalidMessage("content type must be text in the protected header")
    if content_type is not None and cty != content_type:
        raise errors.InvalidMessage("content type %r, expected %r" % (cty, content_type))
    pub = resolve_key(kid)
    if pub is None:
        raise errors.UnknownKeyId("unknown kid %s" % kid.hex())
    verify_signature(msg, pub, external_aad, verify)
    return msg
