"""The buzzer as a status output (BOM BZ1 on GPIO33 through Q2): short beep bursts, like
firmware.status.LedStatus but for the ear, and only when something begins that the driver
must act on.

- three short beeps when the unit enters the fault state, or when a further fault bit appears
  (``tamper`` after ``network``, say), once;
- two short beeps when a dispute starts waiting for the driver's answer, repeated every 10
  minutes while it waits.

Nothing else sounds: a box that beeps at every state change gets unplugged. Device-only (the
host has no buzzer), so it is kept out of firmware/status.py, which every run loads. Like
LedStatus it takes a pin-like object (``value(v)``) and never imports ``machine``.
"""

from firmware.status import STATE_DISPUTE_WAITING, STATE_FAULT

BEEP_MS = 100
BEEP_GAP_MS = 150
# state -> (beeps, repeat_ms): a burst when the state begins, again every repeat_ms (0: once)
BUZZER_PATTERNS = {
    STATE_FAULT: (3, 0),
    STATE_DISPUTE_WAITING: (2, 600000),
}


class BuzzerStatus:
    """Short beep bursts on a pin-like buzzer driver (``value(v)``); ``tick(ms)`` from the main
    loop like LedStatus. ``off()`` silences it (before deep sleep)."""

    def __init__(self, pin, patterns=None):
        self.pin = pin
        self.patterns = patterns if patterns is not None else BUZZER_PATTERNS
        self.state = None
        self.faults = 0
        self.pattern = None  # (beeps, repeat_ms) playing
        self.start = None  # tick of the burst's start, taken at the first tick after show()
        self._level = None

    def show(self, status):
        state = status.state()
        added = status.faults & ~self.faults
        self.faults = status.faults
        if state != self.state or (state == STATE_FAULT and added):
            self.state = state
            self.pattern = self.patterns.get(state)
            self.start = None

    def tick(self, ms):
        level = 0
        if self.pattern is not None:
            if self.start is None:
                self.start = ms
            beeps, repeat = self.pattern
            t = ms - self.start
            if repeat:
                t %= repeat
            period = BEEP_MS + BEEP_GAP_MS
            if t < beeps * period:
                level = 1 if t % period < BEEP_MS else 0
            elif not repeat:
                self.pattern = None
        self._write(level)

    def off(self):
        self.pattern = None
        self._write(0)

    def _write(self, level):
        if self._level != level:
            self._level = level
            self.pin.value(level)
