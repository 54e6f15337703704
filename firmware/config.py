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
``config.backend_url: must start with http:// or https://``. The checks are in
firmware/config_check.py, which is loaded only while a Config is built (at boot).
"""

import json


class ConfigError(ValueError):
    code = "config_error"


class Config:
    """Validated configuration. Attributes mirror the JSON fields."""

    def __init__(self, d):
        from firmware.config_check import check

        self.period_s = None  # seconds, or None for calendar months: set by check
        check(self, d)

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
