"""Typed protocol errors.

Every failure that a verifier can report is one of these classes. Each carries a stable
``code`` string: the backend maps it to a precise 4xx answer and SPEC.md lists where each is
raised. All derive from ValueError so generic callers can still catch bad input in one place.

The verifier's own errors (OpeningMismatch, SumMismatch, ChainBroken, ObuMismatch,
ChallengeMismatch, PriceMismatch, CellMismatch, DistanceMismatch, ImplausibleTrace, NotOnTrace)
are defined in protocol/verify_errors.py and offered here by name, loaded on first use: the OBU
never verifies an opening and keeps ~3 KB of class objects off its heap that way.
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


# --- tariff ------------------------------------------------------------------------------
class PolicyError(ProtocolError):
    code = "policy_error"


class NoTariffCell(PolicyError):
    code = "no_tariff_cell"


# --- the verifier's errors (protocol/verify_errors.py), loaded on first use ---------------
TYPE_CHECKING = False
if TYPE_CHECKING:  # for mypy; at run time __getattr__ below provides them
    from protocol.verify_errors import CellMismatch as CellMismatch
    from protocol.verify_errors import ChainBroken as ChainBroken
    from protocol.verify_errors import ChallengeMismatch as ChallengeMismatch
    from protocol.verify_errors import DistanceMismatch as DistanceMismatch
    from protocol.verify_errors import ImplausibleTrace as ImplausibleTrace
    from protocol.verify_errors import NotOnTrace as NotOnTrace
    from protocol.verify_errors import ObuMismatch as ObuMismatch
    from protocol.verify_errors import OpeningMismatch as OpeningMismatch
    from protocol.verify_errors import PriceMismatch as PriceMismatch
    from protocol.verify_errors import SumMismatch as SumMismatch


def __getattr__(name):
    # Module __getattr__ (PEP 562; MicroPython has it too): only names not defined above.
    if name[:1] != "_":
        from protocol import verify_errors

        if hasattr(verify_errors, name):
            return getattr(verify_errors, name)
    raise AttributeError("module 'protocol.errors' has no attribute '%s'" % name)
