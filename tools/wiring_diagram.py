"""Generate hardware/wiring.svg from hardware/pinmap.json: ``python -m tools.wiring_diagram``.

The pin map is the single source of truth for which ESP32 GPIO carries which signal; this
script only knows where each signal goes (the part and its pin, from hardware/BOM.md) and
where to draw it. Every UART, I2C and GPIO entry of the pin map becomes one labelled wire
``<g class="wire" data-signal="uart.gnss.tx" data-gpio="17">`` between the ESP32 and its part;
a pin-map entry this script does not know is an error, so the drawing cannot silently fall
behind the map. The output is plain SVG text, byte-for-byte deterministic, and
tests/host/test_wiring_diagram.py checks the committed file against a fresh run.

    python -m tools.wiring_diagram [--check]    (--check: exit 1 if hardware/wiring.svg is stale)
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

REPO = Path(__file__).resolve().parent.parent
PINMAP = REPO / "hardware" / "pinmap.json"
OUT = REPO / "hardware" / "wiring.svg"

WIDTH = 1780
HEIGHT = 1310

# Colours by kind of net; the legend at the bottom repeats them.
COLOURS = {
    "uart": "#1f5fbf",
    "i2c": "#7b3fa0",
    "in": "#2e7d32",
    "out": "#c25e00",
    "power": "#c62828",
    "gnd": "#444444",
    "rf": "#00838f",
}
FONT = "DejaVu Sans, Arial, Helvetica, sans-serif"
MONO = "DejaVu Sans Mono, Consolas, monospace"

# ESP32 module block and the two wire columns either side of it.
ESP_X0, ESP_X1 = 700, 910
ESP_Y0, ESP_Y1 = 330, 1110
LEFT_PART_X1 = 330  # right edge of the left-hand parts: wires run from here to ESP_X0
RIGHT_PART_X0 = 1280  # left edge of the right-hand parts: wires run from ESP_X1 to here
ROW = 36  # pitch between wires
GROUP_GAP = 60  # extra space between parts
FIRST_ROW = ESP_Y0 + 70
U5_WIDTH = 150  # the level shifter, first part of the modem chain


@dataclass(frozen=True)
class Route:
    """Where one pin-map signal goes: the side of the ESP32, the part, the part's pin."""

    side: str  # "left" or "right"
    group: str  # the part block the wire ends at
    part_pin: str  # the pin name on that part
    kind: str  # "uart", "i2c", "in", "out"
    direction: str  # "out" (ESP32 drives), "in" (ESP32 reads), "both"
    note: str = ""  # extra words on the label


# Every pin-map signal, by its path in pinmap.json. The order is the drawing order.
ROUTES: dict[str, Route] = {
    "uart.gnss.tx": Route("left", "gnss", "RXD", "uart", "out"),
    "uart.gnss.rx": Route("left", "gnss", "TXD", "uart", "in"),
    "gpio.gnss_pps": Route("left", "gnss", "TIMEPULSE", "in", "in", "1 PPS"),
    "gpio.gnss_reset": Route("left", "gnss", "RESET_N", "out", "out", "active low"),
    "i2c.main.sda": Route("left", "se", "SDA (pin 5)", "i2c", "both"),
    "i2c.main.scl": Route("left", "se", "SCL (pin 6)", "i2c", "out"),
    "gpio.power_fail": Route("left", "pfo", "PFO", "in", "in", "low = input lost"),
    "gpio.ignition_sense": Route("left", "ign", "Q4 drain", "in", "in", "low = KL15 on"),
    "gpio.button": Route("left", "button", "contact", "in", "in", "low = pressed"),
    "uart.modem.tx": Route("right", "modem", "A1", "uart", "out"),
    "uart.modem.rx": Route("right", "modem", "A2", "uart", "in"),
    "gpio.modem_status": Route("right", "modem", "A3", "in", "in"),
    "gpio.modem_pwrkey": Route("right", "q3", "gate", "out", "out", "high = PWRKEY low"),
    "gpio.led_green": Route("right", "leds", "LED1 green", "out", "out"),
    "gpio.led_amber": Route("right", "leds", "LED2 amber", "out", "out"),
    "gpio.led_red": Route("right", "leds", "LED3 red", "out", "out"),
    "gpio.buzzer": Route("right", "buzzer", "Q2 gate", "out", "out"),
    "gpio.tamper": Route("right", "tamper", "NC contact", "in", "in", "high = lid open"),
}

