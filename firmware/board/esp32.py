"""ESP32 board: the App's injected objects from ``machine`` and ``network``, on the pins of
``firmware/board/pins.py`` (= hardware/pinmap.json).

Only imported on the device (``main.py``); nothing here runs on the host. The signer is the
ATECC608 (firmware/board/atecc608.py) when fitted, else a development key on flash.
"""

import os

import machine  # type: ignore[import-not-found]

from firmware.board import pins

ROOT = "/qm"  # the unit's data (ledger, keys, state, outbox) on the LittleFS partition


class Esp32Uart:
    """The GNSS UART, non-blocking: ``read()`` returns what arrived or None."""

    def __init__(self, baud):
        self.uart = machine.UART(
            pins.GNSS_UART, baudrate=baud, rx=pins.GNSS_RX, tx=pins.GNSS_TX, rxbuf=2048
        )

    def read(self, n=-1):
        k = self.uart.any()
        if not k:
            return None
        return self.uart.read(k if n is None or n < 0 else min(n, k))


class Led:
    """A status LED pin: ``value(v)`` for firmware.status.LedStatus, on()/off() for boot."""

    def __init__(self, pin_no):
        self.pin = machine.Pin(pin_no, machine.Pin.OUT, value=0)

    def value(self, v):
        self.pin.value(v)

    def on(self):
        self.pin.value(1)

    def off(self):
        self.pin.value(0)


def ensure_root():
    try:
        os.mkdir(ROOT)
    except OSError:
        pass
    return ROOT


def make_signer(root):
    """The ATECC608 signer when the chip answers (key in slot 0, locked per
    hardware/SECURE_ELEMENT.md); the software signer with a key file otherwise (development
    boards without the chip)."""
    import time

    from firmware.board.atecc608 import Atecc608, AteccError, AteccSigner

    i2c = machine.I2C(pins.I2C_ID, sda=machine.Pin(pins.I2C_SDA), scl=machine.Pin(pins.I2C_SCL),
                      freq=pins.I2C_FREQ)  # fmt: skip
    try:
        return AteccSigner(Atecc608(i2c, time.sleep_ms, addr=pins.ATECC608_ADDR))
    except (AteccError, OSError):
        from firmware.board.host import software_signer

        return software_signer(root + "/obu.key")


def connect_network(cfg, timeout_ms=20000):
    """Bring up Wi-Fi (``network.kind == "wifi"``); returns True when connected.

    The modem (PPP over the LTE-M UART) follows the same shape with ``network.PPP``.
    """
    if cfg.network_kind != "wifi":
        return False
    import time

    import network  # type: ignore[import-not-found]

    wlan = network.WLAN(network.STA_IF)
    wlan.active(True)
    if not wlan.isconnected():
        wlan.connect(cfg.wifi_ssid, cfg.wifi_password)
        t0 = time.ticks_ms()
        while not wlan.isconnected() and time.ticks_diff(time.ticks_ms(), t0) < timeout_ms:
            time.sleep_ms(100)
    return wlan.isconnected()


def watchdog(timeout_ms=120000):
    """The ESP32's hardware watchdog, started now; it cannot be stopped. The App feeds it."""
    return machine.WDT(timeout=timeout_ms)


def status_outputs():
    from firmware.status import LedStatus

    return (LedStatus(Led(pins.LED_GREEN), Led(pins.LED_RED), Led(pins.LED_AMBER)),)


def confirm_input():
    """The driver's push button (``pins.BUTTON`` to ground, internal pull-up) as the dispute
    confirmation input: hold 3 s to open the disputed period, press twice to decline
    (firmware/board/confirm.py). Edges arrive by IRQ, so a press between syncs is kept."""
    from firmware.board.confirm import ButtonConfirm

    button = ButtonConfirm(active_low=True)
    pin = machine.Pin(pins.BUTTON, machine.Pin.IN, machine.Pin.PULL_UP)
    pin.irq(handler=button.irq, trigger=machine.Pin.IRQ_FALLING | machine.Pin.IRQ_RISING)
    button.pin = pin  # keep the pin (and its IRQ) alive with the button
    return button
