"""The OBU's one configuration file (JSON), validated at boot with clear errors.

Example (``firmware/config.example.json``)::

    {
      "obu_id": "OBU-0001",
      "vehicle_class": 1,
      "backend_url": "http://192.0.2.10:8000",
      "authority_public_key": "04…(130 hex digits)",
      "period": "month",
      "retention_days": 90,
      "chain": {"next_seq": 0, "prev_hash": "00…"},
      "network": {"kind": "wifi", "ssid": "car-hotspot", "password": "…", "timeout_s": 30},
      "gnss": {"uart": 1, "baud": 9600, "min_unix": 1704067200, "configure": true},
      "power": {"ignition_off_s": 5, "ignition": "low"},
      "disputes": {"confirm": "ask", "batch_bytes": 16384, "batches_per_sync": 4}
    }

``period`` is ``"month"`` (calendar month, UTC: the default) or a whole number of seconds
(≥ 3600; periods then start at multiples of it since the Unix epoch — for tests and pilots).
``chain`` is optional: a replacement OBU continues its vehicle's statement chain from the head
the backend returned at provisioning. ``network.kind`` is ``"wifi"``, ``"modem"`` (with
``apn`` and ``uart``, the ESP32 UART the modem is on) or ``"none"`` (host runs: the transport is
injected); ``network.timeout_s`` bounds each sync's bring-up (default 30 s for Wi-Fi, 120 s for
the modem, whose registration takes longest). ``gnss.uart`` and ``gnss.baud`` are the
receiver's port and rate, which the unit sets at boot when ``gnss.configure`` is true (the
default; u-blox M9/M10: firmware/gnss/ubx.py). ``power.ignition_off_s``: how long the ignition
must read off before the unit closes its segment, syncs and sleeps (default 5);
``power.ignition``: the level of the ignition pin while KL15 is on — ``"low"`` (the default:
the Q4 level shifter, hardware/BOM.md), ``"high"`` (a first-revision board with the plain
divider) or ``"none"`` (KL15 not wired: the unit never parks). ``disputes``
(optional, SPEC §8.1, firmware/disputes.py): ``confirm`` is ``"ask"`` (the default: the driver
confirms on the unit before a disputed period is opened), ``"never"`` (never open one) or
``"auto"`` (open on the authority's signed request alone); ``batch_bytes`` bounds one upload's
body and ``batches_per_sync`` the uploads per sync.

Every problem raises ConfigError naming the field, e.g.
``config.backend_url: must start with http:// or https://``.
"""

import json

from protocol.compat import is_int


class ConfigError(ValueError):
    code = "config_error"


def _fail(field, why):
    raise ConfigError("config.%s: %s" % (field, why))


def _int(d, field, lo, hi, default=None):
    v = d.get(field.split(".")[-1], default)
    if v is None:
        _fail(field, "missing")
    if not is_int(v) or v < lo or v > hi:
        _fail(field, "must be an integer in [%d, %d]" % (lo, hi))
    return v


def _str(d, field, max_len=200, default=None):
    v = d.get(field.split(".")[-1], default)
    if v is None:
        _fail(field, "missing")
    if not isinstance(v, str) or not v or len(v) > max_len:
        _fail(field, "must be a non-empty string of at most %d characters" % max_len)
    return v


def _bool(d, field, default):
    v = d.get(field.split(".")[-1], default)
    if not isinstance(v, bool):
        _fail(field, "must be true or false")
    return v


def _hex(d, field, n_bytes, default=None):
    v = _str(d, field, 2 * n_bytes, default)
    try:
        b = bytes.fromhex(v)
    except ValueError:
        b = None
    if b is None or len(b) != n_bytes:
        _fail(field, "must be %d hex digits" % (2 * n_bytes))
    return b


def _section(d, field):
    v = d.get(field, {})
    if not isinstance(v, dict):
        _fail(field, "must be an object")
    return v


def split_url(url):
    """(scheme, host, port, base_path) of an http(s) URL, without a URL library."""
    if url.startswith("http://"):
        scheme, rest, port = "http", url[7:], 80
    elif url.startswith("https://"):
        scheme, rest, port = "https", url[8:], 443
    else:
        _fail("backend_url", "must start with http:// or https://")
    slash = rest.find("/")
    hostport, path = (rest, "") if slash < 0 else (rest[:slash], rest[slash:].rstrip("/"))
    if ":" in hostport:
        host, p = hostport.rsplit(":", 1)
        try:
            port = int(p)
        except ValueError:
            _fail("backend_url", "bad port")
    else:
        host = hostport
    if not host:
        _fail("backend_url", "missing host")
    return scheme, host, port, path


