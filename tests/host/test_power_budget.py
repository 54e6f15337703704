"""hardware/power_budget.svg and the power table of hardware/BOM.md say what
hardware/power_budget.json gives today (tools/power_budget.py), and the arithmetic behind the
quoted figures holds when redone here by hand."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from tests.conftest import REPO
from tools import power_budget as pb

DATA = pb.load()


def test_every_consumer_has_a_figure_for_every_state_and_a_source() -> None:
    states = [s["id"] for s in DATA["states"]]
    for c in DATA["consumers"]:
        assert sorted(c["mA"]) == sorted(states), c["ref"]
        assert all(v >= 0 for v in c["mA"].values()), c["ref"]
        assert c["rail"] in DATA["rails"], c["ref"]
        assert len(c["source"]) > 20, c["ref"]


def test_committed_svg_embeds_the_figures_of_the_json() -> None:
    committed = (REPO / "hardware" / "power_budget.svg").read_text()
    assert pb.embedded_summary(committed) == pb.summary(DATA), (
        "hardware/power_budget.svg is stale: run `make power-budget`"
    )


def test_a_fresh_svg_embeds_the_same_figures(tmp_path: Path) -> None:
    out = tmp_path / "budget.svg"
    drawn = pb.render_svg(DATA, out)
    assert pb.embedded_summary(out.read_text()) == drawn == pb.summary(DATA)


def test_bom_power_table_is_current() -> None:
    bom = (REPO / "hardware" / "BOM.md").read_text()
    assert pb.update_bom(bom, pb.bom_table(DATA)) == bom, (
        "the power table of hardware/BOM.md is stale: run `make power-budget`"
    )
    assert "power_budget.svg" in bom


def test_driving_input_current_recomputed_by_hand() -> None:
    eff = DATA["efficiency"]["active"]
    v_in = DATA["input_volts"]
    by_rail: dict[str, float] = {}
    for c in DATA["consumers"]:
        by_rail[c["rail"]] = by_rail.get(c["rail"], 0.0) + c["mA"]["driving"]
    expected = (
        (by_rail["3v3"] + by_rail["5v"]) * 5.0 / eff / v_in
        + by_rail["3v8"] * 3.8 / eff / v_in
        + by_rail["vin"]
        + by_rail["kl15"]
    )
    got = pb.summary(DATA)["states"]["driving"]["input_mA"]
    assert got == pytest.approx(expected, rel=1e-3)


def test_parked_drain_per_day_and_days_to_ten_percent() -> None:
    sm = pb.summary(DATA)
    for sid, d in sm["battery_drain"].items():
        ma = sm["states"][sid]["input_mA"]  # battery and input are both 12 V here
        assert d["mAh_per_day"] == pytest.approx(ma * 24, rel=1e-3)
        assert d["days_to_drain"] == pytest.approx(60000 * 0.10 / (ma * 24), rel=1e-3)
    # The deep-sleep target is what makes a permanent connection acceptable.
    assert sm["battery_drain"]["parked"]["days_to_drain"] > 365
    assert sm["battery_drain"]["parked_now"]["days_to_drain"] < 30


def test_holdup_capacitance_recomputed_by_hand() -> None:
    sm = pb.summary(DATA)
    h = DATA["holdup"]
    st = {s["id"]: s for s in DATA["states"]}["driving"]
    # Input power while driving, without the ignition divider (it hangs on KL15, not VIN_P).
    p_w = sum(pb.input_share(DATA, c, st) for c in DATA["consumers"] if c["rail"] != "kl15")
    p_w *= DATA["input_volts"] / 1000
    e_j = p_w * h["write_ms"] / 1000
    for v0 in h["input_start_volts"]:
        c_uf = 2 * e_j / (v0**2 - h["buck_min_input_volts"] ** 2) * 1e6
        assert sm["holdup"]["input_bulk_uF_from_volts"]["%g" % v0] == pytest.approx(c_uf, 1e-3)
    i_a = sm["states"]["holdup"]["path_5v_mA"] / 1000
    dv = h["supercap_charged_volts"] - h["supercap_min_volts"]
    assert sm["holdup"]["supercap_ride_through_s"] == pytest.approx(0.5 * dv / i_a, rel=1e-3)
    # The fitted capacitors must cover the write with a wide margin.
    assert sm["holdup"]["supercap_ride_through_s"] > 20 * h["write_ms"] / 1000


def test_changing_a_part_changes_the_embedded_figures(tmp_path: Path) -> None:
    hotter = copy.deepcopy(DATA)
    hotter["consumers"][0]["mA"]["driving"] += 10
    out = tmp_path / "hotter.svg"
    pb.render_svg(hotter, out)
    committed = (REPO / "hardware" / "power_budget.svg").read_text()
    assert pb.embedded_summary(out.read_text()) != pb.embedded_summary(committed)


def test_an_svg_without_the_summary_is_refused() -> None:
    with pytest.raises(ValueError, match="no embedded"):
        pb.embedded_summary('<svg xmlns="http://www.w3.org/2000/svg"/>')


def test_the_data_file_is_valid_json_with_unique_refs() -> None:
    raw = json.loads((REPO / "hardware" / "power_budget.json").read_text())
    refs = [c["ref"] for c in raw["consumers"]]
    assert len(refs) == len(set(refs))
