"""firmware/board/esp32.py on the host, with fake ``machine``, ``network`` and ``esp32``
modules in sys.modules: the right pins, UARTs and IRQs are built, the network link of each
kind, the GNSS reset pulse, and what parking does before the deep sleep."""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest

from firmware import config
from firmware.board import pins
from firmware.gnss import ubx

KEY = "04" + "11" * 64


class FakePin:
    IN, OUT, OPEN_DRAIN, PULL_UP = 1, 2, 3, 4
    IRQ_FALLING, IRQ_RISING = 1, 2
    made: ClassVar[dict[int, FakePin]] = {}

    def __init__(self, no: int, mode: int | None = None, pull: int | None = None, value=None):
        self.no = no
        self.mode = mode
        self.level = 0 if value is None else value
        self.writes: list[int] = []
        self.irqs: list[tuple[Any, int]] = []
        FakePin.made[no] = self

    def value(self, v: int | None = None) -> int | None:
        if v is None:
            return self.level
        self.level = v
        self.writes.append(v)
        return None

    def irq(self, handler: Any = None, trigger: int = 0) -> None:
        self.irqs.append((handler, trigger))


class FakeUART:
    made: ClassVar[list[FakeUART]] = []

    def __init__(self, uid: int, **kw: Any) -> None:
        self.uid = uid
        self.kw = kw
        self.sent = bytearray()
        FakeUART.made.append(self)

    def any(self) -> int:
        return 0

    def read(self, n: int = -1) -> bytes | None:
        return None

    def write(self, data: bytes) -> int:
        self.sent += data
        return len(data)

    def init(self, **kw: Any) -> None:
        self.kw.update(kw)


class Clock:
    def __init__(self) -> None:
        self.ms = 0

    def ticks_ms(self) -> int:
        return self.ms

    def ticks_diff(self, a: int, b: int) -> int:
        return a - b

    def sleep_ms(self, ms: int) -> None:
        self.ms += ms


@pytest.fixture
def board(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, dict[str, Any]]]:
    calls: dict[str, Any] = {"deepsleep": 0, "ext0": None, "ext1": None}
    FakePin.made = {}
    FakeUART.made = []

    def deepsleep(ms: int | None = None) -> None:
        calls["deepsleep"] += 1

    machine = types.SimpleNamespace(
        Pin=FakePin, UART=FakeUART, deepsleep=deepsleep, DEEPSLEEP_RESET=4, EXT0_WAKE=2,
        EXT1_WAKE=3, reset_cause=lambda: calls.get("reset_cause", 1),
        wake_reason=lambda: calls.get("wake_reason", 0),
    )  # fmt: skip

    def wake_on_ext0(pin: Any, level: Any) -> None:
        calls["ext0"] = (pin, level)

    def wake_on_ext1(pins: Any, level: Any) -> None:
        calls["ext1"] = (pins, level)

    esp32 = types.SimpleNamespace(
        WAKEUP_ALL_LOW=False, WAKEUP_ANY_HIGH=True, wake_on_ext0=wake_on_ext0,
        wake_on_ext1=wake_on_ext1,
    )  # fmt: skip
    network = types.SimpleNamespace(WLAN=lambda iface: ("wlan", iface), STA_IF=0, PPP="PPP")
    monkeypatch.setitem(sys.modules, "machine", machine)
    monkeypatch.setitem(sys.modules, "esp32", esp32)
    monkeypatch.setitem(sys.modules, "network", network)
    sys.modules.pop("firmware.board.esp32", None)
    mod = importlib.import_module("firmware.board.esp32")
    yield mod, calls
    sys.modules.pop("firmware.board.esp32", None)


def cfg(**kw: Any) -> config.Config:
    d = {"obu_id": "OBU-1", "vehicle_class": 1, "backend_url": "http://192.0.2.1:8000",
         "authority_public_key": KEY}  # fmt: skip
    d.update(kw)
    return config.Config(d)


def test_no_link_for_kind_none_and_a_wifi_link_for_wifi(board: Any) -> None:
    esp, _ = board
    assert esp.network_link(cfg()) is None
    link = esp.network_link(cfg(network={"kind": "wifi", "ssid": "ap", "password": "pw"}))
    assert type(link).__name__ == "WifiLink" and (link.ssid, link.password) == ("ap", "pw")
    assert link.wlan is None  # nothing switched on at boot: the App does it at each sync