class Config:
    """Validated configuration. Attributes mirror the JSON fields."""

    def __init__(self, d):
        if not isinstance(d, dict):
            raise ConfigError("config: the file must hold a JSON object")
        known = (
            "obu_id", "vehicle_class", "backend_url", "authority_public_key", "period",
            "retention_days", "chain", "network", "gnss", "status", "disputes", "power",
        )  # fmt: skip
        for k in d:
            if k not in known:
                _fail(k, "unknown setting (typo?)")
        self.obu_id = _str(d, "obu_id", 64)
        self.vehicle_class = _int(d, "vehicle_class", 1, 255)
        self.backend_url = _str(d, "backend_url", 200)
        self.url = split_url(self.backend_url)
        self.authority_public_key = _hex(d, "authority_public_key", 65)
        if self.authority_public_key[0] != 4:
            _fail("authority_public_key", "must be an uncompressed SEC1 point (04…)")
        period = d.get("period", "month")
        if period == "month":
            self.period_s = None
        elif is_int(period) and 3600 <= period <= 366 * 86400:
            self.period_s = period
        else:
            _fail("period", 'must be "month" or a number of seconds >= 3600')
        self.retention_days = _int(d, "retention_days", 1, 3650, 90)
        chain = _section(d, "chain")
        self.chain_next_seq = _int(chain, "chain.next_seq", 0, 0xFFFFFFFF, 0)
        self.chain_prev_hash = _hex(chain, "chain.prev_hash", 32, "00" * 32)
        net = _section(d, "network")
        self.network_kind = net.get("kind", "none")
        if self.network_kind == "wifi":
            self.wifi_ssid = _str(net, "network.ssid", 32)
            self.wifi_password = _str(net, "network.password", 64)
        elif self.network_kind == "modem":
            self.modem_apn = _str(net, "network.apn", 64)
            self.modem_uart = _int(net, "network.uart", 0, 2)
        elif self.network_kind != "none":
            _fail("network.kind", 'must be "wifi", "modem" or "none"')
        timeout = 120 if self.network_kind == "modem" else 30
        self.network_timeout_s = _int(net, "network.timeout_s", 5, 600, timeout)
        gnss = _section(d, "gnss")
        self.gnss_uart = _int(gnss, "gnss.uart", 0, 2, 1)
        self.gnss_baud = _int(gnss, "gnss.baud", 4800, 921600, 9600)
        self.gnss_min_unix = _int(gnss, "gnss.min_unix", 0, 0xFFFFFFFFFF, 1704067200)
        self.gnss_configure = _bool(gnss, "gnss.configure", True)
        power = _section(d, "power")
        self.ignition_off_s = _int(power, "power.ignition_off_s", 1, 600, 5)
        self.ignition = power.get("ignition", "low")
        if self.ignition not in ("low", "high", "none"):
            _fail("power.ignition", 'must be "low", "high" or "none"')
        self.status = _section(d, "status")
        disputes = _section(d, "disputes")
        self.dispute_confirm = disputes.get("confirm", "ask")
        if self.dispute_confirm not in ("ask", "auto", "never"):
            _fail("disputes.confirm", 'must be "ask", "auto" or "never"')
        self.dispute_batch_bytes = _int(disputes, "disputes.batch_bytes", 1024, 1 << 20, 16384)
        self.dispute_batches_per_sync = _int(disputes, "disputes.batches_per_sync", 1, 1000, 4)

    def period_of(self, t):
        """Start of the statement period containing Unix time t."""
        if self.period_s is None:
            from protocol.timeutil import month_start

            return month_start(t)
        return t - t % self.period_s

    def period_end(self, start):
        """End (exclusive) of the period starting at ``start``."""
        if self.period_s is None:
            from protocol.timeutil import next_month_start

            return next_month_start(start)
        return start + self.period_s


def load(path):
    """Read and validate the config file at ``path``."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        raise ConfigError("config: cannot read %s" % path) from None
    try:
        d = json.loads(text)
    except ValueError:
        raise ConfigError("config: %s is not valid JSON" % path) from None
    return Config(d)
