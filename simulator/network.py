"""The built-in road network of Veldhaven, a made-up city, and the tariff policy that fits it.

Everything is laid out in a local metric frame (``x`` metres east, ``y`` metres north of the
city centre at 51.0° N, 5.0° E: the plane tangent to the WGS84 ellipsoid there) and converted
to WGS84 degrees × 10^7, so that lengths measured in the frame agree with
``protocol.geo.distance_um`` on the converted points to about 2 × 10^-6.

The network (about 260 nodes, undirected edges):

- an **urban grid** of streets every 250 m over 3 × 3 km (|x|, |y| ≤ 1500), 50 km/h; the
  streets of the centre (|x|, |y| ≤ 750) are a 30 km/h **core** lying inside the congestion
  zone; the two avenues x = 0 and y = 0 have traffic lights at every crossing, other crossings
  give way;
- four **radial arterials** (70 km/h) from the grid's edges to a **ring road** (90 km/h) of
  radius 2.5 km drawn as a 24-gon;
- a **motorway** (120 km/h) east from the ring to the village of Oostdorp (13 km out) with a
  1.2 km **tunnel** (100 km/h, no GNSS) under the Kempen ridge, and one west to Westerlo;
- a **rural road** (80 km/h) north to Noordveld and on to Oostdorp, and a business park south;
- **parking garages** (10 km/h, no GNSS): short driveways from a street into a garage.

Trips start and end at named :class:`Place` s. :func:`default_policy` returns the matching
``protocol.tariff.TariffPolicy``: the congestion zone (the core), the city zone (inside and
including the ring road), morning/evening peak and night bands with explicit CET/CEST
transitions for 2026–2027, and rates for vehicle classes 1–3.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field
from enum import Enum, IntEnum
from functools import lru_cache

from protocol import tariff, timeutil

# --- WGS84 local frame --------------------------------------------------------------------

_A = 6378137.0
_F = 1.0 / 298.257223563
_E2 = _F * (2.0 - _F)

ORIGIN_LAT_DEG = 51.0
ORIGIN_LON_DEG = 5.0


def meridian_radius_m(phi_rad: float) -> float:
    """M(φ): radius of curvature in the meridian (metres per radian of latitude)."""
    s = math.sin(phi_rad)
    return _A * (1.0 - _E2) / (1.0 - _E2 * s * s) ** 1.5


def parallel_scale_m(phi_rad: float) -> float:
    """N(φ)·cos φ: metres per radian of longitude at latitude φ."""
    s = math.sin(phi_rad)
    return _A / math.sqrt(1.0 - _E2 * s * s) * math.cos(phi_rad)


def metres_to_deg(lat_deg: float, east_m: float, north_m: float) -> tuple[float, float]:
    """Small displacement (east, north) in metres at ``lat_deg`` as (Δlat°, Δlon°)."""
    phi = math.radians(lat_deg)
    return (
        math.degrees(north_m / meridian_radius_m(phi)),
        math.degrees(east_m / parallel_scale_m(phi)),
    )


class LocalFrame:
    """Local metric frame: the plane tangent to the WGS84 ellipsoid at an origin.

    A point of the ellipsoid maps to its orthogonal projection on the tangent plane (x east,
    y north of the origin); the inverse lifts a plane point back onto the ellipsoid along the
    plane's normal (exact, by a quadratic). Lengths are preserved to within ρ²/(2R²) at
    distance ρ from the origin (2 × 10^-6 at 13 km; the shape is an orthographic projection),
    so lengths measured in the frame agree with protocol.geo.distance_um on the converted
    points far better than the odometer budget needs.
    """

    def __init__(self, lat0_deg: float, lon0_deg: float) -> None:
        phi = math.radians(lat0_deg)
        lam = math.radians(lon0_deg)
        sp, cp, sl, cl = math.sin(phi), math.cos(phi), math.sin(lam), math.cos(lam)
        n = _A / math.sqrt(1.0 - _E2 * sp * sp)
        self._origin = (n * cp * cl, n * cp * sl, n * (1.0 - _E2) * sp)
        self._east = (-sl, cl, 0.0)
        self._north = (-sp * cl, -sp * sl, cp)
        self._up = (cp * cl, cp * sl, sp)
        u = self._up
        self._qa = (u[0] * u[0] + u[1] * u[1]) / (_A * _A) + u[2] * u[2] / (_A * _A * (1.0 - _E2))

    def to_deg(self, x_m: float, y_m: float) -> tuple[float, float]:
        """(lat°, lon°) of the frame point (x east, y north) in metres."""
        # Written out per coordinate (every sample of every trip comes through here); the
        # arithmetic is the vector form's, operation for operation.
        (o0, o1, o2), (e0, e1, e2), (n0, n1, n2) = self._origin, self._east, self._north
        u0, u1, u2 = self._up
        p0 = o0 + x_m * e0 + y_m * n0
        p1 = o1 + x_m * e1 + y_m * n1
        p2 = o2 + x_m * e2 + y_m * n2
        # On the ellipsoid: (X² + Y²)/a² + Z²/b² = 1 with P + t·U; solve for the small root t.
        aa = _A * _A
        b2 = aa * (1.0 - _E2)
        qa = self._qa
        qb = 2.0 * ((p0 * u0 + p1 * u1) / aa + p2 * u2 / b2)
        qc = (p0 * p0 + p1 * p1) / aa + p2 * p2 / b2 - 1.0
        # Stable form of the root nearest zero: t = 2c / (−b − sqrt(b² − 4ac)) for b > 0.
        disc = math.sqrt(qb * qb - 4.0 * qa * qc)
        t = (2.0 * qc) / (-qb - disc) if qb >= 0 else (2.0 * qc) / (-qb + disc)
        gx, gy, gz = p0 + t * u0, p1 + t * u1, p2 + t * u2
        # A point on the surface: tan φ = Z / ((1 − e²)·sqrt(X² + Y²)).
        lat = math.atan2(gz, (1.0 - _E2) * math.hypot(gx, gy))
        return (math.degrees(lat), math.degrees(math.atan2(gy, gx)))

    def to_e7(self, x_m: float, y_m: float) -> tuple[int, int]:
        """(lat_e7, lon_e7) of the frame point, rounded to the nearest 1e-7°."""
        lat, lon = self.to_deg(x_m, y_m)
        return (round(lat * 1e7), round(lon * 1e7))

    def to_xy(self, lat_deg: float, lon_deg: float) -> tuple[float, float]:
        """Frame coordinates (x, y) in metres of a WGS84 position (on the ellipsoid)."""
        phi = math.radians(lat_deg)
        lam = math.radians(lon_deg)
        sp = math.sin(phi)
        n = _A / math.sqrt(1.0 - _E2 * sp * sp)
        cp = math.cos(phi)
        g = (n * cp * math.cos(lam), n * cp * math.sin(lam), n * (1.0 - _E2) * sp)
        d = [g[i] - self._origin[i] for i in range(3)]
        return (
            sum(d[i] * self._east[i] for i in range(3)),
            sum(d[i] * self._north[i] for i in range(3)),
        )


# --- road network -------------------------------------------------------------------------


class RoadClass(Enum):
    """Kinds of road; each has a default speed limit (SPEED_LIMIT_KMH)."""

    MOTORWAY = "motorway"
    RAMP = "ramp"
    RING = "ring"
    ARTERIAL = "arterial"
    AVENUE = "avenue"
    STREET = "street"
    CORE = "core"
    RURAL = "rural"
    VILLAGE = "village"
    GARAGE = "garage"


SPEED_LIMIT_KMH: dict[RoadClass, int] = {
    RoadClass.MOTORWAY: 120,
    RoadClass.RAMP: 70,
    RoadClass.RING: 90,
    RoadClass.ARTERIAL: 70,
    RoadClass.AVENUE: 50,
    RoadClass.STREET: 50,
    RoadClass.CORE: 30,
    RoadClass.RURAL: 80,
    RoadClass.VILLAGE: 50,
    RoadClass.GARAGE: 10,
}
TUNNEL_LIMIT_KMH = 100

# Roads that congest in the peak bands (the city's through routes and its centre).
CONGESTIBLE = frozenset(
    {RoadClass.CORE, RoadClass.AVENUE, RoadClass.RING, RoadClass.ARTERIAL, RoadClass.STREET}
)


class Environment(IntEnum):
    """GNSS reception conditions along a road, used by simulator.gnss.

    OPEN: open sky (ring, motorway, countryside); SUBURBAN: low buildings; URBAN: street
    canyons of the centre (fewer satellites, frequent multipath); TUNNEL and GARAGE: no signal.
    """

    OPEN = 0
    SUBURBAN = 1
    URBAN = 2
    TUNNEL = 3
    GARAGE = 4


class Control(Enum):
    """What a driver meets at a node."""

    NONE = "none"
    LIGHT = "light"  # traffic light: sometimes red, then a stop of a few to 45 s
    YIELD = "yield"  # give way: sometimes a slow-down or a short stop


@dataclass(frozen=True)
class Node:
    node_id: int
    x_m: float
    y_m: float
    lat_e7: int
    lon_e7: int
    control: Control
    name: str = ""


@dataclass(frozen=True)
class Edge:
    """A two-way road between nodes ``a`` and ``b``; ``points`` is the xy polyline a → b."""

    edge_id: int
    a: int
    b: int
    road_class: RoadClass
    speed_limit_kmh: int
    env: Environment
    points: tuple[tuple[float, float], ...]
    length_m: float
    name: str = ""

    @property
    def speed_limit_mps(self) -> float:
        return self.speed_limit_kmh / 3.6

    def oriented(self, start: int) -> tuple[tuple[float, float], ...]:
        """The polyline walked from node ``start`` (one of the ends) to the other end."""
        if start == self.a:
            return self.points
        if start == self.b:
            return tuple(reversed(self.points))
        raise ValueError(f"node {start} is not an end of edge {self.edge_id}")


@dataclass(frozen=True)
class Place:
    """A trip origin or destination. ``kind``: home, work, shop, station, village, garage."""

    name: str
    node_id: int
    kind: str
    garage: bool = False


class NoRoute(ValueError):
    """No path between two nodes of the network."""


@dataclass
class RoadNetwork:
    """A small undirected road graph in a local frame; see the module docstring."""

    frame: LocalFrame
    nodes: list[Node] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    places: dict[str, Place] = field(default_factory=dict)
    adjacency: dict[int, list[tuple[int, int]]] = field(default_factory=dict)
    # Zone outlines in the frame (for maps and for tests), the policy holds them in e7.
    congestion_zone_xy: tuple[tuple[float, float], ...] = ()
    city_zone_xy: tuple[tuple[float, float], ...] = ()
    _by_xy: dict[tuple[int, int], int] = field(default_factory=dict)

    def add_node(self, x: float, y: float, control: Control = Control.NONE, name: str = "") -> int:
        """Add a node (or return the existing one at the same whole-metre position)."""
        key = (round(x), round(y))
        found = self._by_xy.get(key)
        if found is not None:
            return found
        nid = len(self.nodes)
        lat, lon = self.frame.to_e7(x, y)
        self.nodes.append(Node(nid, float(x), float(y), lat, lon, control, name))
        self.adjacency[nid] = []
        self._by_xy[key] = nid
        return nid

    def node_at(self, x: float, y: float) -> int:
        """Id of the node at whole-metre position (x, y); KeyError if none."""
        return self._by_xy[(round(x), round(y))]

    def add_edge(
        self,
        a: int,
        b: int,
        road_class: RoadClass,
        env: Environment,
        via: tuple[tuple[float, float], ...] = (),
        speed_limit_kmh: int | None = None,
        name: str = "",
    ) -> int:
        """Add a two-way road a → b, optionally through intermediate points ``via``."""
        na = self.nodes[a]
        nb = self.nodes[b]
        pts = ((na.x_m, na.y_m), *via, (nb.x_m, nb.y_m))
        length = sum(math.dist(pts[i], pts[i + 1]) for i in range(len(pts) - 1))
        eid = len(self.edges)
        limit = speed_limit_kmh if speed_limit_kmh is not None else SPEED_LIMIT_KMH[road_class]
        self.edges.append(Edge(eid, a, b, road_class, limit, env, pts, length, name))
        self.adjacency[a].append((b, eid))
        self.adjacency[b].append((a, eid))
        return eid

    def add_place(self, name: str, node_id: int, kind: str, garage: bool = False) -> None:
        self.places[name] = Place(name, node_id, kind, garage)

    def edge_between(self, a: int, b: int) -> Edge:
        """The edge joining two adjacent nodes (the first one if there are several)."""
        for nb, eid in self.adjacency[a]:
            if nb == b:
                return self.edges[eid]
        raise NoRoute(f"nodes {a} and {b} are not adjacent")

    def shortest_path(self, a: int, b: int) -> list[int]:
        """Node ids of the fastest path a → b (travel time at the speed limits).

        Dijkstra with ties broken by node id, so the result never depends on dict order.
        """
        best: dict[int, float] = {a: 0.0}
        prev: dict[int, int] = {}
        heap: list[tuple[float, int]] = [(0.0, a)]
        done: set[int] = set()
        while heap:
            cost, u = heapq.heappop(heap)
            if u in done:
                continue
            done.add(u)
            if u == b:
                break
            for v, eid in self.adjacency[u]:
                e = self.edges[eid]
                c = cost + e.length_m / e.speed_limit_mps
                if c < best.get(v, math.inf) - 1e-9:
                    best[v] = c
                    prev[v] = u
                    heapq.heappush(heap, (c, v))
        if b not in done:
            raise NoRoute(f"no route from node {a} to node {b}")
        path = [b]
        while path[-1] != a:
            path.append(prev[path[-1]])
        path.reverse()
        return path

    def route(self, origin: str, destination: str) -> list[int]:
        """Fastest path between two named places."""
        return self.shortest_path(self.places[origin].node_id, self.places[destination].node_id)

    def polygon_e7(self, ring_xy: tuple[tuple[float, float], ...]) -> list[tuple[int, int]]:
        """A frame polygon as a (lat_e7, lon_e7) ring for a protocol Zone."""
        return [self.frame.to_e7(x, y) for x, y in ring_xy]


# --- Veldhaven ----------------------------------------------------------------------------

GRID_STEP_M = 250
GRID_HALF_M = 1500
CORE_HALF_M = 750
CONGESTION_HALF_M = 875  # zone edge half-way between grid lines: no street runs along it
RING_RADIUS_M = 2500.0
RING_VERTICES = 24
CITY_RADIUS_M = 2700.0
GARAGE_OFFSET_M = 30.0  # a garage driveway goes diagonally 42 m into the block


def _grid_class(x0: float, y0: float, x1: float, y1: float) -> tuple[RoadClass, Environment]:
    core = max(abs(x0), abs(y0), abs(x1), abs(y1)) <= CORE_HALF_M
    avenue = (x0 == x1 == 0) or (y0 == y1 == 0)
    if core:
        return (RoadClass.CORE, Environment.URBAN)
    if avenue:
        return (RoadClass.AVENUE, Environment.SUBURBAN)
    return (RoadClass.STREET, Environment.SUBURBAN)


def build_network() -> RoadNetwork:
    """Build Veldhaven from scratch (use :func:`default_network` for the shared instance)."""
    net = RoadNetwork(LocalFrame(ORIGIN_LAT_DEG, ORIGIN_LON_DEG))
    coords = range(-GRID_HALF_M, GRID_HALF_M + 1, GRID_STEP_M)

    # Urban grid: lights on the avenues (x = 0, y = 0) and where the radials join.
    for y in coords:
        for x in coords:
            control = Control.LIGHT if x == 0 or y == 0 else Control.YIELD
            net.add_node(x, y, control)
    for y in coords:
        for x in coords:
            here = net.node_at(x, y)
            if x < GRID_HALF_M:
                cls, env = _grid_class(x, y, x + GRID_STEP_M, y)
                net.add_edge(here, net.node_at(x + GRID_STEP_M, y), cls, env)
            if y < GRID_HALF_M:
                cls, env = _grid_class(x, y, x, y + GRID_STEP_M)
                net.add_edge(here, net.node_at(x, y + GRID_STEP_M), cls, env)

    # Ring road: a 24-gon; the four compass vertices are light-controlled junctions.
    ring: list[int] = []
    for k in range(RING_VERTICES):
        ang = 2.0 * math.pi * k / RING_VERTICES
        control = Control.LIGHT if k % 6 == 0 else Control.NONE
        rx = round(RING_RADIUS_M * math.cos(ang), 1)
        ry = round(RING_RADIUS_M * math.sin(ang), 1)
        ring.append(net.add_node(rx, ry, control, f"ring-{k}"))
    for k in range(RING_VERTICES):
        net.add_edge(
            ring[k], ring[(k + 1) % RING_VERTICES], RoadClass.RING, Environment.OPEN, name="ring"
        )

    # Radial arterials from the grid's edge to the ring (E, N, W, S).
    for gx, gy, k in ((GRID_HALF_M, 0, 0), (0, GRID_HALF_M, 6), (-GRID_HALF_M, 0, 12)):
        net.add_edge(net.node_at(gx, gy), ring[k], RoadClass.ARTERIAL, Environment.SUBURBAN)
    net.add_edge(net.node_at(0, -GRID_HALF_M), ring[18], RoadClass.ARTERIAL, Environment.SUBURBAN)

    # Motorway east with the Kempen tunnel, to Oostdorp.
    m0 = net.add_node(3200, 200, name="A1-east-junction")
    m1 = net.add_node(6000, 600)
    t0 = net.add_node(6400, 650, name="kempen-tunnel-west")
    t1 = net.add_node(7600, 800, name="kempen-tunnel-east")
    m2 = net.add_node(10500, 500)
    m3 = net.add_node(12000, 0, name="A1-oostdorp-exit")
    net.add_edge(ring[0], m0, RoadClass.RAMP, Environment.OPEN, name="A1 ramp")
    net.add_edge(m0, m1, RoadClass.MOTORWAY, Environment.OPEN, name="A1")
    net.add_edge(m1, t0, RoadClass.MOTORWAY, Environment.OPEN, name="A1")
    net.add_edge(
        t0,
        t1,
        RoadClass.MOTORWAY,
        Environment.TUNNEL,
        speed_limit_kmh=TUNNEL_LIMIT_KMH,
        name="Kempen tunnel",
    )
    net.add_edge(t1, m2, RoadClass.MOTORWAY, Environment.OPEN, via=((9000, 900),), name="A1")
    net.add_edge(m2, m3, RoadClass.MOTORWAY, Environment.OPEN, name="A1")

    # Oostdorp: a 3 × 3 village grid, 200 m apart, centred at (13000, 0).
    for vy in (-200, 0, 200):
        for vx in (12800, 13000, 13200):
            net.add_node(vx, vy, Control.YIELD)
    for vy in (-200, 0, 200):
        for vx in (12800, 13000, 13200):
            here = net.node_at(vx, vy)
            if vx < 13200:
                net.add_edge(here, net.node_at(vx + 200, vy), RoadClass.VILLAGE, Environment.OPEN)
            if vy < 200:
                net.add_edge(here, net.node_at(vx, vy + 200), RoadClass.VILLAGE, Environment.OPEN)
    net.add_edge(m3, net.node_at(12800, 0), RoadClass.RAMP, Environment.OPEN, name="exit")

    # Motorway west to Westerlo.
    w0 = net.add_node(-3200, -200, name="A2-west-junction")
    w1 = net.add_node(-7000, -1200)
    w2 = net.add_node(-10000, -1000, name="A2-westerlo-exit")
    westerlo = net.add_node(-10700, -1000, Control.YIELD, "westerlo")
    net.add_edge(ring[12], w0, RoadClass.RAMP, Environment.OPEN, name="A2 ramp")
    net.add_edge(w0, w1, RoadClass.MOTORWAY, Environment.OPEN, name="A2")
    net.add_edge(w1, w2, RoadClass.MOTORWAY, Environment.OPEN, name="A2")
    net.add_edge(w2, westerlo, RoadClass.RAMP, Environment.OPEN, name="exit")

    # Rural road north to Noordveld and on to Oostdorp, with gentle bends.
    noordveld = net.add_node(2000, 7000, Control.YIELD, "noordveld")
    net.add_edge(
        ring[6],
        noordveld,
        RoadClass.RURAL,
        Environment.OPEN,
        via=((300, 4000), (1500, 6000)),
        name="N71",
    )
    net.add_edge(
        noordveld,
        net.node_at(12800, 200),
        RoadClass.RURAL,
        Environment.OPEN,
        via=((4500, 6500), (7000, 5000), (10000, 2500), (12000, 900)),
        name="N72",
    )

    # Business park south of the ring.
    zuidpark = net.add_node(0, -3500, Control.YIELD, "zuidpark")
    net.add_edge(ring[18], zuidpark, RoadClass.ARTERIAL, Environment.OPEN, name="Zuidlaan")

    # Places. Garages hang off a node by a diagonal driveway without GNSS.
    def garage(name: str, kind: str, x: float, y: float, dx: float, dy: float) -> None:
        street = net.node_at(x, y)
        g = net.add_node(x + dx, y + dy, Control.NONE, name)
        net.add_edge(street, g, RoadClass.GARAGE, Environment.GARAGE, name=name)
        net.add_place(name, g, kind, garage=True)

    net.add_place("home-west", net.node_at(-1250, 1000), "home")
    net.add_place("home-south", net.node_at(1000, -1250), "home")
    net.add_place("home-north", net.node_at(-500, 1500), "home")
    garage("home-garage", "home", 1250, 1250, GARAGE_OFFSET_M, -GARAGE_OFFSET_M)
    garage("office-garage", "work", 250, 250, GARAGE_OFFSET_M, GARAGE_OFFSET_M)
    garage("mall-garage", "shop", -1500, -1000, GARAGE_OFFSET_M, GARAGE_OFFSET_M)
    garage("zuidpark-garage", "work", 0, -3500, GARAGE_OFFSET_M, -GARAGE_OFFSET_M)
    net.add_place("market", net.node_at(-250, -250), "shop")
    net.add_place("station", net.node_at(500, 0), "station")
    net.add_place("oostdorp", net.node_at(13000, 0), "village")
    net.add_place("westerlo", westerlo, "village")
    net.add_place("noordveld", noordveld, "village")

    c = CONGESTION_HALF_M
    net.congestion_zone_xy = ((-c, -c), (-c, c), (c, c), (c, -c))
    net.city_zone_xy = tuple(
        (
            CITY_RADIUS_M * math.cos(2.0 * math.pi * (k + 0.5) / RING_VERTICES),
            CITY_RADIUS_M * math.sin(2.0 * math.pi * (k + 0.5) / RING_VERTICES),
        )
        for k in range(RING_VERTICES)
    )
    return net


@lru_cache(maxsize=1)
def default_network() -> RoadNetwork:
    """The shared Veldhaven network (built once; treat it as read-only)."""
    return build_network()


# --- tariff policy ------------------------------------------------------------------------

ZONE_CONGESTION = 2
ZONE_CITY = 1
BAND_MORNING_PEAK = 1
BAND_EVENING_PEAK = 2
BAND_NIGHT = 3
PEAK_BANDS = frozenset({BAND_MORNING_PEAK, BAND_EVENING_PEAK})
VEHICLE_CLASSES = (1, 2, 3)  # car, van, lorry

POLICY_VALID_FROM = timeutil.unix_from_civil(2026, 1, 1, 0, 0, 0)
POLICY_VALID_UNTIL = timeutil.unix_from_civil(2028, 1, 1, 0, 0, 0)

# micro-EUR per km, class 1, off-peak, by zone; multiplied per band (×10) and per class.
_BASE_RATE = {0: 20000, ZONE_CITY: 60000, ZONE_CONGESTION: 150000}
_BAND_MULT_X10 = {0: 10, BAND_MORNING_PEAK: 15, BAND_EVENING_PEAK: 15, BAND_NIGHT: 5}
_CLASS_MULT = {1: 1, 2: 2, 3: 4}


def default_policy(network: RoadNetwork | None = None, version: int = 1) -> tariff.TariffPolicy:
    """Veldhaven's tariff, validated: valid 2026-01-01 to 2028-01-01 (UTC).

    Zones (first match wins): 2 congestion (the 30 km/h core, |x|, |y| ≤ 875 m), 1 city (a
    24-gon of radius 2.7 km enclosing the ring road), else 0. Bands in local time (CET/CEST,
    explicit transitions from protocol.tariff.eu_utc_offsets): 1 Mon–Fri 07:00–09:30,
    2 Mon–Fri 16:00–19:00, 3 every day 22:00–06:00 (two windows), else 0. Rates: see
    ``_BASE_RATE`` × band × class.
    """
    net = network if network is not None else default_network()
    zones = [
        tariff.Zone(ZONE_CONGESTION, "congestion", [[net.polygon_e7(net.congestion_zone_xy)]]),
        tariff.Zone(ZONE_CITY, "city", [[net.polygon_e7(net.city_zone_xy)]]),
    ]
    weekdays = 0b0011111
    every_day = 0b1111111
    bands = [
        tariff.TimeBand(BAND_MORNING_PEAK, weekdays, 7 * 60, 9 * 60 + 30),
        tariff.TimeBand(BAND_EVENING_PEAK, weekdays, 16 * 60, 19 * 60),
        tariff.TimeBand(BAND_NIGHT, every_day, 22 * 60, 24 * 60),
        tariff.TimeBand(BAND_NIGHT, every_day, 0, 6 * 60),
    ]
    rates = [
        tariff.Rate(zone, band, vclass, _BASE_RATE[zone] * mult * _CLASS_MULT[vclass] // 10)
        for vclass in VEHICLE_CLASSES
        for zone in sorted(_BASE_RATE)
        for band, mult in sorted(_BAND_MULT_X10.items())
    ]
    policy = tariff.TariffPolicy(
        version,
        POLICY_VALID_FROM,
        POLICY_VALID_UNTIL,
        tariff.eu_utc_offsets(2026, 2027, 3600),
        zones,
        bands,
        rates,
        "EUR",
    )
    policy.validate()
    return policy


def local_to_utc(policy: tariff.TariffPolicy, t_local: int) -> int:
    """Unix seconds of a local wall-clock time (given as "Unix seconds" of local time).

    Uses the policy's explicit offsets (the offset in force at the result is the one applied
    whenever such an instant exists). Wall times in the hour skipped in spring or repeated in
    autumn get one of the two neighbouring offsets: good enough for departure times.
    """
    first = policy.utc_offsets[0][1]
    guess = t_local - first
    if not policy.covers(guess):
        raise ValueError(f"local time {t_local} is outside the policy's validity")
    off = policy.utc_offset_at(guess)
    t = t_local - off
    if policy.covers(t) and policy.utc_offset_at(t) != off:
        t = t_local - policy.utc_offset_at(t)
    return t
