"""Driver feedback: what the unit shows about itself (LEDs, a display or the serial console).

Drivers of deployed road-charging units complain that they cannot tell whether the box works.
``Status`` is the model: GNSS fix, charging active, the last upload and its result, statements
waiting for a receipt, disputes waiting for the driver's confirmation, and faults. The
firmware's parts set it; it tells its outputs whenever something changed. Outputs are
injected: ``LedStatus`` drives pin-like objects (anything with ``value(v)``, e.g.
machine.Pin), ``TextStatus`` writes one line per change to a stream, and
``firmware.board.buzzer.BuzzerStatus`` beeps when a fault or a dispute question begins (a
module of its own: the host never loads it). Nothing here imports ``machine``;
firmware/board/ builds the pins.

Precedence, most urgent first (``Status.state()``):

| state | meaning | LEDs (green / red / amber) |
|---|---|---|
| fault | a fault bit is set: see ``faults`` | off / steady / off |
| dispute-waiting | a dispute waits for the driver's yes or no | off / off / blink 1 Hz |
| upload-overdue | a statement waited for its receipt over ``overdue_s`` | off / off / steady |
| no-fix | no usable GNSS fix: distance is not being measured | blink 1 Hz / off / off |
| charging | fix ok and a segment is being charged | steady / off / off |
| idle | fix ok, not driving | heartbeat (0.1 s every 3 s) / off / off |

Without an amber LED, amber is shown as green and red together (a bicolour LED mixes them).

The buzzer (firmware/board/buzzer.py): three short beeps when the unit enters the fault
state or a further fault bit appears, two when a dispute starts waiting for the driver.
"""

from protocol.timeutil import civil_from_unix

# Fault bits (Status.faults).
FAULT_POLICY_MISSING = 1  # no signed tariff policy for the current time: cannot price
FAULT_POLICY_EXPIRED = 2  # the newest policy has ended and no successor arrived
FAULT_LEDGER = 4  # the ledger or a sealed statement failed its checks
FAULT_UPLINK_REJECTED = 8  # the backend refused a statement (4xx): needs the operator
FAULT_TIME_UNKNOWN = 16  # no trustworthy GNSS time although the unit should have it
FAULT_RECEIPT_INVALID = 32  # the backend's receipt did not verify (wrong key, tampering)
FAULT_NETWORK = 64  # the modem or its SIM needs a person (no answer, SIM missing or locked)
FAULT_TAMPER = 128  # the enclosure lid was opened (firmware/tamper.py): until provisioning

FAULT_NAMES = (
    (FAULT_POLICY_MISSING, "policy-missing"),
    (FAULT_POLICY_EXPIRED, "policy-expired"),
    (FAULT_LEDGER, "ledger"),
    (FAULT_UPLINK_REJECTED, "uplink-rejected"),
    (FAULT_TIME_UNKNOWN, "time-unknown"),
    (FAULT_RECEIPT_INVALID, "receipt-invalid"),
    (FAULT_NETWORK, "network"),
    (FAULT_TAMPER, "tamper"),
)

STATE_FAULT = "fault"
STATE_DISPUTE_WAITING = "dispute-waiting"
STATE_UPLOAD_OVERDUE = "upload-overdue"
STATE_NO_FIX = "no-fix"
STATE_CHARGING = "charging"
STATE_IDLE = "idle"

DEFAULT_OVERDUE_S = 3 * 86400


def fault_names(bits):
    """Names of the set fault bits, in table order."""
    return [name for bit, name in FAULT_NAMES if bits & bit]


