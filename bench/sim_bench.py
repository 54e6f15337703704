"""Simulator speed: simulated vehicle-hours per wall-second, in each firmware mode.

For a commuter's week of trips (the same trips for both modes) it times:

- **firmware**: feeding the trips' NMEA bytes to the OBU — ``firmware.app.App`` in this
  CPython process (in-process mode) or under the ``micropython`` binary (a long-lived
  subprocess running simulator/obu_driver.py, the fidelity mode);
- **pipeline**: the same plus what the simulator does around it for every trip — ground truth
  (simulator.trips), the receiver model (simulator.gnss), the NMEA bytes (simulator.nmea_out)
  and the books a fleet keeps per trip (true distance by environment, true and visible fee:
  simulator.trips.trip_truth), each timed on its own.

No backend (its load is in the fleet report). Machines are shared and noisy: compare the
modes within one run, and runs on an idle machine (``--repeat`` keeps the best of several).
Usage: ``.venv/bin/python bench/sim_bench.py [--days N] [--vehicles N] [--repeat N]
[--modes inprocess,micropython]``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from protocol import envelopes, p256  # noqa: E402
from simulator import gnss, nmea_out, trips  # noqa: E402
from simulator.network import default_network, default_policy  # noqa: E402
from simulator.obu import ObuIdentity, open_obu, prepare_root  # noqa: E402

AUTHORITY = p256.SoftwareSigner(0xBE7C4)


def _trips(vehicles: int, days: int) -> tuple[list[list[trips.Trip]], float]:
    out = []
    t0 = time.perf_counter()
    for v in range(vehicles):
        who = trips.Commuter(home=("home-west", "westerlo", "home-south")[v % 3])
        out.append(trips.commute_trips(f"bench/{v}", commuter=who, days=days))
    return out, time.perf_counter() - t0


def _epochs(per_vehicle: list[list[trips.Trip]]) -> tuple[list[list[list[gnss.GnssEpoch]]], float]:
    t0 = time.perf_counter()
    out = [
        [list(gnss.epochs(t, gnss.GnssConfig.good(), f"bench/{i}")) for i, t in enumerate(ts)]
        for ts in per_vehicle
    ]
    return out, time.perf_counter() - t0


def _nmea(per_vehicle: list[list[list[gnss.GnssEpoch]]]) -> tuple[list[list[bytes]], float]:
    t0 = time.perf_counter()
    out = [[nmea_out.to_bytes(eps) for eps in per_trip] for per_trip in per_vehicle]
    return out, time.perf_counter() - t0


def _books(per_vehicle: list[list[trips.Trip]]) -> float:
    policy = default_policy(default_network())
    t0 = time.perf_counter()
    for ts in per_vehicle:
        for t in ts:
            trips.trip_truth(t, policy)
    return time.perf_counter() - t0


def _best(repeat: int, run: Callable[[], tuple[Any, float]]) -> tuple[Any, float]:
    out, best = run()
    for _ in range(repeat - 1):
        out, t = run()
        best = min(best, t)
    return out, best


def _firmware(mode: str, data: list[list[bytes]], tmp: Path) -> float:
    policy = default_policy()
    env = envelopes.sign_policy(policy, AUTHORITY)
    shutil.rmtree(tmp / mode, ignore_errors=True)  # fresh units for every repeat
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
    ap.add_argument("--repeat", type=int, default=1, help="keep the best of N timings")
    ap.add_argument("--modes", default="inprocess,micropython")
    args = ap.parse_args(argv)
    trips.commute_trips("bench/warm-up", days=1)  # build the network and the policy once
    per_vehicle, t_trips = _best(args.repeat, lambda: _trips(args.vehicles, args.days))
    hours = sum(t.duration_s for ts in per_vehicle for t in ts) / 3600
    eps, t_gnss = _best(args.repeat, lambda: _epochs(per_vehicle))
    data, t_nmea = _best(args.repeat, lambda: _nmea(eps))
    _, t_books = _best(args.repeat, lambda: (None, _books(per_vehicle)))
    sim = t_trips + t_gnss + t_nmea + t_books
    n_trips = sum(len(ts) for ts in per_vehicle)
    mb = sum(len(d) for ds in data for d in ds) / 1e6
    print(
        f"{args.vehicles} commuters × {args.days} days: {n_trips} trips, {hours:.1f} vehicle-hours,"
        f" {mb:.1f} MB of NMEA"
    )
    print(
        f"ground truth {t_trips:.2f} s, receiver model {t_gnss:.2f} s, NMEA {t_nmea:.2f} s, "
        f"books {t_books:.2f} s ({hours / sim:.1f} vehicle-h/s without firmware)"
    )
    with tempfile.TemporaryDirectory(prefix="qm-simbench-") as tmp:
        for mode in args.modes.split(","):
            _, fw = _best(args.repeat, lambda: (None, _firmware(mode, data, Path(tmp))))  # noqa: B023
            pipe = fw + sim
            print(
                f"{mode:12s} firmware {fw:6.2f} s = {hours / fw:6.1f} vehicle-h/s;  "
                f"whole pipeline {pipe:6.2f} s = {hours / pipe:5.1f} vehicle-h/s"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
