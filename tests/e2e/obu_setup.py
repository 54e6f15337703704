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