class Status:
    """The unit's state as the driver should see it. Setters notify the outputs on change.

    The fault bits are also class attributes (``status.FAULT_LEDGER``), so parts that only
    receive a Status need not import this module.
    """

    FAULT_POLICY_MISSING = FAULT_POLICY_MISSING
    FAULT_POLICY_EXPIRED = FAULT_POLICY_EXPIRED
    FAULT_LEDGER = FAULT_LEDGER
    FAULT_UPLINK_REJECTED = FAULT_UPLINK_REJECTED
    FAULT_TIME_UNKNOWN = FAULT_TIME_UNKNOWN
    FAULT_RECEIPT_INVALID = FAULT_RECEIPT_INVALID
    FAULT_NETWORK = FAULT_NETWORK
    FAULT_TAMPER = FAULT_TAMPER

    def __init__(self, outputs=(), overdue_s=DEFAULT_OVERDUE_S):
        self.outputs = list(outputs)
        self.overdue_s = overdue_s
        self.fix = False
        self.charging = False
        self.faults = 0
        self.now = None  # last known GNSS time (Unix s), for the overdue rule
        self.last_upload_at = None
        self.last_upload_ok = None
        self.last_upload_code = None  # "ok" or the error code of the last attempt
        self.pending = 0
        self.pending_since = None  # when the oldest waiting statement became due
        self.disputes_waiting = 0  # disputes waiting for the driver's confirmation

    # --- setters ----------------------------------------------------------------------------
    def set_fix(self, ok):
        self._set("fix", bool(ok))

    def set_charging(self, active):
        self._set("charging", bool(active))

    def set_time(self, now):
        """Feed the GNSS time (Unix s, or None if unknown); only the overdue rule uses it."""
        was = self.state()
        self.now = now
        if self.state() != was:
            self._notify()

    def set_fault(self, bit, on=True):
        self._set("faults", (self.faults | bit) if on else (self.faults & ~bit))

    def upload_attempt(self, at, ok, code):
        """Record an upload attempt (``at`` Unix s or None, ``code`` "ok" or an error code)."""
        last = (self.last_upload_at, self.last_upload_ok, self.last_upload_code)
        changed = (at, ok, code) != last
        self.last_upload_at = at
        self.last_upload_ok = ok
        self.last_upload_code = code
        if changed:
            self._notify()

    def set_pending(self, count, since=None):
        """``count`` statements wait for a receipt, the oldest due since ``since`` (Unix s)."""
        since = since if count else None
        if (count, since) != (self.pending, self.pending_since):
            self.pending = count
            self.pending_since = since
            self._notify()

    def set_disputes_waiting(self, count):
        """``count`` verified disputes wait for the driver to confirm or decline them
        (firmware/disputes.py)."""
        self._set("disputes_waiting", count)

    def _set(self, name, value):
        if getattr(self, name) != value:
            setattr(self, name, value)
            self._notify()

    def _notify(self):
        for out in self.outputs:
            out.show(self)

    # --- derived ----------------------------------------------------------------------------
    def overdue(self):
        return (
            self.pending > 0
            and self.pending_since is not None
            and self.now is not None
            and self.now - self.pending_since > self.overdue_s
        )

    def state(self):
        """The one state the LEDs show (module docstring: precedence)."""
        if self.faults:
            return STATE_FAULT
        if self.disputes_waiting:
            return STATE_DISPUTE_WAITING
        if self.overdue():
            return STATE_UPLOAD_OVERDUE
        if not self.fix:
            return STATE_NO_FIX
        return STATE_CHARGING if self.charging else STATE_IDLE


# --- LEDs -----------------------------------------------------------------------------------
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


# --- text -----------------------------------------------------------------------------------
def _when(t):
    if t is None:
        return "never"
    y, mo, d, h, mi, _, _ = civil_from_unix(t)
    return "%04d-%02d-%02dT%02d:%02dZ" % (y, mo, d, h, mi)


def render(status):
    """One line (no newline) describing ``status`` for a console or a two-line display."""
    upload = "never"
    if status.last_upload_code is not None:
        upload = "%s %s" % (_when(status.last_upload_at), status.last_upload_code)
    names = fault_names(status.faults)
    line = "%s fix=%s charging=%s upload=%s pending=%d faults=%s" % (
        status.state(),
        "yes" if status.fix else "no",
        "yes" if status.charging else "no",
        upload,
        status.pending,
        ",".join(names) if names else "-",
    )
    n = status.disputes_waiting
    if n == 1:
        line += " | dispute waiting for confirmation"
    elif n > 1:
        line += " | %d disputes waiting for confirmation" % n
    return line


class TextStatus:
    """Writes ``render(status)`` and a newline to ``stream`` whenever the line changes."""

    def __init__(self, stream):
        self.stream = stream
        self.last = None

    def show(self, status):
        line = render(status)
        if line != self.last:
            self.last = line
            self.stream.write(line + "\n")
