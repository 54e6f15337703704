"""Fleets: vehicles with the real firmware, the real backend, cameras and cheaters, in time order.

The run is a discrete-event simulation over simulated time. Each vehicle commutes
(simulator.trips.commute_trips, generated a day at a time) and carries an OBU (simulator.obu)
in-process or under MicroPython. Per trip, the vehicle's shard:

1. turns the ground truth into receiver epochs and NMEA bytes (simulator.gnss, nmea_out),
   with the vehicle's cheat applied at the UART if it is an NMEA-level one;
2. feeds the bytes to the firmware and ends the input (ignition off): segments are priced,
   committed and stored on the unit's flash;
3. syncs the unit with the backend over HTTP, as the firmware does when it has a network:
   seal ended periods, upload statements, answer challenges (the unit's own uplink code);
4. finds the camera passes of the true path and what the cameras report.

The coordinator owns the backend (simulator.backend, on a :class:`SimClock`) and the shards
(in this process, or one process each with ``workers`` > 1). Time advances in slices of
``slice_s``: all trips ending in the slice are run (shards in parallel) with the backend clock
at the slice's middle — within the ±300 s a signed OBU request is allowed — then the cameras'
sightings of the slice are posted (auditor): while the shards already run the next slice, the
clock past every one of their instants, or, when an auditor job is due first, before it with
the clock at the slice's end. Every ``job_every_s`` of simulated time with new statements in,
the auditor runs the sightings job and requests random audits (shards idle: the next slice's
syncs see what the job decided). Shard processes spend what they would wait at these
barriers driving their vehicles' next trips ahead — steps 1, 2 and 4, which involve no
backend, one trip per vehicle so that each unit still sees its feeds and syncs in the same
order — and the trip's sync (step 3) waits for its slice: the backend gets the same requests
at the same simulated times, the run's results do not depend on the number of shards.
``Timing.busy_s`` / ``capacity_s`` measure how busy the shards were. After the last period
ends, every unit wakes up (parked, a few fixes) three times an hour apart so that it seals
and uploads its last statement and answers what that brings.

What the backend decides is read back through its API at the end: statements, challenges and
their outcomes, sightings; the simulator's own books (ground truth, cheat windows, what each
unit sent) go next to it in a :class:`RunResult` (JSON), from which simulator.report computes
the figures.
"""

from __future__ import annotations

import dataclasses
import json
import math
import multiprocessing
import random
import shutil
import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from protocol import cose, envelopes, messages, timeutil
from simulator import cameras as cams
from simulator import cheats, gnss, nmea_out
from simulator.backend import BackendClient, BackendServer, SimClock, post_statement
from simulator.cheats import CheatApp, CheatSpec
from simulator.network import Environment, RoadNetwork, default_network, default_policy
from simulator.obu import (
    Mode,
    ObuHandle,
    ObuIdentity,
    Record,
    Request,
    open_obu,
    prepare_root,
    sealed_statements,
    statement_of,
)
from simulator.trips import Commuter, Trip, commute_trips, straight_trip, trip_truth

_SKY = (Environment.OPEN, Environment.SUBURBAN, Environment.URBAN)  # places with a GNSS fix
MOVING_MMPS = 500  # the odometer's stationary threshold: slower counts as standing
# Not "oostdorp": commute_trips drives there for late trips at weekends.
HOMES = ("home-west", "home-south", "home-north", "home-garage", "westerlo", "noordveld")
WORKPLACES = ("office-garage", "zuidpark-garage", "station", "market", "mall-garage")
ERRANDS = ("market", "mall-garage", "station", "noordveld", "oostdorp", "westerlo", "home-north")
DEFAULT_STRATEGIES = tuple(s for s in cheats.STRATEGIES if s != cheats.HONEST)


class FleetError(RuntimeError):
    """The fleet run could not proceed (a shard failed, a bad configuration)."""


# --- configuration -----------------------------------------------------------------------------


@dataclass(frozen=True)
class FleetConfig:
    """A fleet run. ``start`` is a UTC date; the run covers ``days`` days from its midnight.

    ``period``: the OBUs' statement period ("month" or seconds). ``cheater_share`` of the
    vehicles cheat, cycling through ``strategies`` × camera density levels × ``cheat_shares``;
    honest ones are at density ``honest_density`` (default: the full camera network) and
    ``bad_gnss_share`` of them have a poor receiver. ``cheater_density`` fixes the cheaters'
    level instead of cycling through all of them. The first ``micropython`` honest vehicles
    run their firmware under MicroPython.
    ``audit_share`` of accepted statements get a random-index audit of ``audit_segments``
    segments (None: 2^level, so audits have density levels like cameras).
    A unit syncs at the end of a trip when ``sync_every_s`` have passed since its last sync
    (0: after every trip) or a period has ended since; and at the wind-down's wake-ups.

    Time advances in slices of ``slice_s`` with the backend clock at each slice's middle, so
    a unit's signed requests (timestamped with its GNSS time, the end of its trip) are up to
    slice_s/2 (+ a garage exit) off the backend's clock: ``request_window_s`` is the backend's
    accepted skew (its REQUEST_WINDOW_S; 300 s in production). Long runs widen both so that
    each slice carries enough trips to keep the shard processes busy.
    """

    seed: int = 1
    start: tuple[int, int, int] = (2026, 3, 1)
    days: int = 31
    period: str | int = "month"
    vehicles: int = 8
    micropython: int = 0
    bad_gnss_share: float = 0.25
    cheater_share: float = 0.4
    strategies: tuple[str, ...] = DEFAULT_STRATEGIES
    cheat_shares: tuple[float, ...] = (0.2, 0.5)
    cameras: cams.CameraConfig = field(default_factory=cams.CameraConfig)
    honest_density: int = cams.DENSITY_LEVELS - 1
    cheater_density: int | None = None
    audit_share: float = 0.5
    audit_segments: int | None = None
    job_every_s: int = 6 * 3600
    sync_every_s: int = 0
    slice_s: int = 280
    request_window_s: int = 300
    workers: int = 1
    database_url: str | None = None
    challenge_deadline_s: int = 14 * 86400
    heap: str | None = None
    # Replay only these vehicle indices of the fleet (to reproduce one vehicle's case: each
    # vehicle's trips, GNSS and sightings depend only on the seed and its index).
    only: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        for s in self.strategies:
            CheatSpec(s, 0.0)  # raises CheatError for an unknown name
        if self.days < 1 or self.vehicles < 1 or self.workers < 1:
            raise FleetError("days, vehicles and workers must be at least 1")
        if not 0 < self.slice_s <= 2 * (self.request_window_s - 120):
            raise FleetError(
                "slice_s must be positive and at most 2 × (request_window_s − 120): the OBUs' "
                "requests carry their GNSS time and the backend clock sits mid-slice"
            )

    @property
    def start_t(self) -> int:
        return timeutil.unix_from_civil(*self.start, 0, 0, 0)

    @property
    def end_t(self) -> int:
        return self.start_t + self.days * 86400

    def period_of(self, t: int) -> int:
        if self.period == "month":
            return timeutil.month_start(t)
        return t - t % int(self.period)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> FleetConfig:
        d = dict(d)
        d["start"] = tuple(d["start"])
        d["strategies"] = tuple(d["strategies"])
        d["cheat_shares"] = tuple(d["cheat_shares"])
        d["only"] = tuple(d.get("only", ()))
        d["cameras"] = cams.CameraConfig(**d["cameras"])
        return cls(**d)


