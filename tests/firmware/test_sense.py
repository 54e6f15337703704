"""The sense lines (firmware/board/sense.py), the tamper record (firmware/tamper.py) and the
Wi-Fi link (firmware/board/net.py), with fake pins, a fake clock and a fake ``network`` module.

Runs under CPython (pytest) and the MicroPython unix port (tests/contract/mp_run.py).
"""

from firmware import provision, tamper
from firmware.board.net import WifiLink
from firmware.board.sense import Sense
from tests.firmware import drive_support as ds


class Clock:
    def __init__(self):
        self.ms = 0

    def ticks_ms(self):
        return self.ms

    def ticks_diff(self, a, b):
        return a - b

    def sleep_ms(self, ms):
        self.ms += ms


class Pin:
    def __init__(self, level):
        self.level = level

    def value(self, v=None):
        if v is None:
            return self.level
        self.level = v
        return None


def test_ignition_off_counts_only_after_the_hold_time():
    clock = Clock()
    ign = Pin(0)  # low = on (Q4)
    s = Sense(clock, ignition=ign, off_ms=5000)
    assert s.ignition_on() and not s.ignition_off()
    ign.level = 1
    assert not s.ignition_off()
    clock.ms += 4000
    ign.level = 0  # a cranking dip ends: the count starts over
    assert not s.ignition_off()
    ign.level = 1
    clock.ms += 1
    assert not s.ignition_off()
    clock.ms += 4999
    assert not s.ignition_off()
    clock.ms += 1
    assert s.ignition_off()


def test_without_an_ignition_line_the_ignition_is_always_on():
    s = Sense(Clock())
    assert s.ignition_on() and not s.ignition_off()
    assert s.power_ok() and not s.power_failed() and not s.lid_open() and not s.lid_opened()


def test_a_power_fail_edge_counts_only_while_the_line_stays_low():
    pf = Pin(1)
    s = Sense(Clock(), power_fail=pf)
    s.on_power_fail(pf)  # the ESP32's GPIO39 glitch: the line is already high again
    assert not s.power_failed()
    pf.level = 0
    s.on_power_fail(pf)
    assert s.power_failed() and not s.power_ok()
    pf.level = 1  # a dip the hold-up covered
    assert not s.power_failed()


def test_waiting_for_power_needs_it_back_for_a_while():
    clock = Clock()
    pf = Pin(0)
    s = Sense(clock, power_fail=pf, back_ms=1000)
    s.on_power_fail(pf)
    fed = []

    def feed():
        fed.append(clock.ms)
        if clock.ms == 500:
            pf.level = 1  # back briefly
        elif clock.ms == 700:
            pf.level = 0
        elif clock.ms == 2000:
            pf.level = 1

    s.wait_power(feed)
    assert clock.ms >= 3000 and len(fed) > 20
    assert not s.power_failed()


def test_the_lid_irq_is_kept_until_asked():
    lid = Pin(0)
    s = Sense(Clock(), lid=lid)
    assert not s.lid_open() and not s.lid_opened()
    lid.level = 1
    s.on_lid(lid)
    lid.level = 0  # shut again before the App looked
    assert s.lid_opened() and not s.lid_opened() and not s.lid_open()


def test_park_calls_the_boards_sleep():
    slept = []
    s = Sense(Clock(), ignition=Pin(1), park=slept.append)
    s.park()
    assert slept == [s]


# --- the tamper record -------------------------------------------------------------------


def test_an_opening_is_counted_once_and_survives_a_reboot():
    root = ds.tmpdir("tamper")
    try:
        log = tamper.TamperLog(root)
        assert log.count == 0 and not log.undated()
        assert not log.observe(False, 100)  # closed, as it was
        assert log.observe(True, 100)
        assert not log.observe(True, 150)  # still open: the same event
        assert not log.observe(False, 200)
        assert log.observe(True, 300)
        again = tamper.TamperLog(root)  # a reboot
        assert (again.count, again.first, again.last, again.open) == (2, 100, 300, True)
        assert again.describe() == "tamper count=2 first=100 last=300 lid=open"
    finally:
        ds.rmtree(root)