def test_the_modem_link_uses_the_pin_map_and_leaves_pwrkey_released(board: Any) -> None:
    esp, _ = board
    c = cfg(network={"kind": "modem", "apn": "iot.example", "uart": 1})
    link = esp.network_link(c, feed=lambda: None, clock=Clock())
    assert type(link).__name__ == "ModemLink" and link.apn == "iot.example"
    uart = FakeUART.made[-1]
    assert uart.uid == 1 and uart.kw["rx"] == pins.MODEM_RX and uart.kw["tx"] == pins.MODEM_TX
    assert uart.kw["baudrate"] == pins.MODEM_BAUD
    key = FakePin.made[pins.MODEM_PWRKEY]
    assert key.mode == FakePin.OUT and key.level == 0
    assert link.modem.status is FakePin.made[pins.MODEM_STATUS]
    assert link.modem.ppp_factory == "PPP"


def test_the_sense_lines_have_their_irqs(board: Any) -> None:
    esp, _ = board
    sense = esp.sense_lines(cfg(power={"ignition_off_s": 7}), clock=Clock())
    pf = FakePin.made[pins.POWER_FAIL]
    lid = FakePin.made[pins.TAMPER]
    assert [t for _, t in pf.irqs] == [FakePin.IRQ_FALLING]
    assert [t for _, t in lid.irqs] == [FakePin.IRQ_RISING]
    assert sense.ignition is FakePin.made[pins.IGNITION_SENSE] and sense.off_ms == 7000
    pf.level = 0
    pf.irqs[0][0](pf)
    assert sense.power_failed()
    lid.level = 1
    lid.irqs[0][0](lid)
    assert sense.lid_opened()
    # Q4 inverts: a low pin is ignition on
    FakePin.made[pins.IGNITION_SENSE].level = 0
    assert sense.ignition_on()
    FakePin.made[pins.IGNITION_SENSE].level = 1
    assert not sense.ignition_on()
    # a first-revision board (plain divider: high = on), and a unit without KL15
    old = esp.sense_lines(cfg(power={"ignition": "high"}), clock=Clock())
    assert not old.ignition_on() and old.on_level == 1
    FakePin.made[pins.IGNITION_SENSE].level = 1
    assert old.ignition_on()
    unwired = esp.sense_lines(cfg(power={"ignition": "none"}), clock=Clock())
    assert unwired.ignition is None and unwired.ignition_on() and not unwired.ignition_off()


def test_parking_puts_the_receiver_to_sleep_darkens_the_outputs_and_arms_both_wakes(
    board: Any,
) -> None:
    esp, calls = board
    gnss = FakeUART(2)
    outputs = esp.status_outputs()
    sense = esp.sense_lines(cfg(), gnss, outputs, clock=Clock())
    FakePin.made[pins.TAMPER].level = 0  # lid shut
    for out in outputs:
        out.state = "fault"
    sense.park()
    assert bytes(gnss.sent) == ubx.backup_request()
    for no in (pins.LED_GREEN, pins.LED_RED, pins.LED_AMBER, pins.BUZZER):
        assert FakePin.made[no].level == 0, no
    assert calls["ext0"] == (FakePin.made[pins.IGNITION_SENSE], False)  # wake on low
    assert calls["ext1"] == ((FakePin.made[pins.TAMPER],), True)
    assert calls["deepsleep"] == 1
    # with the lid open the lid cannot wake it (it would at once); no backup request for a
    # receiver the unit does not configure
    gnss2 = FakeUART(2)
    sense2 = esp.sense_lines(cfg(gnss={"configure": False}), gnss2, (), clock=Clock())
    FakePin.made[pins.TAMPER].level = 1
    sense2.park()
    assert calls["ext1"] == (None, True) and gnss2.sent == b"" and calls["deepsleep"] == 2


def test_a_silent_receiver_gets_one_reset_pulse(board: Any) -> None:
    esp, _ = board
    uart = esp.Esp32Uart(9600)
    fed: list[int] = []
    feed = lambda: fed.append(1)  # noqa: E731
    result = esp.configure_gnss(uart, cfg(gnss={"baud": 38400}), feed, clock=Clock())
    assert result == ubx.NO_ANSWER and fed
    reset = FakePin.made[pins.GNSS_RESET]
    assert reset.mode == FakePin.OPEN_DRAIN and reset.writes == [0, 1]
    assert uart.uart.kw["baudrate"] == 38400  # left at the configured rate
    assert ubx.valset(ubx.output_items(1)) in bytes(uart.uart.sent)


def test_outputs_and_wake_reasons(board: Any) -> None:
    esp, calls = board
    leds, buzzer = esp.status_outputs()
    assert [p.pin.no for p in leds.pins] == [pins.LED_GREEN, pins.LED_RED, pins.LED_AMBER]
    assert buzzer.pin.pin.no == pins.BUZZER
    assert esp.wake_reason() == "reset"
    calls["reset_cause"] = 4
    calls["wake_reason"] = 2
    assert esp.wake_reason() == "ignition"
    calls["wake_reason"] = 3
    assert esp.wake_reason() == "lid"
