"""The pinned protocol vectors (protocol/vectors/) verify and re-encode byte for byte.

Runs under MicroPython too: this is the OBU and any backend agreeing on the same bytes.
"""

from protocol import envelopes, labels, messages, p256, pedersen, verify
from protocol.errors import (
    ChainBroken,
    ChallengeMismatch,
    InvalidSignature,
    NotOnTrace,
    OpeningMismatch,
    PriceMismatch,
    SumMismatch,
    UnknownKeyId,
)
from tests.contract.support import h, pinned_vector, raises

_V = None


def v():
    global _V
    if _V is None:
        _V = pinned_vector("scenario.json")
    return _V


def keys():
    vec = v()
    table = {
        h(vec["authority_kid"]): h(vec["authority_public_key"]),
        h(vec["obu_kid"]): h(vec["obu_public_key"]),
    }

    def resolve(kid):
        if kid not in table:
            raise UnknownKeyId(kid.hex())
        return table[kid]

    return resolve


def statement():
    st, _ = verify.verify_statement(h(v()["statement_envelope"]), keys())
    return st


def test_kids_are_tagged_hashes_of_public_keys():
    vec = v()
    assert p256.key_id(h(vec["obu_public_key"])) == h(vec["obu_kid"])
    assert p256.key_id(h(vec["authority_public_key"])) == h(vec["authority_kid"])


def test_policy_envelope_verifies_and_id_matches():
    policy, pid = envelopes.open_policy(h(v()["policy_envelope"]), keys())
    assert pid == h(v()["policy_id"])
    assert messages.policy_id(policy) == pid


def test_statement_verifies_and_reencodes_identically():
    vec = v()
    st = statement()
    assert st.encode() == h(vec["statement_payload"])
    assert st.obu_id == vec["obu_id"]
    assert st.segment_count == len(vec["segments"])
    assert st.total_price_micro == sum(s["price_micro"] for s in vec["segments"])
    verify.check_chain(st, None, None)
    assert envelopes.statement_hash(h(vec["statement_envelope"])) == h(vec["statement_hash"])


def test_statement_stream_encoding_equals_one_shot_encoding():
    st = statement()
    out = []
    messages.encode_statement_stream(
        st.header_map(), st.segment_count, iter(st.commitments), out.append
    )
    assert b"".join(out) == st.encode()


def test_statement_with_flipped_signature_bit_is_rejected():
    env = bytearray(h(v()["statement_envelope"]))
    env[-1] ^= 1
    raises(InvalidSignature, verify.verify_statement, bytes(env), keys())


def test_statement_signed_by_unknown_key_is_rejected():
    def nobody(kid):
        raise UnknownKeyId(kid.hex())

    raises(UnknownKeyId, verify.verify_statement, h(v()["statement_envelope"]), nobody)


def test_statement_with_wrong_total_fails_the_homomorphic_check():
    st = statement()
    st.total_price_micro += 1
    signer = p256.SoftwareSigner(1234567)
    env = envelopes.sign_statement(st, signer)
    resolve = lambda kid: signer.public_key()  # noqa: E731
    raises(SumMismatch, verify.verify_statement, env, resolve)


def test_second_statement_must_chain_to_the_first():
    st = statement()
    prev_hash = h(v()["statement_hash"])
    st.seq = 1
    st.prev_hash = prev_hash
    verify.check_chain(st, prev_hash, 0)
    st.prev_hash = bytes(32)
    raises(ChainBroken, verify.check_chain, st, prev_hash, 0)
    st.prev_hash = prev_hash
    st.seq = 2
    raises(ChainBroken, verify.check_chain, st, prev_hash, 0)


def test_segment_commitments_open():
    for s in v()["segments"]:
        rec = messages.SegmentRecord.decode(h(s["record"]))
        assert rec.encode() == h(s["record"])
        assert messages.trace_commitment(rec.encode(), h(s["salt"])) == h(s["trace_commitment"])
        pedersen.verify_opening(
            h(s["price_commitment"]), rec.price_micro, pedersen.blind_from_bytes(h(s["blind"]))
        )


def _exchange():
    vec = v()
    resolve = keys()
    ch, _ = envelopes.open_message(
        h(vec["challenge_envelope"]), messages.Challenge, resolve, labels.CTY_CHALLENGE
    )
    op, kid = envelopes.open_message(
        h(vec["opening_envelope"]), messages.Opening, resolve, labels.CTY_OPENING
    )
    assert kid == h(vec["obu_kid"])
    policy, pid = envelopes.open_policy(h(vec["policy_envelope"]), resolve)
    return ch, op, policy, pid


def test_opening_answers_the_sighting_and_passes_every_check():
    vec = v()
    ch, op, policy, pid = _exchange()
    st = statement()
    verify.check_opening_answers(op, ch, st)
    verify.check_commitments(op, st)
    verify.check_record(op.record, policy, pid, vec["vehicle_class"], st)
    s = vec["sighting"]
    verify.check_sighting(op.record, s["t"], s["lat_e7"], s["lon_e7"], 20000)


def test_sighting_far_from_the_opened_trace_is_not_on_trace():
    vec = v()
    ch, op, policy, pid = _exchange()
    s = vec["sighting"]
    raises(
        NotOnTrace,
        verify.check_sighting,
        op.record,
        s["t"],
        s["lat_e7"] + 50000,
        s["lon_e7"],
        20000,
    )


def test_opening_of_another_segment_is_rejected():
    ch, op, policy, pid = _exchange()
    st = statement()
    other = messages.SegmentRecord.decode(h(v()["segments"][0]["record"]))
    assert not other.covers(ch.at_time)
    op.record = other
    op.segment_index = other.index
    raises(ChallengeMismatch, verify.check_opening_answers, op, ch, st)


def test_opening_with_altered_record_does_not_match_its_commitment():
    ch, op, policy, pid = _exchange()
    st = statement()
    op.record.dist_m -= 1
    raises(OpeningMismatch, verify.check_commitments, op, st)


def test_underpriced_record_is_a_price_mismatch():
    vec = v()
    ch, op, policy, pid = _exchange()
    st = statement()
    op.record.price_micro -= 1
    raises(PriceMismatch, verify.check_record, op.record, policy, pid, vec["vehicle_class"], st)
    op.record.price_micro += 1
    raises(PriceMismatch, verify.check_record, op.record, policy, pid, vec["vehicle_class"] + 1, st)


def test_pedersen_commitments_match_libsodium_vectors():
    pv = pinned_vector("pedersen.json")
    assert pedersen.H_ENCODED == h(pv["h"])
    for c in pv["commitments"]:
        blind = pedersen.blind_from_bytes(h(c["blind"]))
        assert pedersen.commit(c["value"], blind) == h(c["commitment"])
