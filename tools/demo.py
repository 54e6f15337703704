"""`make demo`: a protocol round trip, verified on CPython (libsodium + OpenSSL) and under the
real MicroPython binary (the pure code the OBU runs).

Later issues grow this into the full end-to-end demo (firmware under MicroPython, backend on
SQLite, simulated cameras, a report).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from backend.crypto import ecdsa
from backend.crypto.group import SodiumGroup
from protocol import labels, messages, verify
from tools import scenario

REPO = Path(__file__).resolve().parent.parent


def _eur(micro: int) -> str:
    return f"{micro / 1e6:.2f} EUR"


def main() -> int:
    print("quietmile demo — protocol round trip\n")
    sc = scenario.build()
    print(
        f"authority signs tariff policy v{sc.policy.version}: {len(sc.policy.zones)} zones, "
        f"{len(sc.policy.bands)} time bands, {len(sc.policy.rates)} rates "
        f"({len(sc.policy_envelope)} bytes signed, id {sc.policy_id.hex()})"
    )
    print(f"OBU {sc.obu_id} (vehicle class {sc.vehicle_class}) prices its own driving:")
    for s in sc.segments:
        r = s.record
        print(
            f"  segment {r.index}: zone {r.zone_id} band {r.band_id}, {r.dist_m} m x "
            f"{r.rate_micro_per_km} µ/km = {_eur(r.price_micro)}  "
            f"commitment {s.price_commitment.hex()[:16]}…"
        )
    st = sc.statement
    const = len(sc.statement_envelope) - 69 * st.segment_count
    print(
        f"statement seq {st.seq}: {st.segment_count} segments, total {_eur(st.total_price_micro)}, "
        f"{len(sc.statement_envelope)} bytes signed ({const} bytes + 69 per segment); "
        "it carries no time, place or per-segment price"
    )

    group = SodiumGroup()
    t0 = time.perf_counter()
    st2, kid = verify.verify_statement(
        sc.statement_envelope, sc.resolve_key, group=group, verify=ecdsa.verify
    )
    verify.check_chain(st2, None, None)
    dt = (time.perf_counter() - t0) * 1e3
    print(
        f"backend (libsodium + OpenSSL): signature, chain and homomorphic sum verified "
        f"in {dt:.2f} ms"
    )

    ch = sc.challenge
    print(
        f"camera sighting at t={ch.at_time}: challenge {ch.challenge_id.hex()[:8]}… asks for the "
        "segment covering that instant (the camera position is not sent)"
    )
    op = sc.opening
    verify.check_opening_answers(op, ch, st2)
    verify.check_commitments(op, st2, group=group)
    verify.check_record(op.record, sc.policy, sc.policy_id, sc.vehicle_class, st2)
    d = verify.check_sighting(op.record, sc.sighting[0], sc.sighting[1], sc.sighting[2], 20000)
    print(
        f"OBU opens segment {op.segment_index} only ({len(sc.opening_envelope)} bytes); "
        f"commitments open, price = tariff(record), sighting {d / 1000:.1f} m from the trace: PASS"
    )
    receipt = messages.Receipt.decode(messages.cbor.encode(sc.receipt.to_map()))
    print(
        f"receipt for seq {receipt.seq}: {_eur(receipt.total_price_micro)} "
        f"({len(sc.receipt_envelope)} bytes, content type {labels.CTY_RECEIPT})\n"
    )

    mp = Path(sys.executable).parent / "micropython"
    print(
        "the same pinned exchange (protocol/vectors/scenario.json) verified by the OBU's pure code:"
    )
    proc = subprocess.run([str(mp), "tools/mp_verify.py"], cwd=REPO, capture_output=True, text=True)
    print(proc.stdout.rstrip())
    if proc.returncode != 0:
        print(proc.stderr)
        return 1
    print("\ndemo OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
