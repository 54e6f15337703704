"""hardware/wiring.svg is what tools/wiring_diagram.py makes from hardware/pinmap.json today:
well-formed SVG with one labelled wire per pin-map signal, carrying that signal's GPIO."""

from __future__ import annotations

import copy
import json
import xml.etree.ElementTree as ET

import pytest

from tests.conftest import REPO
from tools import wiring_diagram as wd

SVG = REPO / "hardware" / "wiring.svg"
NS = {"svg": "http://www.w3.org/2000/svg"}
PINMAP = json.loads((REPO / "hardware" / "pinmap.json").read_text())


def _wires(text: str) -> dict[str, ET.Element]:
    root = ET.fromstring(text)
    return {g.attrib["data-signal"]: g for g in root.iterfind(".//svg:g[@class='wire']", NS)}


def _expected() -> dict[str, int]:
    """Every signal of the pin map by its path, read here independently of the generator."""
    out = {}
    for name, u in PINMAP["uart"].items():
        out["uart.%s.tx" % name] = u["tx"]
        out["uart.%s.rx" % name] = u["rx"]
    for name, bus in PINMAP["i2c"].items():
        out["i2c.%s.sda" % name] = bus["sda"]
        out["i2c.%s.scl" % name] = bus["scl"]
    for name, g in PINMAP["gpio"].items():
        out["gpio." + name] = g["pin"]
    return out


def test_committed_svg_is_a_fresh_generation() -> None:
    assert SVG.read_text() == wd.render(), "hardware/wiring.svg is stale: run `make wiring`"


def test_svg_parses_as_xml_with_a_viewbox() -> None:
    root = ET.fromstring(SVG.read_text())
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.attrib["viewBox"] == "0 0 %d %d" % (wd.WIDTH, wd.HEIGHT)


def test_every_pinmap_signal_is_a_wire_labelled_with_its_gpio() -> None:
    wires = _wires(SVG.read_text())
    expected = _expected()
    assert set(wires) == set(expected)
    for path, gpio in expected.items():
        g = wires[path]
        assert g.attrib["data-gpio"] == str(gpio), path
        assert g.find("svg:line", NS) is not None, path
        label = g.find("svg:text", NS)
        assert label is not None and label.text is not None, path
        assert label.text.startswith("GPIO%d  %s" % (gpio, path)), label.text


def test_a_moved_pin_moves_in_the_drawing() -> None:
    moved = copy.deepcopy(PINMAP)
    moved["gpio"]["led_red"]["pin"] = 23
    wires = _wires(wd.render(moved))
    assert wires["gpio.led_red"].attrib["data-gpio"] == "23"


def test_a_signal_the_generator_cannot_place_is_an_error() -> None:
    extra = copy.deepcopy(PINMAP)
    extra["gpio"]["heater"] = {"pin": 23, "dir": "out"}
    with pytest.raises(SystemExit, match=r"gpio\.heater"):
        wd.render(extra)
