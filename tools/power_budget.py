"""The OBU's power budget: ``python -m tools.power_budget`` (``make power-budget``).

Reads hardware/power_budget.json (per-part currents in each operating state, each with its
datasheet source), and

- computes the current on the 3.3 V rail, on the 5 V path and at the 12 V input (through the
  buck converters' efficiency) per state, the parked battery drain per day and the days to
  drain 10 % of a 60 Ah battery, and the hold-up capacitance that finishes a ledger write;
- draws hardware/power_budget.svg (stacked bars per state, the parked drain by part, the
  figures in text), with those numbers embedded as JSON in the SVG's description so that
  tests/host/test_power_budget.py can compare them with the data file;
- rewrites the generated table of hardware/BOM.md between its ``power-budget`` markers.

    python -m tools.power_budget [--check] [--svg FILE] [--bom FILE]

``--check`` writes nothing and exits 1 if the SVG's embedded figures or the BOM table differ
from what the JSON gives today.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "hardware" / "power_budget.json"
SVG = REPO / "hardware" / "power_budget.svg"
BOM = REPO / "hardware" / "BOM.md"

DIRECT_RAILS = ("vin", "kl15")  # drawn from the input (or the ignition line) as they are
FIVE_VOLT_PATH = ("3v3", "5v")  # the U9 LDO is linear: its input current is its output current
BEGIN = "<!-- power-budget:begin"
END = "<!-- power-budget:end -->"
DC_NS = "http://purl.org/dc/elements/1.1/"


def load(path: Path = DATA) -> dict[str, Any]:
    return json.loads(Path(path).read_text())


def _states(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["id"]: s for s in data["states"]}


def input_share(data: dict[str, Any], consumer: dict[str, Any], state: dict[str, Any]) -> float:
    """The part of the input current (mA at ``input_volts``) that ``consumer`` causes."""
    if state["input_lost"]:
        return 0.0
    ma = float(consumer["mA"][state["id"]])
    rail = consumer["rail"]
    if rail in DIRECT_RAILS:
        return ma
    # Power at the buck's output: the 5 V path for the LDO's load and the 5 V parts, 3.8 V
    # for the modem rail; the buck turns it into input power at its efficiency.
    volts = data["rails"]["5v"]["volts"] if rail in FIVE_VOLT_PATH else data["rails"][rail]["volts"]
    eff = data["efficiency"]["light_load" if state["light_load"] else "active"]
    return ma * volts / eff / data["input_volts"]


def per_state(data: dict[str, Any]) -> dict[str, dict[str, float]]:
    """For each state: the 3.3 V rail, the 5 V path and the input current (mA), input power (W)."""
    out = {}
    for sid, state in _states(data).items():
        rail = sum(c["mA"][sid] for c in data["consumers"] if c["rail"] == "3v3")
        path5 = sum(c["mA"][sid] for c in data["consumers"] if c["rail"] in FIVE_VOLT_PATH)
        inp = sum(input_share(data, c, state) for c in data["consumers"])
        out[sid] = {
            "rail_3v3_mA": rail,
            "path_5v_mA": path5,
            "input_mA": inp,
            "input_W": inp * data["input_volts"] / 1000,
        }
    return out


def _sig(x: float, digits: int = 4) -> float:
    """``x`` to ``digits`` significant figures: stable numbers to embed and compare."""
    return float("%.*g" % (digits, x))


def summary(data: dict[str, Any]) -> dict[str, Any]:
    """Every figure the SVG and the BOM quote, rounded to 4 significant digits."""
    states = per_state(data)
    bat = data["battery"]
    hold = data["holdup"]
    drain = {}
    for sid, state in _states(data).items():
        if state.get("battery_drain"):
            # The input current is drawn from the battery at input_volts; the drain in mAh of
            # a battery of bat["volts"] scales with the power.
            bat_ma = states[sid]["input_W"] * 1000 / bat["volts"]
            per_day = bat_ma * 24
            drain[sid] = {
                "battery_mA": _sig(bat_ma),
                "mAh_per_day": _sig(per_day),
                "days_to_drain": _sig(bat["capacity_mAh"] * bat["drain_fraction"] / per_day),
            }
    # Hold-up, way 1: a bulk capacitor on the protected input (behind the ideal diode, which
    # keeps it from feeding the car's other loads). The buck draws constant power, so the
    # capacitor must give P·t between the input at the cut and the buck's minimum input.
    write_s = hold["write_ms"] / 1000
    st = _states(data)[hold["state"]]
    vinp_ma = sum(input_share(data, c, st) for c in data["consumers"] if c["rail"] != "kl15")
    energy_j = vinp_ma / 1000 * data["input_volts"] * write_s
    vmin = hold["buck_min_input_volts"]
    bulk = {
        "%g" % v0: _sig(2 * energy_j / (v0**2 - vmin**2) * 1e6) for v0 in hold["input_start_volts"]
    }
    # Way 2, the reference design: the LTC3226 runs the 5 V path from C1+C2 through its
    # linear backup LDO, so the capacitors give the path's current (charge, not energy).
    cap_ma = states["holdup"]["path_5v_mA"]
    dv = hold["supercap_charged_volts"] - hold["supercap_min_volts"]
    return {
        "input_volts": data["input_volts"],
        "states": {
            sid: {k: _sig(v) for k, v in figures.items()} for sid, figures in states.items()
        },
        "battery_drain": drain,
        "holdup": {
            "write_ms": hold["write_ms"],
            "write_energy_mJ": _sig(energy_j * 1000),
            "input_bulk_uF_from_volts": bulk,
            "supercap_mA": _sig(cap_ma),
            "supercap_needed_mF": _sig(cap_ma / 1000 * write_s / dv * 1000),
            "supercap_fitted_F": hold["supercap_farads"],
            "supercap_ride_through_s": _sig(hold["supercap_farads"] * dv / (cap_ma / 1000)),
        },
    }


# --- the BOM table ----------------------------------------------------------------------------


def _fmt(x: float) -> str:
    """mA with the precision the size calls for: 0.23, 5.46, 32.4, 269."""
    if x >= 100:
        return "%.0f" % x
    if x >= 10:
        return "%.1f" % x
    return "%.2f" % x


def _watts(w: float) -> str:
    return "%.3g W" % w if w >= 0.1 else "%.3g mW" % (w * 1000)


def bom_table(data: dict[str, Any]) -> str:
    """The generated block of hardware/BOM.md (without the markers)."""
    sm = summary(data)
    v = "%g" % data["input_volts"]
    lines = [
        "| state | 3.3 V rail | 5 V path | input at %s V | battery / hold-up |" % v,
        "|---|---|---|---|---|",
    ]
    for state in data["states"]:
        sid = state["id"]
        f = sm["states"][sid]
        note = ""
        if sid in sm["battery_drain"]:
            d = sm["battery_drain"][sid]
            note = "%s mAh/day; 10 %% of %d Ah in %s days" % (
                _fmt(d["mAh_per_day"]),
                data["battery"]["capacity_mAh"] // 1000,
                "%.0f" % d["days_to_drain"],
            )
        if state["input_lost"]:
            inp = "— (input lost)"
            note = "%s mA from C1+C2" % _fmt(f["path_5v_mA"])
        else:
            inp = "**%s mA** (%s)" % (_fmt(f["input_mA"]), _watts(f["input_W"]))
        label = state["label"]
        lines.append(
            "| %s | %s mA | %s mA | %s | %s |"
            % (label, _fmt(f["rail_3v3_mA"]), _fmt(f["path_5v_mA"]), inp, note)
        )
    h = sm["holdup"]
    bulk = ", ".join(
        "%s µF from %s V" % ("%.0f" % uf, v0) for v0, uf in h["input_bulk_uF_from_volts"].items()
    )
    lines += [
        "",
        textwrap.fill(
            "Hold-up for a %d ms ledger write at the driving current (%s mJ at the input): a bulk "
            "capacitor on the protected input alone would need %s down to the buck's %g V minimum "
            "input; on the supercapacitor side %s mF from %g V to %g V. The fitted %g F lasts "
            "**%.1f s** at the hold-up current of %s mA."
            % (
                h["write_ms"],
                "%.3g" % h["write_energy_mJ"],
                bulk,
                data["holdup"]["buck_min_input_volts"],
                "%.2g" % h["supercap_needed_mF"],
                data["holdup"]["supercap_charged_volts"],
                data["holdup"]["supercap_min_volts"],
                h["supercap_fitted_F"],
                h["supercap_ride_through_s"],
                _fmt(h["supercap_mA"]),
            ),
            width=96,
            break_on_hyphens=False,
        ),
    ]
    return "\n".join(lines) + "\n"


def update_bom(text: str, table: str) -> str:
    """``text`` with the block between the power-budget markers replaced by ``table``."""
    start = text.index(BEGIN)
    body = text.index("\n", start) + 1
    end = text.index(END, body)
    return text[:body] + table + text[end:]


# --- the figure -------------------------------------------------------------------------------


def render_svg(data: dict[str, Any], out: Path) -> dict[str, Any]:
    """Draw the budget into ``out`` (SVG); returns the embedded summary."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sm = summary(data)
    states = data["states"]
    sids = [s["id"] for s in states]
    consumers = data["consumers"]
    cmap = plt.get_cmap("tab20")
    colours = {c["ref"]: cmap(i % 20) for i, c in enumerate(consumers)}

    with plt.rc_context(
        {"svg.hashsalt": "quietmile-power-budget", "svg.fonttype": "none", "font.size": 9}
    ):
        fig = plt.figure(figsize=(13, 10.5))
        grid = fig.add_gridspec(
            3, 2, height_ratios=[1.3, 0.22, 1], hspace=0.34, wspace=0.24, top=0.93
        )
        ax_rail = fig.add_subplot(grid[0, 0])
        ax_in = fig.add_subplot(grid[0, 1])
        ax_leg = fig.add_subplot(grid[1, :])
        ax_park = fig.add_subplot(grid[2, 0])
        ax_text = fig.add_subplot(grid[2, 1])
        x = list(range(len(sids)))
        handles: dict[str, tuple[Any, str]] = {}

        # (a) the 3.3 V rail and (b) the input through the bucks' efficiency, stacked by part.
        panels = [
            (ax_rail, lambda c, s: float(c["mA"][s["id"]]) if c["rail"] == "3v3" else 0.0),
            (ax_in, lambda c, s: input_share(data, c, s)),
        ]
        for ax, height in panels:
            bottom = [0.0] * len(sids)
            for c in consumers:
                h = [height(c, s) for s in states]
                if not any(h):
                    continue
                bars = ax.bar(x, h, 0.62, bottom=bottom, color=colours[c["ref"]])
                handles.setdefault(c["ref"], (bars, _name(c)))
                bottom = [b + v for b, v in zip(bottom, h, strict=True)]
            for i, state in enumerate(states):
                f = sm["states"][state["id"]]
                if ax is ax_rail:
                    text = "%s mA" % _fmt(f["rail_3v3_mA"])
                elif state["input_lost"]:
                    text = "input lost:\n%s mA\nfrom C1+C2" % _fmt(f["path_5v_mA"])
                else:
                    text = "%s mA" % _fmt(f["input_mA"])
                ax.annotate(
                    text,
                    (i, bottom[i]),
                    ha="center",
                    va="bottom",
                    xytext=(0, 3),
                    textcoords="offset points",
                )
            ax.set_xticks(x, [s["short"] for s in states])
            ax.set_ylim(0, max(bottom) * 1.18)
            ax.grid(axis="y", alpha=0.3)
            ax.set_axisbelow(True)
        ax_rail.set_title("3.3 V rail current by part", loc="left", fontweight="bold")
        ax_rail.set_ylabel("mA at 3.3 V")
        ax_in.set_title(
            "Input current at %g V by part (buck efficiency %d %%)"
            % (data["input_volts"], round(data["efficiency"]["active"] * 100)),
            loc="left",
            fontweight="bold",
        )
        ax_in.set_ylabel("mA at the %g V input" % data["input_volts"])

        # One legend for both panels: the colours are the same parts.
        ax_leg.axis("off")
        ordered = [handles[c["ref"]] for c in consumers if c["ref"] in handles]
        ax_leg.legend(
            [h for h, _ in ordered],
            [n for _, n in ordered],
            loc="center",
            ncol=4,
            frameon=False,
            fontsize=8.5,
        )

        # (c) where the parked (deep sleep) drain goes, in µA at the input.
        park = _states(data)["parked"]
        shares = sorted(
            ((input_share(data, c, park) * 1000, c) for c in consumers),
            key=lambda t: (t[0], t[1]["ref"]),
        )
        shares = [(ua, c) for ua, c in shares if ua > 0]
        ax_park.barh(
            [_name(c) for _, c in shares],
            [ua for ua, _ in shares],
            color=[colours[c["ref"]] for _, c in shares],
        )
        for i, (ua, _) in enumerate(shares):
            ax_park.annotate(
                "%.1f µA" % ua, (ua, i), va="center", xytext=(3, 0), textcoords="offset points"
            )
        total = sm["states"]["parked"]["input_mA"] * 1000
        ax_park.set_title(
            "Parked, deep sleep: %.0f µA at the %g V input, by part" % (total, data["input_volts"]),
            loc="left",
            fontweight="bold",
        )
        ax_park.set_xlabel("µA at the input")
        ax_park.margins(x=0.18)
        ax_park.grid(axis="x", alpha=0.3)
        ax_park.set_axisbelow(True)

        # (d) the figures in words.
        ax_text.axis("off")
        ax_text.text(
            0.0, 1.0, _summary_text(data, sm), va="top", ha="left", fontsize=9, linespacing=1.45
        )
        fig.suptitle(
            "quietmile OBU rev A — power budget (hardware/power_budget.json; typical datasheet "
            "figures)",
            x=0.01,
            ha="left",
            fontweight="bold",
            fontsize=12,
        )
        fig.savefig(
            out,
            format="svg",
            bbox_inches="tight",
            metadata={
                "Date": None,
                "Creator": "tools/power_budget.py",
                "Title": "quietmile OBU power budget",
                "Description": json.dumps(sm, sort_keys=True),
            },
        )
        plt.close(fig)
    return sm


