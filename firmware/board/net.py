"""Network links: what the App brings up around each sync's network phase and takes down after.

Both classes give the pair :meth:`network_up` (``timeout_ms``; True when the unit can open
sockets) / :meth:`network_down` (the radio off: the driving state of the power budget has it
off), and after a failed bring-up ``error`` (an OSError whose ``code`` names what failed) and
``service`` (True when a person must act; the App then sets the status fault
``network``). ``feed`` is called while waiting (the watchdog; main.py hands it the App's
``feed_watchdog``, which also watches the power-fail line).

Device-agnostic: the ``network`` module (``WLAN``, ``STA_IF``, ``STAT_*``) and the clock
(``ticks_ms``, ``ticks_diff``, ``sleep_ms``) are injected; tests pass fakes.
"""


class LinkError(OSError):
    def __init__(self, code, detail=""):
        super().__init__(code if not detail else code + ": " + detail)
        self.code = code


class WifiLink:
    """Joins the configured access point at every sync (the unit moves: the AP of the last sync
    is often out of reach, and back at the next), and switches the radio off after it."""

    def __init__(self, network, ssid, password, clock, feed=None):
        self.network = network
        self.ssid = ssid
        self.password = password
        self.clock = clock
        self.feed = feed
        self.wlan = None
        self.error = None
        self.service = False

    def network_up(self, timeout_ms):
        self.error = None
        self.service = False
        net = self.network
        if self.wlan is None:
            self.wlan = net.WLAN(net.STA_IF)
        wlan = self.wlan
        wlan.active(True)
        if wlan.isconnected():
            return True
        wlan.connect(self.ssid, self.password)
        t0 = self.clock.ticks_ms()
        while not wlan.isconnected():
            st = wlan.status()
            if st == getattr(net, "STAT_WRONG_PASSWORD", None):
                return self._fail("wifi-wrong-password", True)
            if self.clock.ticks_diff(self.clock.ticks_ms(), t0) >= timeout_ms:
                no_ap = st == getattr(net, "STAT_NO_AP_FOUND", None)
                return self._fail("wifi-no-ap" if no_ap else "wifi-timeout", False)
            if self.feed is not None:
                self.feed()
            self.clock.sleep_ms(100)
        return True

    def _fail(self, code, service):
        self.error = LinkError(code, self.ssid)
        self.service = service
        self.network_down()
        return False

    def network_down(self):
        wlan = self.wlan
        if wlan is None:
            return
        try:
            if wlan.isconnected():
                wlan.disconnect()
        except OSError:
            pass
        wlan.active(False)


class ModemLink:
    """PPP over the LTE-M modem (firmware/board/modem.py), powered only around each sync."""

    def __init__(self, modem, apn):
        self.modem = modem
        self.apn = apn

    @property
    def error(self):
        return self.modem.error

    @property
    def service(self):
        return self.modem.service

    @property
    def feed(self):
        return self.modem.feed

    @feed.setter
    def feed(self, fn):
        self.modem.feed = fn

    def network_up(self, timeout_ms):
        return self.modem.up(self.apn, timeout_ms)

    def network_down(self):
        self.modem.down()
