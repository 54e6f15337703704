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

The outputs live in modules of their own, loaded on first use and offered here by name:
firmware/status_led.py (LedStatus, its patterns OFF, STEADY, BLINK, HEARTBEAT and
LED_PATTERNS: the device's) and firmware/status_text.py (TextStatus, render, fault_names,
FAULT_NAMES: the console's). A unit keeps only the model and the outputs it has on its heap.
"""

from protocol.compat import lazy_names

# Fault bits (Status.faults).
FAULT_POLICY_MISSING = 1  # no signed tariff policy for the current time: cannot price
FAULT_POLICY_EXPIRED = 2  # the newest policy has ended and no successor arrived
FAULT_LEDGER = 4  # the ledger or a sealed statement failed its checks
FAULT_UPLINK_REJECTED = 8  # the backend refused a statement (4xx): needs the operator
FAULT_TIME_UNKNOWN = 16  # no trustworthy GNSS time although the unit should have it
FAULT_RECEIPT_INVALID = 32  # the backend's receipt did not verify (wrong key, tampering)
FAULT_NETWORK = 64  # the modem or its SIM needs a person (no answer, SIM missing or locked)
FAULT_TAMPER = 128  # the enclosure lid was opened (firmware/tamper.py): until provisioning

STATE_FAULT = "fault"
STATE_DISPUTE_WAITING = "dispute-waiting"
STATE_UPLOAD_OVERDUE = "upload-overdue"
STATE_NO_FIX = "no-fix"
STATE_CHARGING = "charging"
STATE_IDLE = "idle"

DEFAULT_OVERDUE_S = 3 * 86400


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


# --- outputs, loaded on first use (module docstring) ---------------------------------------
TYPE_CHECKING = False
if TYPE_CHECKING:  # for mypy; at run time __getattr__ below provides them
    from firmware.status_led import BLINK as BLINK
    from firmware.status_led import HEARTBEAT as HEARTBEAT
    from firmware.status_led import LED_PATTERNS as LED_PATTERNS
    from firmware.status_led import OFF as OFF
    from firmware.status_led import STEADY as STEADY
    from firmware.status_led import LedStatus as LedStatus
    from firmware.status_text import FAULT_NAMES as FAULT_NAMES
    from firmware.status_text import TextStatus as TextStatus
    from firmware.status_text import fault_names as fault_names
    from firmware.status_text import render as render


# The outputs (module docstring), on first use.
__getattr__ = lazy_names(
    __name__,
    ("firmware.status_led", ("LedStatus", "LED_PATTERNS", "OFF", "STEADY", "BLINK", "HEARTBEAT")),
    ("firmware.status_text", ("TextStatus", "render", "fault_names", "FAULT_NAMES")),
)
