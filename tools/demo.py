"""`make demo`: quietmile end to end on one machine, in a few minutes.

1. The protocol round trip (as before): a pinned exchange verified on CPython (libsodium +
   OpenSSL) and by the OBU's pure code under the real MicroPython binary.
2. The system: the real backend on embedded SQLite (loopback HTTP, a simulated clock), a
   week of commuting by a small fleet whose trips are replayed as NMEA through the real
   firmware — one vehicle under ``micropython``, the others in-process — statements submitted
   over HTTP, roadside cameras posting sightings, the backend challenging the OBUs and judging
   their openings, a few cheaters among honest drivers; then the report (HTML, Markdown,
   plots, map) under ``var/demo/report``.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

from backend.crypto import ecdsa
from backend.crypto.group import SodiumGroup
from protocol import labels, messages, verify
from tools import scenario

REPO = Path(__file__).resolve().parent.parent
DEMO_DIR = REPO / "var" / "demo"


def _eur(micro: int) -> str:
    return f"{micro / 1e6:.2f} EUR"


def protocol_round_trip() -> int:
    """Section 1: the pinned protocol exchange, on CPython and under MicroPython."""
    print("quietmile demo — 1. protocol round trip\n")
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
    st2, _kid = verify.verify_statement(
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
    print()
    return 0


def end_to_end(out: Path = DEMO_DIR, seed: int = 1) -> int:
    """Section 2: a small fleet through the real firmware and backend; the report."""
    from simulator import presets
    from simulator.fleet import run_fleet
    from simulator.metrics import summarize
    from simulator.report import write_report

    cfg = presets.demo(seed)
    print("quietmile demo — 2. end to end: firmware, backend, cameras, cheaters\n")
    print(
        f"backend on embedded SQLite ({out / 'run' / 'backend'}), served on 127.0.0.1 over HTTP;"
        f" {cfg.vehicles} vehicles commute for {cfg.days} days, daily statement periods; "
        f"{cfg.micropython} OBU under micropython, the rest in-process"
    )
    shown = [-1]

    def progress(frac: float, what: str) -> None:
        step = int(frac * 10)
        if step > shown[0]:
            shown[0] = step
            print(f"  [{100 * frac:3.0f} %] {what}", flush=True)

    t0 = time.perf_counter()
    result = run_fleet(cfg, out / "run", progress)
    result.save(out / "results.json")
    paths = write_report(result, out / "report")
    s = summarize(result)
    specs = result.specs

    by_vehicle: dict[int, Counter[str]] = defaultdict(Counter)
    reasons: dict[int, Counter[str]] = defaultdict(Counter)
    for c in result.challenges:
        v = c["vehicle"]
        by_vehicle[v][c["outcome"]] += 1
        if c["outcome"] != "pass":
            reasons[v][str(c["reason"])] += 1
    accepted = Counter(st["vehicle"] for st in result.backend_statements)
    trips = Counter(t.vehicle for t in result.trips)
    km: dict[int, float] = defaultdict(float)
    for t in result.trips:
        km[t.vehicle] += t.charged_dist_m / 1000
    refused = Counter(c.vehicle for c in result.cheat_posts if not 200 <= c.status < 300)
    print(
        f"\n{len(result.trips)} trips ({s.driving_hours:.0f} h of driving) replayed through the "
        f"firmware; {len(result.backend_statements)} statements accepted; "
        f"{len(result.sightings)} camera sightings; {len(result.challenges)} spot checks "
        "(sighting challenges and random audits) answered by the OBUs' own uplink:"
    )
    caught_by_camera = 0
    for spec in specs:
        v = spec.index
        outcome = by_vehicle[v]
        line = (
            f"  {spec.plate}  {spec.group:17s} {spec.mode:11s} {trips[v]:3d} trips "
            f"{km[v]:7.1f} km  {accepted[v]:2d} statements  checks: "
            f"{outcome['pass']} pass, {outcome['fail'] + outcome['no_answer']} fail"
        )
        if spec.cheat.honest:
            verdict = "honest: not accused" if not reasons[v] else f"ACCUSED {dict(reasons[v])}"
        else:
            why = dict(reasons[v])
            if refused[v]:
                why["refused at ingest"] = refused[v]
            verdict = f"CAUGHT {why}" if why else "not caught in this run"
            if any(
                r in why
                for r in (
                    "price_mismatch",
                    "not_on_trace",
                    "no_segment",
                    "gap_event",
                    "distance_mismatch",
                    "cell_mismatch",
                )
            ):
                caught_by_camera += 1
        print(line + "  → " + verdict)
    f = s.fairness
    acc = s.accuracy.get("all honest")
    print()
    if acc is not None:
        print(
            f"accuracy (honest): charged {acc.charged_km:.1f} km of {acc.visible_km:.1f} km "
            f"visible to a receiver ({100 * acc.total_dist_vs_visible:+.2f} %; true incl. "
            f"garages {acc.true_km:.1f} km), worst trip "
            f"{100 * acc.dist_vs_visible.max:+.2f} % / {100 * acc.dist_vs_visible.min:+.2f} %"
        )
    print(
        f"fairness: {f.false_accusations} false accusations in {f.spot_checks} spot checks of "
        f"honest vehicles"
        + (f" — reasons {f.by_reason} (see the report)" if f.false_accusations else "")
    )
    print(
        f"privacy: {s.privacy.openings_per_vm:.1f} openings with location data per "
        f"vehicle-month; nothing else of a trace left any unit"
    )
    strategies = ", ".join(sorted({sp.cheat.strategy for sp in specs if not sp.cheat.honest}))
    print(f"cheaters ({strategies}): {caught_by_camera} caught by camera spot checks")
    print(f"\nreport: {paths.html}\n        {paths.markdown}\n        map {paths.map}")
    print(f"end to end in {time.perf_counter() - t0:.0f} s")
    ok = caught_by_camera >= 1 and any(
        by_vehicle[sp.index]["pass"] for sp in specs if sp.cheat.honest
    )
    return 0 if ok else 1


def main() -> int:
    rc = protocol_round_trip()
    if rc != 0:
        return rc
    rc = end_to_end()
    print("\ndemo OK" if rc == 0 else "\ndemo FAILED: no cheater caught by a camera")
    return rc


if __name__ == "__main__":
    sys.exit(main())
