"""The validation of the configuration file (firmware/config.py): needed only while
``Config`` is built at boot, so its code and its messages leave the heap with the App's first
unload (firmware/app.py) instead of staying resident all day."""

from firmware.config import ConfigError
from protocol.compat import is_int


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


def check(cfg, d):
    """Validate the JSON object ``d`` and set ``cfg``'s attributes from it."""
    if not isinstance(d, dict):
        raise ConfigError("config: the file must hold a JSON object")
    known = (
        "obu_id", "vehicle_class", "backend_url", "authority_public_key", "period",
        "retention_days", "chain", "network", "gnss", "status", "disputes", "power",
    )  # fmt: skip
    for k in d:
        if k not in known:
            _fail(k, "unknown setting (typo?)")
    cfg.obu_id = _str(d, "obu_id", 64)
    cfg.vehicle_class = _int(d, "vehicle_class", 1, 255)
    cfg.backend_url = _str(d, "backend_url", 200)
    cfg.url = split_url(cfg.backend_url)
    cfg.authority_public_key = _hex(d, "authority_public_key", 65)
    if cfg.authority_public_key[0] != 4:
        _fail("authority_public_key", "must be an uncompressed SEC1 point (04…)")
    period = d.get("period", "month")
    if period == "month":
        cfg.period_s = None
    elif is_int(period) and 3600 <= period <= 366 * 86400:
        cfg.period_s = period
    else:
        _fail("period", 'must be "month" or a number of seconds >= 3600')
    cfg.retention_days = _int(d, "retention_days", 1, 3650, 90)
    chain = _section(d, "chain")
    cfg.chain_next_seq = _int(chain, "chain.next_seq", 0, 0xFFFFFFFF, 0)
    cfg.chain_prev_hash = _hex(chain, "chain.prev_hash", 32, "00" * 32)
    net = _section(d, "network")
    cfg.network_kind = net.get("kind", "none")
    if cfg.network_kind == "wifi":
        cfg.wifi_ssid = _str(net, "network.ssid", 32)
        cfg.wifi_password = _str(net, "network.password", 64)
    elif cfg.network_kind == "modem":
        cfg.modem_apn = _str(net, "network.apn", 64)
        cfg.modem_uart = _int(net, "network.uart", 0, 2)
    elif cfg.network_kind != "none":
        _fail("network.kind", 'must be "wifi", "modem" or "none"')
    timeout = 120 if cfg.network_kind == "modem" else 30
    cfg.network_timeout_s = _int(net, "network.timeout_s", 5, 600, timeout)
    gnss = _section(d, "gnss")
    cfg.gnss_uart = _int(gnss, "gnss.uart", 0, 2, 1)
    cfg.gnss_baud = _int(gnss, "gnss.baud", 4800, 921600, 9600)
    cfg.gnss_min_unix = _int(gnss, "gnss.min_unix", 0, 0xFFFFFFFFFF, 1704067200)
    cfg.gnss_configure = _bool(gnss, "gnss.configure", True)
    power = _section(d, "power")
    cfg.ignition_off_s = _int(power, "power.ignition_off_s", 1, 600, 5)
    cfg.ignition = power.get("ignition", "low")
    if cfg.ignition not in ("low", "high", "none"):
        _fail("power.ignition", 'must be "low", "high" or "none"')
    cfg.status = _section(d, "status")
    disputes = _section(d, "disputes")
    cfg.dispute_confirm = disputes.get("confirm", "ask")
    if cfg.dispute_confirm not in ("ask", "auto", "never"):
        _fail("disputes.confirm", 'must be "ask", "auto" or "never"')
    cfg.dispute_batch_bytes = _int(disputes, "disputes.batch_bytes", 1024, 1 << 20, 16384)
    cfg.dispute_batches_per_sync = _int(disputes, "disputes.batches_per_sync", 1, 1000, 4)
