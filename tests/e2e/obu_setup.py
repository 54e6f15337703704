"""Helpers to set up a host OBU: keys, signed policy, config and simulated NMEA drives."""

from __future__ import annotations

import json
from pathlib import Path

from firmware.policy import PolicyStore
from protocol import envelopes, p256
from simulator import gnss, nmea_out, trips
from simulator.network import default_policy

AUTHORITY = p256.SoftwareSigner(0xA17E5C0DE5EED)


def write_config(
    root: Path,
    obu_id: str = "OBU-E2E-1",
    period_s: int | None = 3600,
    backend_url: str = "http://127.0.0.1:9",
    network: str = "none",
    authority: p256.SoftwareSigner = AUTHORITY,
) -> Path:
    cfg = {
        "obu_id": obu_id,
        "vehicle_class": 1,
        "backend_url": backend_url,
        "authority_public_key": authority.public_key().hex(),
        "period": "month" if period_s is None else period_s,
        "network": {"kind": network},
        "gnss": {"min_unix": 1704067200},
    }
    path = root / "config.json"
    path.write_text(json.dumps(cfg))
    return path


def install_policy(root: Path, authority: p256.SoftwareSigner = AUTHORITY, now: int | None = None):
    """Sign the simulator's default policy and install it in the OBU's flash layout."""
    policy = default_policy()
    env = envelopes.sign_policy(policy, authority)
    store = PolicyStore(str(root), authority.public_key(), clock=lambda: now, vehicle_class=1)
    store.install(env, now=now if now is not None else policy.valid_from)
    return policy, env


def drive_nmea(n_trips: int, seed: int = 7, days: int = 3) -> tuple[bytes, list[trips.Trip]]:
    """NMEA bytes of a commuter's first ``n_trips`` trips (one car, in time order, never
    overlapping), with realistic GNSS noise."""
    ts = trips.commute_trips(seed, days=days)[:n_trips]
    out = []
    for i, trip in enumerate(ts):
        out.append(nmea_out.to_bytes(gnss.epochs(trip, gnss.GnssConfig.good(), seed + i)))
    return b"".join(out), ts


# A day on the road: Westerlo → Oostdorp (A2, ring, A1 and the Kempen tunnel) → Noordveld (N72)
# → Westerlo (N71, the city), round and round: ~57 km in ~53 minutes per loop.
DAY_LOOP = ("westerlo", "oostdorp", "noordveld")
DAY_T0 = 1772517600  # Tuesday 2026-03-03 06:00 UTC: morning peak, off-peak and evening peak


def day_trips(hours: float, seed: int = 21, t0: int = DAY_T0) -> list[trips.Trip]:
    """Synthetic trips around DAY_LOOP back to back, each starting the second after the previous
    one ended (retimed: the engine never stops), until ``hours`` of driving are covered."""
    from simulator.network import default_network

    net = default_network()
    policy = default_policy(net)
    out: list[trips.Trip] = []
    t = t0
    i = 0
    while t < t0 + hours * 3600:
        a, b = DAY_LOOP[i % len(DAY_LOOP)], DAY_LOOP[(i + 1) % len(DAY_LOOP)]
        trip = trips.synthetic_trip(
            a, b, t, f"day/{seed}/{i}", network=net, policy=policy, trip_id=f"day-{seed}-{i}"
        ).retimed(t)
        out.append(trip)
        t = trip.end_t + 1
        i += 1
    return out


def day_nmea(hours: float, seed: int = 21, t0: int = DAY_T0) -> tuple[bytes, list[trips.Trip]]:
    """NMEA bytes (1 Hz, realistic receiver noise) of :func:`day_trips`."""
    ts = day_trips(hours, seed, t0)
    parts = [
        nmea_out.to_bytes(gnss.epochs(trip, gnss.GnssConfig.good(), seed + i))
        for i, trip in enumerate(ts)
    ]
    return b"".join(parts), ts
