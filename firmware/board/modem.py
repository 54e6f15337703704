"""The LTE-M modem (Quectel BG95-M3, BOM U4): power, the AT handshake, then PPP.

:meth:`Modem.up` takes the modem from off to an IP link, one step at a time, each with its
own time limit, and says which step failed:

1. power: if STATUS is low, pulse PWRKEY (GPIO32 high for 700 ms: Q3 pulls PWRKEY low; the
   BG95 turns on after 500–1000 ms low, BG95 Hardware Design, "Turn on") and wait for STATUS;
2. ``AT`` until ``OK`` (the modem takes commands a few seconds after STATUS), ``ATE0``;
3. ``AT+CPIN?`` → ``+CPIN: READY`` (a SIM still starting answers ``+CME ERROR: 14``: asked
   again; ``+CME ERROR: 10`` is no SIM, ``+CPIN: SIM PIN`` a locked one);
4. ``AT+CGDCONT=1,"IP","<apn>"``;
5. ``AT+CEREG?`` every 2 s until ``+CEREG: <n>,1`` (home) or ``,5`` (roaming); ``,3`` is a
   refusal by the network;
6. ``ATD*99#`` → ``CONNECT``: the UART now carries PPP;
7. ``network.PPP(uart)`` (MicroPython ≥ 1.24), ``connect()``, until ``isconnected()``.

:meth:`Modem.down` ends PPP and turns the modem off (``AT+QPOWD=1``, else a PWRKEY pulse of
800 ms: the BG95 turns off after 650–1500 ms low).

A failure leaves ``error`` (a :class:`ModemError` whose ``code`` names the step) and
``service`` (True when a person must act: no power, no answer, SIM missing or locked,
registration refused — the status shows a fault; False for what the next sync may not meet:
no coverage, no carrier). Device-agnostic: the UART (``read()``, ``write()``), the two pins
(``value()``), the clock (``ticks_ms``, ``ticks_diff``, ``sleep_ms``) and the PPP factory are
injected; tests/firmware/test_modem.py drives it with a scripted fake modem.
"""

POWER_PULSE_MS = 700
OFF_PULSE_MS = 800
STATUS_WAIT_MS = 10000
AT_WAIT_MS = 10000
SIM_WAIT_MS = 10000
REG_POLL_MS = 2000
DIAL_WAIT_MS = 30000
CMD_WAIT_MS = 1000
OFF_WAIT_MS = 5000

FINAL = (b"OK", b"ERROR", b"CONNECT", b"NO CARRIER", b"BUSY", b"NO DIALTONE", b"NO ANSWER")


class ModemError(OSError):
    """The link did not come up; ``code`` names the step (module docstring)."""

    def __init__(self, code, detail=""):
        super().__init__(code if not detail else code + ": " + detail)
        self.code = code


