"""firmware/board/pins.py (what the firmware uses) agrees with hardware/pinmap.json (what the
builders wire), and the assignment is electrically sound for an ESP32-WROOM-32E."""

from __future__ import annotations

import json

from firmware.board import pins
from tests.conftest import REPO

PINMAP = json.loads((REPO / "hardware" / "pinmap.json").read_text())

# GPIOs 6–11 drive the module's flash; 34–39 are input-only; 0, 2, 5, 12, 15 are strapping pins
# whose level at reset selects boot modes (12 even the flash voltage).
FLASH_PINS = set(range(6, 12))
INPUT_ONLY = {34, 35, 36, 37, 38, 39}
STRAPPING = {0, 2, 5, 12, 15}


def test_uarts_match():
    g, m = PINMAP["uart"]["gnss"], PINMAP["uart"]["modem"]
    assert (pins.GNSS_UART, pins.GNSS_RX, pins.GNSS_TX, pins.GNSS_BAUD) == (
        g["id"], g["rx"], g["tx"], g["baud"],
    )  # fmt: skip
    assert (pins.MODEM_UART, pins.MODEM_RX, pins.MODEM_TX, pins.MODEM_BAUD) == (
        m["id"], m["rx"], m["tx"], m["baud"],
    )  # fmt: skip


def test_i2c_matches():
    i = PINMAP["i2c"]["main"]
    assert (pins.I2C_ID, pins.I2C_SDA, pins.I2C_SCL, pins.I2C_FREQ, pins.ATECC608_ADDR) == (
        i["id"], i["sda"], i["scl"], i["freq"], i["atecc608_addr"],
    )  # fmt: skip


def test_every_gpio_matches_by_name():
    for name, spec in PINMAP["gpio"].items():
        assert getattr(pins, name.upper()) == spec["pin"], name


def test_no_pin_is_used_twice_or_unsafely():
    used: list[int] = [u[k] for u in PINMAP["uart"].values() for k in ("rx", "tx")]
    used += [PINMAP["i2c"]["main"][k] for k in ("sda", "scl")]
    used += [g["pin"] for g in PINMAP["gpio"].values()]
    assert len(used) == len(set(used)), "a pin is assigned twice"
    assert not FLASH_PINS & set(used), "flash pins must stay free"
    assert not STRAPPING & set(used), "strapping pins would change the boot mode"
    outputs = [g["pin"] for g in PINMAP["gpio"].values() if g["dir"] == "out"]
    outputs += [u["tx"] for u in PINMAP["uart"].values()]
    assert not INPUT_ONLY & set(outputs), "GPIO 34–39 cannot drive outputs"
