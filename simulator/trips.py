"""Ground-truth trips: where the car really was, how fast, and what it really owes.

A :class:`Trip` is a list of :class:`Sample` s taken every ``sample_period_ms`` (1 s by
default): true time (Unix seconds + milliseconds), true position (degrees × 10^7), altitude,
true ground speed (mm/s), heading, the GNSS environment (open sky, street canyon, tunnel,
garage) and the speed limit in force. Trips come from three sources:

- **synthetic** (:func:`synthetic_trip`, :func:`random_trips`, :func:`commute_trips`): the
  fastest route between two places of the built-in network (simulator.network), with corners
  rounded to arcs, driven with a speed profile that respects the speed limits, the driver's
  acceleration and braking limits and a comfortable lateral acceleration in bends, stops at red
  lights, give-way junctions and queues, and slows down in congestion in the peak bands;
- **GPX files** (:func:`load_gpx`, :func:`trip_from_gpx_text`), resampled by linear
  interpolation;
- **NMEA logs** (:func:`load_nmea_log`, :func:`trip_from_nmea_bytes`): the fixes a real
  receiver reported, taken as the truth and resampled the same way.

Ground truth kept for every trip:

- the true path: the samples themselves;
- the **true distance** (:meth:`Trip.true_dist_um`): the sum of ``protocol.geo.distance_um``
  over consecutive samples (within 2 × 10^-6 of the geodesic, SPEC §7.2);
- the **true fee** (:func:`true_fee`): the samples are cut into runs of one tariff cell exactly
  as the firmware cuts segments — each sample's cell is ``policy.cell_at(lat, lon, t)``, the
  step into a new cell counts for the new cell, a run starts at the previous run's last
  instant — and each run is priced with ``protocol.tariff.price_micro`` on its whole metres
  (floor of the summed µm). The firmware additionally cuts segments at a maximum length or
  duration and after long stops; each extra cut floors one more partial metre, so a firmware
  fed with perfect data charges at most (extra cuts × 1 m × rate) less than the true fee,
  never more.
"""

from __future__ import annotations

import bisect
import datetime as _dt
import itertools
import math
import os
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace

import gpxpy
import pynmea2

from protocol import geo, tariff, timeutil
from simulator.network import (
    CONGESTIBLE,
    PEAK_BANDS,
    Control,
    Edge,
    Environment,
    LocalFrame,
    RoadClass,
    RoadNetwork,
    default_network,
    default_policy,
    local_to_utc,
    meridian_radius_m,
    parallel_scale_m,
)

Seed = int | str

# GPS week rollover: a receiver with an old week counter reports dates 1024 weeks early.
WEEK_ROLLOVER_DAYS = 7168


class TripError(ValueError):
    """A trip cannot be built from the input (no timed points, unknown place…)."""


@dataclass(frozen=True)
class Sample:
    """One ground-truth sample. All integers, as the firmware would see them.

    ``t`` Unix seconds and ``t_ms`` milliseconds (0..999); ``lat_e7``/``lon_e7`` degrees × 10^7;
    ``alt_dm`` altitude in decimetres; ``speed_mmps`` ground speed in mm/s; ``heading_cdeg``
    course over ground in centidegrees (0 = north, clockwise); ``env`` a
    simulator.network.Environment value; ``limit_mmps`` the speed limit in force (0: unknown).
    """

    t: int
    t_ms: int
    lat_e7: int
    lon_e7: int
    alt_dm: int
    speed_mmps: int
    heading_cdeg: int
    env: int = Environment.OPEN
    limit_mmps: int = 0

    @property
    def time_ms(self) -> int:
        """Unix time in milliseconds."""
        return self.t * 1000 + self.t_ms


@dataclass(frozen=True)
class CellRun:
    """A run of samples in one tariff cell, priced as the firmware prices a segment."""

    t_start: int
    t_end: int
    zone_id: int
    band_id: int
    dist_um: int
    dist_m: int
    rate_micro_per_km: int
    price_micro: int


@dataclass(frozen=True)
class TrueFee:
    """The fee a perfect OBU would charge for a trip (see the module docstring)."""

    vehicle_class: int
    runs: tuple[CellRun, ...]
    total_micro: int
    dist_um: int


@dataclass
class Trip:
    """A ground-truth trip; ``samples`` is the true path in time order."""

    trip_id: str
    source: str  # "synthetic", "gpx", "nmea"
    samples: list[Sample]
    vehicle_class: int = 1
    origin: str = ""
    destination: str = ""
    route: tuple[int, ...] = ()
    path_length_m: float | None = None  # synthetic: length of the driven path, in the frame
    meta: dict[str, object] = field(default_factory=dict)

    @property
    def start_t(self) -> int:
        return self.samples[0].t

    @property
    def end_t(self) -> int:
        return self.samples[-1].t

    @property
    def duration_s(self) -> float:
        return (self.samples[-1].time_ms - self.samples[0].time_ms) / 1000.0

    def true_dist_um(self) -> int:
        """True distance in µm: sum of protocol.geo.distance_um over consecutive samples."""
        return path_dist_um(self.samples)

    def dist_um_by_env(self) -> dict[int, int]:
        """True distance split by GNSS environment; a step counts for its end sample's.

        Useful to tell distance no receiver can see (inside garages) from the rest.
        """
        out: dict[int, int] = {}
        for a, b in itertools.pairwise(self.samples):
            d = geo.distance_um(a.lat_e7, a.lon_e7, b.lat_e7, b.lon_e7)
            out[b.env] = out.get(b.env, 0) + d
        return out

    def true_fee(self, policy: tariff.TariffPolicy, vehicle_class: int | None = None) -> TrueFee:
        """The true fee under ``policy`` (for this trip's vehicle class unless given)."""
        vc = self.vehicle_class if vehicle_class is None else vehicle_class
        return true_fee(self.samples, policy, vc)

    def retimed(self, t0: int) -> Trip:
        """The same trip shifted in time so that it starts at Unix second ``t0``."""
        dt = t0 - self.samples[0].t
        return replace(self, samples=[replace(s, t=s.t + dt) for s in self.samples])