# Part blocks at the end of the wires: reference, title lines, notes below the pins.
PARTS: dict[str, dict[str, Any]] = {
    "gnss": {
        "ref": "U2",
        "title": ["u-blox MAX-M10S", "(alt. NEO-M9N) GNSS"],
        "power": "VCC, V_IO, V_BCKP = +3V3",
    },
    "se": {
        "ref": "U3",
        "title": ["Microchip ATECC608B", "secure element, SOIC-8"],
        "power": "VCC (pin 8) = +3V3",
    },
    "pfo": {
        "ref": "U8",
        "title": ["LTC3226 power-fail", "output (open drain)"],
        "power": "10 kΩ pull-up to +3V3",
    },
    "ign": {
        "ref": "Q4, R1–R3",
        "title": ["ignition: KL15 → 100 kΩ /", "47 kΩ → BSS138 gate"],
        "power": "R3 100 kΩ to +3V3; D2, C3 at gate",
    },
    "button": {
        "ref": "SW2",
        "title": ["driver push button", "to GND, 100 nF across"],
        "power": "internal pull-up (GPIO19)",
    },
    "modem": {
        "ref": "U5",
        "title": ["SN74AXC4T774", "3.3 V ↔ 1.8 V"],
        "power": "",  # noted under U4, the chain's last part
    },
    "q3": {
        "ref": "Q3",
        "title": ["2N7002"],
        "power": "",
        "height": 30,
        "gap_before": 14,
    },
    "leds": {
        "ref": "LED1–3",
        "title": ["status LEDs, 0603", "each via 1 kΩ to GND"],
        "power": "firmware/status.py patterns",
    },
    "buzzer": {
        "ref": "BZ1",
        "title": ["3 V magnetic buzzer", "Q2 2N7002 low side"],
        "power": "flyback diode across BZ1",
    },
    "tamper": {
        "ref": "SW1",
        "title": ["lid microswitch (NC)", "to GND"],
        "power": "100 kΩ pull-up to +3V3",
    },
}


def signals(pinmap: dict[str, Any]) -> list[tuple[str, int, dict[str, Any]]]:
    """(path, GPIO, the pin map's entry) for every signal of the pin map, in map order."""
    out = []
    for name, u in pinmap["uart"].items():
        for k in ("tx", "rx"):
            out.append(("uart.%s.%s" % (name, k), int(u[k]), u))
    for name, bus in pinmap["i2c"].items():
        for k in ("sda", "scl"):
            out.append(("i2c.%s.%s" % (name, k), int(bus[k]), bus))
    for name, g in pinmap["gpio"].items():
        out.append(("gpio." + name, int(g["pin"]), g))
    return out


def _label(path: str, gpio: int, entry: dict[str, Any], route: Route) -> str:
    kind, _, rest = path.partition(".")
    if kind == "uart":
        detail = "UART%d %s, %d Bd" % (entry["id"], rest.rsplit(".", 1)[1].upper(), entry["baud"])
    elif kind == "i2c":
        detail = "I2C%d %s, %d kHz" % (
            entry["id"],
            rest.rsplit(".", 1)[1].upper(),
            entry["freq"] // 1000,
        )
    else:
        detail = route.note
    text = "GPIO%d  %s" % (gpio, path)
    return "%s  (%s)" % (text, detail) if detail else text


