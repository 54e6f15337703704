"""Builders for the backend tests: OBU keys, statements (valid and deliberately broken),
signed requests, and a snapshot of the database to prove that refusals change nothing."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, select, text

from backend.db.base import Base
from backend.services.signed_request import sign_request
from protocol import cbor, cose, envelopes, labels, messages, p256, pedersen, timeutil
from tools.scenario import DetRng, example_policy

POLICY = example_policy()  # valid [2026-01-01, 2027-01-01), classes 1 and 2
POLICY_ID = messages.policy_id(POLICY)
NOV_2026 = timeutil.unix_from_civil(2026, 11, 1, 0, 0, 0)
DEC_2026 = timeutil.next_month_start(NOV_2026)
JAN_2027 = timeutil.next_month_start(DEC_2026)


def obu_signer(name: str) -> p256.SoftwareSigner:
    return p256.SoftwareSigner(p256.generate_private_key(DetRng(b"obu/" + name.encode())))


@dataclass
class Built:
    statement: messages.Statement
    envelope: bytes
    blinds: list[int] = field(default_factory=list)

    @property
    def hash(self) -> bytes:
        return envelopes.statement_hash(self.envelope)


def build_statement(
    signer: Any,
    obu_id: str,
    *,
    seq: int = 0,
    prev_hash: bytes = bytes(32),
    period: tuple[int, int] = (NOV_2026, DEC_2026),
    prices: tuple[int, ...] = (1200, 35000, 7),
    policy_ids: list[bytes] | None = None,
    total_delta: int = 0,
    seed: bytes = b"seed",
) -> Built:
    """A signed statement whose commitments add up (unless ``total_delta`` != 0)."""
    rng = DetRng(b"statement/" + seed + obu_id.encode() + seq.to_bytes(4, "big"))
    pairs = []
    blinds = []
    blind_sum = 0
    for p in prices:
        r = pedersen.random_blind(rng)
        blinds.append(r)
        blind_sum = pedersen.add_blinds(blind_sum, r)
        pairs.append((pedersen.commit(p, r), rng(32)))
    st = messages.Statement(
        obu_id,
        seq,
        prev_hash,
        period[0],
        period[1],
        [POLICY_ID] if policy_ids is None else policy_ids,
        sum(prices) + total_delta,
        pedersen.blind_to_bytes(blind_sum),
        pairs,
    )
    return Built(st, envelopes.sign_statement(st, signer), blinds)


def sign_payload(payload: bytes, signer: Any, cty: str = labels.CTY_STATEMENT) -> bytes:
    """Sign arbitrary payload bytes (for statements that are invalid *inside* the signature)."""
    return cose.sign1(payload, signer, cty)


def with_payload_map(built: Built, signer: Any, **changes: Any) -> bytes:
    """Re-sign ``built`` after replacing statement fields by key number (k1=..., k9=...)."""
    m = built.statement.to_map()
    for k, v in changes.items():
        m[int(k[1:])] = v
    return sign_payload(cbor.encode(m), signer)


def signed_header(
    signer: Any, method: str, path: str, body: bytes, timestamp: int, nonce: bytes
) -> dict[str, str]:
    return {"QM-Signed-Request": sign_request(signer, method, path, body, timestamp, nonce)}


def snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table (small test databases), to compare before and after."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            rows = conn.execute(select(table)).all()
            out[table.name] = sorted((tuple(r) for r in rows), key=repr)
    return out


def wipe(engine: Engine) -> None:
    tables = list(reversed(Base.metadata.sorted_tables))
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            names = ", ".join(t.name for t in tables)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for t in tables:
                conn.execute(t.delete())


def sha256(b: bytes) -> bytes:
    return hashlib.sha256(b).digest()
