"""Disputes: a driver contests a statement (or a challenge outcome about it) and consents to
open the whole period; the OBU uploads an Opening of every segment; an auditor re-verifies
all of them and records a resolution.

The OBU learns of the dispute from an authority-signed *dispute request* (content type
``application/quietmile.dispute-request+cbor``, SPEC §2 and §8.1) over the CBOR map
``{1: dispute_id, 2: obu_id, 3: statement_seq, 4: segment_count, 5: consent_at}``. A unit
should open a whole period only against such a request *and* the
driver's confirmation on the unit — the backend cannot prove the consent to the unit by
itself (DESIGN §2.1). Each segment's Opening carries the dispute id as its challenge_id and is
judged like an index challenge (SPEC §6.6 steps 1–6).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.crypto import ecdsa
from backend.crypto.sealing import SealError, associated_data
from backend.db.models import Challenge as ChallengeRow
from backend.db.models import Dispute, Obu, OpenedSegment, Statement, Vehicle
from backend.errors import DisputeClosed, DisputeExists, DuplicateSegment, NotFound
from backend.services import challenges
from backend.services import transparency_log as tlog
from backend.services.context import CheckContext
from backend.services.signed_request import ObuPrincipal
from backend.services.tokens import Actor
from backend.services.transparency_log import LogActor
from backend.services.verdicts import Verdict, judge
from protocol import cbor, cose, labels, messages
from protocol.errors import ChallengeMismatch, ProtocolError, UnknownKeyId

log = logging.getLogger("quietmile.disputes")

CTY_DISPUTE_REQUEST = labels.CTY_DISPUTE_REQUEST  # SPEC §2, §8.1
MAX_REPORTED = 100  # failing / missing indices listed in a report (counts are complete)


def dispute_request_payload(d: Dispute, st: Statement) -> bytes:
    return cbor.encode(
        {1: d.dispute_id, 2: st.obu_id, 3: st.seq, 4: st.segment_count, 5: d.consent_at}
    )


def _owned_statement(session: Session, actor: Actor, st: Statement | None) -> Statement:
    if st is None:
        raise NotFound("no such statement")
    vehicle = session.get(Vehicle, st.vehicle_id)
    if vehicle is None or actor.role != "driver" or vehicle.driver_id != actor.driver_id:
        raise NotFound("no such statement")  # someone else's looks nonexistent
    return st


def open_dispute(
    session: Session,
    ctx: CheckContext,
    actor: Actor,
    *,
    statement_hash: bytes | None,
    challenge_id: bytes | None,
    reason: str,
    now: int,
) -> Dispute:
    """A driver disputes their own statement, or a challenge outcome (its statement)."""
    tlog.begin_log_write(session)
    ch: ChallengeRow | None = None
    if challenge_id is not None:
        ch = session.scalar(select(ChallengeRow).where(ChallengeRow.challenge_id == challenge_id))
        if ch is None:
            raise NotFound("no such challenge")
        st = _owned_statement(session, actor, session.get(Statement, ch.statement_id))
    else:
        st = _owned_statement(
            session,
            actor,
            session.scalar(select(Statement).where(Statement.statement_hash == statement_hash)),
        )
    existing = session.scalar(
        select(Dispute.id).where(Dispute.statement_id == st.id, Dispute.status == "open")
    )
    if existing is not None:
        raise DisputeExists("this statement already has an open dispute")
    assert actor.driver_id is not None
    row = Dispute(
        dispute_id=os.urandom(16),
        vehicle_id=st.vehicle_id,
        statement_id=st.id,
        obu_ref=st.obu_ref,
        challenge_ref=ch.id if ch is not None else None,
        driver_id=actor.driver_id,
        reason=reason,
        envelope=b"",
        consent_at=now,
        status="open",
        openings_received=0,
    )
    row.envelope = cose.sign1(dispute_request_payload(row, st), ctx.signer, CTY_DISPUTE_REQUEST)
    session.add(row)
    try:
        session.flush()
    except IntegrityError:
        raise DisputeExists("this statement already has an open dispute") from None
    details: dict[str, Any] = {
        "dispute_id": row.dispute_id,
        "statement_seq": st.seq,
        "segment_count": st.segment_count,
        "consent": "open_period",
    }
    if ch is not None:
        details["challenge_id"] = ch.challenge_id
    tlog.append(
        session,
        "dispute_opened",
        now=now,
        actor=LogActor.of(actor),
        vehicle_id=st.vehicle_id,
        details=details,
    )
    tlog.commit(session)
    return row


def open_dispute_envelopes(session: Session, obu_ref: int) -> list[bytes]:
    """Signed dispute requests the OBU still has segments to upload for."""
    rows = session.execute(
        select(Dispute.envelope, Dispute.openings_received, Statement.segment_count)
        .join(Statement, Statement.id == Dispute.statement_id)
        .where(Dispute.obu_ref == obu_ref, Dispute.status == "open")
        .order_by(Dispute.id)
    ).all()
    return [bytes(env) for env, got, n in rows if got < n]


@dataclass(frozen=True)
class UploadResult:
    dispute_id: bytes
    received: int  # new openings stored by this upload
    repeated: int  # identical envelopes already stored (harmless re-sends)
    failed: int  # new openings whose verification failed (stored as evidence)
    openings_received: int
    segment_count: int


def _dispute_for_obu(session: Session, dispute_id: bytes, principal: ObuPrincipal) -> Dispute:
    d = session.scalar(
        select(Dispute).where(
            Dispute.dispute_id == dispute_id, Dispute.obu_ref == principal.obu_ref
        )
    )
    if d is None:
        raise NotFound("no dispute %s for this OBU" % dispute_id.hex())
    if d.status != "open":
        raise DisputeClosed("the dispute was resolved")
    return d


def upload_openings(
    session: Session,
    ctx: CheckContext,
    dispute_id: bytes,
    envelopes_: list[bytes],
    principal: ObuPrincipal,
    now: int,
) -> UploadResult:
    """Store a batch of the period's Openings. All or nothing: one envelope that is not a
    valid, signed Opening of this dispute's statement refuses the whole batch (4xx); an
    opening that is valid but does not verify is stored with its failure, as evidence."""
    d = _dispute_for_obu(session, dispute_id, principal)
    st_row = session.get(Statement, d.statement_id)
    assert st_row is not None
    st = challenges.decode_statement(st_row)
    batch: dict[int, tuple[bytes, messages.Opening]] = {}
    for env in envelopes_:
        op = challenges.open_obu_envelope(session, env, principal)
        if op.challenge_id != dispute_id or op.statement_seq != st.seq or op.is_empty:
            raise ChallengeMismatch("every opening names the dispute, its statement and a segment")
        i = op.segment_index
        if i in batch and batch[i][0] != env:
            raise DuplicateSegment("segment %d appears twice with different contents" % i)
        batch[i] = (env, op)

    policy_for = challenges.policy_lookup(session)
    vclass = challenges.vehicle_class_of(session, d.vehicle_id)
    verdicts: dict[int, Verdict] = {}
    for i, (_env, op) in batch.items():
        verdicts[i] = _judge_segment(ctx, op, st, dispute_id, policy_for, vclass)
    d_ref = d.id
    session.rollback()

    tlog.begin_log_write(session)
    d2 = session.get(Dispute, d_ref)
    assert d2 is not None
    if d2.status != "open":
        raise DisputeClosed("the dispute was resolved")
    stored = {
        i: bytes(h)
        for i, h in session.execute(
            select(OpenedSegment.segment_index, OpenedSegment.envelope_hash).where(
                OpenedSegment.dispute_ref == d_ref,
                OpenedSegment.segment_index.in_(list(batch)),
            )
        ).all()
        if i is not None
    }
    received = repeated = failed = 0
    for i in sorted(batch):
        env, _op = batch[i]
        h = hashlib.sha256(env).digest()
        if i in stored:
            if stored[i] != h:
                raise DuplicateSegment("segment %d was already uploaded with other contents" % i)
            repeated += 1
            continue
        v = verdicts[i]
        session.add(
            OpenedSegment(
                dispute_ref=d_ref,
                segment_index=i,
                envelope_hash=h,
                sealed=ctx.sealer.seal(env, associated_data(dispute_id, i)),
                result=v.outcome,
                reason=v.reason,
                received_at=now,
            )
        )
        challenges.record_verdict_metrics(session, "dispute", v)
        received += 1
        failed += 0 if v.passed else 1
    d2.openings_received += received
    if received:
        tlog.append(
            session,
            "dispute_openings_received",
            now=now,
            actor=tlog.OBU,
            vehicle_id=d2.vehicle_id,
            details={
                "dispute_id": dispute_id,
                "received": received,
                "failed": failed,
                "openings_received": d2.openings_received,
                "segment_count": st.segment_count,
            },
        )
    try:
        tlog.commit(session)
    except IntegrityError:
        session.rollback()
        raise DuplicateSegment("a concurrent upload stored some of these segments") from None
    return UploadResult(
        dispute_id, received, repeated, failed, d2.openings_received, st.segment_count
    )


def _judge_segment(
    ctx: CheckContext,
    op: messages.Opening,
    st: messages.Statement,
    dispute_id: bytes,
    policy_for: Any,
    vclass: int,
) -> Verdict:
    # A dispute opening answers "open segment i" for every i: an index challenge.
    synthetic = messages.Challenge(
        dispute_id, st.obu_id, st.seq, messages.CHALLENGE_INDEX, None, op.segment_index, 0
    )
    return judge(
        op,
        synthetic,
        st,
        policy_for=policy_for,
        vehicle_class=vclass,
        group=ctx.group,
        sighting=None,
        model=ctx.tolerance,
    )


def get_dispute(session: Session, dispute_id: bytes, actor: Actor) -> Dispute:
    d = session.scalar(select(Dispute).where(Dispute.dispute_id == dispute_id))
    if d is None or (actor.role == "driver" and d.driver_id != actor.driver_id):
        raise NotFound("no such dispute")
    return d


def verify_dispute(
    session: Session, ctx: CheckContext, dispute_id: bytes, *, now: int, actor: Actor
) -> dict[str, Any]:
    """Re-verify every uploaded segment from storage (signature, commitments, record) and
    the sum of the opened prices against the statement's total; store the report.

    Decrypting the period's records is an access to opened data: it is logged (and
    committed) before anything is decrypted.
    """
    tlog.begin_log_write(session)
    d = session.scalar(select(Dispute).where(Dispute.dispute_id == dispute_id))
    if d is None:
        raise NotFound("no such dispute")
    if d.status != "open":
        raise DisputeClosed("the dispute was resolved")
    rows = session.scalars(
        select(OpenedSegment)
        .where(OpenedSegment.dispute_ref == d.id)
        .order_by(OpenedSegment.segment_index)
    ).all()
    sealed = [(r.segment_index, r.sealed) for r in rows if r.sealed is not None]
    tlog.append(
        session,
        "opened_data_accessed",
        now=now,
        actor=LogActor.of(actor),
        vehicle_id=d.vehicle_id,
        details={
            "dispute_id": dispute_id,
            "purpose": "dispute_verification",
            "segments": len(sealed),
        },
    )
    tlog.commit(session)

    st_row = session.get(Statement, d.statement_id)
    assert st_row is not None
    st = challenges.decode_statement(st_row)
    policy_for = challenges.policy_lookup(session)
    vclass = challenges.vehicle_class_of(session, d.vehicle_id)
    opened: set[int] = set()
    failures: list[dict[str, Any]] = []
    opened_total = 0
    for index, blob in sealed:
        assert index is not None and blob is not None
        try:
            env = ctx.sealer.open(blob, associated_data(dispute_id, index))
        except SealError:
            failures.append({"index": index, "reason": "sealed_record_unreadable"})
            continue
        try:
            op = _reverify_envelope(session, env)
            if op.segment_index != index:
                raise ChallengeMismatch("stored under another index than it opens")
        except ProtocolError as e:
            failures.append({"index": index, "reason": e.code})
            continue
        opened.add(index)
        v = _judge_segment(ctx, op, st, dispute_id, policy_for, vclass)
        if v.price_micro is not None:
            opened_total += v.price_micro
        if not v.passed:
            failures.append({"index": index, "reason": v.reason})
    missing = [i for i in range(st.segment_count) if i not in opened]
    sum_matches = not missing and opened_total == st.total_price_micro
    report: dict[str, Any] = {
        "segment_count": st.segment_count,
        "received": len(rows),
        "purged": len(rows) - len(sealed),
        "missing_count": len(missing),
        "missing": missing[:MAX_REPORTED],
        "failure_count": len(failures),
        "failures": failures[:MAX_REPORTED],
        "opened_total_micro": opened_total,
        "statement_total_micro": st.total_price_micro,
        "sum_matches": sum_matches,
        "all_verified": not missing and not failures and sum_matches,
    }
    session.rollback()
    tlog.begin_log_write(session)
    d = session.get(Dispute, d.id)
    assert d is not None
    d.report = json.dumps(report, sort_keys=True)
    d.verified_at = now
    tlog.append(
        session,
        "dispute_verified",
        now=now,
        actor=LogActor.of(actor),
        vehicle_id=d.vehicle_id,
        details={
            "dispute_id": dispute_id,
            "all_verified": bool(report["all_verified"]),
            "failure_count": len(failures),
            "missing_count": len(missing),
        },
    )
    tlog.commit(session)
    return report


def _reverify_envelope(session: Session, env: bytes) -> messages.Opening:
    """The stored envelope's signature, under the key that signed it (even if since revoked:
    the signature was valid when it was made)."""

    def resolve(kid: bytes) -> bytes:
        obu = session.scalar(select(Obu).where(Obu.kid == kid))
        if obu is None:
            raise UnknownKeyId("kid %s is not registered" % kid.hex())
        return obu.public_key

    s1 = cose.verify_sign1(env, resolve, labels.CTY_OPENING, verify=ecdsa.verify)
    op = messages.Opening.decode(s1.payload)
    if op.is_empty:
        raise ChallengeMismatch("a dispute opening opens a segment")
    return op


def resolve_dispute(
    session: Session,
    dispute_id: bytes,
    *,
    resolution: str,
    reasons: str,
    now: int,
    actor: Actor,
) -> Dispute:
    """Record the auditor's resolution. Upholding a dispute about a failed (or unanswered)
    challenge turns that challenge into a pass."""
    tlog.begin_log_write(session)
    d = session.scalar(select(Dispute).where(Dispute.dispute_id == dispute_id))
    if d is None:
        raise NotFound("no such dispute")
    if d.status != "open":
        raise DisputeClosed("the dispute was already resolved")
    d.status = "resolved"
    d.resolution = resolution
    d.resolution_reasons = reasons
    d.resolved_at = now
    overturned = False
    if resolution == "upheld" and d.challenge_ref is not None:
        ch = session.get(ChallengeRow, d.challenge_ref)
        if ch is not None and ch.outcome in ("fail", "no_answer"):
            ch.initial_reason = ch.initial_reason or ch.reason
            ch.outcome = "pass"
            ch.reason = "dispute_upheld"
            overturned = True
    tlog.append(
        session,
        "dispute_resolved",
        now=now,
        actor=LogActor.of(actor),
        vehicle_id=d.vehicle_id,
        details={
            "dispute_id": dispute_id,
            "resolution": resolution,
            "challenge_overturned": overturned,
        },
    )
    tlog.commit(session)
    log.info("dispute resolved", extra={"resolution": resolution})
    return d