class Svg:
    """A small SVG writer: elements appended in order, two-space indented."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, line: str) -> None:
        self.lines.append("  " + line)

    def text(
        self,
        x: float,
        y: float,
        s: str,
        size: int = 13,
        anchor: str = "start",
        weight: str = "normal",
        fill: str = "#111111",
        family: str = FONT,
    ) -> None:
        self.add(
            '<text x="%s" y="%s" font-family="%s" font-size="%d" text-anchor="%s" '
            'font-weight="%s" fill="%s">%s</text>'
            % (_n(x), _n(y), family, size, anchor, weight, fill, escape(s))
        )

    def rect(
        self,
        x: float,
        y: float,
        w: float,
        h: float,
        fill: str = "#ffffff",
        stroke: str = "#222222",
        width: float = 1.5,
        rx: int = 4,
        dash: str = "",
    ) -> None:
        extra = ' stroke-dasharray="%s"' % dash if dash else ""
        self.add(
            '<rect x="%s" y="%s" width="%s" height="%s" rx="%d" fill="%s" stroke="%s" '
            'stroke-width="%s"%s/>'
            % (_n(x), _n(y), _n(w), _n(h), rx, fill, stroke, _n(width), extra)
        )

    def line(
        self,
        x0: float,
        y0: float,
        x1: float,
        y1: float,
        stroke: str = "#222222",
        width: float = 1.5,
        start: str = "",
        end: str = "",
        dash: str = "",
    ) -> None:
        extra = ""
        if start:
            extra += ' marker-start="url(#%s)"' % start
        if end:
            extra += ' marker-end="url(#%s)"' % end
        if dash:
            extra += ' stroke-dasharray="%s"' % dash
        self.add(
            '<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="%s"%s/>'
            % (_n(x0), _n(y0), _n(x1), _n(y1), stroke, _n(width), extra)
        )


def _n(v: float) -> str:
    """Numbers without a trailing .0, so the output does not depend on int/float inputs."""
    return ("%.1f" % v).rstrip("0").rstrip(".")


def _defs(svg: Svg) -> None:
    svg.add("<defs>")
    for name, colour in sorted(COLOURS.items()):
        for mid, path in (("end", "M0,0 L10,5 L0,10 z"), ("start", "M10,0 L0,5 L10,10 z")):
            svg.add(
                '  <marker id="arrow-%s-%s" viewBox="0 0 10 10" refX="%s" refY="5" '
                'markerWidth="7" markerHeight="7" orient="auto">'
                '<path d="%s" fill="%s"/></marker>'
                % (name, mid, "9" if mid == "end" else "1", path, colour)
            )
    svg.add(
        '  <marker id="arrow-power" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" '
        'markerHeight="6" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="%s"/></marker>'
        % COLOURS["power"]
    )
    svg.add("</defs>")


def _box(svg: Svg, x: float, y: float, w: float, h: float, ref: str, lines: list[str]) -> None:
    svg.rect(x, y, w, h)
    svg.text(x + w / 2, y + 18, ref, 13, "middle", "bold")
    for i, s in enumerate(lines):
        svg.text(x + w / 2, y + 35 + 15 * i, s, 12, "middle")


def _power_chain(svg: Svg) -> None:
    """The 12/24 V input to the 3.3 V rail, with the hold-up path, across the top."""
    red = COLOURS["power"]
    y, h = 86, 112
    svg.text(
        20,
        72,
        "Power: KL30 (permanent +12/24 V) → protection → 5 V buck → hold-up → 3.3 V",
        15,
        weight="bold",
    )
    # (x, width, reference, lines, net name on the arrow that leaves the block)
    blocks = [
        (20, 110, "J2", ["Micro-Fit 4-pin", "KL30 · KL15", "GND · spare"], ""),
        (165, 100, "F1", ["fuse 1 A", "slow-blow"], ""),
        (300, 130, "D1", ["SMBJ33CA TVS", "bidirectional, 600 W", "load dump ≤ 53 V"], ""),
        (
            465,
            150,
            "U6 + Q1",
            ["LM74700-Q1", "ideal diode + 60 V FET", "reverse to −65 V"],
            "VIN_P",
        ),
        (690, 150, "U7", ["LMR36006-Q1 buck", "4.2–60 V in → 5.0 V", "0.6 A, Iq 25 µA"], "+5V"),
        (
            905,
            190,
            "U8 + C1, C2",
            ["LTC3226 supercap", "charger + PowerPath", "2× 1 F 2.7 V in series", "PFO → GPIO39"],
            "+5V_HOLD",
        ),
        (1185, 150, "U9", ["AP2112K-3.3 LDO", "600 mA"], "+3V3"),
    ]
    for i, (x, w, ref, lines, net) in enumerate(blocks):
        _box(svg, x, y, w, h, ref, lines)
        nx = blocks[i + 1][0] if i + 1 < len(blocks) else x + w + 80
        svg.line(x + w, y + h / 2, nx - 2, y + h / 2, red, 2.5, end="arrow-power")
        if net:
            svg.text((x + w + nx) / 2, y + h / 2 - 8, net, 11, "middle", "bold", fill=red)
    last_x = blocks[-1][0] + blocks[-1][1] + 84
    svg.text(last_x, y + h / 2 - 4, "+3V3 rail:", 12, weight="bold", fill=red)
    svg.text(last_x, y + h / 2 + 12, "U1, U2, U3, U5 A side,", 12, fill=red)
    svg.text(last_x, y + h / 2 + 28, "pull-ups, LEDs, BZ1", 12, fill=red)
    # KL15 goes to the ignition divider (drawn at the ESP32's left); the TVS is a shunt.
    svg.text(20, y + h + 22, "KL15 (ignition) → R1/R2 → Q4 → GPIO34", 12, fill=red)
    svg.text(300, y + h + 22, "D1: from the fused input to GND (a shunt)", 11, fill="#555555")
    svg.text(
        905,
        y + h + 22,
        "C1 + C2 = 0.5 F, charged to 4.8 V; backup LDO on power loss",
        11,
        fill="#555555",
    )
    # Optional modem rail straight from the protected input.
    bx = 652
    mx, my = RIGHT_PART_X0 + 80, 226
    svg.line(bx, y + h / 2, bx, my + 33, red, 2.5)
    svg.line(bx, my + 33, mx - 2, my + 33, red, 2.5, end="arrow-power")
    svg.text(bx + 14, my + 27, "VIN_P → optional modem rail", 11, fill=red)
    _box(svg, mx, my, 220, 66, "U10 (optional)", ["LMR36015-Q1 buck → 3.8 V", "+ 470 µF → U4 VBAT"])


Row = tuple[str, int, dict[str, Any], Route, float]


def layout(pinmap: dict[str, Any]) -> tuple[list[Row], dict[str, tuple[float, float]]]:
    """Every pin-map signal with the y of its wire, and each part's (top, bottom) wire y."""
    by_side: dict[str, list[tuple[str, int, dict[str, Any], Route]]] = {"left": [], "right": []}
    for path, gpio, entry in signals(pinmap):
        if path not in ROUTES:
            raise SystemExit(
                "pinmap.json has %s, which tools/wiring_diagram.py does not know how to draw: "
                "add it to ROUTES" % path
            )
        route = ROUTES[path]
        by_side[route.side].append((path, gpio, entry, route))
    order = list(ROUTES)
    rows: list[Row] = []
    extents: dict[str, tuple[float, float]] = {}
    for side in ("left", "right"):
        y = float(FIRST_ROW)
        prev_group = None
        for path, gpio, entry, route in sorted(by_side[side], key=lambda r: order.index(r[0])):
            if prev_group is not None and route.group != prev_group:
                y += PARTS[route.group].get("gap_before", GROUP_GAP)
            top, bottom = extents.get(route.group, (y, y))
            extents[route.group] = (min(top, y), max(bottom, y))
            rows.append((path, gpio, entry, route, y))
            prev_group = route.group
            y += ROW
    if max(r[4] for r in rows) > ESP_Y1 - 180:
        raise SystemExit("too many wires for the ESP32 block: raise ESP_Y1 and HEIGHT")
    return rows, extents


