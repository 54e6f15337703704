"""Verify the pinned scenario under MicroPython, printing each step (used by `make demo`).

Run from the repository root: micropython tools/mp_verify.py
Device-compatible code only: the same pure protocol/ the OBU runs.
"""

import sys
import time

sys.path.insert(0, ".")

from protocol import envelopes, labels, messages, verify
from tests.contract.support import h, pinned_vector


def ms_since(t0):
    return time.ticks_diff(time.ticks_ms(), t0) if hasattr(time, "ticks_ms") else 0


def main():
    vec = pinned_vector("scenario.json")
    keys = {
        h(vec["authority_kid"]): h(vec["authority_public_key"]),
        h(vec["obu_kid"]): h(vec["obu_public_key"]),
    }
    resolve = keys.get
    t0 = time.ticks_ms()
    st, kid = verify.verify_statement(h(vec["statement_envelope"]), resolve)
    print(
        "  [micropython] statement seq %d: signature, %d commitments and sum verified (%d ms)"
        % (st.seq, st.segment_count, ms_since(t0))
    )
    ch, _ = envelopes.open_message(
        h(vec["challenge_envelope"]), messages.Challenge, resolve, labels.CTY_CHALLENGE
    )
    op, _ = envelopes.open_message(
        h(vec["opening_envelope"]), messages.Opening, resolve, labels.CTY_OPENING
    )
    policy, pid = envelopes.open_policy(h(vec["policy_envelope"]), resolve)
    t0 = time.ticks_ms()
    verify.check_opening_answers(op, ch, st)
    verify.check_commitments(op, st)
    verify.check_record(op.record, policy, pid, vec["vehicle_class"], st)
    s = vec["sighting"]
    d = verify.check_sighting(op.record, s["t"], s["lat_e7"], s["lon_e7"], 20000)
    print(
        "  [micropython] opening of segment %d verified; sighting %d mm from the trace (%d ms)"
        % (op.segment_index, d, ms_since(t0))
    )


main()
