"""Roadside cameras: where they stand, when they see a car, and what they report.

A camera watches one point of a road (the middle of an edge of simulator.network, never in a
tunnel or a garage). When a car's true path passes within ``PASS_RADIUS_M`` of it — the
closest approach between two ground-truth samples, interpolated — the camera reads the plate
with probability ``detect_prob`` and reports a sighting:

- position: the watched point plus N(0, σ_pos²) per axis (σ_pos: survey and lane offset for a
  fixed camera, the van's GNSS for a mobile one), stated as ``accuracy_mm`` = σ_pos;
- time: the pass instant plus the camera clock's error N(0, σ_t²), truncated at ±1.5 s
  (cameras are NTP-disciplined; the backend allows 2 s of skew, SPEC/tolerance model), rounded
  to whole seconds as the API takes them.

Fixed cameras are always on; mobile ones are deployed per day for a shift (a van parked by a
road for a few hours). Each camera has a density ``tier``: a vehicle at density level L is
seen only by cameras of tier ≤ L. The tiers are nested (each level doubles the network), so
one fleet run measures detection at several camera densities on one backend: equivalent to
running the same fleet under nested camera networks, without running it four times.

Everything is drawn from ``random.Random`` seeded from the run's seed and the ids involved,
so the same seed gives the same cameras and the same sightings.
"""

from __future__ import annotations

import itertools
import math
import random
from collections import defaultdict
from dataclasses import dataclass, field

from protocol import tariff, timeutil
from simulator.network import Environment, LocalFrame, RoadClass, RoadNetwork
from simulator.trips import Sample, Trip

PASS_RADIUS_M = 20.0
MAX_CLOCK_ERROR_S = 1.5
DENSITY_LEVELS = 4
# Share of each tier in a network (cumulative 1/8, 1/4, 1/2, 1): each level doubles it.
_TIER_SHARE = (0.125, 0.125, 0.25, 0.5)

# Fixed cameras go where traffic is; weights per road class.
_FIXED_WEIGHT = {
    RoadClass.MOTORWAY: 5.0,
    RoadClass.RING: 4.0,
    RoadClass.ARTERIAL: 4.0,
    RoadClass.AVENUE: 3.0,
    RoadClass.CORE: 2.0,
    RoadClass.RURAL: 2.0,
    RoadClass.STREET: 1.0,
    RoadClass.VILLAGE: 0.5,
    RoadClass.RAMP: 1.0,
}
_MOBILE_WEIGHT = {**_FIXED_WEIGHT, RoadClass.STREET: 2.0, RoadClass.CORE: 3.0}


@dataclass(frozen=True)
class Camera:
    camera_id: str
    kind: str  # "fixed" or "mobile"
    edge_id: int
    lat_e7: int
    lon_e7: int
    detect_prob: float
    pos_sigma_m: float
    time_sigma_s: float
    tier: int
    shift: tuple[int, int] | None = None  # mobile: [from, until) Unix seconds

    @property
    def accuracy_mm(self) -> int:
        return round(self.pos_sigma_m * 1000)

    def active(self, t: float) -> bool:
        return self.shift is None or self.shift[0] <= t < self.shift[1]


@dataclass(frozen=True)
class CameraConfig:
    """How many cameras, and how good. Mobile: units deployed per day, for ``shift_h``."""

    fixed: int = 32
    mobile_per_day: int = 8
    shift_h: int = 4
    fixed_detect: float = 0.9
    mobile_detect: float = 0.8
    fixed_pos_sigma_m: float = 1.5
    mobile_pos_sigma_m: float = 4.0
    fixed_time_sigma_s: float = 0.2
    mobile_time_sigma_s: float = 0.4


@dataclass(frozen=True)
class Pass:
    """A car's true passage at a camera: when, and where the car really was."""

    camera: Camera
    t: float
    lat_e7: int
    lon_e7: int
    speed_mmps: int


@dataclass(frozen=True)
class Sighting:
    """What a camera reports (and the truth behind it, for the simulator's books)."""

    camera_id: str
    kind: str
    lat_e7: int
    lon_e7: int
    seen_at: int
    accuracy_mm: int
    true_t: float
    speed_mmps: int


