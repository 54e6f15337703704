"""Statement ingest: acceptance, receipts, idempotency, the chain, and one test per error
class — each refusal has its precise status and code and leaves the database unchanged."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from prometheus_client import REGISTRY

from protocol import cbor, cose, envelopes, labels, messages, pedersen
from tests.backend import support
from tests.backend.conftest import Fleet

DECODE_CODES = {
    "malformed_cbor",
    "truncated",
    "trailing_bytes",
    "non_canonical",
    "too_deep",
    "too_large",
    "unsupported_type",
}


def failures(reason: str) -> float:
    v = REGISTRY.get_sample_value("quietmile_statement_failures_total", {"reason": reason})
    return v or 0.0


def open_receipt(fleet: Fleet, data: bytes) -> messages.Receipt:
    auth = fleet.env.authority

    def resolve(kid: bytes) -> bytes | None:
        return auth.public_key() if kid == auth.kid else None

    receipt, kid = envelopes.open_message(data, messages.Receipt, resolve, labels.CTY_RECEIPT)
    assert kid == auth.kid
    return receipt


def test_valid_statement_is_stored_and_receipted(fleet: Fleet) -> None:
    env = fleet.env
    b = support.build_statement(fleet.signer, fleet.obu_id)
    r = env.submit(b.envelope)
    assert r.status_code == 201, r.text
    assert r.headers["content-type"] == "application/cose"
    receipt = open_receipt(fleet, r.content)
    assert receipt.obu_id == fleet.obu_id
    assert receipt.seq == 0
    assert receipt.statement_hash == b.hash
    assert receipt.total_price_micro == sum((1200, 35000, 7))
    assert receipt.segment_count == 3
    assert receipt.received_at == env.clock.now
    row = env.client.get(f"/api/v1/statements/{b.hash.hex()}", headers=env.op).json()
    assert row["continuity"] == "first"
    assert row["policy_ids"] == [support.POLICY_ID.hex()]
    raw = env.client.get(f"/api/v1/statements/{b.hash.hex()}/envelope", headers=env.op)
    assert raw.content == b.envelope


def test_resubmission_returns_the_same_receipt_bytes(fleet: Fleet) -> None:
    env = fleet.env
    b = support.build_statement(fleet.signer, fleet.obu_id)
    first = env.submit(b.envelope)
    env.clock.now += 3600  # a fresh receipt would carry another received_at
    before = env.snapshot()
    again = env.submit(b.envelope)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.content == first.content
    assert env.snapshot() == before


def test_chain_continues_and_flags_gaps_and_overlaps(fleet: Fleet) -> None:
    env = fleet.env
    s0 = support.build_statement(fleet.signer, fleet.obu_id)
    s1 = support.build_statement(
        fleet.signer,
        fleet.obu_id,
        seq=1,
        prev_hash=s0.hash,
        period=(support.DEC_2026, support.DEC_2026 + 86400),
    )
    # Skips a period: accepted but flagged.
    s2 = support.build_statement(
        fleet.signer,
        fleet.obu_id,
        seq=2,
        prev_hash=s1.hash,
        period=(support.DEC_2026 + 3 * 86400, support.DEC_2026 + 4 * 86400),
    )
    # Starts before the previous one ended: flagged too.
    s3 = support.build_statement(
        fleet.signer,
        fleet.obu_id,
        seq=3,
        prev_hash=s2.hash,
        period=(support.DEC_2026 + 4 * 86400 - 60, support.DEC_2026 + 5 * 86400),
    )
    env.clock.now = support.DEC_2026 + 6 * 86400
    for b in (s0, s1, s2, s3):
        assert env.submit(b.envelope).status_code == 201
    rows = env.client.get(f"/api/v1/vehicles/{fleet.vehicle_id}/statements", headers=env.op).json()
    assert [r["continuity"] for r in rows] == ["first", "contiguous", "gap", "overlap"]
    head = env.client.get(f"/api/v1/vehicles/{fleet.vehicle_id}/chain", headers=env.op).json()
    assert head["next_seq"] == 4 and head["prev_hash"] == s3.hash.hex()


def test_statement_without_driving_is_accepted(fleet: Fleet) -> None:
    b = support.build_statement(fleet.signer, fleet.obu_id, prices=(), policy_ids=[])
    r = fleet.env.submit(b.envelope)
    assert r.status_code == 201, r.text
    assert open_receipt(fleet, r.content).segment_count == 0


def test_a_repeated_policy_id_is_harmless(fleet: Fleet) -> None:
    b = support.build_statement(
        fleet.signer, fleet.obu_id, policy_ids=[support.POLICY_ID, support.POLICY_ID]
    )
    assert fleet.env.submit(b.envelope).status_code == 201


def test_different_statement_with_used_seq_is_chain_broken(fleet: Fleet) -> None:
    env = fleet.env
    assert (
        env.submit(support.build_statement(fleet.signer, fleet.obu_id).envelope).status_code == 201
    )
    other = support.build_statement(fleet.signer, fleet.obu_id, prices=(5,))
    before = env.snapshot()
    r = env.submit(other.envelope)
    assert r.status_code == 409
    assert r.json()["error"] == "chain_broken"
    assert env.snapshot() == before


# --- one test per error class ------------------------------------------------------------


@dataclass(frozen=True)
class Bad:
    name: str
    make: Callable[[Fleet], bytes]
    status: int
    code: str
    content_type: str = "application/cose"


def _base(f: Fleet) -> support.Built:
    return support.build_statement(f.signer, f.obu_id)


def _non_canonical(f: Fleet) -> bytes:
    env = _base(f).envelope
    assert env[:2] == b"\xd2\x84"  # tag 18, array(4)
    return b"\xd2\x98\x04" + env[2:]  # the same array length in a two-byte head


def _flip_signature(f: Fleet) -> bytes:
    env = bytearray(_base(f).envelope)
    env[-1] ^= 0x01
    return bytes(env)


def _unknown_kid(f: Fleet) -> bytes:
    return support.build_statement(support.obu_signer("stranger"), f.obu_id).envelope


def _wrong_cose_content_type(f: Fleet) -> bytes:
    return support.sign_payload(_base(f).statement.encode(), f.signer, labels.CTY_RECEIPT)


def _unsupported_alg(f: Fleet) -> bytes:
    protected = cbor.encode({1: -35, 3: labels.CTY_STATEMENT, 4: f.signer.kid})
    msg = cose.Sign1(protected, cbor.decode(protected), {}, _base(f).statement.encode(), b"")
    msg.signature = f.signer.sign(msg.to_be_signed())
    return bytes(msg.encode())


def _unknown_field(f: Fleet) -> bytes:
    return support.with_payload_map(_base(f), f.signer, k10=1)


def _wrong_obu(f: Fleet) -> bytes:
    # Signed by alice's unit, but names bob's unit (registered in the test).
    return support.build_statement(f.signer, "OBU-B1").envelope


def _bad_point(f: Fleet) -> bytes:
    b = _base(f)
    pairs = [[c, t] for c, t in b.statement.commitments]
    pairs[1][0] = b"\xff" * 32  # not a canonical field element
    return support.with_payload_map(b, f.signer, k9=pairs)


def _bad_scalar(f: Fleet) -> bytes:
    return support.with_payload_map(_base(f), f.signer, k8=b"\xff" * 32)  # >= ℓ


def _sum_mismatch(f: Fleet) -> bytes:
    return support.build_statement(f.signer, f.obu_id, total_delta=1).envelope


def _first_not_seq0(f: Fleet) -> bytes:
    return support.build_statement(f.signer, f.obu_id, seq=1, prev_hash=b"\x11" * 32).envelope


def _first_with_prev_hash(f: Fleet) -> bytes:
    return support.build_statement(f.signer, f.obu_id, prev_hash=b"\x11" * 32).envelope


def _unknown_policy(f: Fleet) -> bytes:
    return support.build_statement(f.signer, f.obu_id, policy_ids=[b"\x42" * 16]).envelope


def _policy_outside_period(f: Fleet) -> bytes:
    jan = (support.JAN_2027, support.JAN_2027 + 86400)
    return support.build_statement(f.signer, f.obu_id, period=jan).envelope


def _impossible_total(f: Fleet) -> bytes:
    # The commitments add up, but one segment cannot cost 2^40 micro-units (< 2^32 each).
    return support.build_statement(f.signer, f.obu_id, prices=(1 << 40,)).envelope


BAD = [
    Bad("empty body", lambda f: b"", 400, "truncated"),
    Bad("truncated head", lambda f: _base(f).envelope[:1], 400, "truncated"),
    Bad("truncated body", lambda f: _base(f).envelope[:-1], 400, "too_large"),
    Bad("trailing bytes", lambda f: _base(f).envelope + b"\x00", 400, "trailing_bytes"),
    Bad("non-canonical", _non_canonical, 400, "non_canonical"),
    Bad("not COSE", lambda f: cbor.encode([1, 2, 3]), 400, "invalid_message"),
    Bad("unsupported alg", _unsupported_alg, 400, "unsupported_algorithm"),
    Bad("wrong COSE content type", _wrong_cose_content_type, 400, "invalid_message"),
    Bad("unknown kid", _unknown_kid, 401, "unknown_key_id"),
    Bad("bit-flipped signature", _flip_signature, 401, "invalid_signature"),
    Bad("unknown payload field", _unknown_field, 400, "invalid_message"),
    Bad("wrong OBU", _wrong_obu, 403, "obu_mismatch"),
    Bad("bad scalar", _bad_scalar, 422, "invalid_scalar"),
    Bad("bad point encoding", _bad_point, 422, "invalid_point_encoding"),
    Bad("sum mismatch", _sum_mismatch, 422, "sum_mismatch"),
    Bad("impossible total", _impossible_total, 400, "invalid_message"),
    Bad("first statement with seq 1", _first_not_seq0, 409, "chain_broken"),
    Bad("first statement with a prev_hash", _first_with_prev_hash, 409, "chain_broken"),
    Bad("unknown policy", _unknown_policy, 422, "unknown_policy"),
    Bad("policy not valid in the period", _policy_outside_period, 422, "policy_not_in_period"),
    Bad(
        "wrong media type",
        lambda f: _base(f).envelope,
        415,
        "unsupported_media_type",
        "application/cbor",
    ),
]


@pytest.mark.parametrize("bad", BAD, ids=[b.name for b in BAD])
def test_refusal_is_precise_and_changes_nothing(fleet: Fleet, bad: Bad) -> None:
    env = fleet.env
    bob_vehicle = env.vehicle("B-QM-2", driver="bob")
    env.obu("OBU-B1", bob_vehicle, support.obu_signer("bob-1"))
    data = bad.make(fleet)
    before = env.snapshot()
    count = failures(bad.code)
    r = env.submit(data, content_type=bad.content_type)
    assert r.status_code == bad.status, r.text
    body = r.json()
    assert body["error"] == bad.code
    assert isinstance(body["detail"], str) and body["detail"]
    assert env.snapshot() == before
    if bad.status != 415:  # the media type is checked before ingest
        assert failures(bad.code) == count + 1


def test_refusals_after_the_first_statement_change_nothing(fleet: Fleet) -> None:
    env = fleet.env
    s0 = support.build_statement(fleet.signer, fleet.obu_id)
    assert env.submit(s0.envelope).status_code == 201
    cases = {
        "skips a seq": support.build_statement(
            fleet.signer, fleet.obu_id, seq=2, prev_hash=s0.hash
        ),
        "wrong prev_hash": support.build_statement(
            fleet.signer, fleet.obu_id, seq=1, prev_hash=b"\x01" * 32
        ),
        "rollback to seq 0": support.build_statement(fleet.signer, fleet.obu_id, seed=b"other"),
    }
    for name, b in cases.items():
        before = env.snapshot()
        r = env.submit(b.envelope)
        assert (r.status_code, r.json()["error"]) == (409, "chain_broken"), name
        assert env.snapshot() == before, name


def test_body_over_the_limit_is_413_before_parsing(fleet: Fleet) -> None:
    env = fleet.env
    limit = env.app.state.quietmile.settings.max_statement_bytes
    before = env.snapshot()
    r = env.submit(b"\x00" * (limit + 1))
    assert r.status_code == 413
    assert r.json()["error"] == "too_large"
    assert env.snapshot() == before


def test_draft_policy_is_unknown_to_ingest(fleet: Fleet) -> None:
    env = fleet.env
    from backend.services.policies import form_from_policy

    later = support.example_policy()
    later.version = 2
    later.valid_from = support.JAN_2027
    later.valid_until = support.JAN_2027 + 365 * 86400
    later.utc_offsets = [(support.JAN_2027 - 86400, 3600)]
    r = env.client.post(
        "/api/v1/policies", json=form_from_policy(later).model_dump(), headers=env.op
    )
    assert r.status_code == 201, r.text
    draft_id = bytes.fromhex(r.json()["policy_id"])
    b = support.build_statement(
        fleet.signer,
        fleet.obu_id,
        period=(support.JAN_2027, support.JAN_2027 + 86400),
        policy_ids=[draft_id],
    )
    r = env.submit(b.envelope)
    assert (r.status_code, r.json()["error"]) == (422, "unknown_policy")


def test_verification_uses_the_sodium_group(fleet: Fleet) -> None:
    from backend.crypto.group import SodiumGroup

    assert isinstance(fleet.env.app.state.quietmile.group, SodiumGroup)
    # The pure-Python commitments the OBU makes are what libsodium checks.
    assert SodiumGroup().commit(5, 7) == pedersen.commit(5, 7)