@dataclass(frozen=True)
class VehicleSpec:
    index: int
    plate: str
    obu_id: str
    seed: str
    vehicle_class: int
    commuter: Commuter
    mode: Mode = "inprocess"
    gnss: str = "good"  # "good" or "bad"
    cheat: CheatSpec = field(default_factory=CheatSpec)
    density: int = cams.DENSITY_LEVELS - 1

    @property
    def identity(self) -> ObuIdentity:
        return ObuIdentity(self.obu_id, self.plate, self.vehicle_class, self.seed)

    @property
    def group(self) -> str:
        if self.cheat.honest:
            return "honest" if self.gnss == "good" else "honest, bad GNSS"
        return self.cheat.strategy

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> VehicleSpec:
        d = dict(d)
        c = dict(d["commuter"])
        c["errands"] = tuple(c["errands"])
        d["commuter"] = Commuter(**c)
        d["cheat"] = CheatSpec(**d["cheat"])
        return cls(**d)


def make_vehicles(cfg: FleetConfig) -> list[VehicleSpec]:
    """The fleet, deterministic in ``cfg.seed`` (see FleetConfig for the mix)."""
    rng = random.Random(f"quietmile/fleet/{cfg.seed}")
    n = cfg.vehicles
    n_cheat = min(n, round(n * cfg.cheater_share)) if cfg.strategies else 0
    order = list(range(n))
    rng.shuffle(order)
    cheater_slot = {idx: j for j, idx in enumerate(sorted(order[:n_cheat]))}
    honest = [i for i in range(n) if i not in cheater_slot]
    n_bad = round(len(honest) * cfg.bad_gnss_share)
    # Bad receivers on the last honest vehicles: the first ones may run under MicroPython.
    bad = set(honest[len(honest) - n_bad :]) if n_bad else set()
    mp = set(honest[: cfg.micropython])
    n_strat = max(1, len(cfg.strategies))
    out = []
    for i in range(n):
        vrng = random.Random(f"quietmile/fleet/{cfg.seed}/vehicle/{i}")
        home = vrng.choice(HOMES)
        work = vrng.choice([w for w in WORKPLACES if w != home])
        errands = tuple(vrng.sample([e for e in ERRANDS if e != home], 3))
        commuter = Commuter(
            home=home,
            work=work,
            morning_min=vrng.randrange(7 * 60, 8 * 60 + 45),
            evening_min=vrng.randrange(16 * 60 + 15, 18 * 60 + 30),
            spread_min=vrng.randrange(10, 30),
            errands=errands,
            vehicle_class=vrng.choices((1, 2, 3), (0.8, 0.15, 0.05))[0],
        )
        cheat = CheatSpec()
        density = cfg.honest_density
        if i in cheater_slot:
            j = cheater_slot[i]
            strategy = cfg.strategies[j % n_strat]
            levels = cams.DENSITY_LEVELS if cfg.cheater_density is None else 1
            density = (
                (j // n_strat) % levels if cfg.cheater_density is None else cfg.cheater_density
            )
            share = cfg.cheat_shares[(j // (n_strat * levels)) % len(cfg.cheat_shares)]
            cheat = CheatSpec(strategy, share)
        out.append(
            VehicleSpec(
                index=i,
                plate=f"QM {cfg.seed % 10000:04d}-{i:05d}",
                obu_id=f"OBU-{cfg.seed % 10000:04d}-{i:05d}",
                seed=f"{cfg.seed}/{i}",
                vehicle_class=commuter.vehicle_class,
                commuter=commuter,
                mode="micropython" if i in mp else "inprocess",
                gnss="bad" if i in bad else "good",
                cheat=cheat,
                density=density,
            )
        )
    return out


# --- results -------------------------------------------------------------------------------------


@dataclass
class TripRow:
    vehicle: int
    trip_id: str
    origin: str
    destination: str
    start: int
    end: int
    duration_s: float
    true_dist_m: float
    visible_dist_m: float
    charged_dist_m: int
    true_fee: int
    visible_fee: int
    charged_fee: int
    segments: int
    gap_events: int
    negative_micro: int
    actions: dict[str, int]
    # moving seconds (speed >= 0.5 m/s outside garages) and those not covered by an honest,
    # committed segment ("exposed": what a sighting at that instant would catch), per period
    moving_by_period: dict[str, int]
    exposed_by_period: dict[str, int]
    cheat_window: tuple[int, int] | None = None
    # camera passes of the true path (before the plate is read), and those at exposed instants:
    # the share a camera network actually samples, which need not be the share of time
    passes_by_period: dict[str, int] = field(default_factory=dict)
    passes_exposed_by_period: dict[str, int] = field(default_factory=dict)


@dataclass
class SightingRow:
    vehicle: int
    trip_id: str
    camera_id: str
    kind: str
    seen_at: int
    true_t: float
    lat_e7: int
    lon_e7: int
    accuracy_mm: int
    speed_mmps: int
    period: int
    covered: bool  # the true instant lies in an honest committed segment
    sighting_id: int | None = None
    status: str | None = None
    challenge_id: str | None = None


@dataclass
class SyncRow:
    vehicle: int
    t: int
    sealed: int
    uploaded: int
    answered: int
    errors: list[str]
    accepted: list[str]  # statement hashes (hex) newly receipted by this sync


@dataclass
class CheatPost:
    vehicle: int
    kind: str
    seq: int
    period_start: int
    status: int
    code: str
    statement_hash: str


@dataclass
class OpeningRow:
    vehicle: int
    challenge_id: str
    bytes: int
    segment_index: int | None
    trace_points: int


@dataclass
class StatementRow:
    vehicle: int
    seq: int
    period_start: int
    period_end: int
    total_micro: int
    segments: int
    bytes: int
    statement_hash: str
    receipt: bool


@dataclass
class VehicleTotals:
    vehicle: int
    uplink: dict[str, list[int]]  # request kind -> [count, bytes sent, bytes received]
    ledger_bytes: int
    boots: int


@dataclass
class Timing:
    """Wall seconds by firmware mode: trip generation + GNSS + NMEA + the books ("gen"), the
    firmware feed ("firmware") and the syncs, with the simulated driving hours they covered.

    ``busy_s``: the shards' wall seconds inside their work (driving and wake-ups);
    ``capacity_s``: shard processes × the wall seconds of the run's event loop. Their ratio
    is how busy the shards were; the rest they waited at slice barriers (for the slowest
    shard, or for the coordinator's jobs)."""

    gen_s: dict[str, float] = field(default_factory=dict)
    firmware_s: dict[str, float] = field(default_factory=dict)
    sync_s: dict[str, float] = field(default_factory=dict)
    hours: dict[str, float] = field(default_factory=dict)
    busy_s: float = 0.0
    capacity_s: float = 0.0
    ahead: int = 0  # trips driven ahead of their slice (shard processes, while waiting)

    def add(self, mode: str, gen: float, fw: float, sync: float, hours: float) -> None:
        for d, v in ((self.gen_s, gen), (self.firmware_s, fw), (self.sync_s, sync)):
            d[mode] = d.get(mode, 0.0) + v
        self.hours[mode] = self.hours.get(mode, 0.0) + hours

    def merge(self, other: Timing) -> None:
        for mode in other.hours:
            self.add(
                mode,
                other.gen_s.get(mode, 0.0),
                other.firmware_s.get(mode, 0.0),
                other.sync_s.get(mode, 0.0),
                other.hours[mode],
            )
        self.busy_s += other.busy_s
        self.capacity_s += other.capacity_s
        self.ahead += other.ahead


@dataclass
class StepResult:
    trips: list[TripRow] = field(default_factory=list)
    sightings: list[SightingRow] = field(default_factory=list)
    syncs: list[SyncRow] = field(default_factory=list)
    cheat_posts: list[CheatPost] = field(default_factory=list)
    openings: list[OpeningRow] = field(default_factory=list)
    timing: Timing = field(default_factory=Timing)
    next_time: int | None = None
    tracks: dict[int, list[list[tuple[float, float]]]] = field(default_factory=dict)

    def extend(self, other: StepResult) -> None:
        self.trips += other.trips
        self.sightings += other.sightings
        self.syncs += other.syncs
        self.cheat_posts += other.cheat_posts
        self.openings += other.openings
        self.timing.merge(other.timing)
        for k, v in other.tracks.items():
            self.tracks.setdefault(k, []).extend(v)


@dataclass
class RunResult:
    """Everything a report needs (saved as JSON by ``simulate fleet``)."""

    config: dict[str, Any]
    vehicles: list[dict[str, Any]]
    backend_ids: dict[str, int]  # vehicle index (str) -> backend vehicle id
    trips: list[TripRow]
    sightings: list[SightingRow]
    syncs: list[SyncRow]
    cheat_posts: list[CheatPost]
    openings: list[OpeningRow]
    statements: list[StatementRow]
    backend_statements: list[dict[str, Any]]
    challenges: list[dict[str, Any]]
    totals: list[VehicleTotals]
    cameras: list[dict[str, Any]]
    tracks: dict[str, list[list[tuple[float, float]]]]
    timing: Timing
    backend: dict[str, Any]
    wall_s: float
    # A union of several runs (simulator.campaign): per run its seed, first vehicle index,
    # size, counts, wall time and backend figures. Empty for a single run.
    chunks: list[dict[str, Any]] = field(default_factory=list)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self)))

    @classmethod
    def load(cls, path: Path) -> RunResult:
        d = json.loads(path.read_text())

        def rows(kind: type, items: list[dict[str, Any]]) -> list[Any]:
            return [kind(**x) for x in items]

        return cls(
            config=d["config"],
            vehicles=d["vehicles"],
            backend_ids=d["backend_ids"],
            trips=rows(TripRow, d["trips"]),
            sightings=rows(SightingRow, d["sightings"]),
            syncs=rows(SyncRow, d["syncs"]),
            cheat_posts=rows(CheatPost, d["cheat_posts"]),
            openings=rows(OpeningRow, d["openings"]),
            statements=rows(StatementRow, d["statements"]),
            backend_statements=d["backend_statements"],
            challenges=d["challenges"],
            totals=rows(VehicleTotals, d["totals"]),
            cameras=d["cameras"],
            tracks=d["tracks"],
            timing=Timing(**d["timing"]),
            backend=d["backend"],
            wall_s=d["wall_s"],
            chunks=d.get("chunks", []),  # results saved before chunked runs have none
        )

    @property
    def config_obj(self) -> FleetConfig:
        return FleetConfig.from_json(self.config)

    @property
    def specs(self) -> list[VehicleSpec]:
        return [VehicleSpec.from_json(v) for v in self.vehicles]


