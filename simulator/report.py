"""The fleet report: Markdown and HTML with matplotlib plots (PNG) and a folium map.

``write_report(result, out_dir)`` computes the figures (simulator.metrics) and writes::

    out_dir/report.md, report.html   the same content, text and tables
    out_dir/*.png                    accuracy, fees, detection, fairness, privacy, load
    out_dir/map.html                 zones, cameras and some true trip paths on OpenStreetMap
    out_dir/summary.json             the headline figures, machine-readable
"""

from __future__ import annotations

import html
import json
import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display on CI or a server

import folium
import matplotlib.pyplot as plt

from simulator import cheats
from simulator.fleet import RunResult
from simulator.metrics import DetectionRow, Dist, Summary, summarize
from simulator.network import (
    ORIGIN_LAT_DEG,
    ORIGIN_LON_DEG,
    default_network,
    default_policy,
)

Block = tuple[str, Any]


@dataclass
class Doc:
    """Report content, rendered to Markdown and to HTML."""

    title: str
    blocks: list[Block] = field(default_factory=list)

    def h(self, text: str) -> None:
        self.blocks.append(("h2", text))

    def p(self, text: str) -> None:
        self.blocks.append(("p", text))

    def table(self, header: list[str], rows: list[list[Any]]) -> None:
        self.blocks.append(("table", (header, rows)))

    def img(self, path: str, alt: str) -> None:
        self.blocks.append(("img", (path, alt)))

    def markdown(self) -> str:
        out = [f"# {self.title}", ""]
        for kind, v in self.blocks:
            if kind == "h2":
                out += [f"## {v}", ""]
            elif kind == "p":
                out += [v, ""]
            elif kind == "img":
                out += [f"![{v[1]}]({v[0]})", ""]
            elif kind == "table":
                header, rows = v
                out.append("| " + " | ".join(header) + " |")
                out.append("|" + "|".join("---" for _ in header) + "|")
                for r in rows:
                    out.append("| " + " | ".join(str(c) for c in r) + " |")
                out.append("")
        return "\n".join(out)

    def html(self) -> str:
        e = html.escape
        out = [
            "<!doctype html><html><head><meta charset='utf-8'>",
            f"<title>{e(self.title)}</title>",
            "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;line-height:1.4}"
            "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;"
            "padding:3px 8px;text-align:right}th{background:#eee}img{max-width:100%}"
            "code{background:#f4f4f4}</style></head><body>",
            f"<h1>{e(self.title)}</h1>",
        ]
        for kind, v in self.blocks:
            if kind == "h2":
                out.append(f"<h2>{e(v)}</h2>")
            elif kind == "p":
                text = e(v)
                # `code` spans from the Markdown
                parts = text.split("`")
                text = "".join(f"<code>{x}</code>" if i % 2 else x for i, x in enumerate(parts))
                out.append(f"<p>{text}</p>")
            elif kind == "img":
                out.append(f"<p><img src='{e(v[0])}' alt='{e(v[1])}'></p>")
            elif kind == "table":
                header, rows = v
                out.append("<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in header) + "</tr>")
                for r in rows:
                    out.append("<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in r) + "</tr>")
                out.append("</table>")
        out.append("</body></html>")
        return "\n".join(out)


def pct(x: float, digits: int = 2) -> str:
    return (
        "n/a"
        if x is None or (isinstance(x, float) and math.isnan(x))
        else f"{100 * x:+.{digits}f} %"
    )


def share(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{100 * x:.1f} %"


def eur(micro: float) -> str:
    return f"{micro / 1e6:,.2f}"


@dataclass(frozen=True)
class ReportPaths:
    directory: Path
    markdown: Path
    html: Path
    map: Path
    summary: Path
    plots: tuple[Path, ...]


# --- plots -------------------------------------------------------------------------------------


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_accuracy(s: Summary, path: Path) -> Path:
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    panels = (
        ("distance vs visible", lambda a: a.errors_vs_visible),
        ("distance vs true (incl. garages)", lambda a: a.errors_vs_true),
        ("fee vs visible", lambda a: a.fee_errors_vs_visible),
    )
    for ax, (title, get) in zip(axes, panels, strict=True):
        for name, acc in s.accuracy.items():
            if name == "all honest":
                continue
            vals = [100 * x for x in get(acc)]
            if vals:
                ax.hist(vals, bins=40, alpha=0.6, label=f"{name} ({len(vals)} trips)")
        for x, style in ((-1, ":"), (0.5, "--"), (1, ":")):
            ax.axvline(x, color="k", linestyle=style, linewidth=0.8)
        ax.set_title(f"charged {title}")
        ax.set_xlabel("per-trip error (%)")
        ax.set_ylabel("trips")
        ax.legend(fontsize=7)
    return _save(fig, path)


def plot_detection(s: Summary, path: Path) -> Path:
    by_strategy: dict[str, list[DetectionRow]] = defaultdict(list)
    for row in s.detection:
        by_strategy[row.strategy].append(row)
    names = sorted(by_strategy)
    n = max(1, len(names))
    cols = 3
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(13, 3.6 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names, strict=False):
        items = sorted(by_strategy[name], key=lambda r: r.density)
        audit = name == cheats.NEGATIVE_SEGMENT
        xs = [r.mean_m if audit else r.mean_k for r in items]
        ys = [r.measured for r in items]
        lo = [max(0.0, r.measured - r.ci[0]) for r in items]
        hi = [max(0.0, r.ci[1] - r.measured) for r in items]
        ax.errorbar(xs, ys, yerr=[lo, hi], fmt="o", capsize=3, label="measured (95 % CI)")
        # markers only: the levels' mean k need not grow with the level for one strategy
        ax.plot(
            xs, [r.analytic for r in items], "s", mfc="none", label="analytic, f = share of time"
        )
        if not all(math.isnan(r.analytic_camera) for r in items):
            ax.plot(
                xs,
                [r.analytic_camera for r in items],
                "^",
                mfc="none",
                label="analytic, f = share of camera passes",
            )
        f = sum(r.mean_f * r.n for r in items) / max(1, sum(r.n for r in items))
        kmax = max([*xs, 1.0])
        ks = [kmax * i / 50 for i in range(51)]
        if name in (cheats.ALTER_STATEMENT, cheats.REPLAY_STATEMENT):
            pass
        elif not audit and f > 0:
            ax.plot(
                ks,
                [1 - (1 - f) ** k for k in ks],
                color="grey",
                linewidth=0.8,
                label=f"1 − (1 − f̄)^k, f̄ = {f:.3f}",
            )
        for r, x in zip(items, xs, strict=True):
            ax.annotate(
                f"L{r.density}",
                (x, r.measured),
                textcoords="offset points",
                xytext=(4, -10),
                fontsize=7,
            )
        ax.set_ylim(-0.05, 1.05)
        ax.set_title(name)
        ax.set_xlabel("audited segments per statement (m)" if audit else "sightings per period (k)")
        ax.set_ylabel("detected share of periods")
        ax.legend(fontsize=7, loc="lower right")
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    return _save(fig, path)


def plot_detection_k(s: Summary, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(7, 4))
    rows = s.detection_k
    if rows:
        xs = [r["mean_k"] for r in rows]
        ax.errorbar(
            xs,
            [r["measured"] for r in rows],
            yerr=[
                [max(0.0, r["measured"] - r["ci"][0]) for r in rows],
                [max(0.0, r["ci"][1] - r["measured"]) for r in rows],
            ],
            fmt="o",
            capsize=3,
            label="measured (sighting-caught strategies, 95 % CI)",
        )
        ax.plot(xs, [r["analytic"] for r in rows], "s--", label="mean of 1 − (1 − f)^k, f of time")
        ax.plot(
            xs, [r["analytic_camera"] for r in rows], "^:", label="the same, f of camera passes"
        )
        ax.legend(fontsize=8)
    else:
        ax.text(
            0.5, 0.5, "no sighting-caught cheaters in this run", ha="center", transform=ax.transAxes
        )
    ax.set_xlabel("sighting challenges in the period (k, bin mean)")
    ax.set_ylabel("periods detected by a sighting")
    ax.set_ylim(-0.05, 1.05)
    return _save(fig, path)


def plot_fairness(s: Summary, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(7, 3.5))
    groups = sorted(s.fairness.by_gnss)
    checks = [s.fairness.by_gnss[g]["checks"] for g in groups]
    failed = [s.fairness.by_gnss[g]["failed"] for g in groups]
    ax.bar(groups, checks, label="spot checks")
    ax.bar(groups, failed, color="red", label="failed (false accusations)")
    for i, (c, f) in enumerate(zip(checks, failed, strict=True)):
        ax.annotate(f"{f} / {c}", (i, c), ha="center", va="bottom", fontsize=8)
    ax.set_ylabel("spot checks of honest vehicles")
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_privacy(s: Summary, result: RunResult, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(7, 3.5))
    by_level: dict[int, list[float]] = defaultdict(list)
    for spec in result.specs:
        by_level[spec.density].append(s.privacy.per_vehicle_month[spec.index])
    for level in sorted(by_level):
        ax.hist(by_level[level], bins=20, alpha=0.6, label=f"density level {level}")
    ax.set_xlabel("openings with location data per vehicle-month")
    ax.set_ylabel("vehicles")
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_load(s: Summary, path: Path) -> Path:
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.5))
    kinds = sorted(s.load.call_ms)
    axes[0].bar(kinds, [s.load.call_ms[k] for k in kinds])
    axes[0].set_ylabel("mean ms per call (simulator → backend)")
    axes[0].tick_params(axis="x", rotation=30)
    up = s.load.uplink_per_vm
    ukinds = sorted(up)
    axes[1].bar(ukinds, [up[k]["bytes_sent"] / 1000 for k in ukinds])
    axes[1].set_ylabel("kB sent per vehicle-month (OBU → backend)")
    return _save(fig, path)


# --- the map -----------------------------------------------------------------------------------


def write_map(result: RunResult, path: Path, max_mobile: int = 40, max_tracked: int = 12) -> Path:
    net = default_network()
    policy = default_policy(net)
    m = folium.Map(location=[ORIGIN_LAT_DEG, ORIGIN_LON_DEG + 0.02], zoom_start=12)
    roads = folium.FeatureGroup(name="road network")
    for e in net.edges:
        pts = [net.frame.to_deg(x, y) for x, y in e.points]
        folium.PolyLine(pts, color="#999", weight=1).add_to(roads)
    roads.add_to(m)
    zones = folium.FeatureGroup(name="tariff zones")
    colours = {2: "red", 1: "orange"}
    for z in policy.zones:
        for poly in z.polygons:
            ring = [(lat / 1e7, lon / 1e7) for lat, lon in poly[0]]
            folium.Polygon(
                ring,
                color=colours.get(z.zone_id, "blue"),
                fill=True,
                fill_opacity=0.08,
                tooltip=f"zone {z.zone_id} ({z.name})",
            ).add_to(zones)
    zones.add_to(m)
    cam_layer = folium.FeatureGroup(name="cameras")
    mobile = 0
    for c in result.cameras:
        if c["kind"] == "mobile":
            mobile += 1
            if mobile > max_mobile:
                continue
        folium.CircleMarker(
            (c["lat_e7"] / 1e7, c["lon_e7"] / 1e7),
            radius=5 if c["kind"] == "fixed" else 3,
            color="blue" if c["kind"] == "fixed" else "purple",
            fill=True,
            tooltip=f"{c['camera_id']} ({c['kind']}, tier {c['tier']})",
        ).add_to(cam_layer)
    cam_layer.add_to(m)
    trips = folium.FeatureGroup(name="true trip paths (sample)")
    palette = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02"]
    shown = sorted(result.tracks.items(), key=lambda kv: int(kv[0]))[:max_tracked]
    for i, (vehicle, tracks) in enumerate(shown):
        for t in tracks:
            folium.PolyLine(
                t, color=palette[i % len(palette)], weight=2, tooltip=f"vehicle {vehicle}"
            ).add_to(trips)
    trips.add_to(m)
    folium.LayerControl().add_to(m)
    m.save(str(path))
    return path


# --- the document ------------------------------------------------------------------------------


def _dist_row(name: str, d: Dist) -> list[Any]:
    return [
        name,
        d.n,
        pct(d.mean),
        pct(d.median),
        pct(d.p5),
        pct(d.p95),
        pct(d.min),
        pct(d.max),
        share(d.within_1pct),
        d.over_half_pct,
    ]


def build_doc(result: RunResult, s: Summary, plots: dict[str, str]) -> Doc:
    cfg = result.config_obj
    specs = result.specs
    doc = Doc("quietmile fleet simulation report")
    chunks = _chunks(result)
    groups = Counter(sp.group for sp in specs)
    modes = Counter(sp.mode for sp in specs)
    if chunks:
        seeds = ", ".join(str(c["seed"]) for c in chunks)
        who = (
            f"{len(chunks)} runs (seeds {seeds}; each its own fleet, cameras and "
            f"backend, reported together: simulator.campaign); {cfg.vehicles} vehicles in all"
        )
        wall = f"Wall time {s.wall_s:.0f} s summed over the runs."
    else:
        who = f"Seed {cfg.seed}; {cfg.vehicles} vehicles"
        wall = f"Wall time {s.wall_s:.0f} s."
    doc.p(
        f"{who} over {cfg.days} days from "
        f"{cfg.start[0]}-{cfg.start[1]:02d}-{cfg.start[2]:02d} ({s.vehicle_months:.1f} "
        f"vehicle-months, {s.trips} trips, {s.driving_hours:.0f} h of driving); statement period "
        f"{cfg.period}. Every trip ran through the real firmware (firmware.app.App: "
        + ", ".join(f"{n} {m}" for m, n in sorted(modes.items()))
        + ") and every statement, sighting, challenge and opening through the real backend "
        f"over HTTP ({result.backend.get('database')}). {wall}"
    )
    doc.table(["vehicle group", "vehicles"], [[g, n] for g, n in sorted(groups.items())])

    doc.h("Accuracy (honest vehicles)")
    doc.p(
        "Charged distance and fee per trip against the ground truth. *Visible* excludes the "
        "garage driveways at the ends of some trips: no receiver has a signal there "
        "(simulator.network), so no OBU can charge them — that part of the true distance is "
        "lost to any GNSS-based charging, and the comparison that measures the firmware is "
        "against the visible distance. Budget (DESIGN §8): within ±1 %, never more than "
        "+0.5 % over."
    )
    rows = []
    for name, a in s.accuracy.items():
        rows.append(
            [
                name,
                a.trips,
                f"{a.true_km:,.1f}",
                f"{a.visible_km:,.1f}",
                f"{a.charged_km:,.1f}",
                pct(a.total_dist_vs_visible, 3),
                pct(a.total_dist_vs_true, 3),
                pct(a.total_fee_vs_visible, 3),
                pct(a.total_fee_vs_true, 3),
            ]
        )
    doc.table(
        [
            "group",
            "trips",
            "true km",
            "visible km",
            "charged km",
            "distance vs visible",
            "distance vs true",
            "fee vs visible",
            "fee vs true",
        ],
        rows,
    )
    header = [
        "per trip",
        "n",
        "mean",
        "median",
        "p5",
        "p95",
        "min",
        "max",
        "within ±1 %",
        "> +0.5 %",
    ]
    drows = []
    for name, a in s.accuracy.items():
        drows.append(_dist_row(f"{name}: distance vs visible", a.dist_vs_visible))
        drows.append(_dist_row(f"{name}: distance vs visible, trips ≥ 1 km", a.dist_vs_visible_1km))
        drows.append(_dist_row(f"{name}: distance vs true", a.dist_vs_true))
        drows.append(_dist_row(f"{name}: fee vs visible", a.fee_vs_visible))
    doc.table(header, drows)
    doc.img(plots["accuracy"], "per-trip charged distance and fee errors")

    doc.h("Detection of cheaters")
    doc.p(
        "Per cheating vehicle and statement period. *measured*: share of periods in which the "
        "mechanism that targets the strategy caught it (a failed or unanswered sighting "
        "challenge; for negative segments a failed random-index audit; for altered statements "
        "a refusal at ingest). *analytic*: the mean over the same periods of 1 − (1 − f)^k, "
        "f = share of the period's moving time not covered by an honest committed segment "
        "(from the unit's own records), k = sighting challenges on the statement (for audits "
        "the hypergeometric 1 − C(n−g, m)/C(n, m); for a replayed statement, whose every "
        "segment commits to other driving, the share of its forged periods with at least one "
        "spot check). *analytic (cameras)*: the same with f = "
        "share of the vehicle's camera passes (before plate reading) that fell in such time — "
        "the share the camera network actually samples; the two differ when the cheat is tied "
        "to places (a fake trace is only worth faking in the city, a commuter's cameras may all "
        "be on the motorway). *any*: caught by any means, including audits and missing "
        "statements. Density level L: the vehicle is seen by the cameras of tiers "
        "≤ L (nested networks, each level doubling the previous; audits open 2^L segments)."
    )
    drows2 = []
    for r in s.detection:
        drows2.append(
            [
                r.strategy,
                r.density,
                r.n,
                f"{r.mean_k:.1f}",
                f"{r.mean_m:.1f}",
                f"{r.mean_f:.3f}",
                share(r.measured),
                f"[{share(r.ci[0])}, {share(r.ci[1])}]",
                share(r.analytic),
                share(r.analytic_camera),
                share(r.detected_any),
            ]
        )
    doc.table(
        [
            "strategy",
            "level",
            "periods",
            "k",
            "m",
            "f",
            "measured",
            "95 % CI",
            "analytic",
            "analytic (cameras)",
            "any",
        ],
        drows2,
    )
    doc.img(plots["detection"], "detection against camera density, with the analytic curve")
    doc.p(
        "Sighting-caught strategies pooled by k. Sightings of one trip are not independent "
        "(a short cheat window contains several or none), which the analytic formula assumes "
        "they are."
    )
    doc.table(
        ["k", "periods", "mean f", "measured", "95 % CI", "analytic", "analytic (cameras)"],
        [
            [
                f"{r['k_lo']}–{r['k_hi']}" if r["k_hi"] < 10**8 else f"≥ {r['k_lo']}",
                r["n"],
                f"{r['mean_f']:.3f}",
                share(r["measured"]),
                f"[{share(r['ci'][0])}, {share(r['ci'][1])}]",
                share(r["analytic"]),
                share(r["analytic_camera"]),
            ]
            for r in s.detection_k
        ],
    )
    doc.img(plots["detection_k"], "detection against k, pooled")
    doc.table(
        ["strategy", "what catches it", "fee avoided (share of visible fee)"],
        [[st, cheats.CAUGHT_BY.get(st, ""), share(g)] for st, g in sorted(s.cheater_gain.items())],
    )
    if s.ingest_refusals:
        doc.p("Forged statements posted by statement-level cheaters (kind, HTTP status, code):")
        doc.table(["attempt", "count"], [[k, v] for k, v in sorted(s.ingest_refusals.items())])
    if s.missing_statements:
        doc.p(
            "Vehicle-periods for which the backend never received a statement (the operator "
            "sees them overdue): a unit that never committed a segment has nothing to seal, "
            "and a forged replay breaks the chain for every later statement."
        )
        doc.table(
            ["group", "periods without a statement"],
            [[k, v] for k, v in sorted(s.missing_statements.items())],
        )

    f = s.fairness
    doc.h("Fairness: spot checks of honest vehicles")
    doc.p(
        f"{f.spot_checks} spot checks of honest vehicles ({f.sighting_checks} sighting "
        f"challenges, {f.audit_checks} random-index audits): **{f.false_accusations} false "
        f"accusations** (failed or unanswered). Budget (DESIGN §8): 0 over ≥ 10,000 spot checks. "
        f"Of the failures, {f.tolerance_failures} came from the sighting tolerance model or "
        f"coverage (not_on_trace, no_segment, gap_event) and {f.record_failures} from the "
        f"opened record's own checks (price, distance against its trace, trace plausibility). "
        f"Honest sightings whose true instant no honest segment covered (simulator's books): "
        f"{f.uncovered_sightings}."
    )
    doc.table(["outcome", "count"], [[k, v] for k, v in sorted(f.outcomes.items())])
    if f.by_reason:
        doc.table(["failure reason", "count"], [[k, v] for k, v in sorted(f.by_reason.items())])
    doc.table(
        ["group", "spot checks", "failed"],
        [[g, d["checks"], d["failed"]] for g, d in sorted(f.by_gnss.items())],
    )
    doc.img(plots["fairness"], "spot checks and false accusations of honest vehicles")

    notes = findings(result, s)
    if notes:
        doc.h("Findings")
        for n in notes:
            doc.p(n)

    pv = s.privacy
    doc.h("Location data revealed to the authority")
    doc.p(
        "A unit's location leaves it only inside an Opening answering one challenge (DESIGN "
        "§2.1). Per vehicle-month: "
        f"{pv.openings_per_vm:.1f} openings with location data ({pv.openings} openings sent "
        f"in all, {pv.openings_with_location} with a segment), {pv.opening_bytes_per_vm:,.0f} "
        f"bytes of openings, {pv.trace_points_per_vm:.0f} trace points; the busiest vehicle "
        f"{pv.max_openings_vehicle_month:.1f} openings per month. Statements (no location): "
        f"{pv.statement_bytes_per_vm:,.0f} bytes per vehicle-month."
    )
    by_level: dict[int, list[float]] = defaultdict(list)
    for spec in specs:
        by_level[spec.density].append(pv.per_vehicle_month[spec.index])
    doc.table(
        ["density level", "vehicles", "openings per vehicle-month (mean)", "max"],
        [
            [lv, len(v), f"{sum(v) / len(v):.1f}", f"{max(v):.1f}"]
            for lv, v in sorted(by_level.items())
        ],
    )
    doc.img(plots["privacy"], "openings per vehicle-month")

    errs = sync_errors(result)
    if errs:
        doc.p("Errors the units' syncs reported (they retry at the next sync):")
        doc.table(["group: error", "syncs"], [[k, v] for k, v in sorted(errs.items())])

    ld = s.load
    doc.h("Backend load")
    doc.p(
        f"{ld.statements} statements accepted, {ld.challenges} challenges; statement ingest "
        f"{ld.ingest_mean_ms:.1f} ms on average (backend metric); database "
        f"{'n/a' if ld.db_bytes is None else f'{ld.db_bytes / 1e6:.1f} MB'}"
        + (" (all runs' databases together)." if chunks else ".")
    )
    if chunks:
        doc.p("Per run (each against its own backend and database):")
        doc.table(
            [
                "seed",
                "vehicles",
                "trips",
                "statements",
                "challenges",
                "backend calls",
                "mean ms per call",
                "ingest mean ms",
                "database MB",
                "wall s",
            ],
            [_chunk_row(c) for c in chunks],
        )
    doc.table(
        ["simulator call", "count", "mean ms"],
        [[k, ld.calls[k], f"{ld.call_ms[k]:.1f}"] for k in sorted(ld.calls)],
    )
    doc.table(
        ["OBU request", "per vehicle-month", "bytes sent", "bytes received"],
        [
            [k, f"{v['requests']:.1f}", f"{v['bytes_sent']:,.0f}", f"{v['bytes_received']:,.0f}"]
            for k, v in sorted(ld.uplink_per_vm.items())
        ],
    )
    doc.img(plots["load"], "backend load")

    doc.h("Simulation speed")
    if not math.isnan(s.shard_busy):
        workers = sorted({int(c.get("workers", cfg.workers)) for c in chunks} or {cfg.workers})
        doc.p(
            f"Shard processes: {' or '.join(map(str, workers))}"
            + (" per run" if chunks else "")
            + f", busy {share(s.shard_busy)} of the event loop's wall time (the rest waiting "
            "at slice barriers for the slowest shard or the coordinator). Whole pipeline: "
            "trip generation, receiver model, NMEA, the firmware, the books and the syncs."
        )
    doc.table(
        [
            "firmware mode",
            "vehicle-hours",
            "firmware only (vehicle-h / s)",
            "whole pipeline (vehicle-h / s)",
        ],
        [
            [
                m,
                f"{v['vehicle_hours']:.1f}",
                f"{v['vh_per_s_firmware']:.1f}",
                f"{v['vh_per_s_pipeline']:.2f}",
            ]
            for m, v in sorted(s.speed.items())
        ],
    )
    doc.h("Map")
    doc.p(
        "`map.html`: tariff zones, cameras (fixed: blue; some mobile deployments: purple) "
        "and a sample of true trip paths."
    )
    return doc


def _chunks(result: RunResult) -> list[dict[str, Any]]:
    """The runs of a union (simulator.campaign); none for one run. (A RunResult made by an
    older simulator.fleet, still running in a long-lived process, has no such field.)"""
    return list(getattr(result, "chunks", None) or [])


def _chunk_row(chunk: dict[str, Any]) -> list[Any]:
    b = chunk["backend"]
    calls = sum(b.get("calls", {}).values())
    call_s = sum(b.get("call_s", {}).values())
    m = b.get("metrics", {})
    n_ingest = m.get("quietmile_statement_ingest_seconds_count", 0.0)
    ingest_s = m.get("quietmile_statement_ingest_seconds_sum", 0.0)
    ingest = 1000 * ingest_s / n_ingest if n_ingest else math.nan
    db = b.get("db_bytes")
    return [
        chunk["seed"],
        chunk["vehicles"],
        chunk["trips"],
        chunk["statements"],
        chunk["challenges"],
        calls,
        f"{1000 * call_s / calls:.1f}" if calls else "n/a",
        f"{ingest:.1f}",
        "n/a" if db is None else f"{db / 1e6:.1f}",
        f"{chunk['wall_s']:.0f}",
    ]


def sync_errors(result: RunResult) -> Counter[str]:
    """What went wrong in the units' syncs, by error type and vehicle group."""
    specs = {sp.index: sp for sp in result.specs}
    out: Counter[str] = Counter()
    for sync in result.syncs:
        for e in sync.errors:
            kind = e.split("(", 1)[0]
            detail = ""
            if "exceeds" in e:
                detail = " (response body over the client's limit)"
            elif "HTTP" in e:
                detail = " " + e.split("HTTP", 1)[1].strip(" ')\"")
            out[f"{specs[sync.vehicle].group}: {kind}{detail}"] += 1
    return out


def findings(result: RunResult, s: Summary) -> list[str]:
    """Plain-language notes on what the run shows about the system under test."""
    out = []
    reasons = s.fairness.by_reason
    record = {r: n for r, n in reasons.items() if r in ("distance_mismatch", "implausible_trace")}
    if record:
        out.append(
            f"Honest vehicles failed openings on their own record checks ({record}). Cause, "
            "measured with simulator.gnss's multipath model: in street canyons a receiver "
            "jumps 15–60 m for a few seconds; the firmware's odometer accepts such fixes (the "
            "jump stays under its 70 m/s limit) and its 8 m deviation-bounded trace keeps them "
            "as trace points, so the trace polyline is longer than the Doppler-measured "
            "distance the unit charges by more than protocol/verify's slack (10 m per point + "
            "1 %) — distance_mismatch — and with bad receivers two excursions 1 s apart exceed "
            "90 m/s — implausible_trace. The charged distance is right; the evidence is noisy. "
            "Fix in the firmware (keep fixes that disagree with the Doppler dead-reckoning out "
            "of the trace, or smooth it) or in protocol/verify (a slack that follows the "
            "trace's deviation bound). tests/simulator/test_findings.py pins it."
        )
    overflow = sum(1 for sy in result.syncs for e in sy.errors if "exceeds" in e)
    if overflow:
        out.append(
            f"{overflow} syncs got a response body over the OBU HTTP client's 16 KB limit. "
            "The challenge list is paged (SPEC §4.9: pages of ≤ 32, ~8 KB, the unit asks for "
            "8), so this is a new case: a unit that cannot read its challenges never answers "
            "and they end as no_answer; the sync errors in summary.json name the requests."
        )
    if reasons.get("not_on_trace") or reasons.get("no_segment") or reasons.get("gap_event"):
        out.append(
            "Some honest sightings failed the position / coverage checks (not_on_trace, "
            "no_segment, gap_event): the tolerance model (backend/services/tolerance.py) or "
            "the firmware's coverage of a drive needs a look; the examples in summary.json "
            "name the challenges."
        )
    return out


def headline(s: Summary) -> dict[str, Any]:
    """The figures a closing note quotes (summary.json)."""
    acc = {
        name: {
            "trips": a.trips,
            "total_distance_vs_visible": a.total_dist_vs_visible,
            "total_distance_vs_true": a.total_dist_vs_true,
            "total_fee_vs_visible": a.total_fee_vs_visible,
            "trip_distance_vs_visible": a.dist_vs_visible.__dict__,
            "trip_distance_vs_true": a.dist_vs_true.__dict__,
            "trip_fee_vs_visible": a.fee_vs_visible.__dict__,
        }
        for name, a in s.accuracy.items()
    }
    return {
        "vehicles": s.vehicles,
        "vehicle_months": s.vehicle_months,
        "trips": s.trips,
        "driving_hours": s.driving_hours,
        "accuracy": acc,
        "detection": [r.__dict__ for r in s.detection],
        "detection_by_k": s.detection_k,
        "fairness": s.fairness.__dict__,
        "privacy": {k: v for k, v in s.privacy.__dict__.items() if k != "per_vehicle_month"},
        "load": s.load.__dict__,
        "speed": s.speed,
        "cheater_gain": s.cheater_gain,
        "ingest_refusals": s.ingest_refusals,
        "wall_s": s.wall_s,
        "shard_busy": s.shard_busy,
    }


def write_report(result: RunResult, out_dir: Path) -> ReportPaths:
    out_dir.mkdir(parents=True, exist_ok=True)
    s = summarize(result)
    plots = {
        "accuracy": plot_accuracy(s, out_dir / "accuracy.png"),
        "detection": plot_detection(s, out_dir / "detection.png"),
        "detection_k": plot_detection_k(s, out_dir / "detection_k.png"),
        "fairness": plot_fairness(s, out_dir / "fairness.png"),
        "privacy": plot_privacy(s, result, out_dir / "privacy.png"),
        "load": plot_load(s, out_dir / "load.png"),
    }
    doc = build_doc(result, s, {k: p.name for k, p in plots.items()})
    md = out_dir / "report.md"
    md.write_text(doc.markdown(), encoding="utf-8")
    page = out_dir / "report.html"
    page.write_text(doc.html(), encoding="utf-8")
    map_path = write_map(result, out_dir / "map.html")
    summary = out_dir / "summary.json"
    figures = headline(s)
    chunks = _chunks(result)
    if chunks:
        figures["runs"] = [{k: v for k, v in c.items() if k != "backend"} for c in chunks]
    summary.write_text(json.dumps(figures, indent=1, default=str))
    return ReportPaths(out_dir, md, page, map_path, summary, tuple(plots.values()))


__all__ = ["ReportPaths", "write_report"]
