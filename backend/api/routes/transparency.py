"""The transparency log over HTTP: signed tree heads, entries, RFC 9162 proofs, and a
driver's own entries with inclusion proofs. Readable by every role: entries carry kinds,
ids, outcomes and opaque vehicle references, no personal data."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import APIRouter, Query
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.api.deps import Driver, LogReader, Now, SessionDep, StateDep
from backend.api.errors import error_responses
from backend.db.models import LogEntry, LogTreeHead, Vehicle
from backend.errors import InvalidProofRequest, LogUnavailable
from backend.schemas.log import (
    ConsistencyProofOut,
    InclusionProofOut,
    LogEntryOut,
    LogEntryProven,
    LogKeyOut,
    MyLogOut,
    SubjectOut,
    TreeHeadOut,
)
from backend.services import transparency_log as tlog
from backend.transparency.entries import decode_entry

router = APIRouter(prefix="/api/v1/log", tags=["transparency"])

MAX_ENTRIES = 1000
MAX_SIZE = 2**63 - 1


@contextmanager
def _sound(state: StateDep) -> Iterator[None]:
    state.log_index.ensure_sound()
    try:
        yield
    except tlog.LogCorrupt as e:
        state.log_index.corrupt = str(e)
        raise LogUnavailable("the transparency log is inconsistent: " + str(e)) from None


def tree_head_out(row: LogTreeHead, kid: bytes) -> TreeHeadOut:
    return TreeHeadOut(
        size=row.size,
        root_hash=row.root_hash.hex(),
        timestamp=row.timestamp,
        kid=kid.hex(),
        envelope_b64=base64.b64encode(row.envelope).decode("ascii"),
    )


def entry_out(row: LogEntry) -> LogEntryOut:
    data = decode_entry(row.entry)
    return LogEntryOut(
        index=row.idx,
        kind=data.kind,
        timestamp=data.timestamp,
        actor_role=data.actor_role,
        actor_ref=data.actor_ref,
        subject_ref=data.subject.hex() if data.subject is not None else None,
        details={k: v.hex() if isinstance(v, bytes) else v for k, v in data.details.items()},
        entry_b64=base64.b64encode(row.entry).decode("ascii"),
        leaf_hash=row.leaf_hash.hex(),
    )


def _synced(session: Session, state: StateDep) -> int:
    size = state.log_index.sync(session)
    session.rollback()
    return size


@router.get(
    "/public-key",
    summary="The log's tree-head signing key (any role)",
    responses=error_responses(401, 403),
)
def public_key(actor: LogReader, state: StateDep) -> LogKeyOut:
    return LogKeyOut(kid=state.log_signer.kid.hex(), public_key=state.log_signer.public_key().hex())


@router.get(
    "/tree-head",
    summary="The latest signed tree head (any role)",
    responses=error_responses(401, 403, 503),
)
def tree_head(actor: LogReader, session: SessionDep, state: StateDep, now: Now) -> TreeHeadOut:
    with _sound(state):
        row = tlog.signed_tree_head(session, state.log_index, state.log_signer, now)
    return tree_head_out(row, state.log_signer.kid)


@router.get(
    "/entries",
    summary="Entries [start, end) with their exact bytes (any role; at most 1000; an end "
    "beyond the log is cut to its size)",
    responses=error_responses(400, 401, 403, 503),
)
def entries(
    actor: LogReader,
    session: SessionDep,
    state: StateDep,
    start: int = Query(ge=0, le=MAX_SIZE),
    end: int = Query(ge=0, le=MAX_SIZE),
) -> list[LogEntryOut]:
    with _sound(state):
        size = _synced(session, state)
    if not start <= end or start > size or end - start > MAX_ENTRIES:
        raise InvalidProofRequest(
            "need start <= end, start <= %d (the log's size), at most %d entries"
            % (size, MAX_ENTRIES)
        )
    end = min(end, size)
    rows = session.scalars(
        select(LogEntry).where(LogEntry.idx >= start, LogEntry.idx < end).order_by(LogEntry.idx)
    )
    return [entry_out(r) for r in rows]


@router.get(
    "/proof/inclusion",
    summary="RFC 9162 inclusion proof of entry `index` in the tree of `size` (any role)",
    responses=error_responses(400, 401, 403, 503),
)
def inclusion(
    actor: LogReader,
    session: SessionDep,
    state: StateDep,
    index: int = Query(ge=0, le=MAX_SIZE),
    size: int = Query(ge=1, le=MAX_SIZE),
) -> InclusionProofOut:
    with _sound(state):
        current = _synced(session, state)
    if size > current:
        raise InvalidProofRequest("size %d is beyond the log's %d" % (size, current))
    proof = state.log_index.inclusion_proof(index, size)
    return InclusionProofOut(
        index=index,
        size=size,
        leaf_hash=state.log_index.leaf_hash(index).hex(),
        proof=[p.hex() for p in proof],
    )


@router.get(
    "/proof/consistency",
    summary="RFC 9162 consistency proof from tree size `first` to `second` (any role)",
    responses=error_responses(400, 401, 403, 503),
)
def consistency(
    actor: LogReader,
    session: SessionDep,
    state: StateDep,
    first: int = Query(ge=0, le=MAX_SIZE),
    second: int = Query(ge=0, le=MAX_SIZE),
) -> ConsistencyProofOut:
    with _sound(state):
        current = _synced(session, state)
    if second > current:
        raise InvalidProofRequest("size %d is beyond the log's %d" % (second, current))
    proof = state.log_index.consistency_proof(first, second)
    return ConsistencyProofOut(first=first, second=second, proof=[p.hex() for p in proof])


@router.get(
    "/mine",
    summary="The entries about the calling driver's vehicles, with inclusion proofs against "
    "the latest signed tree head (driver)",
    responses=error_responses(401, 403, 503),
)
def mine(
    actor: Driver,
    session: SessionDep,
    state: StateDep,
    now: Now,
    limit: int = Query(default=MAX_ENTRIES, ge=1, le=MAX_ENTRIES),
    offset: int = Query(default=0, ge=0, le=MAX_SIZE),
) -> MyLogOut:
    with _sound(state):
        head = tlog.signed_tree_head(session, state.log_index, state.log_signer, now)
    vehicle_ids = list(
        session.scalars(select(Vehicle.id).where(Vehicle.driver_id == actor.driver_id))
    )
    refs = tlog.subject_refs(session, vehicle_ids)
    rows = (
        session.scalars(
            select(LogEntry)
            .where(LogEntry.subject_ref.in_(list(refs.values())), LogEntry.idx < head.size)
            .order_by(LogEntry.idx)
            .limit(limit)
            .offset(offset)
        ).all()
        if refs
        else []
    )
    proven = [
        LogEntryProven(
            **entry_out(r).model_dump(),
            inclusion_proof=[p.hex() for p in state.log_index.inclusion_proof(r.idx, head.size)],
        )
        for r in rows
    ]
    return MyLogOut(
        tree_head=tree_head_out(head, state.log_signer.kid),
        subjects=[SubjectOut(vehicle_id=v, subject_ref=r.hex()) for v, r in sorted(refs.items())],
        entries=proven,
    )