# --- one vehicle ---------------------------------------------------------------------------------


@dataclass
class World:
    """What every shard shares: the network, the tariff and the cameras (rebuilt per process
    from the seed, so nothing large is pickled)."""

    cfg: FleetConfig
    net: RoadNetwork
    policy: Any
    cameras: list[cams.Camera]
    index: cams.CameraIndex

    @classmethod
    def build(cls, cfg: FleetConfig) -> World:
        net = default_network()
        policy = default_policy(net)
        cameras = cams.place_cameras(net, policy, cfg.seed, cfg.start_t, cfg.end_t, cfg.cameras)
        return cls(cfg, net, policy, cameras, cams.CameraIndex(cameras, net.frame))


def _request_kind(path: str) -> str:
    path = path.split("?", 1)[0]  # paged challenge polls carry ?limit=&cursor=
    for suffix, kind in (
        ("/statements", "statement"),
        ("/obu/challenges", "challenge_poll"),
        ("/obu/openings", "opening"),
    ):
        if path.endswith(suffix):
            return kind
    return "other"


def _intervals(records: list[Record]) -> list[tuple[int, int]]:
    """Merged [t_start, t_end] of honest committed segments (not gap events)."""
    spans = sorted((r.t_start, r.t_end) for r in records if r.action is None and not r.gap_event)
    out: list[tuple[int, int]] = []
    for a, b in spans:
        if out and a <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _covered(spans: list[tuple[int, int]], t: int) -> bool:
    return any(a <= t <= b for a, b in spans)