def path_dist_um(samples: Sequence[Sample]) -> int:
    """Sum of distance_um between consecutive samples."""
    total = 0
    for a, b in itertools.pairwise(samples):
        total += geo.distance_um(a.lat_e7, a.lon_e7, b.lat_e7, b.lon_e7)
    return total


def true_fee(samples: Sequence[Sample], policy: tariff.TariffPolicy, vehicle_class: int) -> TrueFee:
    """Cut the samples into cell runs like the firmware's Segmenter and price each run.

    The cell of a sample is ``policy.cell_at(lat_e7, lon_e7, t)`` (whole seconds); a step
    between two samples counts for the cell of its end sample; a run after a cell change
    starts at the previous run's last instant; a run costs
    ``price_micro(dist_um // 10^6, rate(zone, band, class))``. Raises
    protocol.errors.NoTariffCell if a sample lies outside the policy's validity.
    """
    steps = [0]
    for a, b in itertools.pairwise(samples):
        steps.append(geo.distance_um(a.lat_e7, a.lon_e7, b.lat_e7, b.lon_e7))
    return _priced(samples, _cells(samples, policy), steps, policy, vehicle_class)


def _cells(samples: Sequence[Sample], policy: tariff.TariffPolicy) -> list[tuple[int, int]]:
    """``policy.cell_at`` of every sample; a position met again (a standing car) is looked up
    once."""
    zones: dict[tuple[int, int], int] = {}
    out = []
    for s in samples:
        pos = (s.lat_e7, s.lon_e7)
        z = zones.get(pos)
        if z is None:
            z = zones[pos] = policy.zone_at(s.lat_e7, s.lon_e7)
        out.append((z, policy.band_at(s.t)))
    return out


def _priced(
    samples: Sequence[Sample],
    cells: Sequence[tuple[int, int]],
    steps: Sequence[int],
    policy: tariff.TariffPolicy,
    vehicle_class: int,
) -> TrueFee:
    """true_fee's cut and prices, given each sample's cell and its step from the previous one."""
    runs: list[CellRun] = []
    total = 0
    cell: tuple[int, int] | None = None
    t_start = 0
    t_end = 0
    dist = 0

    def close() -> None:
        nonlocal total
        assert cell is not None
        rate = policy.rate(cell[0], cell[1], vehicle_class)
        dist_m = dist // 1_000_000
        price = tariff.price_micro(dist_m, rate)
        runs.append(CellRun(t_start, t_end, cell[0], cell[1], dist, dist_m, rate, price))
        total += price

    for i, s in enumerate(samples):
        c = cells[i]
        if cell is None:
            cell, t_start, dist = c, s.t, 0
        elif c != cell:
            close()
            cell, t_start, dist = c, samples[i - 1].t, steps[i]
        else:
            dist += steps[i]
        t_end = s.t
    if cell is not None:
        close()
    return TrueFee(vehicle_class, tuple(runs), total, sum(r.dist_um for r in runs))


@dataclass(frozen=True)
class TripTruth:
    """A trip's ground truth in one pass over its samples (what a fleet books per trip):
    ``Trip.dist_um_by_env()``, ``Trip.true_fee()`` and the true fee of the *visible* samples
    (those outside garages, where no receiver has a signal; None if there are none)."""

    dist_um_by_env: dict[int, int]
    fee: TrueFee
    visible_fee: TrueFee | None


def trip_truth(
    trip: Trip, policy: tariff.TariffPolicy, vehicle_class: int | None = None
) -> TripTruth:
    """The same figures as the three separate calls, computing each distance and cell once."""
    vc = trip.vehicle_class if vehicle_class is None else vehicle_class
    samples = trip.samples
    steps = [0]
    by_env: dict[int, int] = {}
    for a, b in itertools.pairwise(samples):
        d = geo.distance_um(a.lat_e7, a.lon_e7, b.lat_e7, b.lon_e7)
        steps.append(d)
        by_env[b.env] = by_env.get(b.env, 0) + d
    cells = _cells(samples, policy)
    fee = _priced(samples, cells, steps, policy, vc)
    garage = Environment.GARAGE
    keep = [i for i, s in enumerate(samples) if s.env != garage]
    if len(keep) == len(samples):
        return TripTruth(by_env, fee, fee)
    if not keep:
        return TripTruth(by_env, fee, None)
    visible = [samples[i] for i in keep]
    vsteps = [0]
    for j in range(1, len(keep)):
        i = keep[j]
        if keep[j - 1] == i - 1:
            vsteps.append(steps[i])  # neighbours in the trip too: the same step
        else:
            a, b = samples[keep[j - 1]], samples[i]
            vsteps.append(geo.distance_um(a.lat_e7, a.lon_e7, b.lat_e7, b.lon_e7))
    vfee = _priced(visible, [cells[i] for i in keep], vsteps, policy, vc)
    return TripTruth(by_env, fee, vfee)


# --- synthetic trips ----------------------------------------------------------------------


@dataclass(frozen=True)
class DriverProfile:
    """How a driver drives. Acceleration falls with speed (engines run out of power)."""

    accel_mps2: float = 1.8  # from standstill
    brake_mps2: float = 2.5  # comfortable deceleration
    lateral_mps2: float = 2.0  # in bends and turns
    speed_factor: float = 0.97  # cruise at this fraction of the limit (≤ 1: law-abiding)

    def accel_at(self, v_mps: float) -> float:
        return self.accel_mps2 * max(0.3, 1.0 - v_mps / 45.0)