def _wire(
    svg: Svg, side: str, y: float, path: str, gpio: int, entry: dict[str, Any], route: Route
) -> None:
    colour = COLOURS[route.kind]
    if side == "left":
        x_esp, x_part = ESP_X0, LEFT_PART_X1
    else:
        x_esp, x_part = ESP_X1, RIGHT_PART_X0
    # Arrow heads show the signal direction: towards the part (ESP32 drives) or the ESP32.
    start = end = ""
    if route.direction in ("out", "both"):
        end = "arrow-%s-end" % route.kind
    if route.direction in ("in", "both"):
        start = "arrow-%s-start" % route.kind
    svg.add(
        '<g class="wire" id="wire-%s" data-signal="%s" data-gpio="%d" data-dir="%s">'
        % (path, path, gpio, route.direction)
    )
    svg.line(x_esp, y, x_part, y, colour, 2.2, start=start, end=end)
    label = _label(path, gpio, entry, route)
    mid = (x_esp + x_part) / 2
    svg.text(mid, y - 6, label, 12, "middle", fill=colour, family=MONO)
    svg.add("</g>")
    # Pin names at both ends.
    if side == "left":
        svg.text(x_esp + 6, y + 4, "GPIO%d" % gpio, 12, "start", "bold", family=MONO)
        svg.text(x_part - 6, y + 4, route.part_pin, 11, "end")
    else:
        svg.text(x_esp - 6, y + 4, "GPIO%d" % gpio, 12, "end", "bold", family=MONO)
        svg.text(x_part + 6, y + 4, route.part_pin, 11, "start")


