"""Challenges: issue them (sightings, audits), hand them to the OBU, judge its Openings,
expire the unanswered ones, and let an auditor accept an explanation.

A challenge goes to the OBU that signed the challenged statement (the unit that holds the
period's ledger). The camera position stays here: the signed Challenge carries only the
instant (SPEC §4.5). Every issue, answer, expiry and explanation is appended to the
transparency log in the same transaction.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import and_, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend import metrics
from backend.crypto import ecdsa
from backend.crypto.sealing import associated_data
from backend.db.models import Challenge as ChallengeRow
from backend.db.models import Obu, OpenedSegment, Sighting, Statement, TariffPolicy, Vehicle
from backend.errors import (
    ChallengeClosed,
    ChallengeExpired,
    InvalidCursor,
    InvalidLimit,
    KeyRevoked,
    NotExplainable,
    NotFound,
    OpenedRecordPurged,
)
from backend.services import transparency_log as tlog
from backend.services.context import CheckContext
from backend.services.policies import decode_stored
from backend.services.signed_request import ObuPrincipal
from backend.services.transparency_log import LogActor
from backend.services.verdicts import EXPLAINABLE, SightingFix, Verdict, judge
from protocol import cose, envelopes, labels, messages, tariff
from protocol.errors import ObuMismatch, ProtocolError, UnknownKeyId

log = logging.getLogger("quietmile.challenges")

KIND_NAMES = {messages.CHALLENGE_SIGHTING: "sighting", messages.CHALLENGE_INDEX: "index"}


# --- shared helpers --------------------------------------------------------------------------


def decode_statement(row: Statement) -> messages.Statement:
    """The stored (verified at ingest) statement's payload."""
    return messages.Statement.decode(cose.decode_sign1(row.envelope).payload)


def policy_lookup(session: Session) -> Callable[[bytes], tariff.TariffPolicy | None]:
    """A cached published-policy lookup by policy id, for judging many openings."""
    cache: dict[bytes, tariff.TariffPolicy | None] = {}

    def lookup(pid: bytes) -> tariff.TariffPolicy | None:
        if pid not in cache:
            row = session.scalar(
                select(TariffPolicy).where(
                    TariffPolicy.policy_id == pid, TariffPolicy.published_at.is_not(None)
                )
            )
            cache[pid] = decode_stored(row) if row is not None else None
        return cache[pid]

    return lookup


def vehicle_class_of(session: Session, vehicle_id: int) -> int:
    vehicle = session.get(Vehicle, vehicle_id)
    if vehicle is None:  # foreign keys make this impossible; keep mypy and readers honest
        raise NotFound("no such vehicle")
    return vehicle.vehicle_class


def open_obu_envelope(
    session: Session, envelope: bytes, principal: ObuPrincipal
) -> messages.Opening:
    """Verify an Opening envelope (§6.1) signed by the OBU that signed the request.

    Refusals: the COSE errors; ObuMismatch if another key signed it or it names another OBU.
    """

    def resolve(kid: bytes) -> bytes:
        obu = session.scalar(select(Obu).where(Obu.kid == kid))
        if obu is None:
            raise UnknownKeyId("kid %s is not registered" % kid.hex())
        if obu.revoked_at is not None:
            raise KeyRevoked("kid %s belongs to a revoked OBU" % kid.hex())
        return obu.public_key

    s1 = cose.verify_sign1(envelope, resolve, labels.CTY_OPENING, verify=ecdsa.verify)
    if s1.kid != principal.kid:
        raise ObuMismatch("the opening is signed by another OBU than the request")
    opening = messages.Opening.decode(s1.payload)
    if opening.obu_id != principal.obu_id:
        raise ObuMismatch("the opening names OBU %r, not the signer" % opening.obu_id)
    return opening


def record_verdict_metrics(session: Session, context: str, verdict: Verdict) -> None:
    def count() -> None:
        metrics.OPENINGS_VERIFIED.labels(context=context, result=verdict.outcome).inc()
        if not verdict.passed and verdict.reason is not None:
            metrics.OPENING_FAILURES.labels(reason=verdict.reason).inc()

    tlog.after_commit(session, count)


