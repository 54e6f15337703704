"""The verifier's typed errors: commitments that do not open, broken chains, openings that do
not answer their challenge or do not fit their own trace.

Only a verifier raises these (protocol/verify.py, the group's verify_opening/verify_sum, the
backend). They live apart from protocol/errors.py so that the OBU, which never verifies an
opening, does not keep their classes on its heap; ``protocol.errors`` still offers every one of
them by name (loaded on first use), so ``from protocol.errors import ChainBroken`` and
``errors.ChainBroken`` keep working, and these are the very same classes.
"""

from protocol.errors import ProtocolError


# --- group and commitments ---------------------------------------------------------------
class OpeningMismatch(ProtocolError):
    """A commitment does not open to the claimed value."""

    code = "opening_mismatch"


class SumMismatch(ProtocolError):
    """The product of segment commitments does not open to the statement's total."""

    code = "sum_mismatch"


class ChainBroken(ProtocolError):
    code = "chain_broken"


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