def _parts(svg: Svg, extents: dict[str, tuple[float, float]], pinmap: dict[str, Any]) -> None:
    i2c = pinmap["i2c"]["main"]
    for group, (top, bottom) in extents.items():
        spec = PARTS[group]
        side = ROUTES_BY_GROUP[group]
        y0, h = _part_box(top, bottom, spec.get("height", 60))
        if side == "left":
            x0, w = 110, LEFT_PART_X1 - 110
        else:
            x0, w = RIGHT_PART_X0, U5_WIDTH if group in ("modem", "q3") else 200
        svg.rect(x0, y0, w, h)
        # Title inside the box, on the side away from the wires' pin names.
        tx = x0 + 10 if side == "left" else x0 + w - 10
        anchor = "start" if side == "left" else "end"
        if group == "q3":  # a small box: reference and part on one line
            svg.text(tx, y0 + 20, "%s %s" % (spec["ref"], spec["title"][0]), 12, anchor, "bold")
            continue
        svg.text(tx, y0 + 17, spec["ref"], 13, anchor, "bold")
        for i, s in enumerate(spec["title"]):
            svg.text(tx, y0 + 32 + 13 * i, s, 11, anchor)
        if spec["power"]:
            svg.text(x0 + w / 2, y0 + h + 14, spec["power"], 11, "middle", fill="#555555")
        if group == "se":
            svg.text(
                x0 + w / 2,
                y0 + h + 28,
                "I2C address 0x%02X, GND pin 4" % i2c["atecc608_addr"],
                11,
                "middle",
                fill="#555555",
            )


def _pullups(svg: Svg, extents: dict[str, tuple[float, float]]) -> None:
    """The I2C pull-ups beside the secure element, left of the wire labels."""
    top, bottom = extents["se"]
    i2c_c = COLOURS["i2c"]
    for x, yy in ((LEFT_PART_X1 + 12, top), (LEFT_PART_X1 + 26, bottom)):
        svg.add('<circle cx="%s" cy="%s" r="2.5" fill="%s"/>' % (_n(x), _n(yy), i2c_c))
        svg.line(x, yy, x, top - 22, i2c_c, 1.2)
        svg.rect(x - 4, top - 40, 8, 18, "#ffffff", i2c_c, 1.2, 1)
        svg.line(x, top - 40, x, top - 48, i2c_c, 1.2)
    svg.line(LEFT_PART_X1 + 6, top - 48, LEFT_PART_X1 + 32, top - 48, i2c_c, 1.2)
    svg.text(LEFT_PART_X1 + 40, top - 44, "+3V3  (R5, R6 4.7 kΩ I2C pull-ups)", 11, fill=i2c_c)


def _part_box(top: float, bottom: float, single: float = 60) -> tuple[float, float]:
    """(y, height) of the box around a part whose wires run from ``top`` to ``bottom``
    (``single``: the height when only one wire ends there)."""
    h = bottom - top + 44 if bottom > top else single
    return (top + bottom) / 2 - h / 2, h


ROUTES_BY_GROUP = {r.group: r.side for r in ROUTES.values()}


