"""Simulator speed: simulated vehicle-hours per wall-second, in each firmware mode.

For a commuter's week of trips (the same trips for both modes) it times:

- **firmware**: feeding the trips' NMEA bytes to the OBU — ``firmware.app.App`` in this
  CPython process (in-process mode) or under the ``micropython`` binary (a long-lived
  subprocess running simulator/obu_driver.py, the fidelity mode);
- **pipeline**: the same plus what the simulator does around it for every trip — ground truth
  (simulator.trips), the receiver model (simulator.gnss) and the NMEA bytes (simulator.nmea_out).

No backend (its load is in the fleet report). Machines are shared and noisy: compare the
modes within one run. Usage: ``.venv/bin/python bench/sim_bench.py [--days N] [--vehicles N]``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from protocol import envelopes, p256  # noqa: E402
from simulator import gnss, nmea_out, trips  # noqa: E402
from simulator.network import default_policy  # noqa: E402
from simulator.obu import ObuIdentity, open_obu, prepare_root  # noqa: E402

AUTHORITY = p256.SoftwareSigner(0xBE7C4)


def _trips(vehicles: int, days: int) -> tuple[list[list[trips.Trip]], float]:
    out = []
    t0 = time.perf_counter()
    for v in range(vehicles):
        who = trips.Commuter(home=("home-west", "westerlo", "home-south")[v % 3])
        out.append(trips.commute_trips(f"bench/{v}", commuter=who, days=days))
    return out, time.perf_counter() - t0


def _nmea(per_vehicle: list[list[trips.Trip]]) -> tuple[list[list[bytes]], float]:
    t0 = time.perf_counter()
    out = [
        [
            nmea_out.to_bytes(gnss.epochs(t, gnss.GnssConfig.good(), f"bench/{i}"))
            for i, t in enumerate(ts)
        ]
        for ts in per_vehicle
    ]
    return out, time.perf_counter() - t0


def _firmware(mode: str, data: list[list[bytes]], tmp: Path) -> float:
    policy = default_policy()
    env = envelopes.sign_policy(policy, AUTHORITY)
    total = 0.0
    for v, chunks in enumerate(data):
        ident = ObuIdentity(f"OBU-BENCH-{v}", f"QM BENCH {v}", 1, f"bench/{v}")
        root = tmp / mode / ident.obu_id
        cfg = prepare_root(
            root,
            ident,
            authority_public_key=AUTHORITY.public_key(),
            policy_envelope=env,
            install_at=policy.valid_from,
        )
        obu = open_obu(mode, ident, root, cfg)  # type: ignore[arg-type]
        try:
            t0 = time.perf_counter()
            for d in chunks:
                obu.feed(d)
            total += time.perf_counter() - t0
        finally:
            obu.close()
    return total


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--vehicles", type=int, default=3)
    args = ap.parse_args(argv)
    per_vehicle, t_trips = _trips(args.vehicles, args.days)
    hours = sum(t.duration_s for ts in per_vehicle for t in ts) / 3600
    data, t_nmea = _nmea(per_vehicle)
    n_trips = sum(len(ts) for ts in per_vehicle)
    mb = sum(len(d) for ds in data for d in ds) / 1e6
    print(
        f"{args.vehicles} commuters × {args.days} days: {n_trips} trips, {hours:.1f} vehicle-hours,"
        f" {mb:.1f} MB of NMEA"
    )
    print(
        f"ground truth {t_trips:.2f} s, receiver model + NMEA {t_nmea:.2f} s "
        f"({hours / (t_trips + t_nmea):.1f} vehicle-h/s without firmware)"
    )
    with tempfile.TemporaryDirectory(prefix="qm-simbench-") as tmp:
        for mode in ("inprocess", "micropython"):
            fw = _firmware(mode, data, Path(tmp))
            pipe = fw + t_trips + t_nmea
            print(
                f"{mode:12s} firmware {fw:6.2f} s = {hours / fw:6.1f} vehicle-h/s;  "
                f"whole pipeline {pipe:6.2f} s = {hours / pipe:5.1f} vehicle-h/s"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
