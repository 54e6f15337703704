"""Backend errors.

Two families:
- protocol extensions: subclasses of protocol.errors classes for checks that only the backend
  can make (revoked keys, policies it knows, signed-request replay). They keep the parent's
  meaning for callers that catch the parent, and add a more precise ``code``;
- ApiError: plain HTTP conditions of the JSON API (not found, conflicts, authentication).

api/errors.py turns both into ``{"error": code, "detail": ...}`` answers.
"""

from __future__ import annotations

from protocol.errors import InvalidMessage, InvalidSignature, PolicyError, UnknownKeyId


class KeyRevoked(UnknownKeyId):
    """The kid belongs to an OBU that was revoked (broken, stolen, replaced)."""

    code = "key_revoked"


class UnknownPolicy(PolicyError):
    """A statement names a policy id the authority never published."""

    code = "unknown_policy"


class PolicyNotInPeriod(PolicyError):
    """A statement names a published policy whose validity does not meet the period."""

    code = "policy_not_in_period"


class PolicyOverlap(PolicyError):
    """A policy's validity interval overlaps a published policy's."""

    code = "policy_overlap"


class PolicyVersionConflict(PolicyError):
    """A policy version is already used or does not increase over the published ones."""

    code = "policy_version_conflict"


class StatementTooLarge(InvalidMessage):
    """The request body exceeds the largest possible statement."""

    code = "too_large"


class RequestMismatch(InvalidSignature):
    """A signed OBU request's signed method, path or body hash differs from the request."""

    code = "request_mismatch"


class RequestExpired(InvalidSignature):
    """A signed OBU request's timestamp is outside the accepted window."""

    code = "request_expired"


class ReplayedRequest(InvalidSignature):
    """A signed OBU request's nonce was seen before."""

    code = "replayed_request"


class ApiError(Exception):
    """An HTTP-level failure with a stable code."""

    status_code = 400
    code = "bad_request"

    def __init__(self, detail: str = "", *, code: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code


class NotFound(ApiError):
    status_code = 404
    code = "not_found"


class Conflict(ApiError):
    status_code = 409
    code = "conflict"


class Unauthenticated(ApiError):
    status_code = 401
    code = "unauthenticated"


class Forbidden(ApiError):
    status_code = 403
    code = "forbidden"


class UnsupportedMediaType(ApiError):
    status_code = 415
    code = "unsupported_media_type"


class Gone(ApiError):
    status_code = 410
    code = "gone"


class UnprocessableEntity(ApiError):
    status_code = 422
    code = "unprocessable"


class RequestTooLarge(ApiError):
    status_code = 413
    code = "too_large"


# --- spot checks, disputes, the log ----------------------------------------------------------


class UnknownPlate(UnprocessableEntity):
    """A sighting names a plate that is not registered: nothing to check, nothing stored."""

    code = "unknown_plate"


class SightingInFuture(UnprocessableEntity):
    """A sighting's time is after the server's clock (beyond the camera clock skew)."""

    code = "sighting_in_future"


class ChallengeClosed(Conflict):
    """An Opening for a challenge that was already answered (with other bytes) or expired."""

    code = "challenge_closed"


class ChallengeExpired(Conflict):
    """An Opening arriving after the challenge's deadline: it counts as no answer."""

    code = "challenge_expired"


class NotExplainable(Conflict):
    """Only a failed sighting challenge answered with no segment or a gap event can be
    explained; anything else is judged by verification alone."""

    code = "not_explainable"


class DisputeExists(Conflict):
    """The statement already has an open dispute."""

    code = "dispute_exists"


class DisputeClosed(Conflict):
    """The dispute was resolved: no more openings, verification or resolution."""

    code = "dispute_closed"


class DuplicateSegment(Conflict):
    """A dispute already holds a different Opening for this segment index."""

    code = "duplicate_segment"


class OpenedRecordPurged(Gone):
    """The opened record was deleted by retention; the verdict remains."""

    code = "opened_record_purged"


class InvalidLimit(ApiError):
    """A page size that is not a decimal integer in the endpoint's range (SPEC §4.9)."""

    status_code = 400
    code = "invalid_limit"


class InvalidCursor(ApiError):
    """A page cursor this backend did not hand out: wrong format (SPEC §4.9)."""

    status_code = 400
    code = "invalid_cursor"


class InvalidProofRequest(ApiError):
    """A log proof or entry range the log cannot answer (index or size beyond it)."""

    status_code = 400
    code = "invalid_proof_request"


class LogUnavailable(ApiError):
    """The stored transparency log no longer matches what was signed: refuse to serve it."""

    status_code = 503
    code = "log_inconsistent"