def _modem_chain(svg: Svg, extents: dict[str, tuple[float, float]]) -> None:
    """U5 (level shifter) on to U4 (BG95) and its antenna, to the right of U5."""
    top, bottom = extents["modem"][0], extents["q3"][1]
    x5 = RIGHT_PART_X0 + U5_WIDTH
    x4 = x5 + 60
    w4 = 190
    y0, h = _part_box(top, bottom)
    svg.rect(x4, y0, w4, h)
    tx = x4 + w4 - 10
    svg.text(tx, y0 + 17, "U4 (optional)", 13, "end", "bold")
    for i, s in enumerate(["Quectel BG95-M3", "LTE-M / NB-IoT", "1.8 V UART, PPP"]):
        svg.text(tx, y0 + 34 + 14 * i, s, 11, "end")
    # (pin on U4, colour key, towards the modem?)
    links = [("RXD", "uart", True), ("TXD", "uart", False), ("STATUS", "in", False)]
    rows = [top + ROW * i for i in range(len(links))]
    links.append(("PWRKEY", "out", True))
    rows.append(bottom)
    for (pin, key, towards), yy in zip(links, rows, strict=True):
        if towards:
            svg.line(x5, yy, x4, yy, COLOURS[key], 1.8, end="arrow-%s-end" % key)
        else:
            svg.line(x5, yy, x4, yy, COLOURS[key], 1.8, start="arrow-%s-start" % key)
        svg.text(x4 + 6, yy + 4, pin, 10)
    svg.text(x5 + 30, bottom - 6, "drain", 10, "middle", fill="#555555")
    svg.text(
        x4 + w4 / 2, y0 + h + 14, "VBAT = +3V8 (U10), J1 nano-SIM", 11, "middle", fill="#555555"
    )
    svg.text(
        x4 + w4 / 2,
        y0 + h + 28,
        "U5: A1→B1, B2→A2, B3→A3 (1.8 V side)",
        11,
        "middle",
        fill="#555555",
    )
    svg.text(
        x4 + w4 / 2, y0 + h + 42, "U5 VCCA = +3V3, VCCB = U4 VDD_EXT", 11, "middle", fill="#555555"
    )
    # Antenna on ANT_MAIN.
    ax = x4 + w4
    svg.line(ax, y0 + h - 14, ax + 24, y0 + h - 14, COLOURS["rf"], 2)
    _antenna(svg, ax + 24, y0 + h - 14, "ANT2")
    svg.text(ax + 24, y0 + h + 2, "LTE-M", 10, "middle", fill=COLOURS["rf"])
    svg.text(ax + 24, y0 + h + 14, "U.FL", 10, "middle", fill=COLOURS["rf"])


def _antenna(svg: Svg, x: float, y: float, name: str) -> None:
    rf = COLOURS["rf"]
    svg.line(x, y, x, y - 22, rf, 2)
    svg.line(x - 10, y - 36, x, y - 22, rf, 2)
    svg.line(x + 10, y - 36, x, y - 22, rf, 2)
    svg.line(x, y - 36, x, y - 22, rf, 2)
    svg.text(x, y - 42, name, 11, "middle", "bold", fill=rf)


def _esp32(svg: Svg) -> None:
    svg.rect(ESP_X0, ESP_Y0, ESP_X1 - ESP_X0, ESP_Y1 - ESP_Y0, "#f4f7fb", "#1a237e", 2.5, 6)
    cx = (ESP_X0 + ESP_X1) / 2
    svg.text(cx, ESP_Y0 + 22, "U1", 15, "middle", "bold", fill="#1a237e")
    svg.text(cx, ESP_Y0 + 40, "ESP32-WROOM-32E-N8", 12, "middle", fill="#1a237e")
    # The module's PCB antenna sits at the board edge with Espressif's keep-out.
    svg.rect(
        ESP_X0 + 30, ESP_Y0 - 44, ESP_X1 - ESP_X0 - 60, 36, "#ffffff", COLOURS["rf"], 1.5, 2, "5,3"
    )
    svg.text(cx, ESP_Y0 - 28, "PCB antenna (Wi-Fi)", 11, "middle", fill=COLOURS["rf"])
    svg.text(cx, ESP_Y0 - 14, "board edge, keep-out", 11, "middle", fill=COLOURS["rf"])
    notes = [
        "MicroPython; pins in",
        "firmware/board/pins.py",
        "= hardware/pinmap.json",
        "",
        "GPIO34–39: inputs only,",
        "no internal pull-ups",
        "GPIO6–11: module flash",
        "0, 2, 5, 12, 15: strapping",
    ]
    for i, s in enumerate(notes):
        svg.text(cx, ESP_Y1 - 160 + 15 * i, s, 11, "middle", fill="#333366")
    # Supply pins and the programming / console header along the bottom edge.
    for x, pin, net, colour in (
        (ESP_X0 + 22, "3V3", "+3V3", COLOURS["power"]),
        (ESP_X0 + 56, "GND", "GND", COLOURS["gnd"]),
    ):
        svg.line(x, ESP_Y1, x, ESP_Y1 + 28, colour, 2)
        svg.text(x, ESP_Y1 - 8, pin, 11, "middle", "bold")
        svg.text(x, ESP_Y1 + 42, net, 11, "middle", fill=colour)
    hx = ESP_X0 + 147
    for i, pin in enumerate(["EN", "IO0", "TX0", "RX0"]):
        x = hx - 42 + 28 * i
        svg.line(x, ESP_Y1, x, ESP_Y1 + 56, "#555555", 1.5)
        svg.text(x, ESP_Y1 - 8, pin, 9, "middle", "bold")
    svg.rect(hx - 85, ESP_Y1 + 56, 170, 50, "#ffffff", "#555555", 1.2, 3)
    svg.text(hx, ESP_Y1 + 72, "J3 programming / console", 10, "middle", "bold")
    svg.text(hx, ESP_Y1 + 86, "USB-UART, 115200 Bd", 10, "middle")
    svg.text(hx, ESP_Y1 + 99, "(GPIO1 TX, GPIO3 RX)", 10, "middle", fill="#555555")
    for i, s in enumerate(
        [
            "EN: 10 kΩ to +3V3, 1 µF to GND",
            "IO0: 10 kΩ to +3V3 (low at reset = download mode)",
            "boot pins, not in pinmap.json",
        ]
    ):
        svg.text(ESP_X0 - 14, ESP_Y1 + 72 + 14 * i, s, 10, "end", fill="#555555")