def test_an_event_before_gnss_time_is_dated_by_the_first_fix():
    root = ds.tmpdir("tamper")
    try:
        log = tamper.TamperLog(root)
        log.observe(True, None)
        assert log.undated() and "first=unknown" in log.describe()
        log.date(None)
        assert log.undated()
        log.date(5000)
        assert not tamper.TamperLog(root).undated()
        assert tamper.TamperLog(root).first == 5000
    finally:
        ds.rmtree(root)


def test_the_record_is_replaced_atomically_and_a_damaged_one_keeps_the_fault():
    root = ds.tmpdir("tamper")
    try:
        log = tamper.TamperLog(root)
        log.observe(True, 10)
        with open(root + "/tamper.tmp", "wb") as f:  # a cut between write and rename
            f.write(b"0 -1 -1 0")
        assert tamper.TamperLog(root).count == 1
        with open(root + "/tamper", "wb") as f:
            f.write(b"\xff garbage")
        damaged = tamper.TamperLog(root)
        assert damaged.count == 1 and damaged.undated()
    finally:
        ds.rmtree(root)


def test_provisioning_reports_and_clears_the_record():
    root = ds.tmpdir("tamper")
    try:
        log = tamper.TamperLog(root)
        log.observe(True, 10)
        log.observe(False, 20)
        out = provision.run(["clear-tamper", "--root", root])
        assert out["cleared"] == {"count": 1, "first": 10, "last": 10, "lid_open": False}
        assert tamper.TamperLog(root).count == 0
        assert provision.run(["clear-tamper", "--root", root]) == {"cleared": None}
    finally:
        ds.rmtree(root)


# --- Wi-Fi -------------------------------------------------------------------------------


class FakeWlan:
    def __init__(self, net):
        self.net = net
        self.on = False
        self.connected = False
        self.connects = []

    def active(self, on=None):
        if on is not None:
            self.on = on
            if not on:  # the radio off forgets the association
                self.connected = False
                self.net.joins_at = None
        return self.on

    def isconnected(self):
        joins_at = self.net.joins_at
        if self.on and joins_at is not None and self.net.clock.ms >= joins_at:
            self.connected = self.net.ap_up
        return self.connected

    def connect(self, ssid, password):
        self.connects.append((ssid, password))
        self.net.joins_at = self.net.clock.ms + 2000

    def disconnect(self):
        self.connected = False

    def status(self):
        if self.net.wrong_password:
            return self.net.STAT_WRONG_PASSWORD
        return self.net.STAT_NO_AP_FOUND if not self.net.ap_up else 1


class FakeNetwork:
    """The parts of MicroPython's ``network`` module that WifiLink uses."""

    STA_IF = 0
    STAT_WRONG_PASSWORD = 202
    STAT_NO_AP_FOUND = 201

    def __init__(self, clock):
        self.clock = clock
        self.ap_up = True
        self.wrong_password = False
        self.joins_at = None
        self.made = []

    def WLAN(self, iface):
        w = FakeWlan(self)
        self.made.append(w)
        return w


def test_wifi_is_joined_at_every_sync_and_the_radio_switched_off_after():
    clock = Clock()
    net = FakeNetwork(clock)
    link = WifiLink(net, "car-hotspot", "secret", clock)
    assert link.network_up(20000)
    wlan = net.made[0]
    assert wlan.connects == [("car-hotspot", "secret")] and wlan.on
    link.network_down()
    assert not wlan.on and not wlan.connected
    # the AP went away: the next sync fails (and says why), the one after rejoins
    net.ap_up = False
    assert not link.network_up(20000)
    assert link.error.code == "wifi-no-ap" and not link.service and not wlan.on
    net.ap_up = True
    assert link.network_up(20000) and len(wlan.connects) == 3 and len(net.made) == 1


def test_a_wrong_password_is_a_service_fault():
    clock = Clock()
    net = FakeNetwork(clock)
    net.wrong_password = True
    link = WifiLink(net, "car-hotspot", "wrong", clock)
    assert not link.network_up(20000)
    assert link.error.code == "wifi-wrong-password" and link.service
    assert clock.ms < 1000  # no point waiting for the timeout
