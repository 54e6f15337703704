"""Concurrent submissions: duplicates get the one stored receipt; different statements for
one chain position: exactly one wins, the rest are chain_broken. On SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from typing import Any

from fastapi.testclient import TestClient

from tests.backend import support
from tests.backend.conftest import Fleet

THREADS = 8


def race(fleet: Fleet, envelopes: list[bytes]) -> list[Any]:
    barrier = threading.Barrier(len(envelopes))
    results: list[Any] = [None] * len(envelopes)

    def worker(i: int) -> None:
        with TestClient(fleet.env.app) as client:  # one client per thread
            barrier.wait()
            results[i] = client.post(
                "/api/v1/statements",
                content=envelopes[i],
                headers={"content-type": "application/cose"},
            )

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(envelopes))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


def test_concurrent_duplicates_share_one_receipt(fleet: Fleet) -> None:
    prev = bytes(32)
    for seq in range(3):  # several rounds: each race has another interleaving
        b = support.build_statement(
            fleet.signer,
            fleet.obu_id,
            seq=seq,
            prev_hash=prev,
            period=(support.NOV_2026 + seq * 86400, support.NOV_2026 + (seq + 1) * 86400),
        )
        results = race(fleet, [b.envelope] * THREADS)
        assert all(r.status_code in (200, 201) for r in results), [r.text for r in results]
        assert sum(r.status_code == 201 for r in results) == 1
        assert len({r.content for r in results}) == 1
        prev = b.hash
    rows = fleet.env.client.get(
        f"/api/v1/vehicles/{fleet.vehicle_id}/statements", headers=fleet.env.op
    )
    assert [r["seq"] for r in rows.json()] == [0, 1, 2]


def test_concurrent_different_statements_for_one_seq(fleet: Fleet) -> None:
    variants = [
        support.build_statement(
            fleet.signer, fleet.obu_id, prices=(100 + i,), seed=bytes([i])
        ).envelope
        for i in range(THREADS)
    ]
    results = race(fleet, variants)
    codes = sorted(r.status_code for r in results)
    assert codes == [201] + [409] * (THREADS - 1), [r.text for r in results]
    assert all(r.json()["error"] == "chain_broken" for r in results if r.status_code == 409)
    rows = fleet.env.client.get(
        f"/api/v1/vehicles/{fleet.vehicle_id}/statements", headers=fleet.env.op
    )
    assert len(rows.json()) == 1


def test_lost_race_on_the_unique_hash_answers_with_the_stored_receipt(
    fleet: Fleet, monkeypatch: Any
) -> None:
    """Deterministic version of the race: the duplicate is only noticed by the database's
    unique constraints (the reads before the insert are made to miss it), on both
    databases."""
    from backend.services import ingest

    b = support.build_statement(fleet.signer, fleet.obu_id)
    first = fleet.env.submit(b.envelope)
    real = ingest._existing_receipt
    calls = {"n": 0}

    def miss_twice(session: Any, h: bytes) -> bytes | None:
        calls["n"] += 1
        return None if calls["n"] <= 2 else real(session, h)

    monkeypatch.setattr(ingest, "_existing_receipt", miss_twice)
    # ... and the chain head read too, as if the other writer had not committed yet.
    monkeypatch.setattr(ingest, "last_statement", lambda session, vehicle_id: None)
    before = fleet.env.snapshot()
    again = fleet.env.submit(b.envelope)
    assert calls["n"] == 3
    assert (again.status_code, again.content) == (200, first.content)
    assert fleet.env.snapshot() == before


def test_lost_race_for_a_seq_is_chain_broken(fleet: Fleet, monkeypatch: Any) -> None:
    from backend.services import ingest

    assert (
        fleet.env.submit(support.build_statement(fleet.signer, fleet.obu_id).envelope).status_code
        == 201
    )
    monkeypatch.setattr(ingest, "last_statement", lambda session, vehicle_id: None)
    other = support.build_statement(fleet.signer, fleet.obu_id, prices=(1,))
    before = fleet.env.snapshot()
    r = fleet.env.submit(other.envelope)
    assert (r.status_code, r.json()["error"]) == (409, "chain_broken")
    assert "concurrent" in r.json()["detail"]
    assert fleet.env.snapshot() == before