@dataclass
class _Driven:
    """A trip through the unit, not yet synced: its books and the wall seconds it took."""

    end_t: int
    duration_s: float
    out: StepResult  # its TripRow and SightingRows
    gen_s: float
    firmware_s: float


class VehicleSim:
    """One vehicle and its OBU inside a shard (module docstring, steps 1–4)."""

    def __init__(
        self,
        spec: VehicleSpec,
        world: World,
        root: Path,
        config_path: Path,
        backend_url: str,
        track_trips: int = 0,
    ) -> None:
        self.spec = spec
        self.world = world
        self.cfg = world.cfg
        self.backend_url = backend_url
        self.cheat_rng = random.Random(f"quietmile/cheat/{spec.seed}")
        kwargs: dict[str, Any] | None = None
        app_class: type | None = None
        if spec.cheat.needs_cheat_app:
            app_class = CheatApp
            kwargs = {"cheat": spec.cheat, "cheat_rng": self.cheat_rng}
        self.obu: ObuHandle = open_obu(
            spec.mode,
            spec.identity,
            root,
            config_path,
            network=True,
            app_class=app_class,
            app_kwargs=kwargs,
            heap=self.cfg.heap,
        )
        self.gnss_cfg = gnss.GnssConfig.bad() if spec.gnss == "bad" else gnss.GnssConfig.good()
        self.queue: deque[Trip] = deque()
        self.day = self.cfg.start_t // 86400
        self.end_day = self.cfg.end_t // 86400
        self.last_end = self.cfg.start_t
        home = world.net.nodes[world.net.places[spec.commuter.home].node_id]
        self.park = (home.lat_e7, home.lon_e7)
        self.replayed = False
        self.last_sync: int | None = None
        self.receipted: set[int] = set()
        self.uplink: dict[str, list[int]] = {}
        self.track_trips = track_trips
        self.tracks: list[list[tuple[float, float]]] = []
        self.gen_pending_s = 0.0  # generating trips not yet driven (counted with the next one)
        self.driven: _Driven | None = None  # the next trip, driven ahead of its slice

    # --- trips ---------------------------------------------------------------------------------
    def _fill(self) -> None:
        while not self.queue and self.day < self.end_day:
            t0 = time.perf_counter()
            y, m, d = timeutil.civil_from_days(self.day)
            day_trips = commute_trips(
                f"{self.spec.seed}/{self.day}",
                commuter=self.spec.commuter,
                start_date=(y, m, d),
                days=1,
                network=self.world.net,
                policy=self.world.policy,
            )
            self.day += 1
            for t in day_trips:
                if t.start_t < self.last_end + 60:
                    t = t.retimed(self.last_end + 60)  # the car is still out: leave after
                if t.end_t >= self.cfg.end_t:
                    self.day = self.end_day  # the run is over
                    break
                self.queue.append(t)
                self.last_end = t.end_t
            self.gen_pending_s += time.perf_counter() - t0

    def next_end(self) -> int | None:
        if self.driven is not None:
            return self.driven.end_t
        self._fill()
        return self.queue[0].end_t if self.queue else None

    def _plan(
        self, trip: Trip, eps: list[gnss.GnssEpoch]
    ) -> tuple[list[tuple[bytes, bool, bool]], tuple[int, int] | None]:
        """UART chunks ``(bytes, end_of_input, reboot_after)`` and the cheat window, if any."""
        strategy = self.spec.cheat.strategy
        window = None
        if strategy in cheats.NMEA_STRATEGIES and self.cheat_rng.random() < self.spec.cheat.share:
            lo, hi = trip.start_t + 20, trip.end_t - 30
            if hi > lo:
                a = self.cheat_rng.randrange(lo, hi)
                window = (a, min(trip.end_t + 1, a + self.cheat_rng.randrange(360, 900)))
        if window is None:
            return [(nmea_out.to_bytes(eps), True, False)], None
        a, b = window
        before = [e for e in eps if e.t < a]
        during = [e for e in eps if a <= e.t < b]
        after = [e for e in eps if e.t >= b]
        if strategy == cheats.JAMMER:
            jammed = [dataclasses.replace(e, fix=False) for e in during]
            return [(nmea_out.to_bytes(before + jammed + after), True, False)], window
        # switch_off: power cut at a (nothing flushed), power back at b
        chunks = [(nmea_out.to_bytes(before), False, True)]
        if after:
            chunks.append((nmea_out.to_bytes(after), True, False))
        return chunks, window

    def run_trip(self, out: StepResult) -> None:
        """The next trip (driven now, or ahead by :meth:`drive_ahead`), then a sync if due."""
        driven = self.driven if self.driven is not None else self._drive(self.queue.popleft())
        self.driven = None
        out.trips += driven.out.trips
        out.sightings += driven.out.sightings
        t3 = time.perf_counter()
        synced = self.last_sync
        if (
            synced is None
            or driven.end_t - synced >= self.cfg.sync_every_s
            or self.cfg.period_of(driven.end_t) != self.cfg.period_of(synced)
        ):
            self.sync(driven.end_t, out)
        t4 = time.perf_counter()
        out.timing.add(
            self.spec.mode, driven.gen_s, driven.firmware_s, t4 - t3, driven.duration_s / 3600
        )

    def drive_ahead(self) -> bool:
        """Drive the next trip now, before its slice: everything but the sync, which has no
        part in it (steps 1, 2 and 4 of the module docstring touch no backend) and waits for
        the trip's slice in :meth:`run_trip`. At most one trip ahead, so the unit sees its
        feeds and syncs in the same order either way. False if there is none to drive."""
        if self.driven is not None:
            return False
        self._fill()
        if not self.queue:
            return False
        self.driven = self._drive(self.queue.popleft())
        return True

    def _drive(self, trip: Trip) -> _Driven:
        spec = self.spec
        out = StepResult()
        t0 = time.perf_counter()
        eps = list(gnss.epochs(trip, self.gnss_cfg, f"{spec.seed}/{trip.trip_id}"))
        chunks, window = self._plan(trip, eps)
        t1 = time.perf_counter()
        records: list[Record] = []
        gnss_time = None
        for data, end, reboot in chunks:
            res = self.obu.feed(data, end)
            records += res.records
            gnss_time = res.gnss_time if res.gnss_time is not None else gnss_time
            if reboot:
                self.obu.reboot()
        negative = 0
        if (
            spec.cheat.strategy == cheats.NEGATIVE_SEGMENT
            and self.cheat_rng.random() < spec.cheat.share
            and gnss_time is not None
        ):
            fee = sum(r.price for r in records if r.action is None and not r.gap_event)
            last = next(
                (s for s in reversed(trip.samples) if s.t <= gnss_time and s.env in _SKY),
                trip.samples[-1],
            )
            app = getattr(self.obu, "app", None)
            if app is not None and fee > 0:
                negative = app.add_negative(gnss_time, last.lat_e7, last.lon_e7, fee)
        t2 = time.perf_counter()
        row = self._trip_row(trip, records, negative, window)
        out.trips.append(row)
        self._sightings(trip, records, row, out)
        for s in reversed(trip.samples):
            if s.env in _SKY:
                self.park = (s.lat_e7, s.lon_e7)
                break
        if len(self.tracks) < self.track_trips:
            self.tracks.append([(s.lat_e7 / 1e7, s.lon_e7 / 1e7) for s in trip.samples[::5]])
        t3 = time.perf_counter()
        gen = (t1 - t0) + (t3 - t2) + self.gen_pending_s
        self.gen_pending_s = 0.0
        return _Driven(trip.end_t, trip.duration_s, out, gen, t2 - t1)

    def _trip_row(
        self,
        trip: Trip,
        records: list[Record],
        negative: int,
        window: tuple[int, int] | None,
    ) -> TripRow:
        truth = trip_truth(trip, self.world.policy, self.spec.vehicle_class)
        by_env = truth.dist_um_by_env
        true_um = sum(by_env.values())
        visible_um = true_um - by_env.get(Environment.GARAGE, 0)
        visible_fee = truth.visible_fee.total_micro if truth.visible_fee is not None else 0
        committed = [r for r in records if r.action != cheats.DROP_SEGMENTS and not r.gap_event]
        spans = _intervals(records)
        moving: dict[str, int] = {}
        exposed: dict[str, int] = {}
        for s in trip.samples:
            if s.speed_mmps < MOVING_MMPS or s.env == Environment.GARAGE:
                continue
            p = str(self.cfg.period_of(s.t))
            moving[p] = moving.get(p, 0) + 1
            if not _covered(spans, s.t):
                exposed[p] = exposed.get(p, 0) + 1
        actions: dict[str, int] = {}
        for r in records:
            if r.action is not None:
                actions[r.action] = actions.get(r.action, 0) + 1
        if negative:
            actions[cheats.NEGATIVE_SEGMENT] = 1
        return TripRow(
            vehicle=self.spec.index,
            trip_id=trip.trip_id,
            origin=trip.origin,
            destination=trip.destination,
            start=trip.start_t,
            end=trip.end_t,
            duration_s=trip.duration_s,
            true_dist_m=true_um / 1e6,
            visible_dist_m=visible_um / 1e6,
            charged_dist_m=sum(r.dist_m for r in committed),
            true_fee=truth.fee.total_micro,
            visible_fee=visible_fee,
            charged_fee=sum(r.price for r in committed) - negative,
            segments=len(committed),
            gap_events=sum(1 for r in records if r.gap_event),
            negative_micro=negative,
            actions=actions,
            moving_by_period=moving,
            exposed_by_period=exposed,
            cheat_window=window,
        )

    def _sightings(self, trip: Trip, records: list[Record], row: TripRow, out: StepResult) -> None:
        spans = _intervals(records)
        net = self.world.net
        for cam in self.world.index.candidates(net, trip, self.spec.density):
            for p in cams.passes(trip, cam):
                period = str(self.cfg.period_of(int(p.t)))
                row.passes_by_period[period] = row.passes_by_period.get(period, 0) + 1
                if not _covered(spans, round(p.t)):
                    exp = row.passes_exposed_by_period
                    exp[period] = exp.get(period, 0) + 1
                rng = random.Random(
                    f"quietmile/sighting/{self.cfg.seed}/{cam.camera_id}/"
                    f"{self.spec.plate}/{p.t:.3f}"
                )
                s = cams.observe(p, net.frame, rng)
                if s is None:
                    continue
                out.sightings.append(
                    SightingRow(
                        vehicle=self.spec.index,
                        trip_id=trip.trip_id,
                        camera_id=s.camera_id,
                        kind=s.kind,
                        seen_at=s.seen_at,
                        true_t=s.true_t,
                        lat_e7=s.lat_e7,
                        lon_e7=s.lon_e7,
                        accuracy_mm=s.accuracy_mm,
                        speed_mmps=s.speed_mmps,
                        period=self.cfg.period_of(s.seen_at),
                        covered=_covered(spans, round(s.true_t)),
                    )
                )

    # --- syncs ---------------------------------------------------------------------------------
    def sync(self, t: int, out: StepResult) -> None:
        self.last_sync = t
        strategy = self.spec.cheat.strategy
        if strategy in cheats.STATEMENT_STRATEGIES:
            self._statement_cheat(out)
        res = self.obu.sync()
        for r in res.requests:
            self._count_request(r, out)
        accepted = []
        receipts = self.obu.root / "receipts"
        if receipts.exists():
            for p in sorted(receipts.glob("*.cose"), key=lambda q: int(q.stem)):
                seq = int(p.stem)
                if seq not in self.receipted:
                    self.receipted.add(seq)
                    env = (self.obu.root / "outbox" / f"{seq}.cose").read_bytes()
                    accepted.append(envelopes.statement_hash(env).hex())
        out.syncs.append(
            SyncRow(
                self.spec.index, t, res.sealed, res.uploaded, res.answered, res.errors, accepted
            )
        )

    def _statement_cheat(self, out: StepResult) -> None:
        app = getattr(self.obu, "app", None)
        if app is None:
            return
        for seq, _h in app.seal_due():
            outbox = self.obu.root / "outbox"
            honest = (outbox / f"{seq}.cose").read_bytes()
            st = statement_of(honest)
            signer = self.spec.identity.signer()
            if self.spec.cheat.strategy == cheats.ALTER_STATEMENT:
                forged = cheats.forge_altered(honest, signer)
                kind = cheats.ALTER_STATEMENT
            elif not self.replayed and seq >= 1:
                forged = cheats.forge_replay(
                    (outbox / f"{seq - 1}.cose").read_bytes(), honest, signer
                )
                kind = cheats.REPLAY_STATEMENT
                self.replayed = True
            else:
                continue
            status, code = post_statement(self.backend_url, forged)
            out.cheat_posts.append(
                CheatPost(
                    self.spec.index,
                    kind,
                    seq,
                    st.period_start,
                    status,
                    code,
                    envelopes.statement_hash(forged).hex(),
                )
            )

    def _count_request(self, r: Request, out: StepResult) -> None:
        kind = _request_kind(r.path)
        c = self.uplink.setdefault(kind, [0, 0, 0])
        c[0] += 1
        c[1] += r.sent
        c[2] += r.received
        if kind == "opening" and r.body is not None:
            op = messages.Opening.decode(cose.decode_sign1(r.body).payload)
            out.openings.append(
                OpeningRow(
                    self.spec.index,
                    op.challenge_id.hex(),
                    len(r.body),
                    op.segment_index,
                    0 if op.is_empty else len(op.record.trace),
                )
            )

    def wake(self, t: int, out: StepResult) -> None:
        """Parked, engine on for a few seconds at ``t``: a fix, then a sync."""
        if self.driven is not None:
            raise FleetError(f"vehicle {self.spec.index}: a wake-up before its last trip's sync")
        lat, lon = self.park
        trip = straight_trip(lat, lon, t, 8, speed_mmps=0, trip_id=f"wake-{t}")
        data = nmea_out.to_bytes(gnss.epochs(trip, gnss.GnssConfig.good(), f"{self.spec.seed}/{t}"))
        self.obu.feed(data)
        self.sync(t, out)

    def finish(self) -> tuple[list[StatementRow], VehicleTotals]:
        rows = []
        root = self.obu.root
        for env in sealed_statements(root):
            st = statement_of(env)
            rows.append(
                StatementRow(
                    self.spec.index,
                    st.seq,
                    st.period_start,
                    st.period_end,
                    st.total_price_micro,
                    st.segment_count,
                    len(env),
                    envelopes.statement_hash(env).hex(),
                    (root / "receipts" / f"{st.seq}.cose").exists(),
                )
            )
        ledger = (
            sum(p.stat().st_size for p in (root / "ledger").glob("*") if p.is_file())
            if (root / "ledger").exists()
            else 0
        )
        boots = int(getattr(getattr(self.obu, "sim", None), "boots", 1))
        self.obu.close()
        return rows, VehicleTotals(self.spec.index, self.uplink, ledger, boots)


