"""Figures of a fleet run: accuracy, detection, fairness, privacy, backend load, speed.

Everything is computed from a simulator.fleet.RunResult (the backend's answers read back
through its API, next to the simulator's ground truth):

- **accuracy** (honest vehicles, per receiver quality): charged distance and fee per trip
  against the true ones, and against the *visible* ones — the trip without its garage
  driveways, where no receiver has a signal (simulator.network), so no OBU can charge them;
- **detection** per cheating strategy and camera density level, per vehicle-period: detected
  when a spot check on that period's statement failed (or was not answered), when the
  backend refused the cheater's statement at ingest, or when the period's statement never
  arrived. Beside it the analytic expectation: 1 − (1 − f)^k for sightings, with f the share
  of the period's moving time not covered by an honest committed segment (measured from the
  unit's own records) and k the sighting challenges on the statement; for audits of negative
  segments, the hypergeometric 1 − C(n−g, m)/C(n, m) (g bad segments of n, m opened);
- **fairness**: every spot check of an honest vehicle that did not pass is a false accusation;
- **privacy**: openings (the only location data that leaves a unit) per vehicle-month, their
  bytes and trace points, beside the statement bytes;
- **load**: the simulator's calls to the backend and the units' requests, with the backend's
  own Prometheus counters.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from simulator import cheats
from simulator.fleet import RunResult, TripRow, VehicleSpec

DAYS_PER_MONTH = 365.25 / 12
# Reasons a sighting opening fails on the tolerance model / coverage, versus on the record's
# own checks (price, distance, trace plausibility): they point at different fixes.
TOLERANCE_REASONS = ("not_on_trace", "no_segment", "gap_event")
SIGHTING_STRATEGIES = (
    cheats.SWITCH_OFF,
    cheats.JAMMER,
    cheats.WRONG_RATE,
    cheats.SHORT_DISTANCE,
    cheats.FAKE_TRACE,
    cheats.DROP_SEGMENTS,
)


# --- small statistics ------------------------------------------------------------------------


@dataclass(frozen=True)
class Dist:
    """Summary of relative errors (fractions: 0.01 = +1 %)."""

    n: int
    mean: float
    median: float
    p5: float
    p95: float
    min: float
    max: float
    within_1pct: float  # share of values in [−1 %, +1 %]
    over_half_pct: int  # how many exceed +0.5 %

    @classmethod
    def of(cls, values: list[float]) -> Dist:
        if not values:
            return cls(0, math.nan, math.nan, math.nan, math.nan, math.nan, math.nan, math.nan, 0)
        v = sorted(values)
        n = len(v)

        def q(p: float) -> float:
            return v[min(n - 1, max(0, round(p * (n - 1))))]

        return cls(
            n,
            sum(v) / n,
            q(0.5),
            q(0.05),
            q(0.95),
            v[0],
            v[-1],
            sum(1 for x in v if -0.01 <= x <= 0.01) / n,
            sum(1 for x in v if x > 0.005),
        )


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval of a proportion."""
    if n == 0:
        return (math.nan, math.nan)
    p = successes / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return (max(0.0, c - h), min(1.0, c + h))


def _ratio(num: float, den: float) -> float:
    return num / den - 1.0 if den else math.nan


# --- accuracy ----------------------------------------------------------------------------------


@dataclass
class AccuracyGroup:
    trips: int
    true_km: float
    visible_km: float
    charged_km: float
    true_fee: int
    visible_fee: int
    charged_fee: int
    dist_vs_true: Dist
    dist_vs_visible: Dist
    fee_vs_true: Dist
    fee_vs_visible: Dist
    # per trip of at least 1 km (short trips lose up to a metre per segment to rounding)
    dist_vs_visible_1km: Dist
    errors_vs_visible: list[float] = field(default_factory=list)
    errors_vs_true: list[float] = field(default_factory=list)
    fee_errors_vs_visible: list[float] = field(default_factory=list)

    @property
    def total_dist_vs_true(self) -> float:
        return _ratio(self.charged_km, self.true_km)

    @property
    def total_dist_vs_visible(self) -> float:
        return _ratio(self.charged_km, self.visible_km)

    @property
    def total_fee_vs_visible(self) -> float:
        return _ratio(self.charged_fee, self.visible_fee)

    @property
    def total_fee_vs_true(self) -> float:
        return _ratio(self.charged_fee, self.true_fee)