def _count_outcome(session: Session, outcome: str) -> None:
    tlog.after_commit(session, metrics.CHALLENGE_OUTCOMES.labels(outcome=outcome).inc)


# --- issuing ---------------------------------------------------------------------------------


def covering_statement(session: Session, vehicle_id: int, t: int) -> Statement | None:
    """The vehicle's statement whose period contains ``t`` (the lowest seq if periods
    overlap: a flagged overlap is an audit matter of its own)."""
    return session.scalar(
        select(Statement)
        .where(
            Statement.vehicle_id == vehicle_id,
            Statement.period_start <= t,
            Statement.period_end > t,
        )
        .order_by(Statement.seq)
        .limit(1)
    )


def obu_can_answer(session: Session, statement: Statement) -> bool:
    """Only the unit that signed the statement holds its ledger; a revoked one cannot sign."""
    obu = session.get(Obu, statement.obu_ref)
    return obu is not None and obu.revoked_at is None


def issue_challenge(
    session: Session,
    ctx: CheckContext,
    statement: Statement,
    *,
    kind: int,
    origin: str,
    now: int,
    actor: LogActor,
    at_time: int | None = None,
    segment_index: int | None = None,
    sighting_id: int | None = None,
) -> ChallengeRow:
    """Sign and store one challenge and log it (inside a begin_log_write transaction)."""
    challenge_id = os.urandom(messages.CHALLENGE_ID_LEN)
    deadline = now + ctx.settings.challenge_deadline_s
    msg = messages.Challenge(
        challenge_id, statement.obu_id, statement.seq, kind, at_time, segment_index, deadline
    )
    row = ChallengeRow(
        challenge_id=challenge_id,
        kind=kind,
        origin=origin,
        statement_id=statement.id,
        vehicle_id=statement.vehicle_id,
        obu_ref=statement.obu_ref,
        statement_seq=statement.seq,
        at_time=at_time,
        segment_index=segment_index,
        sighting_id=sighting_id,
        envelope=envelopes.sign_message(msg, ctx.signer, labels.CTY_CHALLENGE),
        issued_at=now,
        deadline=deadline,
        outcome="open",
    )
    session.add(row)
    session.flush()
    tlog.append(
        session,
        "challenge_issued",
        now=now,
        actor=actor,
        vehicle_id=statement.vehicle_id,
        details={
            "challenge_id": challenge_id,
            "kind": KIND_NAMES[kind],
            "origin": origin,
            "statement_seq": statement.seq,
            "deadline": deadline,
        },
    )
    tlog.after_commit(
        session, metrics.CHALLENGES_ISSUED.labels(kind=KIND_NAMES[kind], origin=origin).inc
    )
    return row


# --- handing challenges to the OBU (SPEC §4.9) -----------------------------------------------

# A page is at most 32 envelopes: ≤ 8 KB even with a 64-character obu_id (≤ 250 bytes each),
# half the OBU's 16 KB response-body limit (firmware/uplink/http.py), so the unit never meets
# a list it cannot fetch however many challenges it has.
PAGE_LIMIT_MAX = 32
PAGE_LIMIT_DEFAULT = PAGE_LIMIT_MAX
_CURSOR = re.compile(r"(0|[1-9][0-9]{0,12})\.([0-9a-f]{32})")


@dataclass(frozen=True)
class ChallengePage:
    envelopes: list[bytes]
    next_cursor: str | None  # None: this is the last page


def page_limit(raw: list[str]) -> int:
    """The ``limit`` query values as a page size: absent → the default; InvalidLimit unless
    exactly one decimal integer in 1..PAGE_LIMIT_MAX."""
    if not raw:
        return PAGE_LIMIT_DEFAULT
    if len(raw) > 1:
        raise InvalidLimit("limit is given %d times" % len(raw))
    v = raw[0]
    if not (v.isdecimal() and v.isascii() and len(v) <= 3 and 1 <= int(v) <= PAGE_LIMIT_MAX):
        raise InvalidLimit("limit must be an integer from 1 to %d" % PAGE_LIMIT_MAX)
    return int(v)