def _gnss_antenna(svg: Svg, extents: dict[str, tuple[float, float]]) -> None:
    top, bottom = extents["gnss"]
    y = (top + bottom) / 2
    svg.line(110, y, 62, y, COLOURS["rf"], 2)
    _antenna(svg, 62, y, "ANT1")
    svg.text(58, y + 18, "RF_IN", 10, "middle", fill=COLOURS["rf"])
    svg.text(58, y + 31, "active", 10, "middle", fill=COLOURS["rf"])
    svg.text(58, y + 44, "patch,", 10, "middle", fill=COLOURS["rf"])
    svg.text(58, y + 57, "U.FL", 10, "middle", fill=COLOURS["rf"])


def _legend(svg: Svg) -> None:
    y = HEIGHT - 64
    svg.text(20, y - 14, "Legend", 13, weight="bold")
    items = [
        ("uart", "UART"),
        ("i2c", "I2C"),
        ("in", "GPIO input (to the ESP32)"),
        ("out", "GPIO output (from the ESP32)"),
        ("power", "power path"),
        ("rf", "RF / antenna"),
    ]
    x = 20
    for key, text in items:
        svg.line(x, y, x + 36, y, COLOURS[key], 2.5)
        svg.text(x + 44, y + 4, text, 12)
        x += 60 + 7 * len(text)
    svg.text(
        20,
        y + 24,
        "Arrow heads give the signal direction. Wire labels: GPIO number, the "
        "signal's path in hardware/pinmap.json, bus and speed. Part values: hardware/BOM.md.",
        12,
        fill="#333333",
    )
    svg.text(
        20,
        y + 42,
        "Generated by tools/wiring_diagram.py from hardware/pinmap.json "
        "(make wiring); do not edit by hand.",
        12,
        fill="#333333",
    )


def render(pinmap: dict[str, Any] | None = None) -> str:
    """The wiring diagram as SVG text for ``pinmap`` (default: hardware/pinmap.json)."""
    if pinmap is None:
        pinmap = json.loads(PINMAP.read_text())
    svg = Svg()
    _defs(svg)
    svg.rect(0, 0, WIDTH, HEIGHT, "#ffffff", "#ffffff", 0, 0)
    svg.text(20, 32, "%s — wiring" % pinmap["board"], 20, weight="bold")
    _power_chain(svg)
    _esp32(svg)
    rows, extents = layout(pinmap)
    _parts(svg, extents, pinmap)
    for path, gpio, entry, route, y in rows:
        _wire(svg, route.side, y, path, gpio, entry, route)
    _pullups(svg, extents)
    _modem_chain(svg, extents)
    _gnss_antenna(svg, extents)
    _legend(svg)
    head = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        "<!-- Generated by tools/wiring_diagram.py from hardware/pinmap.json. Do not edit. -->\n"
        '<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d">\n'
        % (WIDTH, HEIGHT, WIDTH, HEIGHT)
    )
    return head + "\n".join(svg.lines) + "\n</svg>\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="fail if the committed SVG is stale")
    ap.add_argument("--out", type=Path, default=OUT, help="output file (default: %(default)s)")
    args = ap.parse_args(argv)
    text = render()
    if args.check:
        if not args.out.exists() or args.out.read_text() != text:
            print("%s is stale: run `make wiring`" % args.out)
            return 1
        return 0
    args.out.write_text(text)
    print("wrote %s" % args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