def _name(c: dict[str, Any]) -> str:
    return "%s %s" % (c["ref"], c["name"])


def _summary_text(data: dict[str, Any], sm: dict[str, Any]) -> str:
    bat = data["battery"]
    h = sm["holdup"]
    hold = data["holdup"]
    lines = [
        "Battery drain while parked (%g V, %d Ah battery):"
        % (bat["volts"], bat["capacity_mAh"] // 1000)
    ]
    for sid, d in sm["battery_drain"].items():
        label = _states(data)[sid]["label"]
        lines.append(
            "• %s: %s mA → %s mAh/day → %d %% in %.0f days"
            % (
                label,
                _fmt(d["battery_mA"]),
                _fmt(d["mAh_per_day"]),
                round(bat["drain_fraction"] * 100),
                d["days_to_drain"],
            )
        )
    lines += [
        "",
        "Hold-up: finish a %d ms ledger write at the driving current" % h["write_ms"],
        "(%.3g mJ drawn at the input):" % h["write_energy_mJ"],
    ]
    for v0, uf in h["input_bulk_uF_from_volts"].items():
        lines.append(
            "• bulk capacitor on the input alone: ≥ %.0f µF from %s V to %g V"
            % (uf, v0, hold["buck_min_input_volts"])
        )
    lines += [
        "• supercap side: ≥ %.2g mF from %g V to %g V at %s mA"
        % (
            h["supercap_needed_mF"],
            hold["supercap_charged_volts"],
            hold["supercap_min_volts"],
            _fmt(h["supercap_mA"]),
        ),
        "• fitted C1+C2 = %g F: %.1f s of hold-up"
        % (h["supercap_fitted_F"], h["supercap_ride_through_s"]),
        "",
        "Peaks are transmit peaks (Wi-Fi 802.11b, LTE-M 23 dBm), not averages.",
        "Parked: the firmware sleeps when the ignition has been off for",
        "power.ignition_off_s; awake, a unit whose KL15 is not wired.",
    ]
    return "\n".join(lines)


def embedded_summary(svg_text: str) -> dict[str, Any]:
    """The summary that render_svg embedded in an SVG (its Dublin Core description)."""
    root = ET.fromstring(svg_text)
    node = root.find(".//{%s}description" % DC_NS)
    if node is None or node.text is None:
        raise ValueError("no embedded power-budget summary in this SVG")
    return json.loads(node.text)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if the SVG or the BOM is stale")
    ap.add_argument("--svg", type=Path, default=SVG, help="figure (default: %(default)s)")
    ap.add_argument("--bom", type=Path, default=BOM, help="BOM to update (default: %(default)s)")
    args = ap.parse_args(argv)
    data = load()
    table = bom_table(data)
    if args.check:
        stale = []
        if not args.svg.exists() or embedded_summary(args.svg.read_text()) != summary(data):
            stale.append(str(args.svg))
        bom = args.bom.read_text()
        if update_bom(bom, table) != bom:
            stale.append(str(args.bom))
        for path in stale:
            print("%s is stale: run `make power-budget`" % path)
        return 1 if stale else 0
    render_svg(data, args.svg)
    args.bom.write_text(update_bom(args.bom.read_text(), table))
    print("wrote %s and the power table of %s" % (args.svg, args.bom))
    print(_summary_text(data, summary(data)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
