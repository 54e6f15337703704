"""The errors of bytes that do not decode or verify: malformed CBOR, bad signatures and keys,
non-canonical group encodings.

A unit in good order never raises these: the policies, receipts and challenges it receives
decode and verify. They live apart from protocol/errors.py so that the OBU does not keep their
classes on its heap until something arrives broken; ``protocol.errors`` offers every one of them
by name (loaded on first use, then kept), so ``from protocol.errors import DecodeError`` and
``errors.DecodeError`` keep working, and these are the very same classes.
"""

from protocol.errors import ProtocolError


# --- decoding (CBOR) ---------------------------------------------------------------------
class DecodeError(ProtocolError):
    code = "malformed_cbor"


class Truncated(DecodeError):
    code = "truncated"


class TrailingBytes(DecodeError):
    code = "trailing_bytes"


class NonCanonical(DecodeError):
    code = "non_canonical"


class TooDeep(DecodeError):
    code = "too_deep"


class TooLarge(DecodeError):
    code = "too_large"


class UnsupportedType(DecodeError):
    code = "unsupported_type"


# --- signatures and keys -----------------------------------------------------------------
class InvalidSignature(ProtocolError):
    code = "invalid_signature"


class UnknownKeyId(ProtocolError):
    code = "unknown_key_id"


class InvalidKey(ProtocolError):
    code = "invalid_key"


class UnsupportedAlgorithm(ProtocolError):
    code = "unsupported_algorithm"


# --- group and commitments ---------------------------------------------------------------
class InvalidEncoding(ProtocolError):
    """Bytes that are not the canonical encoding of a group element."""

    code = "invalid_point_encoding"


class InvalidScalar(ProtocolError):
    code = "invalid_scalar"
