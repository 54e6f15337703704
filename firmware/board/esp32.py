"""ESP32 board: the App's injected objects from ``machine`` and ``network``, on the pins of
``firmware/board/pins.py`` (= hardware/pinmap.json).

Only imported on the device (``main.py``); the host tests import it with fake ``machine``,
``network`` and ``esp32`` modules (tests/host/test_esp32_board.py). The signer is the ATECC608
(firmware/board/atecc608.py) when fitted, else a development key on flash. The logic of the
network links, the modem's AT dialogue, the sense lines and the GNSS configuration lives in
device-agnostic modules (net.py, modem.py, sense.py, firmware/gnss/ubx.py); this file only
builds their pins, UARTs and clocks.
"""

import os

import machine  # type: ignore[import-not-found]

from firmware.board import pins

ROOT = "/qm"  # the unit's data (ledger, keys, state, outbox) on the LittleFS partition


class Esp32Uart:
    """The GNSS UART, non-blocking: ``read()`` returns what arrived or None. ``write`` and
    ``set_baud`` are for the receiver's configuration (firmware/gnss/ubx.py). The receive
    buffer (in the IDF driver, not on the MicroPython heap) holds ~16 s of GGA+RMC+GSA, so a
    sync's network bring-up does not drop fixes."""

    def __init__(self, baud):
        self.uart = machine.UART(
            pins.GNSS_UART, baudrate=baud, rx=pins.GNSS_RX, tx=pins.GNSS_TX, rxbuf=4096
        )

    def read(self, n=-1):
        k = self.uart.any()
        if not k:
            return None
        return self.uart.read(k if n is None or n < 0 else min(n, k))

    def write(self, data):
        return self.uart.write(data)

    def set_baud(self, baud):
        self.uart.init(baudrate=baud)


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


def _time(clock):
    if clock is not None:
        return clock
    import time

    return time


def network_link(cfg, feed=None, clock=None):
    """The App's ``net`` for ``cfg.network_kind``: a WifiLink, a ModemLink (PPP over the
    BG95 on UART ``network.uart``; PWRKEY and STATUS from the pin map), or None for "none".
    Nothing is switched on here: the App brings the link up at each sync and down after it."""
    if cfg.network_kind not in ("wifi", "modem"):
        return None
    time = _time(clock)

    import network  # type: ignore[import-not-found]

    from firmware.board.net import ModemLink, WifiLink

    if cfg.network_kind == "wifi":
        return WifiLink(network, cfg.wifi_ssid, cfg.wifi_password, time, feed)
    from firmware.board.modem import Modem

    uart = machine.UART(cfg.modem_uart, baudrate=pins.MODEM_BAUD, rx=pins.MODEM_RX,
                        tx=pins.MODEM_TX, rxbuf=1024)  # fmt: skip
    pwrkey = machine.Pin(pins.MODEM_PWRKEY, machine.Pin.OUT, value=0)  # Q3 off: key released
    status = machine.Pin(pins.MODEM_STATUS, machine.Pin.IN)
    return ModemLink(Modem(uart, pwrkey, status, time, network.PPP, feed), cfg.modem_apn)


def configure_gnss(uart, cfg, feed=None, clock=None):
    """Set the receiver up for this unit (firmware/gnss/ubx.py); pulses RESET_N (GPIO18, low
    = reset) once if it does not answer. Returns the ubx result ("ok", "nak", "no-answer")."""
    time = _time(clock)
    from firmware.gnss import ubx

    reset_pin = machine.Pin(pins.GNSS_RESET, machine.Pin.OPEN_DRAIN, value=1)

    def reset():
        if feed is not None:
            feed()
        reset_pin.value(0)
        time.sleep_ms(100)
        reset_pin.value(1)

    return ubx.configure(uart, cfg.gnss_baud, time, uart_port=cfg.gnss_uart, reset=reset)


def sense_lines(cfg, gnss_uart=None, outputs=(), clock=None):
    """The App's ``sense``: ignition (GPIO34; ``power.ignition`` "low": low while KL15 is on
    through Q4, "high": a first-revision divider, "none": not wired, always on), power fail
    (GPIO39, the LTC3226's PFO, falling edge) and the lid (GPIO36, rising edge), with IRQs
    wired. Parking puts the receiver into software backup (when the unit configures it),
    silences the outputs and sleeps until the ignition (ext0) or the lid (ext1) wakes it."""
    time = _time(clock)
    from firmware.board.sense import Sense

    ignition = None
    if cfg.ignition != "none":
        ignition = machine.Pin(pins.IGNITION_SENSE, machine.Pin.IN)
    power_fail = machine.Pin(pins.POWER_FAIL, machine.Pin.IN)
    lid = machine.Pin(pins.TAMPER, machine.Pin.IN)

    def park(sense):
        deep_sleep(sense, gnss_uart if cfg.gnss_configure else None, outputs, time)

    on_level = 1 if cfg.ignition == "high" else 0
    sense = Sense(time, ignition, power_fail, lid, on_level=on_level,
                  off_ms=cfg.ignition_off_s * 1000, park=park)  # fmt: skip
    power_fail.irq(handler=sense.on_power_fail, trigger=machine.Pin.IRQ_FALLING)
    lid.irq(handler=sense.on_lid, trigger=machine.Pin.IRQ_RISING)
    return sense


def deep_sleep(sense, gnss_uart, outputs, clock=None):
    """The parked state (hardware/power_budget.json "parked"): receiver in backup, LEDs and
    buzzer off, the ESP32 in deep sleep until the ignition is on again (ext0; it is
    level-triggered, so an ignition that came back meanwhile wakes it at once) or the lid
    opens (ext1, armed only while the lid is shut: an open lid would wake it at once)."""
    import esp32  # type: ignore[import-not-found]

    time = _time(clock)

    if gnss_uart is not None:
        from firmware.gnss import ubx

        gnss_uart.write(ubx.backup_request())
        time.sleep_ms(100)
    for out in outputs:
        off = getattr(out, "off", None)
        if off is not None:
            off()
    level = esp32.WAKEUP_ANY_HIGH if sense.on_level else esp32.WAKEUP_ALL_LOW
    esp32.wake_on_ext0(pin=sense.ignition, level=level)
    if not sense.lid_open():
        esp32.wake_on_ext1(pins=(sense.lid,), level=esp32.WAKEUP_ANY_HIGH)
    else:
        esp32.wake_on_ext1(pins=None, level=esp32.WAKEUP_ANY_HIGH)
    machine.deepsleep()


def wake_reason():
    """Why the chip started: "ignition", "lid", "reset" (power-on, watchdog, EN) or "other"."""
    if machine.reset_cause() != machine.DEEPSLEEP_RESET:
        return "reset"
    why = machine.wake_reason()
    if why == machine.EXT0_WAKE:
        return "ignition"
    if why == machine.EXT1_WAKE:
        return "lid"
    return "other"


def watchdog(timeout_ms=120000):
    """The ESP32's hardware watchdog, started now; it cannot be stopped. The App feeds it."""
    return machine.WDT(timeout=timeout_ms)


def status_outputs():
    """The LEDs (firmware.status.LedStatus) and the buzzer (BuzzerStatus, GPIO33 through Q2).
    Each has ``off()`` for the deep sleep of a parked unit."""
    from firmware.board.buzzer import BuzzerStatus
    from firmware.status import LedStatus

    leds = LedStatus(Led(pins.LED_GREEN), Led(pins.LED_RED), Led(pins.LED_AMBER))
    return (leds, BuzzerStatus(Led(pins.BUZZER)))


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
