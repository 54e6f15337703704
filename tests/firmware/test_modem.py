"""The LTE-M modem's bring-up (firmware/board/modem.py) against a scripted fake BG95.

Runs under CPython (pytest) and the MicroPython unix port (tests/contract/mp_run.py). The fake
answers over its "UART" as the BG95's AT interpreter does (echo until ATE0, final result
codes, ``+CME ERROR``), turns on after a PWRKEY pulse of at least 500 ms with STATUS high a
moment later, and can be told to have no SIM, a locked SIM, no coverage, a refusing network,
no carrier or a PPP peer that never answers.
"""

from firmware.board.modem import Modem
from firmware.board.net import ModemLink


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
    def __init__(self, read=None):
        self.levels = []
        self.read = read

    def value(self, v=None):
        if v is None:
            return self.read()
        self.levels.append(v)
        return None


class FakeBG95:
    """``sim``: "READY", "missing", "locked" or "busy" (+CME ERROR: 14 for ``sim_busy`` asks);
    ``reg``: the CEREG stat answers in turn, the last one repeating; ``dial``: the ATD answer
    (None: no answer); ``answers``: the AT interpreter talks at all."""

    def __init__(self, clock, on=False, sim="READY", sim_busy=0, reg=("2", "2", "1"),
                 dial="CONNECT", answers=True, powers_up=True, qpowd=True):  # fmt: skip
        self.clock = clock
        self.on_at = 0 if on else None
        self.sim = sim
        self.sim_busy = sim_busy
        self.reg = list(reg)
        self.dial = dial
        self.answers = answers
        self.powers_up = powers_up
        self.qpowd = qpowd
        self.echo = True
        self.data_mode = False
        self.commands = []
        self.out = b""
        self.inbuf = b""
        self._key_down_at = None
        self.status = Pin(self._status)
        self.pwrkey = Pin()
        self.pwrkey.value = self._pwrkey
        self.pulses = []

    # pins ---------------------------------------------------------------------------------
    def _status(self):
        return 1 if self.on_at is not None and self.clock.ms >= self.on_at else 0

    def _pwrkey(self, v=None):
        if v is None:
            return 0
        if v:
            self._key_down_at = self.clock.ms  # Q3 on: PWRKEY pulled low
        elif self._key_down_at is not None:
            held = self.clock.ms - self._key_down_at
            self._key_down_at = None
            self.pulses.append(held)
            if self.on_at is None and held >= 500 and self.powers_up:
                self.on_at = self.clock.ms + 2500
            elif self.on_at is not None and 650 <= held <= 1500:
                self.on_at = None
        return None

    # UART ---------------------------------------------------------------------------------
    def read(self):
        self.clock.ms += 2
        out, self.out = self.out, b""
        return out or None

    def write(self, data):
        self.clock.ms += 1
        if self.data_mode:
            if data == b"+++":
                self.data_mode = False
                self.out += b"\r\nOK\r\n"
            return len(data)
        self.inbuf += data
        while b"\r" in self.inbuf:
            line, self.inbuf = self.inbuf.split(b"\r", 1)
            self._command(line)
        return len(data)

    def _reply(self, *lines):
        for line in lines:
            self.out += b"\r\n" + line + b"\r\n"

    def _command(self, cmd):
        # awake for commands 1.5 s after STATUS
        if not self.answers or self.on_at is None or self.clock.ms < self.on_at + 1500:
            return
        self.commands.append(cmd)
        if self.echo:
            self.out += cmd + b"\r"
        if cmd == b"AT":
            self._reply(b"OK")
        elif cmd == b"ATE0":
            self.echo = False
            self._reply(b"OK")
        elif cmd == b"AT+CPIN?":
            if self.sim_busy:
                self.sim_busy -= 1
                self._reply(b"+CME ERROR: 14")
            elif self.sim == "READY":
                self._reply(b"+CPIN: READY", b"OK")
            elif self.sim == "locked":
                self._reply(b"+CPIN: SIM PIN", b"OK")
            else:
                self._reply(b"+CME ERROR: 10")
        elif cmd.startswith(b"AT+CGDCONT="):
            self._reply(b"OK")
        elif cmd == b"AT+CEREG?":
            stat = self.reg.pop(0) if len(self.reg) > 1 else self.reg[0]
            self._reply(b"+CEREG: 0," + stat.encode(), b"OK")
        elif cmd == b"ATD*99#":
            if self.dial is not None:
                self._reply(self.dial.encode())
                self.data_mode = self.dial == "CONNECT"
        elif cmd == b"AT+QPOWD=1":
            if self.qpowd:
                self._reply(b"OK", b"POWERED DOWN")
                self.on_at = None
        else:
            self._reply(b"ERROR")


class FakePPP:
    def __init__(self, uart, connects_after_ms=3000, clock=None):
        self.uart = uart
        self.clock = clock
        self.connects_after_ms = connects_after_ms
        self.started = None
        self.disconnected = False

    def connect(self):
        self.started = self.clock.ms

    def isconnected(self):
        if self.started is None or self.connects_after_ms is None:
            return False
        return self.clock.ms - self.started >= self.connects_after_ms

    def disconnect(self):
        self.disconnected = True
        self.uart.data_mode = False


class Feeds:
    def __init__(self):
        self.n = 0

    def __call__(self):
        self.n += 1


