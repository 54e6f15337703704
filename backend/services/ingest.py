"""Statement ingest: verify (SPEC §6, in order), store, receipt.

Nothing is written unless every step passes. The expensive part (signature and the
homomorphic sum over up to 100,000 commitments) runs outside any write transaction; the
write transaction re-reads the chain head and relies on two unique constraints for races:
``statement_hash`` (the same envelope twice → the stored receipt) and ``(vehicle_id, seq)``
(two different statements for one chain position → chain_broken).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend import metrics
from backend.crypto import ecdsa
from backend.crypto.signer import Signer
from backend.db.models import Obu, Statement, TariffPolicy
from backend.db.session import begin_write
from backend.errors import KeyRevoked, PolicyNotInPeriod, StatementTooLarge, UnknownPolicy
from backend.services.registry import last_statement
from protocol import envelopes, labels, messages, verify
from protocol.errors import ChainBroken, InvalidMessage, ProtocolError, UnknownKeyId

log = logging.getLogger("quietmile.ingest")

PRICE_LIMIT = 0xFFFFFFFF  # a segment's price_micro is < 2^32 (SPEC §4.2)


class Group(Protocol):
    """The commitment group (protocol.pedersen or backend.crypto.group.SodiumGroup)."""

    def blind_from_bytes(self, b: bytes) -> int: ...

    def verify_sum(self, commitments: Any, total: int, blind_sum: int) -> None: ...


@dataclass(frozen=True)
class IngestResult:
    receipt: bytes
    created: bool  # False: the same envelope was accepted before; this is its receipt
    statement_hash: bytes
    continuity: str


def _resolver(session: Session) -> tuple[Callable[[bytes], bytes], dict[bytes, Obu]]:
    seen: dict[bytes, Obu] = {}

    def resolve_key(kid: bytes) -> bytes:
        obu = session.scalar(select(Obu).where(Obu.kid == kid))
        if obu is None:
            raise UnknownKeyId("kid %s is not registered" % kid.hex())
        if obu.revoked_at is not None:
            raise KeyRevoked("kid %s belongs to revoked OBU %s" % (kid.hex(), obu.obu_id))
        seen[kid] = obu
        return obu.public_key

    return resolve_key, seen


def _continuity(prev: Statement | None, st: messages.Statement) -> str:
    if prev is None:
        return "first"
    if st.period_start == prev.period_end:
        return "contiguous"
    return "gap" if st.period_start > prev.period_end else "overlap"


def _existing_receipt(session: Session, h: bytes) -> bytes | None:
    return session.scalar(select(Statement.receipt).where(Statement.statement_hash == h))


def ingest_statement(
    session: Session,
    envelope: bytes,
    *,
    signer: Signer,
    group: Group,
    now: int,
    max_bytes: int,
) -> IngestResult:
    """Verify and store one signed statement; return its (possibly earlier) receipt.

    Raises a protocol.errors class (or a backend.errors extension of one) on any failure,
    leaving the database unchanged. ``session`` must have no transaction in progress.
    """
    t0 = time.perf_counter()
    try:
        result = _ingest(
            session, envelope, signer=signer, group=group, now=now, max_bytes=max_bytes
        )
    except ProtocolError as e:
        session.rollback()
        metrics.STATEMENT_FAILURES.labels(reason=e.code).inc()
        log.info("statement refused", extra={"error": e.code, "bytes": len(envelope)})
        raise
    except BaseException:
        session.rollback()
        raise
    if result.created:
        metrics.STATEMENTS_ACCEPTED.inc()
        metrics.INGEST_SECONDS.observe(time.perf_counter() - t0)
    else:
        metrics.STATEMENT_DUPLICATES.inc()
    return result


def _ingest(
    session: Session,
    envelope: bytes,
    *,
    signer: Signer,
    group: Group,
    now: int,
    max_bytes: int,
) -> IngestResult:
    if len(envelope) > max_bytes:
        raise StatementTooLarge("statement of %d bytes exceeds %d" % (len(envelope), max_bytes))
    h = envelopes.statement_hash(envelope)

    # Idempotency first: these exact bytes were verified and accepted before.
    receipt = _existing_receipt(session, h)
    if receipt is not None:
        session.rollback()
        return IngestResult(receipt, False, h, "")

    # §6.1–6.3: envelope, signature, payload, OBU binding, commitments, sum.
    resolve_key, seen = _resolver(session)
    st, kid = verify.verify_statement(
        envelope,
        resolve_key,
        lambda k: seen[k].obu_id,
        group=group,
        verify=ecdsa.verify,
    )
    # Every segment price is < 2^32, so a larger total can only come from out-of-range
    # (e.g. negative mod ℓ) committed values; it also keeps the total in a signed BIGINT.
    if st.total_price_micro > st.segment_count * PRICE_LIMIT:
        raise InvalidMessage(
            "total_price_micro exceeds segment_count × (2^32 − 1): impossible total"
        )
    obu_ref = seen[kid].id
    session.rollback()  # end the read transaction before taking the write lock

    # §6.4: chain and policies, against the state inside the write transaction.
    begin_write(session)
    # A concurrent duplicate may have been stored while we verified (SQLite serialises
    # writers, so this is where it shows; PostgreSQL shows it as an IntegrityError below).
    receipt = _existing_receipt(session, h)
    if receipt is not None:
        session.rollback()
        return IngestResult(receipt, False, h, "")
    obu = session.get(Obu, obu_ref)
    if obu is None or obu.revoked_at is not None:
        raise KeyRevoked("the OBU was revoked while its statement was being verified")
    vehicle_id = obu.vehicle_id
    prev = last_statement(session, vehicle_id)
    try:
        if prev is not None and st.seq <= prev.seq:
            raise ChainBroken("seq %d is already used by another statement" % st.seq)
        verify.check_chain(
            st,
            prev.statement_hash if prev is not None else None,
            prev.seq if prev is not None else None,
        )
    except ChainBroken:
        # Under READ COMMITTED a concurrent duplicate can commit between our hash check and
        # the head read; then the "used seq" is our own statement.
        receipt = _existing_receipt(session, h)
        if receipt is not None:
            session.rollback()
            return IngestResult(receipt, False, h, "")
        raise
    policies = _check_policies(session, st)
    continuity = _continuity(prev, st)

    receipt_msg = messages.Receipt(
        st.obu_id, st.seq, h, st.total_price_micro, st.segment_count, now
    )
    receipt = envelopes.sign_message(receipt_msg, signer, labels.CTY_RECEIPT)
    row = Statement(
        statement_hash=h,
        vehicle_id=vehicle_id,
        obu_ref=obu.id,
        obu_id=st.obu_id,
        seq=st.seq,
        prev_hash=st.prev_hash,
        period_start=st.period_start,
        period_end=st.period_end,
        total_price_micro=st.total_price_micro,
        segment_count=st.segment_count,
        continuity=continuity,
        envelope=envelope,
        receipt=receipt,
        received_at=now,
        policies=policies,
    )
    session.add(row)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        # A concurrent request stored the same envelope: answer with its receipt.
        earlier = _existing_receipt(session, h)
        session.rollback()
        if earlier is not None:
            log.info("concurrent duplicate statement", extra={"obu_id": st.obu_id, "seq": st.seq})
            return IngestResult(earlier, False, h, "")
        raise ChainBroken(
            "seq %d was taken by a concurrent, different statement" % st.seq
        ) from None
    log.info(
        "statement accepted",
        extra={
            "obu_id": st.obu_id,
            "seq": st.seq,
            "segments": st.segment_count,
            "continuity": continuity,
        },
    )
    return IngestResult(receipt, True, h, continuity)


def _check_policies(session: Session, st: messages.Statement) -> list[TariffPolicy]:
    """Every policy id is a published policy whose validity meets the period (§6.4.13)."""
    rows: list[TariffPolicy] = []
    for pid in dict.fromkeys(st.policy_ids):  # a repeated id is harmless: check and link once
        row = session.scalar(
            select(TariffPolicy).where(
                TariffPolicy.policy_id == pid, TariffPolicy.published_at.is_not(None)
            )
        )
        if row is None:
            raise UnknownPolicy("policy %s is not a published policy" % pid.hex())
        if not (row.valid_from < st.period_end and st.period_start < row.valid_until):
            raise PolicyNotInPeriod(
                "policy %s is valid [%d, %d), the period is [%d, %d)"
                % (pid.hex(), row.valid_from, row.valid_until, st.period_start, st.period_end)
            )
        rows.append(row)
    return rows