@dataclass(frozen=True)
class SyntheticConfig:
    """Knobs of the synthetic trip generator (defaults: an ordinary European city)."""

    sample_period_ms: int = 1000
    light_red_prob: float = 0.45
    red_wait_s: tuple[float, float] = (3.0, 45.0)
    yield_stop_prob: float = 0.2
    yield_slow_prob: float = 0.35
    yield_slow_mps: tuple[float, float] = (3.0, 6.0)
    peak_speed_factor: tuple[float, float] = (0.35, 0.65)  # per congested road class, peaks
    peak_queue_stops_per_km: float = 1.5
    offpeak_queue_stops_per_km: float = 0.15
    queue_wait_s: tuple[float, float] = (2.0, 20.0)
    start_dwell_s: tuple[float, float] = (8.0, 40.0)  # engine on, buckling up
    end_dwell_s: tuple[float, float] = (3.0, 15.0)
    turn_radius_m: float = 9.0  # at junctions
    bend_radius_m: float = 800.0  # bends of the ring, motorway and rural roads
    dense_step_m: float = 1.0


@dataclass
class _Path:
    """A route as a dense polyline (≈1 m steps) with per-interval road attributes.

    Besides the geometry it holds what every trip on the route derives from it the same way
    (plain ints and bools: synthetic_trip's loops run over every metre of the route, where
    hashing enum members would dominate)."""

    x: list[float]
    y: list[float]
    ds: list[float]  # length of interval k (point k → k+1)
    limit: list[float]  # speed limit of interval k, m/s
    curv_cap: list[float]  # lateral-acceleration cap of interval k, m/s (inf on straights)
    env: list[int]
    road: list[RoadClass]
    node_at: dict[int, int]  # dense index of the stop line of route node → node id
    road_code: list[int] = field(default_factory=list)  # _ROAD_CODE of interval k's road
    congestible: list[bool] = field(default_factory=list)  # interval k's road in CONGESTIBLE
    queue_at: list[int] = field(default_factory=list)  # interior points on CONGESTIBLE roads
    heading: list[int] = field(default_factory=list)  # course of interval k, centidegrees
    limit_mmps: list[int] = field(default_factory=list)  # int(limit × 1000), floored
    stops: list[int] = field(default_factory=list)  # sorted(node_at)

    def __post_init__(self) -> None:
        n = len(self.x)
        self.road_code = [_ROAD_CODE[r] for r in self.road]
        self.congestible = [r in CONGESTIBLE for r in self.road]
        self.queue_at = [k for k in range(1, n - 1) if self.congestible[k]]
        xs, ys = self.x, self.y
        self.heading = [_heading_cdeg(xs[k + 1] - xs[k], ys[k + 1] - ys[k]) for k in range(n - 1)]
        self.limit_mmps = [int(v * 1000.0) for v in self.limit]
        self.stops = sorted(self.node_at)


_ROAD_CODE = {r: i for i, r in enumerate(RoadClass)}
_RING = _ROAD_CODE[RoadClass.RING]


def _unit(dx: float, dy: float) -> tuple[float, float, float]:
    n = math.hypot(dx, dy)
    return (dx / n, dy / n, n)


