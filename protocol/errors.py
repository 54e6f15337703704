"""Typed protocol errors.

Every failure that a verifier can report is one of these classes. Each carries a stable
``code`` string: the backend maps it to a precise 4xx answer and SPEC.md lists where each is
raised. All derive from ValueError so generic callers can still catch bad input in one place.
"""


class ProtocolError(ValueError):
    code = "protocol_error"


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


# --- message schema ----------------------------------------------------------------------
class InvalidMessage(ProtocolError):
    """A well-formed CBOR item that is not a valid message (missing/unknown field, bad bound)."""

    code = "invalid_message"


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


class OpeningMismatch(ProtocolError):
    """A commitment does not open to the claimed value."""

    code = "opening_mismatch"


class SumMismatch(ProtocolError):
    """The product of segment commitments does not open to the statement's total."""

    code = "sum_mismatch"


class ChainBroken(ProtocolError):
    code = "chain_broken"


# --- tariff ------------------------------------------------------------------------------
class PolicyError(ProtocolError):
    code = "policy_error"


class NoTariffCell(PolicyError):
    code = "no_tariff_cell"


# --- statements and openings -------------------------------------------------------------
class ObuMismatch(ProtocolError):
    """The message names a different OBU than the key that signed it."""

    code = "obu_mismatch"


class ChallengeMismatch(ProtocolError):
    """An Opening does not answer the Challenge it claims to (id, OBU, statement, segment)."""

    code = "challenge_mismatch"


class PriceMismatch(ProtocolError):
    """An opened segment's price is not the tariff price of its own record."""

    code = "price_mismatch"


class CellMismatch(ProtocolError):
    """An opened segment's zone or time band disagrees with its own trace under the policy."""

    code = "cell_mismatch"


class DistanceMismatch(ProtocolError):
    """An opened segment claims less distance than its own trace covers."""

    code = "distance_mismatch"


class ImplausibleTrace(ProtocolError):
    """An opened trace is physically impossible (speed, time order, outside the segment)."""

    code = "implausible_trace"


class NotOnTrace(ProtocolError):
    """A sighting's position is not on the opened trace within the tolerance at that time."""

    code = "not_on_trace"