def _tier(k: int, n: int) -> int:
    """Tier of the k-th of n cameras, by the cumulative shares."""
    acc = 0.0
    for tier, share in enumerate(_TIER_SHARE):
        acc += share
        if k < round(acc * n):
            return tier
    return DENSITY_LEVELS - 1


def _edge_point(net: RoadNetwork, edge_id: int, frac: float = 0.5) -> tuple[float, float]:
    """The frame point at ``frac`` of an edge's length along its polyline."""
    e = net.edges[edge_id]
    goal = e.length_m * frac
    pts = e.points
    for a, b in itertools.pairwise(pts):
        d = math.dist(a, b)
        if goal <= d:
            f = goal / d if d else 0.0
            return (a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f)
        goal -= d
    return pts[-1]


def _eligible(net: RoadNetwork, weights: dict[RoadClass, float]) -> list[tuple[int, float]]:
    out = []
    for e in net.edges:
        if e.env in (Environment.TUNNEL, Environment.GARAGE) or e.length_m < 120:
            continue
        w = weights.get(e.road_class, 0.0)
        if w > 0:
            out.append((e.edge_id, w * min(e.length_m, 2000.0)))
    return out


def _pick(rng: random.Random, pool: list[tuple[int, float]], k: int) -> list[int]:
    """k distinct edges, weighted."""
    chosen: list[int] = []
    items = list(pool)
    for _ in range(min(k, len(items))):
        total = sum(w for _, w in items)
        u = rng.uniform(0.0, total)
        for i, (eid, w) in enumerate(items):
            u -= w
            if u <= 0 or i == len(items) - 1:
                chosen.append(eid)
                items.pop(i)
                break
    return chosen


def _camera(
    net: RoadNetwork,
    cid: str,
    kind: str,
    edge_id: int,
    cfg: CameraConfig,
    tier: int,
    shift: tuple[int, int] | None = None,
) -> Camera:
    x, y = _edge_point(net, edge_id)
    lat, lon = net.frame.to_e7(x, y)
    fixed = kind == "fixed"
    return Camera(
        cid,
        kind,
        edge_id,
        lat,
        lon,
        cfg.fixed_detect if fixed else cfg.mobile_detect,
        cfg.fixed_pos_sigma_m if fixed else cfg.mobile_pos_sigma_m,
        cfg.fixed_time_sigma_s if fixed else cfg.mobile_time_sigma_s,
        tier,
        shift,
    )


