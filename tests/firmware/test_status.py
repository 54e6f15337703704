"""Driver feedback (firmware/status.py): state precedence, LED patterns, text lines.

Runs under CPython (pytest) and the MicroPython unix port (tests/contract/mp_run.py).
"""

import io

from firmware import status as st
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
    assert len(st.fault_names(every)) == 6
    assert st.fault_names(st.FAULT_TIME_UNKNOWN | st.FAULT_RECEIPT_INVALID) == [
        "time-unknown",
        "receipt-invalid",
    ]