def encode_cursor(deadline: int, challenge_id: bytes) -> str:
    """The opaque continuation after this challenge: its place in the page order."""
    return "%d.%s" % (deadline, challenge_id.hex())


def decode_cursor(raw: list[str]) -> tuple[int, bytes] | None:
    """(deadline, challenge_id) from the ``cursor`` query values, None when absent;
    InvalidCursor if it is not a cursor this backend hands out."""
    if not raw:
        return None
    m = _CURSOR.fullmatch(raw[0]) if len(raw) == 1 else None
    if m is None:
        raise InvalidCursor("cursor is not one this endpoint handed out")
    return int(m.group(1)), bytes.fromhex(m.group(2))


def open_challenge_page(
    session: Session,
    obu_ref: int,
    now: int,
    *,
    limit: int = PAGE_LIMIT_DEFAULT,
    after: tuple[int, bytes] | None = None,
) -> ChallengePage:
    """One page of the signed challenges the OBU still has to answer (open and within the
    deadline), the nearest deadline first (ties by challenge id), strictly after ``after``.

    The order is a key of immutable columns, so a cursor stays valid while challenges are
    answered, issued or expire between pages: none is repeated, and one issued meanwhile
    comes on a later page (its deadline is later while the deadline period is fixed).
    """
    q = select(ChallengeRow.deadline, ChallengeRow.challenge_id, ChallengeRow.envelope).where(
        ChallengeRow.obu_ref == obu_ref,
        ChallengeRow.outcome == "open",
        ChallengeRow.deadline >= now,
    )
    if after is not None:
        deadline, cid = after
        q = q.where(
            or_(
                ChallengeRow.deadline > deadline,
                and_(ChallengeRow.deadline == deadline, ChallengeRow.challenge_id > cid),
            )
        )
    rows = session.execute(
        q.order_by(ChallengeRow.deadline, ChallengeRow.challenge_id).limit(limit + 1)
    ).all()
    more = len(rows) > limit
    rows = rows[:limit]
    return ChallengePage(
        [bytes(r.envelope) for r in rows],
        encode_cursor(rows[-1].deadline, bytes(rows[-1].challenge_id)) if more else None,
    )


def expire_challenges(session: Session, now: int, actor: LogActor = tlog.SYSTEM) -> int:
    """Close every open challenge past its deadline as no_answer; how many."""
    tlog.begin_log_write(session)
    rows = session.scalars(
        select(ChallengeRow)
        .where(ChallengeRow.outcome == "open", ChallengeRow.deadline < now)
        .order_by(ChallengeRow.id)
    ).all()
    for ch in rows:
        ch.outcome = "no_answer"
        ch.reason = "no_answer"
        ch.initial_reason = "no_answer"
        ch.closed_at = now
        tlog.append(
            session,
            "challenge_expired",
            now=now,
            actor=actor,
            vehicle_id=ch.vehicle_id,
            details={"challenge_id": ch.challenge_id, "outcome": "no_answer"},
        )
        _count_outcome(session, "no_answer")
    tlog.commit(session)
    if rows:
        log.info("challenges expired", extra={"count": len(rows)})
    return len(rows)


# --- answering -------------------------------------------------------------------------------


@dataclass(frozen=True)
class OpeningResult:
    challenge_id: bytes
    outcome: str
    reason: str | None
    created: bool  # False: this exact envelope was judged before; the stored verdict


def _sighting_fix(session: Session, ch: ChallengeRow) -> SightingFix | None:
    if ch.kind != messages.CHALLENGE_SIGHTING or ch.sighting_id is None or ch.at_time is None:
        return None
    s = session.get(Sighting, ch.sighting_id)
    if s is None:
        return None
    return SightingFix(ch.at_time, s.lat_e7, s.lon_e7, s.accuracy_mm)


