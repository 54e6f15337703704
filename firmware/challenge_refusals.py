"""The reasons firmware/challenges.py does not answer a challenge: raised only for a challenge
that must be refused or a statement whose data is gone, so they load on first use (then stay:
they derive from ValueError alone, so a reloaded firmware.challenges gets the same classes).
``firmware.challenges`` offers both by name.
"""


class ChallengeInvalid(ValueError):
    """A challenge we must not answer (signature, content type, OBU, index)."""

    code = "challenge_invalid"


class SegmentUnavailable(ValueError):
    """The challenged statement's data is not (or no longer) on this unit, or inconsistent."""

    code = "segment_unavailable"