class Modem:
    def __init__(self, uart, pwrkey, status, clock, ppp_factory, feed=None):
        self.uart = uart
        self.pwrkey = pwrkey  # high = key pressed (through Q3)
        self.status = status  # high = modem on
        self.clock = clock
        self.ppp_factory = ppp_factory
        self.feed = feed  # the watchdog, fed while waiting
        self.ppp = None
        self.error = None
        self.service = False

    # --- line I/O -------------------------------------------------------------------------

    def _wait(self, ms):
        if self.feed is not None:
            self.feed()
        self.clock.sleep_ms(ms)

    def _elapsed(self, t0):
        return self.clock.ticks_diff(self.clock.ticks_ms(), t0)

    def command(self, cmd, wait_ms=CMD_WAIT_MS):
        """Send ``cmd`` (bytes, no CR); returns (final result code or None on time-out, the
        lines before it). ``+CME ERROR: n`` counts as a final result."""
        for _ in range(8):  # drop stale output (URCs, an earlier reply)
            if not self.uart.read():
                break
        self.uart.write(cmd + b"\r")
        buf = b""
        lines = []
        t0 = self.clock.ticks_ms()
        while True:
            data = self.uart.read()
            if data:
                buf += data
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    line = line.strip()
                    if not line or line == cmd:  # blank, or the echo before ATE0
                        continue
                    if line in FINAL or line.startswith(b"+CME ERROR"):
                        return line, lines
                    lines.append(line)
            if self._elapsed(t0) >= wait_ms:  # even while URCs keep arriving
                return None, lines
            if not data:
                self._wait(20)

    def _fail(self, code, detail="", service=False):
        self.error = ModemError(code, detail)
        self.service = service
        return False

    # --- bring-up -------------------------------------------------------------------------

    def power_on(self):
        if self.status.value():
            return True
        self.pwrkey.value(1)
        self._wait(POWER_PULSE_MS)
        self.pwrkey.value(0)
        t0 = self.clock.ticks_ms()
        while not self.status.value():
            if self._elapsed(t0) >= STATUS_WAIT_MS:
                return False
            self._wait(100)
        return True

    def _sync(self):
        t0 = self.clock.ticks_ms()
        while True:
            final, _ = self.command(b"AT", 500)
            if final == b"OK":
                return True
            if self._elapsed(t0) >= AT_WAIT_MS:
                return False
            self._wait(500)

    def _sim(self):
        """None when ready, else the failure code."""
        t0 = self.clock.ticks_ms()
        code = "sim-error"
        while True:
            final, lines = self.command(b"AT+CPIN?")
            if final == b"OK" and b"+CPIN: READY" in lines:
                return None
            if final is not None and final.startswith(b"+CME ERROR: 10"):
                code = "sim-missing"
            elif final == b"OK" and lines and lines[0].startswith(b"+CPIN: SIM P"):
                return "sim-locked"  # a PIN or PUK: asking again will not help
            elif final is None:
                code = "sim-timeout"
            if self._elapsed(t0) >= SIM_WAIT_MS:
                return code
            self._wait(1000)

    def _registered(self, deadline_ms, t0):
        """None when registered, else the failure code."""
        while True:
            final, lines = self.command(b"AT+CEREG?")
            for line in lines:
                if line.startswith(b"+CEREG:"):
                    stat = line.split(b",")[1:2]
                    stat = stat[0].strip() if stat else b""
                    if stat in (b"1", b"5"):
                        return None
                    if stat == b"3":
                        return "registration-denied"
            if self._elapsed(t0) >= deadline_ms:
                return "no-registration"
            self._wait(REG_POLL_MS)

    def up(self, apn, timeout_ms):
        """Bring the link up within about ``timeout_ms`` (plus power-on); True when it is."""
        self.error = None
        self.service = False
        if self.ppp is not None and self.ppp.isconnected():
            return True
        if not self.power_on():
            return self._fail("modem-no-power", "STATUS stayed low", service=True)
        if not self._sync():
            return self._fail("modem-no-answer", "no OK to AT", service=True)
        if self.command(b"ATE0")[0] != b"OK":
            return self._fail("modem-no-answer", "ATE0")
        code = self._sim()
        if code is not None:
            return self._fail(code, service=code != "sim-timeout")
        cmd = b'AT+CGDCONT=1,"IP","' + apn.encode() + b'"'
        if self.command(cmd)[0] != b"OK":
            return self._fail("apn-refused", apn, service=True)
        t0 = self.clock.ticks_ms()
        code = self._registered(timeout_ms, t0)
        if code is not None:
            return self._fail(code, service=code == "registration-denied")
        final, _ = self.command(b"ATD*99#", DIAL_WAIT_MS)
        if final != b"CONNECT":
            return self._fail("no-carrier", (final or b"time-out").decode())
        return self._ppp(timeout_ms, t0)

    def _ppp(self, timeout_ms, t0):
        ppp = self.ppp_factory(self.uart)
        self.ppp = ppp
        if hasattr(ppp, "active"):  # the esp32 port's PPP before v1.24's common interface
            ppp.active(True)
        ppp.connect()
        while not ppp.isconnected():
            if self._elapsed(t0) >= timeout_ms:
                self._end_ppp()
                return self._fail("ppp-timeout")
            self._wait(200)
        return True

    # --- tear-down ------------------------------------------------------------------------

    def _end_ppp(self):
        ppp = self.ppp
        self.ppp = None
        if ppp is None:
            return
        try:
            ppp.disconnect()
            if hasattr(ppp, "active"):
                ppp.active(False)
        except OSError:
            pass
        # PPP's end hands the UART back to the AT interpreter ("NO CARRIER"); if the modem
        # still holds the call, the escape sequence (a second of silence either side) does.
        # The CR then ends the line, so that a "+++" the AT interpreter got is not the start
        # of the next command.
        self._wait(1000)
        self.uart.write(b"+++")
        self._wait(1000)
        self.uart.write(b"\r")

    def down(self):
        """End PPP and switch the modem off (it is powered up again at the next sync)."""
        self._end_ppp()
        if not self.status.value():
            return
        if self.command(b"AT+QPOWD=1", 2000)[0] == b"OK" and self._off(OFF_WAIT_MS):
            return
        self.pwrkey.value(1)
        self._wait(OFF_PULSE_MS)
        self.pwrkey.value(0)
        self._off(OFF_WAIT_MS)

    def _off(self, wait_ms):
        t0 = self.clock.ticks_ms()
        while self.status.value():
            if self._elapsed(t0) >= wait_ms:
                return False
            self._wait(100)
        return True