# --- shards --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShardInit:
    cfg: dict[str, Any]
    specs: list[dict[str, Any]]
    roots: dict[int, tuple[str, str]]  # vehicle index -> (root, config path)
    backend_url: str
    track_trips: int


class Shard:
    """A group of vehicles advanced together (in this process or a worker process)."""

    def __init__(self, init: ShardInit) -> None:
        cfg = FleetConfig.from_json(init.cfg)
        self.world = World.build(cfg)
        self.ahead_s = 0.0  # wall seconds (and trips) driven ahead since the last advance
        self.ahead_n = 0
        self.vehicles = []
        for d in init.specs:
            spec = VehicleSpec.from_json(d)
            root, cfg_path = init.roots[spec.index]
            self.vehicles.append(
                VehicleSim(
                    spec, self.world, Path(root), Path(cfg_path), init.backend_url, init.track_trips
                )
            )

    def next_time(self) -> int | None:
        times = [t for v in self.vehicles if (t := v.next_end()) is not None]
        return min(times) if times else None

    def advance(self, until: int) -> StepResult:
        t0 = time.perf_counter()
        out = StepResult()
        for v in self.vehicles:
            while (t := v.next_end()) is not None and t < until:
                v.run_trip(out)
        out.next_time = self.next_time()
        out.timing.busy_s += time.perf_counter() - t0 + self.ahead_s
        out.timing.ahead += self.ahead_n
        self.ahead_s = 0.0
        self.ahead_n = 0
        return out

    def drive_ahead(self) -> bool:
        """Drive the trip due soonest among the vehicles with none driven ahead (see
        VehicleSim.drive_ahead); False when every vehicle has one or has no trips left."""
        t0 = time.perf_counter()
        best: tuple[int, VehicleSim] | None = None
        for v in self.vehicles:
            if v.driven is None and (t := v.next_end()) is not None:
                if best is None or t < best[0]:
                    best = (t, v)
        done = best is not None and best[1].drive_ahead()
        self.ahead_s += time.perf_counter() - t0
        self.ahead_n += done
        return done

    def wake(self, t: int) -> StepResult:
        t0 = time.perf_counter()
        out = StepResult()
        for v in self.vehicles:
            v.wake(t, out)
        out.timing.busy_s += time.perf_counter() - t0
        return out

    def finish(self) -> tuple[list[StatementRow], list[VehicleTotals], dict[int, Any]]:
        rows: list[StatementRow] = []
        totals = []
        tracks = {}
        for v in self.vehicles:
            r, tot = v.finish()
            rows += r
            totals.append(tot)
            if v.tracks:
                tracks[v.spec.index] = v.tracks
        return rows, totals, tracks