def accuracy_of(trips: list[TripRow]) -> AccuracyGroup:
    ev = [_ratio(t.charged_dist_m, t.visible_dist_m) for t in trips if t.visible_dist_m > 0]
    et = [_ratio(t.charged_dist_m, t.true_dist_m) for t in trips if t.true_dist_m > 0]
    fv = [_ratio(t.charged_fee, t.visible_fee) for t in trips if t.visible_fee > 0]
    ft = [_ratio(t.charged_fee, t.true_fee) for t in trips if t.true_fee > 0]
    long_v = [_ratio(t.charged_dist_m, t.visible_dist_m) for t in trips if t.visible_dist_m >= 1000]
    return AccuracyGroup(
        len(trips),
        sum(t.true_dist_m for t in trips) / 1000,
        sum(t.visible_dist_m for t in trips) / 1000,
        sum(t.charged_dist_m for t in trips) / 1000,
        sum(t.true_fee for t in trips),
        sum(t.visible_fee for t in trips),
        sum(t.charged_fee for t in trips),
        Dist.of(et),
        Dist.of(ev),
        Dist.of(ft),
        Dist.of(fv),
        Dist.of(long_v),
        ev,
        et,
        fv,
    )


# --- detection ---------------------------------------------------------------------------------


@dataclass
class VehiclePeriod:
    vehicle: int
    group: str
    share: float
    density: int
    period: int
    statement: bool  # the backend holds a statement for the period
    segments: int
    f: float  # moving time not honestly covered / moving time
    f_cam: float  # camera passes at such instants / camera passes (before plate reading)
    k: int  # sighting challenges on the period's statement
    m: int  # index (audit) challenges
    bad_segments: int  # negative segments committed in the period
    failed_sighting: bool
    failed_audit: bool
    refused_at_ingest: bool
    forged: bool  # the backend's statement for the period is a forgery the cheater posted
    reasons: list[str]

    @property
    def detected(self) -> bool:
        return (
            self.failed_sighting
            or self.failed_audit
            or self.refused_at_ingest
            or not self.statement
        )

    @property
    def analytic_sighting(self) -> float:
        return 1.0 - (1.0 - self.f) ** self.k

    @property
    def analytic_camera(self) -> float:
        return 1.0 - (1.0 - self.f_cam) ** self.k

    @property
    def analytic_audit(self) -> float:
        n, g, m = self.segments, self.bad_segments, min(self.m, self.segments)
        if n <= 0 or g <= 0 or m <= 0:
            return 0.0
        miss = 1.0
        for i in range(m):
            miss *= max(0.0, (n - g - i) / (n - i))
        return 1.0 - miss


@dataclass
class DetectionRow:
    strategy: str
    density: int
    n: int
    mean_k: float
    mean_m: float
    mean_f: float
    measured: float  # by the mechanism the analytic curve models
    ci: tuple[float, float]
    analytic: float  # 1 − (1 − f)^k with f the share of moving time
    analytic_camera: float  # the same with f the share of camera passes
    detected_any: float  # by any mechanism
    caught_by: str


def _periods(cfg: Any) -> list[int]:
    """Starts of the statement periods that overlap the run."""
    out = []
    p = cfg.period_of(cfg.start_t)
    while p < cfg.end_t:
        out.append(p)
        p = _period_end(cfg, p)
    return out


