"""Judging one Opening (SPEC §6.6, in order): the backend's verdict and its reason.

An Opening that is validly signed by the challenged OBU and names the challenge is *judged*:
whatever is wrong with it afterwards (another segment, a record that does not open the
commitments, a wrong price, a trace off the camera) is the outcome ``fail`` with the protocol
error code as the reason — the unit answered and its answer does not hold up. Refusals
before that point (bad signature, another OBU, unknown challenge) are 4xx answers handled by
the callers and change nothing.

Two outcomes are backend-specific, both "explainable" by an auditor (they record uncharged
driving, which is not necessarily cheating):
- ``no_segment``: an empty Opening — the unit says nothing covers the instant. For a
  sighting the car was seen on the road, so this fails unless an explanation is accepted;
  for an index challenge the segment exists by construction, so it simply fails.
- ``gap_event``: the covering segment is a committed gap event (a long GNSS outage, charged
  nothing). Committed before the challenge, so not invented to answer it; still a sighting
  during an uncharged outage, so it fails unless an explanation is accepted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from backend.services import tolerance
from backend.services.ingest import Group
from protocol import messages, tariff, verify
from protocol.errors import PriceMismatch, ProtocolError

NO_SEGMENT = "no_segment"
GAP_EVENT = "gap_event"
EXPLAINABLE = (NO_SEGMENT, GAP_EVENT)


@dataclass(frozen=True)
class SightingFix:
    """Where and when a camera saw the vehicle (never sent to the OBU)."""

    at_time: int
    lat_e7: int
    lon_e7: int
    accuracy_mm: int


@dataclass(frozen=True)
class Verdict:
    outcome: str  # "pass" or "fail"
    reason: str | None
    # The opened record's price when its commitments opened (dispute sums), else None.
    price_micro: int | None = None

    @property
    def passed(self) -> bool:
        return self.outcome == "pass"


def _fail(reason: str, price: int | None = None) -> Verdict:
    return Verdict("fail", reason, price)


def judge(
    opening: messages.Opening,
    challenge: messages.Challenge,
    statement: messages.Statement,
    *,
    policy_for: Callable[[bytes], tariff.TariffPolicy | None],
    vehicle_class: int,
    group: Group,
    sighting: SightingFix | None,
    model: tolerance.ToleranceModel,
) -> Verdict:
    """The verdict on ``opening`` as an answer to ``challenge`` about ``statement``.

    ``policy_for(policy_id)`` returns a published policy or None; ``sighting`` is the camera
    fix of a kind-0 challenge (None skips the position step: no evidence, no accusation).
    """
    try:
        verify.check_opening_answers(opening, challenge, statement)
    except ProtocolError as e:
        return _fail(e.code)
    if opening.is_empty:
        return _fail(NO_SEGMENT)
    record = opening.record
    try:
        verify.check_commitments(opening, statement, group)
    except ProtocolError as e:
        return _fail(e.code)
    price = record.price_micro
    try:
        policy = policy_for(record.policy_id)
        if policy is None:
            raise PriceMismatch("record names a policy the authority never published")
        verify.check_record(record, policy, record.policy_id, vehicle_class, statement)
    except ProtocolError as e:
        return _fail(e.code, price)
    if challenge.kind != messages.CHALLENGE_SIGHTING:
        return Verdict("pass", None, price)
    if record.flags & messages.FLAG_GAP_EVENT:
        return _fail(GAP_EVENT, price)
    if sighting is not None:
        try:
            tolerance.check_sighting(
                record,
                sighting.at_time,
                sighting.lat_e7,
                sighting.lon_e7,
                sighting.accuracy_mm,
                model,
            )
        except ProtocolError as e:
            return _fail(e.code, price)
    return Verdict("pass", None, price)
