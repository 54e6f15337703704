"""The transparency log on the database: append entries, keep the Merkle tree, sign heads.

Storage: ``log_entries`` holds every entry (canonical CBOR) with its leaf hash at a
contiguous index ``idx``. Appends happen inside the transaction of the action they record
(a challenge, an opening, an access to opened data), so an action and its entry are
committed together or not at all. Appends are serialised — ``begin_log_write`` takes the
SQLite write lock (BEGIN IMMEDIATE) or a PostgreSQL transaction-scoped advisory lock — so
the next index is always max(idx) + 1 and no index is ever skipped or taken twice. Every
transaction that may append calls ``begin_log_write`` before anything else, so the lock is
always taken first and cannot deadlock against row locks.

The in-memory ``LogIndex`` (a transparency.MerkleTree over the leaf hashes) is rebuilt from
the database at start-up and brought up to date before every proof or tree head, so several
worker processes sharing one database all serve the same log.

Signed tree heads are kept in ``log_tree_heads``: a restarted server checks that its tree
still has the root it signed (a changed or deleted leaf hash shows up there), and drivers who
kept a head can ask for a consistency proof to the current one.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend import metrics
from backend.crypto.signer import Signer
from backend.db.models import LogEntry, LogSubject, LogTreeHead
from backend.db.session import begin_write
from backend.errors import InvalidProofRequest, LogUnavailable
from backend.services.tokens import Actor
from backend.transparency import merkle
from backend.transparency.entries import SUBJECT_LEN, DetailValue, LogEntryData
from backend.transparency.tree_head import TreeHead, sign_tree_head_with

log = logging.getLogger("quietmile.log")

# pg_advisory_xact_lock key of the log writer ("qmlog").
_PG_LOCK_KEY = 0x716D6C6F67


class LogCorrupt(RuntimeError):
    """The stored log is not what this server (or its signed heads) committed to."""


@dataclass(frozen=True)
class LogActor:
    """Who did what an entry records: an API role (with the token id for staff), an OBU, the
    system."""

    role: str
    ref: int | None = None

    @classmethod
    def of(cls, actor: Actor) -> LogActor:
        # Staff act under their token id (accountability: which auditor read what). A
        # driver's token id would link their vehicles' subject references: left out.
        return cls(actor.role, None if actor.role == "driver" else actor.token_id)


SYSTEM = LogActor("system")
OBU = LogActor("obu")


_AFTER_COMMIT = "quietmile_after_commit"


def begin_log_write(session: Session) -> None:
    """Begin a write transaction that may append to the log (module docstring)."""
    session.info[_AFTER_COMMIT] = []
    begin_write(session)
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})


def after_commit(session: Session, fn: Callable[[], None]) -> None:
    """Run ``fn`` once the transaction commits (metrics must not count rolled-back work)."""
    session.info.setdefault(_AFTER_COMMIT, []).append(fn)


def commit(session: Session) -> None:
    """Commit a begin_log_write transaction, then run its after_commit callbacks."""
    session.commit()
    for fn in session.info.pop(_AFTER_COMMIT, []):
        fn()


def subject_ref(session: Session, vehicle_id: int) -> bytes:
    """The vehicle's opaque log reference, created on first use (inside begin_log_write)."""
    row = session.get(LogSubject, vehicle_id)
    if row is not None:
        return row.subject_ref
    ref = os.urandom(SUBJECT_LEN)
    session.add(LogSubject(vehicle_id=vehicle_id, subject_ref=ref))
    session.flush()
    return ref


def subject_refs(session: Session, vehicle_ids: list[int]) -> dict[int, bytes]:
    """The references of those vehicles that have any (read-only)."""
    if not vehicle_ids:
        return {}
    rows = session.execute(
        select(LogSubject.vehicle_id, LogSubject.subject_ref).where(
            LogSubject.vehicle_id.in_(vehicle_ids)
        )
    ).all()
    return {int(v): bytes(r) for v, r in rows}


def append(
    session: Session,
    kind: str,
    *,
    now: int,
    actor: LogActor,
    vehicle_id: int | None,
    details: Mapping[str, DetailValue],
) -> int:
    """Append one entry in the caller's transaction (begun with begin_log_write); its index.

    The caller commits: the entry becomes visible together with what it records.
    """
    subject = subject_ref(session, vehicle_id) if vehicle_id is not None else None
    data = LogEntryData(kind, now, actor.role, actor.ref, subject, dict(details)).encode()
    last = session.scalar(select(func.max(LogEntry.idx)))
    idx = 0 if last is None else int(last) + 1
    session.add(
        LogEntry(
            idx=idx,
            kind=kind,
            subject_ref=subject,
            created_at=now,
            entry=data,
            leaf_hash=merkle.leaf_hash(data),
        )
    )
    session.flush()
    after_commit(session, metrics.LOG_APPENDS.labels(kind=kind).inc)
    return idx