def _challenge_message(ch: ChallengeRow) -> messages.Challenge:
    return messages.Challenge.decode(cose.decode_sign1(ch.envelope).payload)


def _already_answered(session: Session, ch: ChallengeRow, h: bytes) -> OpeningResult:
    """The stored verdict for a repeat of the same envelope; ChallengeClosed otherwise."""
    prior = session.scalar(select(OpenedSegment).where(OpenedSegment.challenge_ref == ch.id))
    if prior is not None and prior.envelope_hash == h:
        return OpeningResult(ch.challenge_id, prior.result, prior.reason, False)
    if prior is None and ch.outcome == "no_answer":
        raise ChallengeExpired("the challenge's deadline passed without an answer")
    raise ChallengeClosed("the challenge was already answered")


def submit_opening(
    session: Session,
    ctx: CheckContext,
    envelope: bytes,
    principal: ObuPrincipal,
    now: int,
) -> OpeningResult:
    """Judge and store the OBU's Opening for one of its challenges.

    Refused (4xx, nothing stored): undecodable or badly signed envelopes, another OBU's key
    or name, a challenge that is not this OBU's, a closed or expired challenge. The same
    envelope again is answered with the stored verdict (the OBU may have lost our answer).
    ``session`` must have no transaction in progress.
    """
    try:
        return _submit(session, ctx, envelope, principal, now)
    except (ProtocolError, NotFound, ChallengeClosed, ChallengeExpired) as e:
        session.rollback()
        metrics.OPENING_REFUSALS.labels(reason=e.code).inc()
        raise
    except BaseException:
        session.rollback()
        raise


def _submit(
    session: Session,
    ctx: CheckContext,
    envelope: bytes,
    principal: ObuPrincipal,
    now: int,
) -> OpeningResult:
    opening = open_obu_envelope(session, envelope, principal)
    h = hashlib.sha256(envelope).digest()
    ch = session.scalar(
        select(ChallengeRow).where(
            ChallengeRow.challenge_id == opening.challenge_id,
            ChallengeRow.obu_ref == principal.obu_ref,
        )
    )
    if ch is None:
        # Another OBU's challenge looks exactly like one that does not exist.
        raise NotFound("no challenge %s for this OBU" % opening.challenge_id.hex())
    if ch.outcome != "open":
        return _already_answered(session, ch, h)
    if now > ch.deadline:
        raise ChallengeExpired("the challenge's deadline passed at %d" % ch.deadline)

    # Judge outside the write transaction (the expensive part).
    statement = session.get(Statement, ch.statement_id)
    assert statement is not None  # foreign key
    verdict = judge(
        opening,
        _challenge_message(ch),
        decode_statement(statement),
        policy_for=policy_lookup(session),
        vehicle_class=vehicle_class_of(session, ch.vehicle_id),
        group=ctx.group,
        sighting=_sighting_fix(session, ch),
        model=ctx.tolerance,
    )
    ch_ref = ch.id
    session.rollback()

    tlog.begin_log_write(session)
    ch = session.get(ChallengeRow, ch_ref)
    assert ch is not None
    if ch.outcome != "open":  # answered or expired while we judged
        result = _already_answered(session, ch, h)
        session.rollback()
        return result
    session.add(
        OpenedSegment(
            challenge_ref=ch.id,
            segment_index=opening.segment_index,
            envelope_hash=h,
            sealed=ctx.sealer.seal(envelope, associated_data(ch.challenge_id, None)),
            result=verdict.outcome,
            reason=verdict.reason,
            received_at=now,
        )
    )
    ch.outcome = verdict.outcome
    ch.reason = verdict.reason
    ch.initial_reason = verdict.reason
    ch.closed_at = now
    tlog.append(
        session,
        "opening_received",
        now=now,
        actor=tlog.OBU,
        vehicle_id=ch.vehicle_id,
        details={
            "challenge_id": ch.challenge_id,
            "segment_opened": not opening.is_empty,
            "outcome": verdict.outcome,
            "reason": verdict.reason,
        },
    )
    record_verdict_metrics(session, "challenge", verdict)
    _count_outcome(session, verdict.outcome)
    try:
        tlog.commit(session)
    except IntegrityError:
        # A concurrent answer to the same challenge won the unique constraint.
        session.rollback()
        ch = session.get(ChallengeRow, ch_ref)
        assert ch is not None
        result = _already_answered(session, ch, h)
        session.rollback()
        return result
    log.info(
        "opening judged",
        extra={"outcome": verdict.outcome, "reason": verdict.reason, "obu_id": principal.obu_id},
    )
    return OpeningResult(ch.challenge_id, verdict.outcome, verdict.reason, True)


