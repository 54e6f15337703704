"""Driver feedback (firmware/status.py): state precedence, LED patterns, text lines.

Runs under CPython (pytest) and the MicroPython unix port (tests/contract/mp_run.py).
"""

import io

from firmware import status as st
from firmware.board import buzzer as bz
from tests.firmware.uplink_fixtures import DEC_2026


class Pin:
    """Host fake of machine.Pin: records every level written."""

    def __init__(self):
        self.levels = []

    def value(self, v):
        self.levels.append(v)

    @property
    def level(self):
        return self.levels[-1] if self.levels else None


class Recorder:
    """An output that records the state after every notification."""

    def __init__(self):
        self.states = []

    def show(self, status):
        self.states.append(status.state())


def test_state_precedence_fault_then_overdue_then_fix():
    s = st.Status(overdue_s=86400)
    assert s.state() == st.STATE_NO_FIX
    s.set_fix(True)
    assert s.state() == st.STATE_IDLE
    s.set_charging(True)
    assert s.state() == st.STATE_CHARGING
    s.set_time(DEC_2026 + 2 * 86400)
    s.set_pending(1, DEC_2026)
    assert s.state() == st.STATE_UPLOAD_OVERDUE
    s.set_fault(st.FAULT_POLICY_EXPIRED)
    assert s.state() == st.STATE_FAULT
    s.set_fault(st.FAULT_POLICY_EXPIRED, False)
    s.set_pending(0)
    assert s.state() == st.STATE_CHARGING and s.pending_since is None


def test_pending_is_overdue_only_after_the_threshold_and_with_known_time():
    s = st.Status(overdue_s=3 * 86400)
    s.set_fix(True)
    s.set_pending(2, DEC_2026)
    assert not s.overdue()  # no GNSS time yet: do not guess
    s.set_time(DEC_2026 + 3 * 86400)
    assert not s.overdue()
    s.set_time(DEC_2026 + 3 * 86400 + 1)
    assert s.overdue()


def test_outputs_hear_of_changes_only():
    rec = Recorder()
    s = st.Status([rec])
    s.set_fix(False)  # unchanged
    s.set_charging(False)
    assert rec.states == []
    s.set_fix(True)
    s.set_fix(True)
    s.set_charging(True)
    s.set_fault(st.FAULT_LEDGER)
    s.set_fault(st.FAULT_LEDGER)
    s.upload_attempt(DEC_2026, True, "ok")
    s.upload_attempt(DEC_2026, True, "ok")
    assert rec.states == [st.STATE_IDLE, st.STATE_CHARGING, st.STATE_FAULT, st.STATE_FAULT]


def test_leds_follow_the_pattern_of_each_state():
    green, red, amber = Pin(), Pin(), Pin()
    leds = st.LedStatus(green, red, amber)
    s = st.Status([leds])
    s.set_fix(True)
    s.set_charging(True)
    for ms in (0, 250, 600, 999):
        leds.tick(ms)
    assert green.levels == [1] and red.levels == [0] and amber.levels == [0]  # steady green
    s.set_fix(False)  # no fix: green blinks at 1 Hz
    for ms in (1000, 1200, 1500, 1700, 2000):
        leds.tick(ms)
    assert green.levels == [1, 0, 1]
    s.set_fault(st.FAULT_UPLINK_REJECTED)
    leds.tick(2100)
    assert (green.level, red.level, amber.level) == (0, 1, 0)
    s.set_fault(st.FAULT_UPLINK_REJECTED, False)
    s.set_time(DEC_2026 + 10 * 86400)
    s.set_pending(1, DEC_2026)
    leds.tick(2200)
    assert (green.level, red.level, amber.level) == (0, 0, 1)


def test_idle_is_a_heartbeat_and_amber_falls_back_to_both_colours():
    green, red = Pin(), Pin()
    leds = st.LedStatus(green, red)
    s = st.Status([leds])
    s.set_fix(True)
    for ms in (0, 50, 100, 2999, 3000, 3099, 3100):
        leds.tick(ms)
    assert green.levels == [1, 0, 1, 0]
    s.set_time(DEC_2026 + 10 * 86400)
    s.set_pending(1, DEC_2026)
    leds.tick(3200)
    assert (green.level, red.level) == (1, 1)


