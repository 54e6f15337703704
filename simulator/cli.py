"""``python -m simulator`` — the ``simulate`` command: one trip, a fleet, or a report.

    python -m simulator trip --from home-west --to office-garage [--mode micropython]
    python -m simulator trip --gpx track.gpx | --nmea capture.log
    python -m simulator fleet --preset demo --out out/fleet
    python -m simulator fleet --vehicles 40 --days 28 --period week --workers 2 --seed 5
    python -m simulator report out/fleet/results.json --out out/fleet/report
    python -m simulator report out/a/results.json out/b/results.json --out out/ab-report

A long campaign runs as chunks, one fleet run per seed, reported together (simulator.campaign):

    for s in 2026 2027 2028 2029 2030; do
        python -m simulator fleet --preset long --seed $s --vehicles 100 --out var/long/chunk-$s
    done
    python -m simulator report var/long/chunk-20*/results.json --out var/long/report

Every run is reproducible from its seed (trips, receiver noise, cameras, cheats and the OBUs'
randomness); only the backend's challenge ids and audit indices come from its own CSPRNG.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import random
import shutil
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from protocol import envelopes, p256, timeutil
from simulator import cheats, gnss, nmea_out, presets
from simulator.campaign import ChunkError, load_union
from simulator.cheats import CheatApp, CheatSpec
from simulator.fleet import FleetConfig, RunResult, run_fleet
from simulator.network import Environment, default_network, default_policy, local_to_utc
from simulator.obu import ObuIdentity, open_obu, prepare_root
from simulator.trips import Trip, load_gpx, load_nmea_log, synthetic_trip

app = typer.Typer(
    name="simulate",
    help="quietmile simulator: trips and fleets through the real firmware and backend.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()

SIM_AUTHORITY_SEED = b"quietmile/sim/offline-authority"


def _eur(micro: float) -> str:
    return f"{micro / 1e6:.4f}"


def _parse_depart(text: str) -> int:
    """Local wall time ``YYYY-MM-DDTHH:MM`` (Veldhaven, CET/CEST) as Unix seconds."""
    try:
        d = _dt.datetime.strptime(text, "%Y-%m-%dT%H:%M")
    except ValueError:
        raise typer.BadParameter("use YYYY-MM-DDTHH:MM (local time)") from None
    local = timeutil.unix_from_civil(d.year, d.month, d.day, d.hour, d.minute, 0)
    return local_to_utc(default_policy(), local)


@app.command()
def trip(
    origin: Annotated[str, typer.Option("--from", help="place name (see --places)")] = "home-west",
    destination: Annotated[str, typer.Option("--to")] = "office-garage",
    depart: Annotated[str, typer.Option(help="local time YYYY-MM-DDTHH:MM")] = "2026-03-03T07:45",
    gpx: Annotated[Path | None, typer.Option(help="replay a GPX track instead")] = None,
    nmea: Annotated[Path | None, typer.Option(help="replay an NMEA log instead")] = None,
    seed: Annotated[int, typer.Option()] = 1,
    mode: Annotated[str, typer.Option(help="inprocess or micropython")] = "inprocess",
    receiver: Annotated[str, typer.Option("--gnss", help="good or bad receiver")] = "good",
    cheat: Annotated[
        str, typer.Option(help="a segment-level cheat: " + ", ".join(cheats.SEGMENT_STRATEGIES))
    ] = cheats.HONEST,
    share: Annotated[float, typer.Option(help="share of segments cheated")] = 1.0,
    vehicle_class: Annotated[int, typer.Option("--class")] = 1,
    places: Annotated[bool, typer.Option("--places", help="list the place names")] = False,
) -> None:
    """One trip through the firmware (no backend): its segments, charged against true."""
    net = default_network()
    policy = default_policy(net)
    if places:
        for name, p in sorted(net.places.items()):
            console.print(f"{name:18s} {p.kind}{' (garage)' if p.garage else ''}")
        return
    if mode not in ("inprocess", "micropython"):
        raise typer.BadParameter("mode is inprocess or micropython")
    if gpx is not None:
        t: Trip = load_gpx(gpx, vehicle_class=vehicle_class)
    elif nmea is not None:
        t = load_nmea_log(nmea, vehicle_class=vehicle_class)
    else:
        t = synthetic_trip(
            origin,
            destination,
            _parse_depart(depart),
            seed,
            network=net,
            policy=policy,
            vehicle_class=vehicle_class,
        )
    cfg = gnss.GnssConfig.bad() if receiver == "bad" else gnss.GnssConfig.good()
    data = nmea_out.to_bytes(gnss.epochs(t, cfg, seed))
    # No backend here: a throwaway authority signs the tariff the unit is given.
    authority = p256.SoftwareSigner(
        p256.private_key_from_bytes(hashlib.sha256(SIM_AUTHORITY_SEED).digest())
    )
    ident = ObuIdentity("OBU-SIM-TRIP", "QM TRIP", vehicle_class, f"trip/{seed}")
    spec = CheatSpec(cheat, share)
    with tempfile.TemporaryDirectory(prefix="qm-trip-") as tmp:
        root = Path(tmp) / ident.obu_id
        cfg_path = prepare_root(
            root,
            ident,
            authority_public_key=authority.public_key(),
            policy_envelope=envelopes.sign_policy(policy, authority),
            install_at=max(policy.valid_from, t.start_t - 3600),
        )
        obu = open_obu(
            mode,  # type: ignore[arg-type]
            ident,
            root,
            cfg_path,
            app_class=CheatApp if spec.needs_cheat_app else None,
            app_kwargs={"cheat": spec, "cheat_rng": random.Random(seed)}
            if spec.needs_cheat_app
            else None,
        )
        try:
            res = obu.feed(data)
        finally:
            obu.close()
    table = Table(title=f"trip {t.trip_id}: {t.origin or t.source} → {t.destination or ''}")
    for col in ("#", "from", "to", "zone", "band", "metres", "µ/km", "price", "flags", "cheat"):
        table.add_column(col, justify="right")
    for r in res.records:
        table.add_row(
            str(r.index),
            str(r.t_start - t.start_t),
            str(r.t_end - t.start_t),
            str(r.zone),
            str(r.band),
            str(r.dist_m),
            str(r.rate),
            _eur(r.price),
            hex(r.flags),
            r.action or "",
        )
    console.print(table)
    by_env = t.dist_um_by_env()
    true_m = sum(by_env.values()) / 1e6
    visible_m = true_m - by_env.get(Environment.GARAGE, 0) / 1e6
    charged = [r for r in res.records if not r.gap_event and r.action != cheats.DROP_SEGMENTS]
    charged_m = sum(r.dist_m for r in charged)
    fee = t.true_fee(policy).total_micro
    console.print(
        f"true {true_m:,.1f} m (visible to a receiver {visible_m:,.1f} m), charged "
        f"{charged_m:,} m ({100 * (charged_m / visible_m - 1):+.2f} % of visible); "
        f"true fee {_eur(fee)} EUR, charged {_eur(sum(r.price for r in charged))} EUR "
        f"[{mode}, {receiver} receiver]"
    )


def _period(value: str) -> str | int:
    names: dict[str, str | int] = {"month": "month", "week": 604800, "day": 86400}
    if value in names:
        return names[value]
    try:
        return int(value)
    except ValueError:
        raise typer.BadParameter("month, week, day or a number of seconds") from None


@app.command()
def fleet(
    out: Annotated[Path, typer.Option(help="output directory")] = Path("out/fleet"),
    preset: Annotated[str | None, typer.Option(help="short, demo or long")] = None,
    seed: Annotated[int | None, typer.Option()] = None,
    vehicles: Annotated[int | None, typer.Option()] = None,
    days: Annotated[int | None, typer.Option()] = None,
    start: Annotated[str | None, typer.Option(help="YYYY-MM-DD (UTC)")] = None,
    period: Annotated[str | None, typer.Option(help="month, week, day or seconds")] = None,
    workers: Annotated[int | None, typer.Option(help="shard processes")] = None,
    micropython: Annotated[int | None, typer.Option(help="vehicles under MicroPython")] = None,
    cheaters: Annotated[float | None, typer.Option(help="share of cheating vehicles")] = None,
    strategies: Annotated[str | None, typer.Option(help="comma-separated cheat strategies")] = None,
    database_url: Annotated[
        str | None,
        typer.Option(envvar="QUIETMILE_SIM_DATABASE_URL", help="default: SQLite in --out"),
    ] = None,
    report: Annotated[bool, typer.Option(help="write the report")] = True,
    only: Annotated[
        str | None,
        typer.Option(help="replay only these vehicle indices (comma-separated), e.g. one case"),
    ] = None,
) -> None:
    """Run a fleet against the real backend; save results.json and the report."""
    cfg = presets.PRESETS[preset]() if preset else FleetConfig()
    changes: dict[str, object] = {}
    for name, value in (
        ("seed", seed),
        ("vehicles", vehicles),
        ("days", days),
        ("workers", workers),
        ("micropython", micropython),
        ("cheater_share", cheaters),
        ("database_url", database_url),
    ):
        if value is not None:
            changes[name] = value
    if start is not None:
        y, m, d = (int(x) for x in start.split("-"))
        changes["start"] = (y, m, d)
    if period is not None:
        changes["period"] = _period(period)
    if only is not None:
        changes["only"] = tuple(int(x) for x in only.split(",") if x.strip())
    if strategies is not None:
        changes["strategies"] = tuple(s.strip() for s in strategies.split(",") if s.strip())
    cfg = dataclasses.replace(cfg, **changes)  # type: ignore[arg-type]
    out.mkdir(parents=True, exist_ok=True)
    work = out / "run"
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TextColumn("{task.fields[what]}"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("simulating", total=1.0, what="")
        result = run_fleet(cfg, work, lambda f, what: progress.update(task, completed=f, what=what))
    path = out / "results.json"
    result.save(path)
    console.print(f"results: {path}")
    if report:
        _report(result, out / "report")
    shutil.rmtree(work, ignore_errors=True)


def _report(result: RunResult, out: Path) -> None:
    from simulator.metrics import summarize
    from simulator.report import write_report

    paths = write_report(result, out)
    s = summarize(result)
    console.print(f"report: {paths.html} (Markdown {paths.markdown}, map {paths.map})")
    acc = s.accuracy.get("all honest")
    if acc is not None:
        console.print(
            f"accuracy: charged distance {100 * acc.total_dist_vs_visible:+.3f} % of visible "
            f"({100 * acc.total_dist_vs_true:+.3f} % of true), worst trip "
            f"{100 * acc.dist_vs_visible.max:+.2f} % / {100 * acc.dist_vs_visible.min:+.2f} %"
        )
    console.print(
        f"fairness: {s.fairness.false_accusations} false accusations in "
        f"{s.fairness.spot_checks} spot checks of honest vehicles"
    )
    for r in s.detection:
        console.print(
            f"  {r.strategy:17s} L{r.density}: detected {100 * r.measured:5.1f} % of "
            f"{r.n} periods (analytic {100 * r.analytic:5.1f} %, k={r.mean_k:.1f})"
        )


@app.command("report")
def report_cmd(
    results: Annotated[
        list[Path], typer.Argument(help="results.json of a fleet run, or of several (chunks)")
    ],
    out: Annotated[
        Path | None, typer.Option(help="default: <results dir>/report (one run only)")
    ] = None,
) -> None:
    """Write the report of a saved fleet run, or one report over several runs (a campaign in
    chunks: same configuration, different seeds; see simulator.campaign)."""
    if out is None:
        if len(results) > 1:
            raise typer.BadParameter("give --out for a report over several runs")
        out = results[0].parent / "report"
    try:
        result = load_union(results)
    except ChunkError as e:
        raise typer.BadParameter(str(e)) from None
    if result.chunks:
        console.print(
            f"{len(result.chunks)} runs (seeds "
            + ", ".join(str(c["seed"]) for c in result.chunks)
            + f"): {result.config['vehicles']} vehicles"
        )
    _report(result, out)


def main() -> None:
    app(prog_name="simulate")