@dataclass
class _Failure:
    text: str


def _shard_main(conn: Any, init: ShardInit) -> None:
    try:
        shard = Shard(init)
        conn.send(shard.next_time())
    except Exception:  # noqa: BLE001 - sent to the coordinator, which raises FleetError
        conn.send(_Failure(traceback.format_exc()))
        return
    failed: str | None = None
    while True:
        # While the coordinator posts sightings, runs the auditor's jobs or waits for the
        # other shards, drive the units' next trips (they need no backend; their syncs wait).
        try:
            while failed is None and not conn.poll() and shard.drive_ahead():
                pass
        except Exception:  # noqa: BLE001 - reported as the answer to the next command
            failed = traceback.format_exc()
        try:
            cmd, args = conn.recv()
        except EOFError:
            return
        if failed is not None:
            conn.send(_Failure(failed))
            return
        try:
            conn.send(getattr(shard, cmd)(*args))
        except Exception:  # noqa: BLE001 - as above
            conn.send(_Failure(traceback.format_exc()))
        if cmd == "finish":
            return


class _ShardHandle:
    """A shard in this process (``workers=1``) or in a spawned one; send() then recv()."""

    def __init__(self, init: ShardInit, process: bool) -> None:
        self._pending: Any = None
        self.proc: Any = None
        if process:
            ctx = multiprocessing.get_context("spawn")
            self.conn, child = ctx.Pipe()
            self.proc = ctx.Process(target=_shard_main, args=(child, init), daemon=True)
            self.proc.start()
            child.close()
            self.first_time = self._recv()
        else:
            self.shard = Shard(init)
            self.first_time = self.shard.next_time()

    def _recv(self) -> Any:
        try:
            out = self.conn.recv()
        except EOFError:
            raise FleetError("a shard process died") from None
        if isinstance(out, _Failure):
            raise FleetError("shard failed:\n" + out.text)
        return out

    def send(self, cmd: str, *args: Any) -> None:
        if self.proc is not None:
            self.conn.send((cmd, args))
        else:
            self._pending = getattr(self.shard, cmd)(*args)

    def recv(self) -> Any:
        if self.proc is not None:
            return self._recv()
        out, self._pending = self._pending, None
        return out

    def close(self) -> None:
        if self.proc is not None:
            self.proc.join(timeout=30)
            if self.proc.is_alive():
                self.proc.terminate()