def test_text_status_writes_one_line_per_change():
    out = io.StringIO()
    s = st.Status([st.TextStatus(out)])
    s.set_fix(True)
    s.set_charging(True)
    s.set_charging(True)
    s.upload_attempt(DEC_2026 + 300, True, "ok")
    s.set_pending(0)
    s.set_fault(st.FAULT_UPLINK_REJECTED)
    s.set_fault(st.FAULT_POLICY_MISSING)
    lines = out.getvalue().split("\n")
    assert lines[-1] == ""
    assert lines[:-1] == [
        "idle fix=yes charging=no upload=never pending=0 faults=-",
        "charging fix=yes charging=yes upload=never pending=0 faults=-",
        "charging fix=yes charging=yes upload=2026-12-01T00:05Z ok pending=0 faults=-",
        "fault fix=yes charging=yes upload=2026-12-01T00:05Z ok pending=0 faults=uplink-rejected",
        "fault fix=yes charging=yes upload=2026-12-01T00:05Z ok pending=0 "
        "faults=policy-missing,uplink-rejected",
    ]


def test_fault_names_cover_every_bit():
    every = 0
    for bit, _ in st.FAULT_NAMES:
        every |= bit
    assert len(st.fault_names(every)) == 8
    assert st.fault_names(st.FAULT_TIME_UNKNOWN | st.FAULT_RECEIPT_INVALID) == [
        "time-unknown",
        "receipt-invalid",
    ]


def test_tamper_and_network_faults_show_red_and_by_name():
    out = io.StringIO()
    s = st.Status([st.TextStatus(out)])
    s.set_fix(True)
    s.set_fault(st.FAULT_TAMPER)
    s.set_fault(st.FAULT_NETWORK)
    assert s.state() == st.STATE_FAULT
    assert out.getvalue().split("\n")[-2].endswith("faults=network,tamper")


def _beeps(levels):
    """Number of beeps (rising edges) in a list of written levels."""
    n = 0
    prev = 0
    for v in levels:
        if v and not prev:
            n += 1
        prev = v
    return n


def _play(buzzer, start, stop, step=10):
    for ms in range(start, stop, step):
        buzzer.tick(ms)


def test_the_buzzer_beeps_three_times_when_a_fault_begins_and_then_stays_quiet():
    pin = Pin()
    buzzer = bz.BuzzerStatus(pin)
    s = st.Status([buzzer])
    s.set_fix(True)
    _play(buzzer, 0, 2000)
    assert _beeps(pin.levels) == 0
    s.set_fault(st.FAULT_NETWORK)
    _play(buzzer, 2000, 60000)
    assert _beeps(pin.levels) == 3 and pin.level == 0
    s.set_fault(st.FAULT_NETWORK)  # no change: no new burst
    s.set_fix(False)  # changes nothing the buzzer shows (still "fault")
    _play(buzzer, 60000, 70000)
    assert _beeps(pin.levels) == 3
    s.set_fault(st.FAULT_TAMPER)  # a further fault: a new burst
    _play(buzzer, 70000, 80000)
    assert _beeps(pin.levels) == 6
    # each beep is short
    s2 = st.Status([bz.BuzzerStatus(Pin())])
    s2.set_fault(st.FAULT_LEDGER)
    b = s2.outputs[0]
    on = [ms for ms in range(0, 2000) if (b.tick(ms) or b._level)]
    assert len(on) == 3 * bz.BEEP_MS


def test_a_waiting_dispute_beeps_twice_and_again_every_ten_minutes():
    pin = Pin()
    buzzer = bz.BuzzerStatus(pin)
    s = st.Status([buzzer])
    s.set_fix(True)
    s.set_disputes_waiting(1)
    _play(buzzer, 0, 599000, 50)
    assert _beeps(pin.levels) == 2
    _play(buzzer, 600000, 601000, 50)
    assert _beeps(pin.levels) == 4
    s.set_disputes_waiting(0)  # answered: quiet
    _play(buzzer, 601000, 1300000, 500)
    assert _beeps(pin.levels) == 4 and pin.level == 0


def test_outputs_go_dark_for_deep_sleep():
    green, red, amber, beeper = Pin(), Pin(), Pin(), Pin()
    leds = st.LedStatus(green, red, amber)
    buzzer = bz.BuzzerStatus(beeper)
    s = st.Status([leds, buzzer])
    s.set_fault(st.FAULT_TAMPER)
    leds.tick(0)
    buzzer.tick(0)
    assert red.level == 1 and beeper.level == 1
    leds.off()
    buzzer.off()
    leds.tick(10)
    buzzer.tick(10)
    assert (green.level, red.level, amber.level, beeper.level) == (0, 0, 0, 0)
