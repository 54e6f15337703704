"""The unit's sense lines: ignition, input power (the hold-up stage's power-fail output) and the
enclosure lid, as the App asks about them once per loop turn (firmware/app.py).

- **Ignition** (GPIO34 ``ignition_sense``): ``ignition_off()`` is True once the line has read
  "off" for ``off_ms`` without a break, so cranking dips and connector bounce do not park the
  unit. On the reference board Q4 inverts: the pin is low while KL15 is on
  (``on_level=0``; hardware/BOM.md, "Sensing").
- **Power fail** (GPIO39 ``power_fail``, the LTC3226's PFO, low when the input is gone): the
  board wires :meth:`on_power_fail` to the falling edge. GPIO36 and GPIO39 of the ESP32 see
  ~80 ns low glitches when some RTC peripherals (the SAR ADC, the Wi-Fi radio) switch on
  (ESP32 Series SoC Errata), so an edge counts only if the line is still low when the handler
  and the App look at it.
- **Lid** (GPIO36 ``tamper``, high while the lid is open): the board wires :meth:`on_lid` to
  the rising edge, so an opening shorter than a loop turn is still seen.

``park`` is the board's deep sleep (it does not return on the device); on the host a test
passes a recorder. Pins are anything with ``value()``; the clock has ``ticks_ms``,
``ticks_diff`` and ``sleep_ms``. Nothing here imports ``machine``.
"""


class Sense:
    def __init__(self, clock, ignition=None, power_fail=None, lid=None, on_level=0,
                 off_ms=5000, back_ms=1000, park=None):  # fmt: skip
        self.clock = clock
        self.ignition = ignition
        self.power_fail = power_fail
        self.lid = lid
        self.on_level = on_level
        self.off_ms = off_ms
        self.back_ms = back_ms
        self._park = park
        self._off_since = None
        self._failed = False  # latched by the power-fail IRQ
        self._opened = False  # latched by the lid IRQ

    # --- IRQ handlers (soft IRQs on the ESP32: no allocation here) -------------------------

    def on_power_fail(self, pin):
        if not pin.value():
            self._failed = True

    def on_lid(self, pin):
        self._opened = True

    # --- what the App asks -----------------------------------------------------------------

    def ignition_on(self):
        return self.ignition is None or self.ignition.value() == self.on_level

    def ignition_off(self):
        """True once the ignition has been off for ``off_ms`` in a row."""
        if self.ignition_on():
            self._off_since = None
            return False
        now = self.clock.ticks_ms()
        if self._off_since is None:
            self._off_since = now
        return self.clock.ticks_diff(now, self._off_since) >= self.off_ms

    def power_ok(self):
        return self.power_fail is None or bool(self.power_fail.value())

    def power_failed(self):
        """True while a power-fail edge was seen and the line is still low."""
        if self._failed and self.power_ok():
            self._failed = False  # a glitch, or a dip the hold-up covered
        return self._failed

    def wait_power(self, feed, poll_ms=100):
        """Return once input power has been back for ``back_ms`` (on the device the hold-up
        may run out first: the unit then stops here, its segment already closed)."""
        since = None
        while True:
            feed()
            if self.power_ok():
                now = self.clock.ticks_ms()
                if since is None:
                    since = now
                if self.clock.ticks_diff(now, since) >= self.back_ms:
                    break
            else:
                since = None
            self.clock.sleep_ms(poll_ms)
        self._failed = False

    def lid_open(self):
        return self.lid is not None and bool(self.lid.value())

    def lid_opened(self):
        """Whether the lid IRQ fired since the last call (cleared by the call)."""
        seen = self._opened
        self._opened = False
        return seen

    def park(self):
        """Ignition off, everything closed: the board's deep sleep until the ignition is on."""
        self._off_since = None
        if self._park is not None:
            self._park(self)