def make(ppp_after=3000, **kw):
    clock = Clock()
    bg = FakeBG95(clock, **kw)
    ppps = []

    def factory(uart):
        p = FakePPP(uart, ppp_after, clock)
        ppps.append(p)
        return p

    feeds = Feeds()
    modem = Modem(bg, bg.pwrkey, bg.status, clock, factory, feed=feeds)
    return clock, bg, modem, ppps, feeds


def test_from_off_to_ppp_in_order():
    clock, bg, modem, ppps, feeds = make()
    assert modem.up("iot.example", 120000)
    assert bg.pulses == [700]  # 500–1000 ms turns the BG95 on
    cmds = [c for c in bg.commands if c != b"AT"]
    assert cmds == [
        b"ATE0",
        b"AT+CPIN?",
        b'AT+CGDCONT=1,"IP","iot.example"',
        b"AT+CEREG?",
        b"AT+CEREG?",
        b"AT+CEREG?",
        b"ATD*99#",
    ]
    assert bg.commands[0] == b"AT" and len(ppps) == 1 and ppps[0].isconnected()
    assert modem.error is None and not modem.service
    assert feeds.n > 10  # the watchdog is fed while waiting
    # up again while connected: nothing to do
    n = len(bg.commands)
    assert modem.up("iot.example", 120000) and len(bg.commands) == n


def test_down_ends_ppp_and_switches_the_modem_off():
    clock, bg, modem, ppps, feeds = make()
    assert modem.up("apn", 120000)
    modem.down()
    assert ppps[0].disconnected and modem.ppp is None
    assert bg.commands[-1] == b"AT+QPOWD=1" and not bg.status.value()
    assert bg.pulses == [700]  # AT+QPOWD did it: no second pulse


def test_down_falls_back_to_a_pwrkey_pulse():
    clock, bg, modem, ppps, feeds = make(qpowd=False)
    assert modem.up("apn", 120000)
    modem.down()
    assert bg.pulses == [700, 800] and not bg.status.value()


def test_a_modem_already_on_gets_no_pulse():
    clock, bg, modem, ppps, feeds = make(on=True)
    assert modem.up("apn", 120000)
    assert bg.pulses == []


def test_a_sim_still_starting_is_asked_again():
    clock, bg, modem, ppps, feeds = make(sim_busy=2)
    assert modem.up("apn", 120000)
    assert bg.commands.count(b"AT+CPIN?") == 3


def test_no_sim_is_a_service_fault_and_nothing_is_dialled():
    clock, bg, modem, ppps, feeds = make(sim="missing")
    assert not modem.up("apn", 120000)
    assert modem.error.code == "sim-missing" and modem.service
    assert b"ATD*99#" not in bg.commands and not ppps
    assert clock.ms < 60000  # gave up after the SIM wait, not the registration timeout


def test_a_locked_sim_fails_at_once():
    clock, bg, modem, ppps, feeds = make(sim="locked")
    assert not modem.up("apn", 120000)
    assert modem.error.code == "sim-locked" and modem.service
    assert bg.commands.count(b"AT+CPIN?") == 1


def test_no_coverage_times_out_without_a_service_fault():
    clock, bg, modem, ppps, feeds = make(reg=("2",))
    t0 = clock.ms
    assert not modem.up("apn", 30000)
    assert modem.error.code == "no-registration" and not modem.service
    assert 30000 <= clock.ms - t0 < 60000
    assert b"ATD*99#" not in bg.commands


def test_a_refusing_network_is_a_service_fault():
    clock, bg, modem, ppps, feeds = make(reg=("2", "3"))
    assert not modem.up("apn", 120000)
    assert modem.error.code == "registration-denied" and modem.service


def test_roaming_counts_as_registered():
    clock, bg, modem, ppps, feeds = make(reg=("5",))
    assert modem.up("apn", 120000)


def test_a_modem_that_does_not_answer():
    clock, bg, modem, ppps, feeds = make(answers=False)
    assert not modem.up("apn", 120000)
    assert modem.error.code == "modem-no-answer" and modem.service


def test_a_modem_that_does_not_power_up():
    clock, bg, modem, ppps, feeds = make(powers_up=False)
    assert not modem.up("apn", 120000)
    assert modem.error.code == "modem-no-power" and modem.service
    assert bg.commands == []


def test_no_carrier_and_no_answer_to_the_dial():
    clock, bg, modem, ppps, feeds = make(dial="NO CARRIER")
    assert not modem.up("apn", 120000)
    assert modem.error.code == "no-carrier" and not modem.service
    clock, bg, modem, ppps, feeds = make(dial=None)
    assert not modem.up("apn", 120000)
    assert modem.error.code == "no-carrier" and "time-out" in str(modem.error)


def test_a_ppp_peer_that_never_answers_times_out_and_is_closed():
    clock, bg, modem, ppps, feeds = make(ppp_after=None)
    assert not modem.up("apn", 40000)
    assert modem.error.code == "ppp-timeout"
    assert ppps[0].disconnected and modem.ppp is None


def test_the_link_wraps_the_modem_for_the_app():
    clock, bg, modem, ppps, feeds = make(sim="missing")
    link = ModemLink(modem, "apn")
    assert not link.network_up(60000)
    assert link.error.code == "sim-missing" and link.service
    other = Feeds()
    link.feed = other
    assert modem.feed is other and link.feed is other
    link.network_down()
