"""Status LEDs (firmware/status.py: the states and their precedence): blink patterns on up to
three pin-like objects (``value(v)``, e.g. machine.Pin; firmware/board/ builds them). A module
of its own so that a unit without LEDs (the host) does not keep it on its heap;
``firmware.status`` offers every name here."""

from firmware.status import (
    STATE_CHARGING,
    STATE_DISPUTE_WAITING,
    STATE_FAULT,
    STATE_IDLE,
    STATE_NO_FIX,
    STATE_UPLOAD_OVERDUE,
)

# A pattern is (on_ms, period_ms): the LED is on while (t mod period) < on_ms.
OFF = (0, 1000)
STEADY = (1000, 1000)
BLINK = (500, 1000)
HEARTBEAT = (100, 3000)

# state -> (green, red, amber)
LED_PATTERNS = {
    STATE_FAULT: (OFF, STEADY, OFF),
    STATE_DISPUTE_WAITING: (OFF, OFF, BLINK),
    STATE_UPLOAD_OVERDUE: (OFF, OFF, STEADY),
    STATE_NO_FIX: (BLINK, OFF, OFF),
    STATE_CHARGING: (STEADY, OFF, OFF),
    STATE_IDLE: (HEARTBEAT, OFF, OFF),
}


class LedStatus:
    """Blink patterns on up to three pin-like LEDs. Call ``tick(ms)`` from the main loop
    (every ~50 ms) with a millisecond counter; pins are written only when they change."""

    def __init__(self, green, red, amber=None, patterns=None):
        self.pins = (green, red, amber)
        self.patterns = patterns if patterns is not None else LED_PATTERNS
        self.state = None
        self._levels = [None, None, None]

    def show(self, status):
        self.state = status.state()

    def tick(self, ms):
        if self.state is None:
            return
        green, red, amber = self.patterns[self.state]
        if self.pins[2] is None and amber is not OFF:
            green = red = amber  # bicolour fallback: both on reads as amber
        for i, pattern in enumerate((green, red, amber)):
            on, period = pattern
            self._write(i, 1 if ms % period < on else 0)

    def off(self):
        """All LEDs off until the next show() (before deep sleep)."""
        self.state = None
        for i in range(3):
            self._write(i, 0)

    def _write(self, i, level):
        pin = self.pins[i]
        if pin is not None and self._levels[i] != level:
            self._levels[i] = level
            pin.value(level)