def vehicle_periods(result: RunResult) -> list[VehiclePeriod]:
    """One row per (vehicle, statement period) of the run's periods that ended."""
    cfg = result.config_obj
    specs = result.specs
    periods = [p for p in _periods(cfg) if _period_end(cfg, p) <= cfg.end_t]
    stmts: dict[tuple[int, int], dict[str, Any]] = {}
    for st in result.backend_statements:
        stmts.setdefault((st["vehicle"], st["period_start"]), st)
    by_hash: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for ch in result.challenges:
        by_hash[ch["statement_hash"]].append(ch)
    moving: dict[tuple[int, int], int] = defaultdict(int)
    exposed: dict[tuple[int, int], int] = defaultdict(int)
    passes: dict[tuple[int, int], int] = defaultdict(int)
    passes_exposed: dict[tuple[int, int], int] = defaultdict(int)
    bad: dict[tuple[int, int], int] = defaultdict(int)
    for t in result.trips:
        for counts, by_period in (
            (moving, t.moving_by_period),
            (exposed, t.exposed_by_period),
            (passes, t.passes_by_period),
            (passes_exposed, t.passes_exposed_by_period),
        ):
            for key_s, n in by_period.items():
                counts[(t.vehicle, int(key_s))] += n
        if t.actions.get(cheats.NEGATIVE_SEGMENT):
            bad[(t.vehicle, cfg.period_of(t.end))] += 1
    refused = {(c.vehicle, c.period_start) for c in result.cheat_posts if not 200 <= c.status < 300}
    forged = {c.statement_hash for c in result.cheat_posts if 200 <= c.status < 300}
    out = []
    for spec in specs:
        for p in periods:
            key = (spec.index, p)
            row = stmts.get(key)
            chs = by_hash.get(row["statement_hash"], []) if row is not None else []
            sight = [c for c in chs if c["kind"] == "sighting"]
            audit = [c for c in chs if c["kind"] == "index"]

            def failed(cs: list[dict[str, Any]]) -> bool:
                return any(c["outcome"] in ("fail", "no_answer") for c in cs)

            out.append(
                VehiclePeriod(
                    vehicle=spec.index,
                    group=spec.group,
                    share=spec.cheat.share,
                    density=spec.density,
                    period=p,
                    statement=row is not None,
                    segments=int(row["segment_count"]) if row is not None else 0,
                    f=exposed[key] / moving[key] if moving[key] else 0.0,
                    f_cam=passes_exposed[key] / passes[key] if passes[key] else 0.0,
                    k=len(sight),
                    m=len(audit),
                    bad_segments=bad[key],
                    failed_sighting=failed(sight),
                    failed_audit=failed(audit),
                    refused_at_ingest=key in refused,
                    forged=row is not None and row["statement_hash"] in forged,
                    reasons=sorted(
                        {
                            str(c["reason"])
                            for c in chs
                            if c["outcome"] in ("fail", "no_answer") and c["reason"]
                        }
                    ),
                )
            )
    return out


def _period_end(cfg: Any, p: int) -> int:
    if cfg.period == "month":
        from protocol.timeutil import next_month_start

        return int(next_month_start(p))
    return p + int(cfg.period)


def detection_table(vps: list[VehiclePeriod]) -> list[DetectionRow]:
    groups: dict[tuple[str, int], list[VehiclePeriod]] = defaultdict(list)
    for vp in vps:
        if vp.group in cheats.STRATEGIES and vp.group != cheats.HONEST:
            groups[(vp.group, vp.density)].append(vp)
    rows = []
    for (strategy, density), items in sorted(groups.items()):
        if strategy == cheats.REPLAY_STATEMENT:
            # The cheat is the forged period; before it the unit is honest, after it the
            # broken chain keeps its statements out (those periods count as missing).
            items = [vp for vp in items if vp.forged]
            if not items:
                continue
        n = len(items)
        analytic_camera = math.nan
        if strategy == cheats.NEGATIVE_SEGMENT:
            hits = sum(vp.failed_audit for vp in items)
            analytic = sum(vp.analytic_audit for vp in items) / n
        elif strategy == cheats.ALTER_STATEMENT:
            hits = sum(vp.refused_at_ingest for vp in items)
            analytic = 1.0
        elif strategy == cheats.REPLAY_STATEMENT:
            hits = sum(vp.detected for vp in items)
            analytic = sum(1.0 if vp.k + vp.m > 0 or not vp.statement else 0.0 for vp in items) / n
        else:
            hits = sum(vp.failed_sighting for vp in items)
            analytic = sum(vp.analytic_sighting for vp in items) / n
            analytic_camera = sum(vp.analytic_camera for vp in items) / n
        rows.append(
            DetectionRow(
                strategy,
                density,
                n,
                sum(vp.k for vp in items) / n,
                sum(vp.m for vp in items) / n,
                sum(vp.f for vp in items) / n,
                hits / n,
                wilson(hits, n),
                analytic,
                analytic_camera,
                sum(vp.detected for vp in items) / n,
                cheats.CAUGHT_BY.get(strategy, ""),
            )
        )
    return rows


def detection_by_k(
    vps: list[VehiclePeriod], bins: tuple[int, ...] = (0, 1, 2, 3, 5, 8, 13)
) -> list[dict[str, Any]]:
    """Sighting-caught strategies pooled, binned by k: measured rate and mean analytic."""
    out = []
    edges = [*bins, 10**9]
    for lo, hi in itertools.pairwise(edges):
        items = [
            vp for vp in vps if vp.group in SIGHTING_STRATEGIES and lo <= vp.k < hi and vp.statement
        ]
        if not items:
            continue
        hits = sum(vp.failed_sighting for vp in items)
        out.append(
            {
                "k_lo": lo,
                "k_hi": hi - 1,
                "n": len(items),
                "mean_k": sum(vp.k for vp in items) / len(items),
                "mean_f": sum(vp.f for vp in items) / len(items),
                "measured": hits / len(items),
                "ci": wilson(hits, len(items)),
                "analytic": sum(vp.analytic_sighting for vp in items) / len(items),
                "analytic_camera": sum(vp.analytic_camera for vp in items) / len(items),
            }
        )
    return out