def _dense_path(
    net: RoadNetwork, nodes: Sequence[int], cfg: SyntheticConfig, lat_acc: float
) -> _Path:
    """Route nodes → dense polyline with rounded corners (fillet arcs) and attributes."""
    verts: list[tuple[float, float]] = []
    vert_node: list[int | None] = []
    piece_edge: list[Edge] = []
    for k in range(len(nodes) - 1):
        e = net.edge_between(nodes[k], nodes[k + 1])
        pts = e.oriented(nodes[k])
        if k == 0:
            verts.append(pts[0])
            vert_node.append(nodes[0])
        for j in range(1, len(pts)):
            piece_edge.append(e)
            verts.append(pts[j])
            vert_node.append(nodes[k + 1] if j == len(pts) - 1 else None)

    n = len(verts)
    units = [
        _unit(verts[i + 1][0] - verts[i][0], verts[i + 1][1] - verts[i][1]) for i in range(n - 1)
    ]
    # Fillet at each interior vertex: tangent length L, radius R, turn angle θ, side.
    tan_len = [0.0] * n
    radius = [0.0] * n
    turn = [0.0] * n
    for i in range(1, n - 1):
        ux0, uy0, len0 = units[i - 1]
        ux1, uy1, len1 = units[i]
        cross = ux0 * uy1 - uy0 * ux1
        dot = ux0 * ux1 + uy0 * uy1
        theta = math.atan2(cross, dot)
        if abs(theta) < math.radians(0.3):
            continue
        node = vert_node[i]
        junction = node is not None and net.nodes[node].control != Control.NONE
        r_want = cfg.turn_radius_m if junction else cfg.bend_radius_m
        half = math.tan(min(abs(theta), math.radians(175)) / 2.0)
        length = min(r_want * half, 0.45 * min(len0, len1))
        tan_len[i] = length
        radius[i] = length / half
        turn[i] = theta

    xs: list[float] = [verts[0][0]]
    ys: list[float] = [verts[0][1]]
    attr: list[tuple[Edge, float]] = []  # per interval: edge, curvature cap
    node_idx: dict[int, int] = {}
    if vert_node[0] is not None:
        node_idx[0] = vert_node[0]
    step = cfg.dense_step_m

    for i in range(n - 1):
        ux, uy, length = units[i]
        e = piece_edge[i]
        # Straight part of piece i, between the fillets at its two ends.
        sx = verts[i][0] + tan_len[i] * ux
        sy = verts[i][1] + tan_len[i] * uy
        straight = length - tan_len[i] - tan_len[i + 1]
        m = max(1, math.ceil(straight / step - 1e-9))
        for j in range(1, m + 1):
            xs.append(sx + ux * straight * j / m)
            ys.append(sy + uy * straight * j / m)
            attr.append((e, math.inf))
        end_vertex = i + 1
        node = vert_node[end_vertex]
        if end_vertex == n - 1 or tan_len[end_vertex] == 0.0:
            if node is not None:
                node_idx[len(xs) - 1] = node
            continue
        # Arc round vertex i+1 from the end of this straight to the start of the next.
        r = radius[end_vertex]
        theta = turn[end_vertex]
        side = 1.0 if theta > 0 else -1.0
        cx = xs[-1] - side * uy * r
        cy = ys[-1] + side * ux * r
        a0 = math.atan2(ys[-1] - cy, xs[-1] - cx)
        m = max(2, math.ceil(r * abs(theta) / step))
        cap = math.sqrt(lat_acc * r)
        arc_start = len(xs) - 1
        for j in range(1, m + 1):
            a = a0 + theta * j / m
            xs.append(cx + r * math.cos(a))
            ys.append(cy + r * math.sin(a))
            attr.append((e if j <= m // 2 else piece_edge[i + 1], cap))
        if node is not None:
            # Stop line: just before the turn begins.
            node_idx[arc_start] = node

    ds = [math.hypot(xs[k + 1] - xs[k], ys[k + 1] - ys[k]) for k in range(len(xs) - 1)]
    return _Path(
        xs,
        ys,
        ds,
        [a[0].speed_limit_mps for a in attr],
        [a[1] for a in attr],
        [int(a[0].env) for a in attr],
        [a[0].road_class for a in attr],
        node_idx,
    )


# Dense paths are pure functions of (network, route, config, lateral acceleration) and read-only:
# a commuter drives the same few routes every day, so a fleet run builds each one once.
_PATHS: dict[tuple[int, tuple[int, ...], SyntheticConfig, float], tuple[RoadNetwork, _Path]] = {}
_PATHS_MAX = 4096


def _cached_dense_path(
    net: RoadNetwork, nodes: Sequence[int], cfg: SyntheticConfig, lat_acc: float
) -> _Path:
    key = (id(net), tuple(nodes), cfg, lat_acc)
    hit = _PATHS.get(key)
    if hit is not None and hit[0] is net:
        return hit[1]
    if len(_PATHS) >= _PATHS_MAX:
        _PATHS.clear()
    path = _dense_path(net, nodes, cfg, lat_acc)
    _PATHS[key] = (net, path)  # holding net keeps id(net) from being reused while cached
    return path


def _altitude_m(x: float, y: float) -> float:
    """A gentle made-up terrain (the tunnel runs under the Kempen ridge near x ≈ 7 km)."""
    ridge = 25.0 * math.exp(-(((x - 7000.0) / 900.0) ** 2))
    return 32.0 + 8.0 * math.sin(x / 3100.0) + 6.0 * math.cos(y / 2300.0) + ridge


def _heading_cdeg(dx: float, dy: float) -> int:
    return round(math.degrees(math.atan2(dx, dy)) * 100.0) % 36000


def synthetic_trip(
    origin: str,
    destination: str,
    depart_t: int,
    seed: Seed,
    *,
    network: RoadNetwork | None = None,
    policy: tariff.TariffPolicy | None = None,
    vehicle_class: int = 1,
    driver: DriverProfile | None = None,
    config: SyntheticConfig | None = None,
    trip_id: str | None = None,
) -> Trip:
    """Drive the fastest route ``origin`` → ``destination`` (place names) from ``depart_t``.

    ``depart_t`` is when the engine starts (the car waits a few seconds before moving). The
    policy's band at departure decides whether the city is in a peak (congestion). The same
    seed gives the same trip.
    """
    net = network if network is not None else default_network()
    pol = policy if policy is not None else default_policy(net)
    drv = driver if driver is not None else DriverProfile()
    cfg = config if config is not None else SyntheticConfig()
    if origin not in net.places or destination not in net.places:
        raise TripError(f"unknown place: {origin!r} or {destination!r}")
    if origin == destination:
        raise TripError("origin and destination are the same place")
    if cfg.sample_period_ms <= 0 or cfg.sample_period_ms % 10:
        raise TripError("sample_period_ms must be a positive multiple of 10 ms")
    rng = random.Random(f"quietmile/trip/{seed}")
    nodes = net.route(origin, destination)
    path = _cached_dense_path(net, nodes, cfg, drv.lateral_mps2)
    npts = len(path.x)
    peak = pol.band_at(depart_t) in PEAK_BANDS

    # Cruise caps per interval: limit × driver factor × congestion factor of the edge.
    # (The loops below run over every metre of the route: they keep to locals and plain
    # comparisons, and ``b if b < a else a`` is min(a, b) exactly, ties and NaN included.)
    limit, curv, ds = path.limit, path.curv_cap, path.ds
    f0 = drv.speed_factor
    if peak:
        edge_factor: dict[int, float] = {}
        env, congestible, code = path.env, path.congestible, path.road_code
        open_sky = Environment.OPEN
        cruise = []
        for k in range(npts - 1):
            f = f0
            if congestible[k] and env[k] != open_sky:
                if code[k] not in edge_factor:
                    edge_factor[code[k]] = rng.uniform(*cfg.peak_speed_factor)
                f *= edge_factor[code[k]]
            elif code[k] == _RING:
                if _RING not in edge_factor:
                    edge_factor[_RING] = rng.uniform(0.6, 0.9)
                f *= edge_factor[_RING]
            c = limit[k] * f
            cruise.append(curv[k] if curv[k] < c else c)
    else:
        cruise = [cv if cv < lim * f0 else lim * f0 for lim, cv in zip(limit, curv, strict=True)]
    # A point's cap is the lower of its two intervals: speed stays under each interval's limit.
    inf = [math.inf]
    cap = [r if r < lt else lt for lt, r in zip(inf + cruise, cruise + inf, strict=True)]

    dwell = [0.0] * npts
    cap[0] = 0.0
    cap[-1] = 0.0
    dwell[0] = rng.uniform(*cfg.start_dwell_s)
    dwell[-1] = rng.uniform(*cfg.end_dwell_s)

    def stop_at(k: int, wait: float) -> None:
        # Stops are single points; merge with a neighbouring stop so the car never has two
        # zero-speed points in a row (it would never move between them).
        for j in range(max(0, k - 3), min(npts, k + 4)):
            if cap[j] == 0.0:
                dwell[j] += wait
                return
        cap[k] = 0.0
        dwell[k] = wait

    for k in path.stops:
        if k == 0 or k >= npts - 1:
            continue
        control = net.nodes[path.node_at[k]].control
        if control == Control.LIGHT:
            if rng.random() < cfg.light_red_prob:
                stop_at(k, rng.uniform(*cfg.red_wait_s))
        elif control == Control.YIELD:
            u = rng.random()
            if u < cfg.yield_stop_prob:
                stop_at(k, rng.uniform(1.0, 5.0))
            elif u < cfg.yield_stop_prob + cfg.yield_slow_prob:
                cap[k] = min(cap[k], rng.uniform(*cfg.yield_slow_mps))
    rate = cfg.peak_queue_stops_per_km if peak else cfg.offpeak_queue_stops_per_km
    random_ = rng.random
    for k in path.queue_at:
        if random_() < rate * ds[k] / 1000.0:
            stop_at(k, rng.uniform(*cfg.queue_wait_s))

    # Speed profile: braking pass backwards, acceleration pass forwards (the forward pass only
    # lowers speeds to values it can reach, which keeps every braking constraint satisfied).
    sqrt = math.sqrt
    v = cap[:]
    brake2 = 2.0 * drv.brake_mps2
    nxt = v[npts - 1]
    for k in range(npts - 2, -1, -1):
        r = sqrt(nxt**2 + brake2 * ds[k])
        cur = v[k]
        nxt = r if r < cur else cur
        v[k] = nxt
    if type(drv).accel_at is DriverProfile.accel_at:
        acc0 = drv.accel_mps2  # DriverProfile.accel_at, inlined
        cur = v[0]
        for k in range(npts - 1):
            g = 1.0 - cur / 45.0
            r = sqrt(cur**2 + 2.0 * (acc0 * (g if g > 0.3 else 0.3)) * ds[k])
            nxt = v[k + 1]
            cur = r if r < nxt else nxt
            v[k + 1] = cur
    else:
        for k in range(npts - 1):
            reach = sqrt(v[k] ** 2 + 2.0 * drv.accel_at(v[k]) * ds[k])
            v[k + 1] = min(v[k + 1], reach)

    # Timeline: arrive at point k, wait dwell[k], then cover interval k with constant
    # acceleration from v[k] to v[k+1].
    t_depart = [0.0] * npts
    t_arrive = [0.0] * npts
    t = 0.0
    for k in range(npts - 1):
        t_arrive[k] = t
        t += dwell[k]
        t_depart[k] = t
        t += 2.0 * ds[k] / (v[k] + v[k + 1])
    t_arrive[-1] = t
    t += dwell[-1]
    t_depart[-1] = t
    t_end = t

    period = cfg.sample_period_ms
    samples: list[Sample] = []
    k = 0
    n_samples = int(t_end * 1000.0) // period + 1
    px, py, heading, env_of, limit_mmps = path.x, path.y, path.heading, path.env, path.limit_mmps
    to_e7 = net.frame.to_e7
    last = npts - 1
    for i in range(n_samples):
        tau = i * period / 1000.0
        while k < last and tau >= t_arrive[k + 1]:
            k += 1
        if tau < t_depart[k] or k == last:
            # standing at point k
            x, y, speed = px[k], py[k], 0.0
            kk = k if k < last - 1 else last - 1
        else:
            dt = tau - t_depart[k]
            dsk = ds[k]
            acc = (v[k + 1] ** 2 - v[k] ** 2) / (2.0 * dsk)
            s = v[k] * dt + 0.5 * acc * dt * dt
            if dsk < s:
                s = dsk
            speed = v[k] + acc * dt
            if speed < 0.0:
                speed = 0.0
            f = s / dsk
            x = px[k] + (px[k + 1] - px[k]) * f
            y = py[k] + (py[k + 1] - py[k]) * f
            kk = k
        lat, lon = to_e7(x, y)
        abs_ms = depart_t * 1000 + i * period
        samples.append(
            Sample(
                abs_ms // 1000,
                abs_ms % 1000,
                lat,
                lon,
                round(_altitude_m(x, y) * 10.0),
                round(speed * 1000.0),
                heading[kk],
                env_of[kk],
                # floor: the limit never rounds up past the km/h figure
                limit_mmps[kk],
            )
        )
    return Trip(
        trip_id if trip_id is not None else f"syn-{seed}",
        "synthetic",
        samples,
        vehicle_class,
        origin,
        destination,
        tuple(nodes),
        sum(path.ds),
        {"peak": peak, "depart_t": depart_t, "driver": drv},
    )


def straight_trip(
    lat_e7: int,
    lon_e7: int,
    t0: int,
    duration_s: int,
    *,
    speed_mmps: int = 15000,
    heading_deg: float = 0.0,
    env_at: Callable[[int], int] | None = None,
    sample_period_ms: int = 1000,
    alt_dm: int = 300,
    trip_id: str = "straight",
    vehicle_class: int = 1,
) -> Trip:
    """A constant-speed drive along a straight line (calibration, tests, cameras on a road).

    ``env_at(i)`` gives the environment of sample ``i`` (default: open sky throughout), so a
    test can put a tunnel or a street canyon anywhere on the line.
    """
    frame = LocalFrame(lat_e7 / 1e7, lon_e7 / 1e7)
    h = math.radians(heading_deg)
    heading = round(heading_deg * 100.0) % 36000
    n = duration_s * 1000 // sample_period_ms + 1
    samples = []
    for i in range(n):
        s_m = speed_mmps / 1000.0 * i * sample_period_ms / 1000.0
        lat, lon = frame.to_e7(s_m * math.sin(h), s_m * math.cos(h))
        abs_ms = t0 * 1000 + i * sample_period_ms
        env = env_at(i) if env_at is not None else Environment.OPEN
        samples.append(
            Sample(abs_ms // 1000, abs_ms % 1000, lat, lon, alt_dm, speed_mmps, heading, env)
        )
    return Trip(trip_id, "synthetic", samples, vehicle_class, path_length_m=s_m)


# Departure-time mix of random trips: (weight, local start minute, local end minute).
_DEPARTURE_MIX = (
    (0.35, 7 * 60, 9 * 60 + 15),  # morning peak
    (0.30, 16 * 60, 18 * 60 + 45),  # evening peak
    (0.28, 9 * 60 + 30, 16 * 60),  # daytime
    (0.07, 22 * 60 + 10, 23 * 60 + 50),  # night
)


def random_trips(
    seed: Seed,
    n: int,
    *,
    start_date: tuple[int, int, int] = (2026, 3, 2),
    days: int = 28,
    network: RoadNetwork | None = None,
    policy: tariff.TariffPolicy | None = None,
    vehicle_class: int = 1,
    config: SyntheticConfig | None = None,
) -> list[Trip]:
    """``n`` independent trips between random places, departing over ``days`` days.

    Departure local times follow a commuter-like mix (peaks, daytime, some at night); each
    trip gets its own driver (acceleration and cruise factor drawn per trip).
    """
    net = network if network is not None else default_network()
    pol = policy if policy is not None else default_policy(net)
    rng = random.Random(f"quietmile/random-trips/{seed}")
    names = sorted(net.places)
    day0 = timeutil.days_from_civil(*start_date)
    weights = [w for w, _, _ in _DEPARTURE_MIX]
    out = []
    for i in range(n):
        origin, destination = rng.sample(names, 2)
        _, lo, hi = rng.choices(_DEPARTURE_MIX, weights)[0]
        local = (day0 + rng.randrange(days)) * 86400 + rng.randrange(lo * 60, hi * 60)
        driver = DriverProfile(
            accel_mps2=rng.uniform(1.4, 2.3),
            brake_mps2=rng.uniform(2.2, 3.0),
            speed_factor=rng.uniform(0.9, 1.0),
        )
        out.append(
            synthetic_trip(
                origin,
                destination,
                local_to_utc(pol, local),
                f"{seed}/{i}",
                network=net,
                policy=pol,
                vehicle_class=vehicle_class,
                driver=driver,
                config=config,
                trip_id=f"rnd-{seed}-{i}",
            )
        )
    return out


@dataclass(frozen=True)
class Commuter:
    """A household's driving habits (local times in minutes after midnight)."""

    home: str = "home-west"
    work: str = "office-garage"
    morning_min: int = 7 * 60 + 40
    evening_min: int = 17 * 60 + 10
    spread_min: int = 25
    errands: tuple[str, ...] = ("market", "mall-garage", "station", "noordveld")
    vehicle_class: int = 1


def commute_trips(
    seed: Seed,
    *,
    commuter: Commuter | None = None,
    start_date: tuple[int, int, int] = (2026, 3, 2),
    days: int = 7,
    network: RoadNetwork | None = None,
    policy: tariff.TariffPolicy | None = None,
    config: SyntheticConfig | None = None,
) -> list[Trip]:
    """A commuter's trips over ``days`` days, in time order, never overlapping.

    Weekdays: home → work around ``morning_min`` and back around ``evening_min`` (a day off
    now and then), sometimes an evening errand; weekends: a few errands, now and then a late
    trip in the night band.
    """
    net = network if network is not None else default_network()
    pol = policy if policy is not None else default_policy(net)
    who = commuter if commuter is not None else Commuter()
    rng = random.Random(f"quietmile/commute/{seed}")
    day0 = timeutil.days_from_civil(*start_date)
    trips: list[Trip] = []

    def drive(origin: str, destination: str, local: int) -> Trip:
        t = local_to_utc(pol, local)
        if trips:
            t = max(t, trips[-1].end_t + 60)  # the car is still out: leave after it is back
        trip = synthetic_trip(
            origin,
            destination,
            t,
            f"{seed}/{len(trips)}",
            network=net,
            policy=pol,
            vehicle_class=who.vehicle_class,
            config=config,
            trip_id=f"com-{seed}-{len(trips)}",
        )
        trips.append(trip)
        return trip

    def back_local(trip: Trip, stay_s: int) -> int:
        # local wall time when the car leaves again after a stay
        t = trip.end_t + stay_s
        return t + pol.utc_offset_at(t)

    for d in range(days):
        midnight = (day0 + d) * 86400
        weekday = (day0 + d + 3) % 7
        if weekday < 5:
            if rng.random() < 0.92:
                m = rng.gauss(who.morning_min, who.spread_min)
                drive(who.home, who.work, midnight + int(max(300.0, m) * 60))
                e = rng.gauss(who.evening_min, who.spread_min * 1.5)
                drive(who.work, who.home, midnight + int(min(1380.0, e) * 60))
            if rng.random() < 0.25:
                place = rng.choice(who.errands)
                out = drive(who.home, place, midnight + rng.randrange(19 * 3600, 21 * 3600))
                drive(place, who.home, back_local(out, rng.randrange(600, 3600)))
        else:
            for _ in range(rng.choice((0, 1, 1, 2))):
                place = rng.choice(who.errands)
                start = midnight + rng.randrange(10 * 3600, 17 * 3600)
                if trips:
                    last_local = trips[-1].end_t + pol.utc_offset_at(trips[-1].end_t)
                    start = max(start, last_local + 1800)
                out = drive(who.home, place, start)
                drive(place, who.home, back_local(out, rng.randrange(900, 5400)))
            if rng.random() < 0.15:
                out = drive(who.home, "oostdorp", midnight + rng.randrange(79200, 84600))
                drive("oostdorp", who.home, back_local(out, rng.randrange(600, 2400)))
    return trips


# --- trips from recorded tracks -----------------------------------------------------------


@dataclass(frozen=True)
class TrackPoint:
    """A recorded point: Unix ms, position, and what the recording gives of the rest."""

    time_ms: int
    lat_e7: int
    lon_e7: int
    alt_dm: int | None = None
    speed_mmps: int | None = None
    course_cdeg: int | None = None


def _lerp_int(a: int, b: int, num: int, den: int) -> int:
    """a + (b − a)·num/den rounded half up, exactly."""
    return a + ((b - a) * num * 2 + den) // (2 * den)


def _bearing_cdeg(lat0: int, lon0: int, lat1: int, lon1: int) -> int | None:
    if lat0 == lat1 and lon0 == lon1:
        return None
    phi = math.radians((lat0 + lat1) / 2e7)
    north = (lat1 - lat0) * 1e-7 * math.pi / 180.0 * meridian_radius_m(phi)
    east = (lon1 - lon0) * 1e-7 * math.pi / 180.0 * parallel_scale_m(phi)
    return _heading_cdeg(east, north)


def resample(
    points: Sequence[TrackPoint],
    *,
    sample_period_ms: int = 1000,
    env: int = Environment.OPEN,
) -> list[Sample]:
    """Resample a recorded track on whole multiples of the period by linear interpolation.

    Positions and altitudes are interpolated exactly in integers. Speed: interpolated from the
    recording where both neighbours carry one (a receiver's Doppler speed is the best truth we
    have), otherwise the central difference of the resampled positions. Heading: the bearing of
    the recorded leg, or the recorded course while the car stands. A gap in the recording is
    bridged by a straight line at constant speed: split recordings with long gaps first if
    that is not what the truth was.
    """
    pts = sorted(points, key=lambda p: p.time_ms)
    # Keep the first point of each instant (repeated sentences of one epoch).
    uniq: list[TrackPoint] = []
    for p in pts:
        if not uniq or p.time_ms != uniq[-1].time_ms:
            uniq.append(p)
    if len(uniq) < 2:
        raise TripError("a track needs at least two timed points")
    period = sample_period_ms
    first = -(-uniq[0].time_ms // period) * period
    times = list(range(first, uniq[-1].time_ms + 1, period))
    if len(times) < 2:
        raise TripError("track shorter than two sample periods")
    tks = [p.time_ms for p in uniq]
    lat: list[int] = []
    lon: list[int] = []
    alt: list[int] = []
    spd: list[int | None] = []
    hdg: list[int | None] = []
    for tm in times:
        j = min(bisect.bisect_right(tks, tm), len(uniq) - 1)
        a, b = uniq[j - 1], uniq[j]
        num, den = tm - a.time_ms, b.time_ms - a.time_ms
        lat.append(_lerp_int(a.lat_e7, b.lat_e7, num, den))
        lon.append(_lerp_int(a.lon_e7, b.lon_e7, num, den))
        alt.append(
            _lerp_int(a.alt_dm, b.alt_dm, num, den)
            if a.alt_dm is not None and b.alt_dm is not None
            else (a.alt_dm if a.alt_dm is not None else 0)
        )
        spd.append(
            _lerp_int(a.speed_mmps, b.speed_mmps, num, den)
            if a.speed_mmps is not None and b.speed_mmps is not None
            else None
        )
        h = _bearing_cdeg(a.lat_e7, a.lon_e7, b.lat_e7, b.lon_e7)
        hdg.append(h if h is not None else (a.course_cdeg if a.course_cdeg is not None else None))
    n = len(times)
    out = []
    last_h = next((h for h in hdg if h is not None), 0)
    for i in range(n):
        speed = spd[i]
        if speed is None:
            i0, i1 = max(0, i - 1), min(n - 1, i + 1)
            d_um = geo.distance_um(lat[i0], lon[i0], lat[i1], lon[i1])
            speed = d_um // (times[i1] - times[i0])  # µm per ms = mm/s
        h = hdg[i]
        if h is not None:
            last_h = h
        out.append(
            Sample(times[i] // 1000, times[i] % 1000, lat[i], lon[i], alt[i], speed, last_h, env)
        )
    return out


def _gpx_time_ms(t: _dt.datetime) -> int:
    if t.tzinfo is None:
        t = t.replace(tzinfo=_dt.UTC)  # GPX times are UTC; a missing zone means UTC
    return round(t.timestamp() * 1000)


def trip_from_gpx_text(
    xml: str,
    *,
    trip_id: str = "gpx",
    sample_period_ms: int = 1000,
    vehicle_class: int = 1,
    env: int = Environment.OPEN,
) -> Trip:
    """A trip from GPX XML: all track points with a time, in time order, resampled."""
    doc = gpxpy.parse(xml)
    points = []
    for track in doc.tracks:
        for segment in track.segments:
            for p in segment.points:
                if p.time is None:
                    continue
                points.append(
                    TrackPoint(
                        _gpx_time_ms(p.time),
                        round(p.latitude * 1e7),
                        round(p.longitude * 1e7),
                        round(p.elevation * 10) if p.elevation is not None else None,
                    )
                )
    if len(points) < 2:
        raise TripError("the GPX has fewer than two timed track points")
    samples = resample(points, sample_period_ms=sample_period_ms, env=env)
    return Trip(trip_id, "gpx", samples, vehicle_class)


def load_gpx(path: str | os.PathLike[str], **kwargs: object) -> Trip:
    """:func:`trip_from_gpx_text` on a file; the trip id defaults to the file name."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    kwargs.setdefault("trip_id", os.path.basename(os.fspath(path)))
    return trip_from_gpx_text(text, **kwargs)  # type: ignore[arg-type]


def _nmea_coord_e7(value: str, hemi: str, neg: str) -> int | None:
    """``ddmm.mmmm`` + hemisphere as degrees × 10^7, rounded half up, exactly."""
    if not value:
        return None
    ip, _, fp = value.partition(".")
    if len(ip) < 3 or not ip.isdigit() or (fp and not fp.isdigit()):
        return None
    deg = int(ip[:-2])
    minutes_num = int(ip[-2:] + fp) if fp else int(ip[-2:])
    den = 60 * 10 ** len(fp)
    e7 = deg * 10_000_000 + (minutes_num * 10_000_000 * 2 + den) // (2 * den)
    return -e7 if hemi == neg else e7


def _nmea_time_ms(value: str) -> int | None:
    if len(value) < 6 or not value[:6].isdigit():
        return None
    ms = 0
    if len(value) > 7 and value[6] == ".":
        ms = int((value[7:10] + "00")[:3])
    return ((int(value[:2]) * 60 + int(value[2:4])) * 60 + int(value[4:6])) * 1000 + ms


def trip_from_nmea_bytes(
    data: bytes,
    *,
    trip_id: str = "nmea",
    sample_period_ms: int = 1000,
    vehicle_class: int = 1,
    env: int = Environment.OPEN,
    min_unix: int | None = None,
) -> Trip:
    """A trip from a receiver log: the fixes it reported, taken as the truth.

    Sentences are framed and checksummed by pynmea2 (the firmware's own parser is what is
    under test, so it is not used here); gpsd-style ``#`` comment lines and broken lines are
    skipped. An epoch is one UTC time of day; its position comes from an RMC with status A
    (mode not E/M/S/N) or a GGA with quality 1–5; RMC gives the date, speed and course, GGA
    the altitude. Epochs before the first date are dropped. ``min_unix`` repairs GPS
    week-rollover dates (+1024 weeks until not before it).
    """
    epochs: dict[int, dict[str, object]] = {}
    order: list[int] = []
    date_days: int | None = None
    last_key = -1
    for raw in data.splitlines():
        line = raw.decode("ascii", "replace").strip()
        start = line.find("$")
        if start < 0 or line.startswith("#"):
            continue
        try:
            msg = pynmea2.parse(line[start:], check=True)
        except (pynmea2.ParseError, ValueError, AttributeError, TypeError):
            continue
        kind = getattr(msg, "sentence_type", "")
        if kind not in ("RMC", "GGA"):
            continue
        f = msg.data
        key = _nmea_time_ms(f[0]) if f else None
        if key is None:
            continue
        if kind == "RMC":
            if len(f) < 9:
                continue
            if len(f[8]) == 6 and f[8].isdigit():
                d, mo, yy = int(f[8][:2]), int(f[8][2:4]), int(f[8][4:])
                try:
                    date_days = timeutil.days_from_civil(
                        1900 + yy if yy >= 80 else 2000 + yy, mo, d
                    )
                except ValueError:
                    pass
            mode = f[11] if len(f) > 11 else ""
            if f[1] != "A" or (mode and mode[0] not in "ADPRF"):
                continue
        else:
            if len(f) < 9 or not f[5].isdigit() or not 1 <= int(f[5]) <= 5:
                continue
        if date_days is None:
            continue
        lat = _nmea_coord_e7(f[2 if kind == "RMC" else 1], f[3 if kind == "RMC" else 2], "S")
        lon = _nmea_coord_e7(f[4 if kind == "RMC" else 3], f[5 if kind == "RMC" else 4], "W")
        if lat is None or lon is None or (lat == 0 and lon == 0):
            continue
        days = date_days
        if kind == "GGA" and key < last_key - 43_200_000:
            days += 1  # no RMC yet this epoch and the time of day wrapped past midnight
        t_ms = days * 86_400_000 + key
        if min_unix is not None:
            while t_ms < min_unix * 1000:
                t_ms += WEEK_ROLLOVER_DAYS * 86_400_000
        ep = epochs.get(t_ms)
        if ep is None:
            ep = {}
            epochs[t_ms] = ep
            order.append(t_ms)
        last_key = key
        ep.setdefault("lat", lat)
        ep.setdefault("lon", lon)
        if kind == "RMC":
            try:
                if f[6]:
                    ep["speed"] = round(float(f[6]) * 1852000 / 3600)
                if f[7]:
                    ep["course"] = round(float(f[7]) * 100) % 36000
            except ValueError:
                pass
        elif len(f) > 9 and f[8] and f[9] == "M":
            try:
                ep["alt"] = round(float(f[8]) * 10)
            except ValueError:
                pass
    points = [
        TrackPoint(
            t,
            int(epochs[t]["lat"]),  # type: ignore[call-overload]
            int(epochs[t]["lon"]),  # type: ignore[call-overload]
            epochs[t].get("alt"),  # type: ignore[arg-type]
            epochs[t].get("speed"),  # type: ignore[arg-type]
            epochs[t].get("course"),  # type: ignore[arg-type]
        )
        for t in order
    ]
    if len(points) < 2:
        raise TripError("the log has fewer than two dated fixes")
    samples = resample(points, sample_period_ms=sample_period_ms, env=env)
    return Trip(trip_id, "nmea", samples, vehicle_class)


def load_nmea_log(path: str | os.PathLike[str], **kwargs: object) -> Trip:
    """:func:`trip_from_nmea_bytes` on a file; the trip id defaults to the file name."""
    with open(path, "rb") as f:
        data = f.read()
    kwargs.setdefault("trip_id", os.path.basename(os.fspath(path)))
    return trip_from_nmea_bytes(data, **kwargs)  # type: ignore[arg-type]


def total_true_fee(trips: Iterable[Trip], policy: tariff.TariffPolicy) -> int:
    """Sum of the true fees of several trips, in micro-units."""
    return sum(t.true_fee(policy).total_micro for t in trips)