def place_cameras(
    net: RoadNetwork,
    policy: tariff.TariffPolicy,
    seed: int | str,
    start_t: int,
    end_t: int,
    cfg: CameraConfig | None = None,
) -> list[Camera]:
    """Fixed cameras for the whole run and mobile deployments for each day in [start, end).

    Mobile shifts lie in local daytime (06:00–20:00, the policy's UTC offsets).
    """
    cfg = cfg or CameraConfig()
    rng = random.Random(f"quietmile/cameras/{seed}")
    cams = [
        _camera(net, f"F{k:03d}", "fixed", eid, cfg, _tier(k, cfg.fixed))
        for k, eid in enumerate(_pick(rng, _eligible(net, _FIXED_WEIGHT), cfg.fixed))
    ]
    pool = _eligible(net, _MOBILE_WEIGHT)
    day0 = start_t // 86400
    for day in range(day0, (end_t - 1) // 86400 + 1):
        for k in range(cfg.mobile_per_day):
            eid = _pick(rng, pool, 1)[0]
            local_start = day * 86400 + rng.randrange(6 * 3600, (20 - cfg.shift_h) * 3600 + 1)
            t0 = local_start - policy.utc_offset_at(day * 86400 + 43200)
            shift = (t0, t0 + cfg.shift_h * 3600)
            if shift[1] <= start_t or shift[0] >= end_t:
                continue
            y, m, d = timeutil.civil_from_days(day)
            cid = f"M{y % 100:02d}{m:02d}{d:02d}-{k}"
            cams.append(_camera(net, cid, "mobile", eid, cfg, _tier(k, cfg.mobile_per_day), shift))
    return cams


@dataclass
class CameraIndex:
    """Cameras by edge, for the passes of routed (synthetic) trips; all, for the others."""

    cameras: list[Camera]
    frame: LocalFrame
    by_edge: dict[int, list[Camera]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        idx: dict[int, list[Camera]] = defaultdict(list)
        for c in self.cameras:
            idx[c.edge_id].append(c)
        self.by_edge = dict(idx)

    def candidates(self, net: RoadNetwork, trip: Trip, max_tier: int) -> list[Camera]:
        if trip.route:
            seen: list[Camera] = []
            for a, b in itertools.pairwise(trip.route):
                e = net.edge_between(a, b)
                seen.extend(self.by_edge.get(e.edge_id, ()))
        else:
            seen = list(self.cameras)
        t0, t1 = trip.start_t, trip.end_t + 1
        return [
            c
            for c in seen
            if c.tier <= max_tier and (c.shift is None or (c.shift[0] < t1 and c.shift[1] > t0))
        ]


def _scale(lat_e7: int) -> tuple[float, float]:
    """Metres per 1e-7 degree (north, east) near ``lat_e7`` (a spherical 6371 km is ample for
    finding the closest approach; the reported point is computed in the exact frame)."""
    m_per_deg = math.pi * 6_371_000.0 / 180.0
    return m_per_deg * 1e-7, m_per_deg * 1e-7 * math.cos(math.radians(lat_e7 * 1e-7))


def passes(trip: Trip, camera: Camera) -> list[Pass]:
    """The car's passages within PASS_RADIUS_M of the camera (closest approach of each)."""
    ky, kx = _scale(camera.lat_e7)
    s: list[Sample] = trip.samples
    out: list[Pass] = []
    best: tuple[float, float, int, int, int] | None = None  # (d, t, lat, lon, speed)
    r2 = PASS_RADIUS_M * PASS_RADIUS_M
    for i in range(len(s) - 1):
        a, b = s[i], s[i + 1]
        ax = (a.lon_e7 - camera.lon_e7) * kx
        ay = (a.lat_e7 - camera.lat_e7) * ky
        bx = (b.lon_e7 - camera.lon_e7) * kx
        by = (b.lat_e7 - camera.lat_e7) * ky
        dx, dy = bx - ax, by - ay
        seg2 = dx * dx + dy * dy
        f = 0.0 if seg2 == 0 else min(1.0, max(0.0, -(ax * dx + ay * dy) / seg2))
        px, py = ax + f * dx, ay + f * dy
        d2 = px * px + py * py
        if d2 <= r2:
            t = (a.time_ms + f * (b.time_ms - a.time_ms)) / 1000.0
            lat = round(a.lat_e7 + f * (b.lat_e7 - a.lat_e7))
            lon = round(a.lon_e7 + f * (b.lon_e7 - a.lon_e7))
            speed = round(a.speed_mmps + f * (b.speed_mmps - a.speed_mmps))
            if best is None or d2 < best[0]:
                best = (d2, t, lat, lon, speed)
        elif best is not None:
            out.append(Pass(camera, best[1], best[2], best[3], best[4]))
            best = None
    if best is not None:
        out.append(Pass(camera, best[1], best[2], best[3], best[4]))
    return [p for p in out if camera.active(p.t)]


def observe(p: Pass, frame: LocalFrame, rng: random.Random) -> Sighting | None:
    """The camera's report of a pass, or None if it missed the plate."""
    cam = p.camera
    if rng.random() >= cam.detect_prob:
        return None
    x, y = frame.to_xy(cam.lat_e7 * 1e-7, cam.lon_e7 * 1e-7)
    lat, lon = frame.to_e7(x + rng.gauss(0.0, cam.pos_sigma_m), y + rng.gauss(0.0, cam.pos_sigma_m))
    err = max(-MAX_CLOCK_ERROR_S, min(MAX_CLOCK_ERROR_S, rng.gauss(0.0, cam.time_sigma_s)))
    seen_at = math.floor(p.t + err + 0.5)
    return Sighting(cam.camera_id, cam.kind, lat, lon, seen_at, cam.accuracy_mm, p.t, p.speed_mmps)