class LogIndex:
    """The Merkle tree over the committed leaf hashes, shared by a process's requests.

    transparency.MerkleTree is not thread-safe and FastAPI runs sync routes in a thread pool:
    every use goes through one lock.
    """

    def __init__(self) -> None:
        self._tree = merkle.MerkleTree()
        self._lock = threading.Lock()
        # Set when the stored log stopped extending what was served or signed: from then on
        # the log API refuses (503) instead of serving proofs of an altered log.
        self.corrupt: str | None = None

    def ensure_sound(self) -> None:
        if self.corrupt is not None:
            raise LogUnavailable("the transparency log is inconsistent: " + self.corrupt)

    @property
    def size(self) -> int:
        with self._lock:
            return self._tree.size

    def sync(self, session: Session) -> int:
        """Append the leaf hashes committed since the last sync; the new size.

        Raises LogCorrupt if the stored log no longer extends what this process has seen
        (entries deleted, or an index missing), and remembers it.
        """
        try:
            return self._sync(session)
        except LogCorrupt as e:
            self.corrupt = str(e)
            raise

    def _sync(self, session: Session) -> int:
        with self._lock:
            n = self._tree.size
            last = session.scalar(select(func.max(LogEntry.idx)))
            stored = -1 if last is None else int(last)
            if stored < n - 1:
                raise LogCorrupt(f"the log held {n} entries and now ends at index {stored}")
            if stored >= n:
                rows = session.execute(
                    select(LogEntry.idx, LogEntry.leaf_hash)
                    .where(LogEntry.idx >= n)
                    .order_by(LogEntry.idx)
                ).all()
                for idx, h in rows:
                    if idx != self._tree.size:
                        raise LogCorrupt(f"log index {self._tree.size} is missing")
                    self._tree.append(bytes(h))
            return self._tree.size

    def root(self, size: int) -> bytes:
        with self._lock:
            return self._tree.root(size)

    def leaf_hash(self, index: int) -> bytes:
        with self._lock:
            return self._tree.leaf_hash(index)

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        with self._lock:
            try:
                return self._tree.inclusion_proof(index, size)
            except merkle.InvalidProofRequest as e:
                raise InvalidProofRequest(str(e)) from None

    def consistency_proof(self, first: int, second: int) -> list[bytes]:
        with self._lock:
            try:
                return self._tree.consistency_proof(first, second)
            except merkle.InvalidProofRequest as e:
                raise InvalidProofRequest(str(e)) from None


def check_signed_heads(session: Session, index: LogIndex, *, all_heads: bool = False) -> None:
    """LogCorrupt unless the tree has the root of the latest (or every) signed head."""
    q = select(LogTreeHead).order_by(LogTreeHead.size.desc())
    heads = session.scalars(q if all_heads else q.limit(1)).all()
    size = index.size
    for head in heads:
        if head.size > size:
            raise LogCorrupt(f"a tree head of size {head.size} was signed; the log has {size}")
        if index.root(head.size) != head.root_hash:
            raise LogCorrupt(f"the log no longer has the root signed at size {head.size}")


def verify_stored_entries(session: Session, batch: int = 5000) -> int:
    """LogCorrupt unless every stored leaf hash is the hash of its stored entry; the count."""
    start = 0
    count = 0
    while True:
        rows = session.execute(
            select(LogEntry.idx, LogEntry.entry, LogEntry.leaf_hash)
            .where(LogEntry.idx >= start)
            .order_by(LogEntry.idx)
            .limit(batch)
        ).all()
        if not rows:
            return count
        for idx, entry, h in rows:
            if idx != count:
                raise LogCorrupt(f"log index {count} is missing")
            if merkle.leaf_hash(bytes(entry)) != bytes(h):
                raise LogCorrupt(f"entry {idx} does not match its leaf hash")
            count += 1
        start = count


def signed_tree_head(session: Session, index: LogIndex, signer: Signer, now: int) -> LogTreeHead:
    """The signed head of the current log: the stored one if the log has not grown since,
    else a new one (signed now and stored). ``session`` must have no transaction open."""
    size = index.sync(session)
    latest = session.scalar(select(LogTreeHead).order_by(LogTreeHead.size.desc()).limit(1))
    if latest is not None and latest.size > size:
        raise LogCorrupt(f"a tree head of size {latest.size} was signed; the log has {size}")
    if latest is not None and latest.size == size:
        session.rollback()
        return latest
    head = TreeHead(size, index.root(size), now)
    row = LogTreeHead(
        size=size,
        root_hash=head.root_hash,
        timestamp=now,
        envelope=sign_tree_head_with(head, signer),
    )
    session.rollback()
    begin_write(session)
    session.add(row)
    try:
        session.commit()
    except IntegrityError:
        # Another request signed this size first: theirs is the head of record.
        session.rollback()
        stored = session.get(LogTreeHead, size)
        session.rollback()
        if stored is None:
            raise
        return stored
    return row