# --- explanations ----------------------------------------------------------------------------


def judge_explanation(
    session: Session,
    challenge_id: bytes,
    *,
    accepted: bool,
    note: str,
    now: int,
    actor: LogActor,
) -> ChallengeRow:
    """An auditor accepts (fail → pass) or rejects an explanation of an explainable fail."""
    tlog.begin_log_write(session)
    ch = session.scalar(select(ChallengeRow).where(ChallengeRow.challenge_id == challenge_id))
    if ch is None:
        raise NotFound("no such challenge")
    if not (
        ch.kind == messages.CHALLENGE_SIGHTING and ch.outcome == "fail" and ch.reason in EXPLAINABLE
    ):
        raise NotExplainable(
            "only a failed sighting challenge answered with no segment or a gap event"
        )
    ch.explanation_note = note
    if accepted:
        ch.outcome = "pass"
        ch.reason = "explanation_accepted"
    tlog.append(
        session,
        "explanation_judged",
        now=now,
        actor=actor,
        vehicle_id=ch.vehicle_id,
        details={"challenge_id": ch.challenge_id, "accepted": accepted},
    )
    tlog.commit(session)
    return ch


# --- reading opened data ---------------------------------------------------------------------


@dataclass(frozen=True)
class OpenedRecord:
    challenge: ChallengeRow
    opened: OpenedSegment
    opening: messages.Opening


def visible_challenge(session: Session, challenge_id: bytes, driver_id: int | None) -> ChallengeRow:
    """The challenge, if the caller may see it (drivers: their own vehicles only)."""
    ch = session.scalar(select(ChallengeRow).where(ChallengeRow.challenge_id == challenge_id))
    if ch is None:
        raise NotFound("no such challenge")
    if driver_id is not None:
        vehicle = session.get(Vehicle, ch.vehicle_id)
        if vehicle is None or vehicle.driver_id != driver_id:
            raise NotFound("no such challenge")
    return ch


def read_opened_record(
    session: Session,
    ctx: CheckContext,
    challenge_id: bytes,
    *,
    actor: LogActor,
    driver_id: int | None,
    now: int,
) -> OpenedRecord:
    """The opened record of a challenge — after the access is committed to the log.

    The entry is appended and committed before the sealed bytes are opened, so no opened
    location data leaves the backend without a trace; if the log cannot be written, nothing
    is returned. ``driver_id`` restricts a driver to their own vehicles.
    """
    ch = visible_challenge(session, challenge_id, driver_id)
    ch_ref = ch.id
    session.rollback()
    tlog.begin_log_write(session)
    opened = session.scalar(select(OpenedSegment).where(OpenedSegment.challenge_ref == ch_ref))
    if opened is None:
        raise NotFound("the challenge has no opening")
    if opened.sealed is None:
        raise OpenedRecordPurged("the opened record was deleted by retention")
    sealed = bytes(opened.sealed)
    tlog.append(
        session,
        "opened_data_accessed",
        now=now,
        actor=actor,
        vehicle_id=ch.vehicle_id,
        details={"challenge_id": challenge_id, "purpose": "review"},
    )
    tlog.commit(session)
    envelope = ctx.sealer.open(sealed, associated_data(challenge_id, None))
    opening = messages.Opening.decode(cose.decode_sign1(envelope).payload)
    return OpenedRecord(ch, opened, opening)