# --- fairness ----------------------------------------------------------------------------------


@dataclass
class Fairness:
    spot_checks: int
    sighting_checks: int
    audit_checks: int
    outcomes: dict[str, int]
    false_accusations: int
    by_reason: dict[str, int]
    by_gnss: dict[str, dict[str, int]]  # group -> {"checks": n, "failed": n}
    tolerance_failures: int  # of the false accusations: tolerance model / coverage
    record_failures: int  # of the false accusations: the opened record's own checks
    uncovered_sightings: int  # honest sightings the simulator found outside any segment
    examples: list[dict[str, Any]]


def fairness(result: RunResult) -> Fairness:
    specs = {s.index: s for s in result.specs}
    honest = [
        c
        for c in result.challenges
        if c["vehicle"] is not None and specs[c["vehicle"]].cheat.honest
    ]
    outcomes = Counter(c["outcome"] for c in honest)
    failed = [c for c in honest if c["outcome"] in ("fail", "no_answer")]
    by_gnss: dict[str, dict[str, int]] = defaultdict(lambda: {"checks": 0, "failed": 0})
    for c in honest:
        g = specs[c["vehicle"]].group
        by_gnss[g]["checks"] += 1
        by_gnss[g]["failed"] += c["outcome"] in ("fail", "no_answer")
    reasons = Counter(str(c["reason"]) for c in failed)
    tol = sum(n for r, n in reasons.items() if r in TOLERANCE_REASONS)
    uncovered = sum(1 for s in result.sightings if specs[s.vehicle].cheat.honest and not s.covered)
    return Fairness(
        spot_checks=len(honest),
        sighting_checks=sum(1 for c in honest if c["kind"] == "sighting"),
        audit_checks=sum(1 for c in honest if c["kind"] == "index"),
        outcomes=dict(outcomes),
        false_accusations=len(failed),
        by_reason=dict(reasons),
        by_gnss=dict(by_gnss),
        tolerance_failures=tol,
        record_failures=len(failed) - tol,
        uncovered_sightings=uncovered,
        examples=[
            {k: c[k] for k in ("challenge_id", "vehicle", "kind", "reason", "at_time")}
            for c in failed[:20]
        ],
    )


# --- privacy and load --------------------------------------------------------------------------


@dataclass
class Privacy:
    vehicle_months: float
    statements: int
    statement_bytes_per_vm: float
    openings: int  # openings sent (including empty ones)
    openings_with_location: int
    openings_per_vm: float
    opening_bytes_per_vm: float
    trace_points_per_vm: float
    max_openings_vehicle_month: float
    per_vehicle_month: list[float]  # openings with location per vehicle-month, per vehicle


@dataclass
class Load:
    calls: dict[str, int]
    call_ms: dict[str, float]
    uplink_per_vm: dict[str, dict[str, float]]  # kind -> {"requests", "bytes_sent", ...}
    db_bytes: int | None
    statements: int
    challenges: int
    ingest_mean_ms: float
    metrics: dict[str, float]


def vehicle_months(result: RunResult) -> float:
    cfg = result.config_obj
    return cfg.vehicles * cfg.days / DAYS_PER_MONTH


def privacy(result: RunResult) -> Privacy:
    vm = vehicle_months(result)
    cfg = result.config_obj
    per_vehicle = Counter(o.vehicle for o in result.openings if o.segment_index is not None)
    months = cfg.days / DAYS_PER_MONTH
    located = [o for o in result.openings if o.segment_index is not None]
    return Privacy(
        vehicle_months=vm,
        statements=len(result.statements),
        statement_bytes_per_vm=sum(s.bytes for s in result.statements) / vm if vm else 0.0,
        openings=len(result.openings),
        openings_with_location=len(located),
        openings_per_vm=len(located) / vm if vm else 0.0,
        opening_bytes_per_vm=sum(o.bytes for o in result.openings) / vm if vm else 0.0,
        trace_points_per_vm=sum(o.trace_points for o in located) / vm if vm else 0.0,
        max_openings_vehicle_month=max(per_vehicle.values(), default=0) / months,
        per_vehicle_month=[per_vehicle.get(i, 0) / months for i in range(cfg.vehicles)],
    )


