"""The driver's confirmation input: may the unit open a whole disputed period? (SPEC §8.1)

The backend cannot prove the driver's consent to the unit, so firmware/disputes.py asks the
board. A confirmation input is any object with two methods:

- ``ask(dispute)``: a verified dispute waits for the driver (called at every sync while it
  waits, for the oldest waiting dispute only: one question at a time). ``dispute`` has
  ``dispute_id`` (16 bytes), ``id_hex``, ``statement_seq``, ``segment_count``,
  ``period_start`` and ``period_end``.
- ``answer(dispute)``: True (open the period), False (never open it) or None (no answer yet).
  An answer is given once: the caller records it.

Boards: :class:`ButtonConfirm` below (the ESP32's push button; firmware/board/esp32.py wires
its IRQ), ``FileConfirm`` and ``ConfirmAll`` in firmware/board/host.py. Without an input the
unit never confirms by itself (policy ``ask``): a dispute then waits, and the status shows it.
"""

try:
    from time import ticks_diff, ticks_ms
except ImportError:  # CPython: the same names over the monotonic clock
    import time as _time

    def ticks_ms():
        return _time.monotonic_ns() // 1000000

    def ticks_diff(a, b):
        return a - b


HOLD_MS = 3000  # press and hold this long to confirm
DOUBLE_MS = 1500  # two short presses within this time decline
DEBOUNCE_MS = 40  # shorter contacts are bounce, not presses


class ButtonConfirm:
    """One push button: **press and hold 3 s** to confirm the dispute being asked about,
    **press twice briefly** to decline it. Presses count only while a question is asked (a
    press before the status shows the question, or left over from an earlier question, does
    nothing), and an answer applies to the question it was given for.

    Feed it edges with :meth:`edge` (``level`` as read from the pin; ``active_low`` for a
    button to ground with a pull-up). On the ESP32, :meth:`irq` is the pin's IRQ handler.
    """

    def __init__(self, active_low=True, ticks=None, hold_ms=HOLD_MS, double_ms=DOUBLE_MS):
        self.active_low = active_low
        self._ticks = ticks if ticks is not None else ticks_ms
        self.hold_ms = hold_ms
        self.double_ms = double_ms
        self.asked = None  # dispute id of the question shown
        self._answer = None  # (dispute id, True/False) once given
        self._down_at = None
        self._short_at = None

    # --- the question -----------------------------------------------------------------------
    def ask(self, dispute):
        if self.asked != dispute.dispute_id:
            self.asked = dispute.dispute_id
            self._answer = None
            self._short_at = None

    def answer(self, dispute):
        a = self._answer
        if a is None or a[0] != dispute.dispute_id:
            return None
        self._answer = None
        self.asked = None
        return a[1]

    # --- the button -------------------------------------------------------------------------
    def irq(self, pin):
        self.edge(pin.value(), self._ticks())

    def edge(self, level, t_ms):
        """The pin changed to ``level`` at ``t_ms`` (a ticks_ms value)."""
        pressed = (level == 0) if self.active_low else (level != 0)
        if pressed:
            if self._down_at is None:
                self._down_at = t_ms
            return
        if self._down_at is None:
            return
        held = ticks_diff(t_ms, self._down_at)
        self._down_at = None
        if self.asked is None or self._answer is not None or held < DEBOUNCE_MS:
            return
        if held >= self.hold_ms:
            self._answer = (self.asked, True)
            self._short_at = None
        elif self._short_at is not None and ticks_diff(t_ms, self._short_at) <= self.double_ms:
            self._answer = (self.asked, False)
            self._short_at = None
        else:
            self._short_at = t_ms