def _call_all(shards: list[_ShardHandle], cmd: str, *args: Any) -> list[Any]:
    for s in shards:
        s.send(cmd, *args)
    return [s.recv() for s in shards]


# --- the coordinator -----------------------------------------------------------------------------


ProgressFn = Callable[[float, str], None]


class Fleet:
    """Runs a FleetConfig end to end (module docstring). ``workdir`` receives the backend's
    database and keys and every unit's flash."""

    def __init__(self, cfg: FleetConfig, workdir: Path, track_trips: int = 3) -> None:
        self.cfg = cfg
        self.workdir = workdir
        self.specs = make_vehicles(cfg)
        self.active = [s for s in self.specs if not cfg.only or s.index in cfg.only]
        if not self.active:
            raise FleetError(f"--only {cfg.only}: no such vehicle in a fleet of {cfg.vehicles}")
        self.track_trips = track_trips
        self.clock = SimClock(cfg.start_t - 86400)
        self.pending_audits: dict[int, list[str]] = {}
        self.new_statements = False
        self.step = StepResult()
        self.rng = random.Random(f"quietmile/auditor/{cfg.seed}")

    def run(self, progress: ProgressFn | None = None) -> RunResult:
        t_wall = time.perf_counter()
        cfg = self.cfg
        if self.workdir.exists():
            shutil.rmtree(self.workdir)
        self.workdir.mkdir(parents=True)
        world = World.build(cfg)
        server = BackendServer(
            self.workdir / "backend",
            self.clock,
            database_url=cfg.database_url,
            challenge_deadline_s=cfg.challenge_deadline_s,
            period_length=_period_name(cfg.period),
            request_window_s=cfg.request_window_s,
        ).start()
        client = BackendClient(server.url, server.token("operator"), server.token("auditor"))
        shards: list[_ShardHandle] = []
        try:
            ids, roots = self._provision(client, world)
            self._say(progress, 0.0, f"provisioned {len(self.active)} vehicles")
            n_workers = min(cfg.workers, len(self.active))
            groups: list[list[VehicleSpec]] = [[] for _ in range(n_workers)]
            for spec in self.active:
                groups[spec.index % n_workers].append(spec)
            for g in groups:
                init = ShardInit(
                    cfg.to_json(),
                    [s.to_json() for s in g],
                    {s.index: roots[s.index] for s in g},
                    server.url,
                    self.track_trips,
                )
                shards.append(_ShardHandle(init, process=n_workers > 1))
            t_loop = time.perf_counter()
            self._drive(client, shards, [s.first_time for s in shards], progress)
            self._wind_down(client, shards, progress)
            self.step.timing.capacity_s += len(shards) * (time.perf_counter() - t_loop)
            finished = _call_all(shards, "finish")
            result = self._collect(client, server, world, ids, finished)
        finally:
            for s in shards:
                s.close()
            client.close()
            server.stop()
        result.wall_s = time.perf_counter() - t_wall
        self._say(progress, 1.0, "done")
        return result

    @staticmethod
    def _say(progress: ProgressFn | None, frac: float, what: str) -> None:
        if progress is not None:
            progress(frac, what)

    # --- set-up --------------------------------------------------------------------------------
    def _provision(
        self, client: BackendClient, world: World
    ) -> tuple[dict[int, int], dict[int, tuple[str, str]]]:
        cfg = self.cfg
        self.clock.set(cfg.start_t - 86400)
        client.publish_policy(world.policy)
        envelope = client.policy_envelope(cfg.start_t)
        ids: dict[int, int] = {}
        roots: dict[int, tuple[str, str]] = {}
        for spec in self.active:
            driver = client.create_driver(f"driver of {spec.plate}")
            vid = client.create_vehicle(spec.plate, spec.vehicle_class, driver)
            prov = client.register_obu(spec.obu_id, spec.identity.public_key(), vid)
            ids[spec.index] = vid
            root = self.workdir / "obus" / spec.obu_id
            cfg_path = prepare_root(
                root,
                spec.identity,
                authority_public_key=bytes.fromhex(prov["authority_public_key"]),
                policy_envelope=envelope,
                install_at=cfg.start_t - 3600,
                backend_url=client.http.base_url.__str__().rstrip("/"),
                period=cfg.period,
                chain=(prov["chain"]["next_seq"], bytes.fromhex(prov["chain"]["prev_hash"])),
            )
            roots[spec.index] = (str(root), str(cfg_path))
        return ids, roots

    # --- the event loop ------------------------------------------------------------------------
    def _absorb(self, client: BackendClient, results: list[StepResult]) -> None:
        """Post a slice's sightings (auditor) and queue audits of its new statements."""
        step = StepResult()
        for r in results:
            step.extend(r)
        for row in sorted(step.sightings, key=lambda s: (s.seen_at, s.vehicle, s.camera_id)):
            plate = self.specs[row.vehicle].plate
            ans = client.post_sighting(
                row.camera_id, plate, row.lat_e7, row.lon_e7, row.seen_at, row.accuracy_mm
            )
            row.sighting_id = int(ans["id"])
            row.status = ans["status"]
            row.challenge_id = ans["challenge_id"]
        for sync in step.syncs:
            for h in sync.accepted:
                self._queue_audit(sync.vehicle, h)
        for post in step.cheat_posts:
            if 200 <= post.status < 300:
                self._queue_audit(post.vehicle, post.statement_hash)
        self.step.extend(step)

    def _queue_audit(self, vehicle: int, statement_hash: str) -> None:
        self.new_statements = True
        if random.Random(f"{self.cfg.seed}/audit/{statement_hash}").random() < self.cfg.audit_share:
            m = self.cfg.audit_segments or min(16, 2 ** self.specs[vehicle].density)
            self.pending_audits.setdefault(m, []).append(statement_hash)

    def _jobs(self, client: BackendClient, t: int) -> None:
        if not self.new_statements and not self.pending_audits:
            return
        self.clock.set(t)
        while True:
            r = client.process_sightings()
            if r["challenged"] + r["unanswerable"] < 10_000:
                break
        for m, hashes in sorted(self.pending_audits.items()):
            for i in range(0, len(hashes), 100):
                client.audit(hashes[i : i + 100], m)
        self.pending_audits = {}
        self.new_statements = False

    def _drive(
        self,
        client: BackendClient,
        shards: list[_ShardHandle],
        next_times: list[int | None],
        progress: ProgressFn | None,
    ) -> None:
        cfg = self.cfg
        next_job = cfg.start_t + cfg.job_every_s
        span = cfg.end_t - cfg.start_t
        prev: list[StepResult] | None = None
        prev_end = cfg.start_t
        while True:
            pending = [t for t in next_times if t is not None]
            if not pending:
                break
            a = min(pending)
            if next_job <= a:
                if prev is not None:
                    self.clock.set(prev_end)  # the slice is over: its sightings are past
                    self._absorb(client, prev)
                    prev = None
                while next_job <= a:
                    self._jobs(client, next_job)
                    next_job += cfg.job_every_s
            b = a + cfg.slice_s
            self.clock.set(a + cfg.slice_s // 2)
            for s in shards:
                s.send("advance", b)
            # The previous slice's sightings go up while the shards run this one (their
            # instants all lie before this slice, so the backend's clock is past them).
            if prev is not None:
                self._absorb(client, prev)
            prev = [s.recv() for s in shards]
            prev_end = b
            next_times = [r.next_time for r in prev]
            self._say(
                progress,
                min(0.95, 0.95 * (b - cfg.start_t) / span),
                f"{len(self.step.trips) + sum(len(r.trips) for r in prev)} trips",
            )
        if prev is not None:
            self.clock.set(prev_end)
            self._absorb(client, prev)

    def _wind_down(
        self, client: BackendClient, shards: list[_ShardHandle], progress: ProgressFn | None
    ) -> None:
        t = self.cfg.end_t + 3600
        self._jobs(client, t - 600)
        for round_ in range(3):
            self.clock.set(t)
            self._absorb(client, _call_all(shards, "wake", t))
            self.new_statements = True
            self._jobs(client, t + 600)
            self._say(progress, 0.96 + 0.01 * round_, "wind-down")
            t += 3600
        self.clock.set(t + self.cfg.challenge_deadline_s + 1)
        client.expire_challenges()

    # --- results -------------------------------------------------------------------------------
    def _collect(
        self,
        client: BackendClient,
        server: BackendServer,
        world: World,
        ids: dict[int, int],
        finished: list[Any],
    ) -> RunResult:
        step = self.step
        challenges = client.challenges()
        # A sighting posted before its period's statement was in got its challenge from the
        # sightings job: find it by vehicle and instant, or ask the backend.
        by_instant = {
            (ch["vehicle_id"], ch["at_time"]): ch["challenge_id"]
            for ch in challenges
            if ch["kind"] == "sighting"
        }
        for row in step.sightings:
            if row.challenge_id is None:
                found = by_instant.get((ids[row.vehicle], row.seen_at))
                if found is not None:
                    row.challenge_id = found
                    row.status = "challenged"
            if row.challenge_id is None and row.sighting_id is not None:
                s = client.sighting(row.sighting_id)
                row.status = s["status"]
                row.challenge_id = s["challenge_id"]
        statements: list[StatementRow] = []
        totals: list[VehicleTotals] = []
        tracks: dict[str, list[list[tuple[float, float]]]] = {}
        for rows, tots, trk in finished:
            statements += rows
            totals += tots
            for k, v in trk.items():
                tracks[str(k)] = v
        backend_statements = []
        for spec in self.active:
            for st in client.vehicle_statements(ids[spec.index]):
                st["vehicle"] = spec.index
                st.pop("receipt_b64", None)
                backend_statements.append(st)
        by_vid = {v: k for k, v in ids.items()}
        for ch in challenges:
            ch["vehicle"] = by_vid.get(ch["vehicle_id"])
        metrics_text = client.metrics_text()
        db = server.sqlite_path
        backend = {
            "database": server.database_url.split(":", 1)[0].split("+", 1)[0],
            "db_bytes": db.stat().st_size if db is not None and db.exists() else None,
            "calls": dict(client.stats.count),
            "call_s": dict(client.stats.seconds),
            "metrics": _parse_metrics(metrics_text),
            "aggregates": client.aggregates(),
        }
        return RunResult(
            config=self.cfg.to_json(),
            vehicles=[s.to_json() for s in self.specs],
            backend_ids={str(k): v for k, v in ids.items()},
            trips=step.trips,
            sightings=step.sightings,
            syncs=step.syncs,
            cheat_posts=step.cheat_posts,
            openings=step.openings,
            statements=statements,
            backend_statements=backend_statements,
            challenges=challenges,
            totals=totals,
            cameras=[asdict(c) for c in world.cameras],
            tracks=tracks,
            timing=step.timing,
            backend=backend,
            wall_s=0.0,
        )


def _period_name(period: str | int) -> str:
    if period == "month":
        return "month"
    return {604800: "week", 86400: "day"}.get(int(period), "month")


def _parse_metrics(text: str) -> dict[str, float]:
    """The quietmile_* Prometheus samples (name{labels} → value), summed over nothing."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if not line.startswith("quietmile_"):
            continue
        name, _, value = line.rpartition(" ")
        try:
            v = float(value)
        except ValueError:
            continue
        if math.isfinite(v):
            out[name] = v
    return out


def run_fleet(cfg: FleetConfig, workdir: Path, progress: ProgressFn | None = None) -> RunResult:
    """Run a fleet (see :class:`Fleet`)."""
    return Fleet(cfg, workdir).run(progress)


__all__ = [
    "FleetConfig",
    "FleetError",
    "RunResult",
    "VehicleSpec",
    "make_vehicles",
    "run_fleet",
]
