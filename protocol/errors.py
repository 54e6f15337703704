"""Typed protocol errors.

Every failure that a verifier can report is one of these classes. Each carries a stable
``code`` string: the backend maps it to a precise 4xx answer and SPEC.md lists where each is
raised. All derive from ValueError so generic callers can still catch bad input in one place.

Two groups are defined elsewhere and offered here by name, loaded on first use, so that the
OBU keeps their class objects off its heap: the verifier's own errors (OpeningMismatch,
SumMismatch, ChainBroken, ObuMismatch, ChallengeMismatch, PriceMismatch, CellMismatch,
DistanceMismatch, ImplausibleTrace, NotOnTrace; protocol/verify_errors.py: the OBU never
verifies an opening), and the errors of received bytes that do not decode or verify
(DecodeError and its subclasses Truncated, TrailingBytes, NonCanonical, TooDeep, TooLarge,
UnsupportedType; InvalidSignature, UnknownKeyId, InvalidKey, UnsupportedAlgorithm,
InvalidEncoding, InvalidScalar; protocol/input_errors.py: a unit in good order never meets one).
"""

from protocol.compat import lazy_names


class ProtocolError(ValueError):
    code = "protocol_error"


# --- message schema ----------------------------------------------------------------------
class InvalidMessage(ProtocolError):
    """A well-formed CBOR item that is not a valid message (missing/unknown field, bad bound)."""

    code = "invalid_message"


# --- tariff ------------------------------------------------------------------------------
class PolicyError(ProtocolError):
    code = "policy_error"


class NoTariffCell(PolicyError):
    code = "no_tariff_cell"


# --- errors defined elsewhere (module docstring), loaded on first use ---------------------
TYPE_CHECKING = False
if TYPE_CHECKING:  # for mypy; at run time __getattr__ below provides them
    from protocol.input_errors import DecodeError as DecodeError
    from protocol.input_errors import InvalidEncoding as InvalidEncoding
    from protocol.input_errors import InvalidKey as InvalidKey
    from protocol.input_errors import InvalidScalar as InvalidScalar
    from protocol.input_errors import InvalidSignature as InvalidSignature
    from protocol.input_errors import NonCanonical as NonCanonical
    from protocol.input_errors import TooDeep as TooDeep
    from protocol.input_errors import TooLarge as TooLarge
    from protocol.input_errors import TrailingBytes as TrailingBytes
    from protocol.input_errors import Truncated as Truncated
    from protocol.input_errors import UnknownKeyId as UnknownKeyId
    from protocol.input_errors import UnsupportedAlgorithm as UnsupportedAlgorithm
    from protocol.input_errors import UnsupportedType as UnsupportedType
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


# The input errors first: the OBU may meet one of them, never one of the verifier's.
__getattr__ = lazy_names(
    __name__, ("protocol.input_errors", None), ("protocol.verify_errors", None)
)