def load(result: RunResult) -> Load:
    vm = vehicle_months(result)
    up: dict[str, dict[str, float]] = {}
    for tot in result.totals:
        for kind, (count, sent, received) in tot.uplink.items():
            d = up.setdefault(kind, {"requests": 0.0, "bytes_sent": 0.0, "bytes_received": 0.0})
            d["requests"] += count / vm
            d["bytes_sent"] += sent / vm
            d["bytes_received"] += received / vm
    b = result.backend
    m = b.get("metrics", {})
    n_ingest = m.get("quietmile_statement_ingest_seconds_count", 0.0)
    s_ingest = m.get("quietmile_statement_ingest_seconds_sum", 0.0)
    calls = {k: int(v) for k, v in b.get("calls", {}).items()}
    call_ms = {k: 1000 * float(b.get("call_s", {}).get(k, 0.0)) / max(1, calls[k]) for k in calls}
    return Load(
        calls=calls,
        call_ms=call_ms,
        uplink_per_vm=up,
        db_bytes=b.get("db_bytes"),
        statements=len(result.backend_statements),
        challenges=len(result.challenges),
        ingest_mean_ms=1000 * s_ingest / n_ingest if n_ingest else math.nan,
        metrics=m,
    )


# --- everything --------------------------------------------------------------------------------


@dataclass
class Summary:
    vehicles: int
    vehicle_months: float
    trips: int
    driving_hours: float
    accuracy: dict[str, AccuracyGroup]
    detection: list[DetectionRow]
    detection_k: list[dict[str, Any]]
    vehicle_periods: list[VehiclePeriod]
    fairness: Fairness
    privacy: Privacy
    load: Load
    speed: dict[str, dict[str, float]]  # mode -> vehicle-hours per wall-second (+ parts)
    cheater_gain: dict[str, float]  # strategy -> share of the visible fee not charged
    ingest_refusals: dict[str, int]  # "<kind> <code>" -> count
    missing_statements: dict[str, int]  # group -> vehicle-periods without a statement
    wall_s: float
    shard_busy: float = math.nan  # share of the shards' time spent working (Timing)


def speed(result: RunResult) -> dict[str, dict[str, float]]:
    t = result.timing
    out = {}
    for mode, hours in t.hours.items():
        fw = t.firmware_s.get(mode, 0.0)
        total = fw + t.gen_s.get(mode, 0.0) + t.sync_s.get(mode, 0.0)
        out[mode] = {
            "vehicle_hours": hours,
            "firmware_s": fw,
            "pipeline_s": total,
            "vh_per_s_firmware": hours / fw if fw else math.nan,
            "vh_per_s_pipeline": hours / total if total else math.nan,
        }
    return out


def shard_busy(result: RunResult) -> float:
    """Busy share of the shard processes over the event loop (NaN for results without it)."""
    t = result.timing
    capacity = getattr(t, "capacity_s", 0.0)  # a Timing from before the field existed
    return getattr(t, "busy_s", 0.0) / capacity if capacity else math.nan


def summarize(result: RunResult) -> Summary:
    specs = result.specs
    by_vehicle: dict[int, VehicleSpec] = {s.index: s for s in specs}
    groups: dict[str, list[TripRow]] = defaultdict(list)
    for t in result.trips:
        spec = by_vehicle[t.vehicle]
        if spec.cheat.honest:
            groups[spec.group].append(t)
            groups["all honest"].append(t)
    accuracy = {g: accuracy_of(ts) for g, ts in sorted(groups.items())}
    vps = vehicle_periods(result)
    gain: dict[str, float] = {}
    fee: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for t in result.trips:
        spec = by_vehicle[t.vehicle]
        if not spec.cheat.honest:
            fee[spec.cheat.strategy][0] += t.visible_fee
            fee[spec.cheat.strategy][1] += t.charged_fee
    for s, (vis, ch) in fee.items():
        gain[s] = 1 - ch / vis if vis else math.nan
    refusals = Counter(f"{c.kind} {c.status} {c.code}".strip() for c in result.cheat_posts)
    return Summary(
        vehicles=len(specs),
        vehicle_months=vehicle_months(result),
        trips=len(result.trips),
        driving_hours=sum(t.duration_s for t in result.trips) / 3600,
        accuracy=accuracy,
        detection=detection_table(vps),
        detection_k=detection_by_k(vps),
        vehicle_periods=vps,
        fairness=fairness(result),
        privacy=privacy(result),
        load=load(result),
        speed=speed(result),
        cheater_gain=gain,
        ingest_refusals=dict(refusals),
        missing_statements=dict(Counter(vp.group for vp in vps if not vp.statement)),
        wall_s=result.wall_s,
        shard_busy=shard_busy(result),
    )
