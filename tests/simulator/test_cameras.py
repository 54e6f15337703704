"""Cameras: placement, passes of a true path, and what a camera reports."""

from __future__ import annotations

import math
import random

from simulator import cameras as cams
from simulator.network import Environment, default_network, default_policy
from simulator.trips import straight_trip

NET = default_network()
POLICY = default_policy(NET)
T0 = 1772438400  # 2026-03-02 08:00 UTC


def _camera(lat_e7: int, lon_e7: int, **kw: object) -> cams.Camera:
    base: dict[str, object] = {
        "camera_id": "C1",
        "kind": "fixed",
        "edge_id": 0,
        "lat_e7": lat_e7,
        "lon_e7": lon_e7,
        "detect_prob": 1.0,
        "pos_sigma_m": 1.5,
        "time_sigma_s": 0.2,
        "tier": 0,
    }
    base.update(kw)
    return cams.Camera(**base)  # type: ignore[arg-type]


def test_a_car_driving_past_is_seen_at_its_closest_approach() -> None:
    trip = straight_trip(510000000, 50000000, T0, 60, speed_mmps=15000)  # north, 15 m/s
    s = trip.samples[20]  # 300 m along, at T0 + 20
    cam = _camera(s.lat_e7, s.lon_e7 + 500)  # 3.5 m east of the road
    [p] = cams.passes(trip, cam)
    assert abs(p.t - (T0 + 20)) < 0.05
    assert abs(p.lat_e7 - s.lat_e7) < 20 and p.speed_mmps == 15000
    far = _camera(s.lat_e7, s.lon_e7 + 10000)  # 70 m off the road
    assert cams.passes(trip, far) == []


def test_a_mobile_camera_sees_only_during_its_shift() -> None:
    trip = straight_trip(510000000, 50000000, T0, 60)
    s = trip.samples[30]
    assert cams.passes(trip, _camera(s.lat_e7, s.lon_e7, shift=(T0 - 100, T0 + 10))) == []
    assert len(cams.passes(trip, _camera(s.lat_e7, s.lon_e7, shift=(T0, T0 + 100)))) == 1


def test_reports_are_reproducible_and_bounded() -> None:
    trip = straight_trip(510000000, 50000000, T0, 60)
    s = trip.samples[30]
    [p] = cams.passes(trip, _camera(s.lat_e7, s.lon_e7, time_sigma_s=5.0))
    seen = [cams.observe(p, NET.frame, random.Random(i)) for i in range(300)]
    assert all(x is not None for x in seen)
    errs = [x.seen_at - p.t for x in seen if x is not None]
    # clock error truncated at 1.5 s, then whole seconds: never more than 2 s off
    assert max(abs(e) for e in errs) <= 2.0
    a = cams.observe(p, NET.frame, random.Random(7))
    assert a == cams.observe(p, NET.frame, random.Random(7))
    missed = [cams.observe(p, NET.frame, random.Random(i)) for i in range(50)]
    blind = cams.Camera(**{**_camera(s.lat_e7, s.lon_e7).__dict__, "detect_prob": 0.0})
    assert all(
        cams.observe(cams.Pass(blind, p.t, 0, 0, 0), NET.frame, random.Random(i)) is None
        for i in range(50)
    )
    assert missed


def test_placement_is_seeded_tiered_and_off_tunnels_and_garages() -> None:
    cfg = cams.CameraConfig(fixed=16, mobile_per_day=4)
    a = cams.place_cameras(NET, POLICY, 5, T0, T0 + 3 * 86400, cfg)
    assert a == cams.place_cameras(NET, POLICY, 5, T0, T0 + 3 * 86400, cfg)
    assert a != cams.place_cameras(NET, POLICY, 6, T0, T0 + 3 * 86400, cfg)
    fixed = [c for c in a if c.kind == "fixed"]
    assert len(fixed) == 16 and len({c.edge_id for c in fixed}) == 16
    tiers = [sum(1 for c in fixed if c.tier <= lv) for lv in range(cams.DENSITY_LEVELS)]
    assert tiers == [2, 4, 8, 16], "each density level doubles the network"
    for c in a:
        assert NET.edges[c.edge_id].env not in (Environment.TUNNEL, Environment.GARAGE)
    mobile = [c for c in a if c.kind == "mobile"]
    assert mobile and all(c.shift is not None for c in mobile)
    for c in mobile:
        assert c.shift is not None
        local_h = ((c.shift[0] + POLICY.utc_offset_at(c.shift[0])) % 86400) / 3600
        assert 6 <= local_h <= 16 and c.shift[1] - c.shift[0] == 4 * 3600
    assert all(math.isfinite(c.lat_e7) for c in a)
