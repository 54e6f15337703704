"""The config file is validated at boot with errors that name the field."""

import json

from firmware import config
from tests.contract.support import raises, repo_root

KEY = "04" + "11" * 64


def base(**kw):
    d = {
        "obu_id": "OBU-7",
        "vehicle_class": 2,
        "backend_url": "http://10.0.0.1:8080/api/",
        "authority_public_key": KEY,
    }
    d.update(kw)
    return d


def err(d):
    return str(raises(config.ConfigError, config.Config, d))


def test_minimal_config_gets_defaults():
    c = config.Config(base())
    assert c.url == ("http", "10.0.0.1", 8080, "/api")
    assert c.period_s is None and c.retention_days == 90
    assert c.chain_next_seq == 0 and c.chain_prev_hash == bytes(32)
    assert c.network_kind == "none" and c.gnss_baud == 9600
    assert c.network_timeout_s == 30 and c.gnss_configure is True and c.ignition_off_s == 5


def test_example_file_in_the_repo_is_valid():
    c = config.load(repo_root() + "/firmware/config.example.json")
    assert c.network_kind == "wifi" and c.wifi_ssid == "car-hotspot"


def test_each_bad_field_is_named():
    assert "config.obu_id" in err(base(obu_id=""))
    assert "config.vehicle_class" in err(base(vehicle_class=0))
    assert "config.vehicle_class" in err(base(vehicle_class=True))
    assert "config.backend_url" in err(base(backend_url="ftp://x"))
    assert "config.authority_public_key" in err(base(authority_public_key="04"))
    assert "config.authority_public_key" in err(base(authority_public_key="02" + "11" * 64))
    assert "config.period" in err(base(period=60))
    assert "config.chain.prev_hash" in err(base(chain={"prev_hash": "zz"}))
    assert "config.network.kind" in err(base(network={"kind": "carrier-pigeon"}))
    assert "config.network.ssid" in err(base(network={"kind": "wifi"}))
    assert "config.colour" in err(base(colour="red"))
    assert "config.network.timeout_s" in err(base(network={"kind": "none", "timeout_s": 1}))
    assert "config.gnss.configure" in err(base(gnss={"configure": 1}))
    assert "config.power.ignition_off_s" in err(base(power={"ignition_off_s": 0}))
    assert "config.power" in err(base(power=5))
    assert "config.power.ignition" in err(base(power={"ignition": "inverted"}))


def test_network_and_power_settings():
    modem = config.Config(base(network={"kind": "modem", "apn": "iot.example", "uart": 1}))
    assert modem.network_timeout_s == 120 and modem.modem_apn == "iot.example"
    wifi = config.Config(base(network={"kind": "wifi", "ssid": "a", "password": "b",
                                       "timeout_s": 45}))  # fmt: skip
    assert wifi.network_timeout_s == 45
    c = config.Config(base(gnss={"configure": False, "baud": 38400}, power={"ignition_off_s": 30}))
    assert c.gnss_configure is False and c.gnss_baud == 38400 and c.ignition_off_s == 30
    assert c.ignition == "low"
    assert config.Config(base(power={"ignition": "none"})).ignition == "none"


def test_missing_field_is_named():
    d = base()
    del d["obu_id"]
    assert "config.obu_id: missing" in err(d)


def test_unreadable_and_invalid_files_are_reported():
    raises(config.ConfigError, config.load, "/nonexistent/quietmile.json")
    path = "/tmp/qm-config-%s.json" % __import__("os").urandom(4).hex()
    with open(path, "w") as f:
        f.write("{not json")
    raises(config.ConfigError, config.load, path)


def test_period_boundaries_monthly_and_fixed():
    c = config.Config(base())
    t = 1793707200  # 2026-11-03T12:00:00Z
    assert c.period_of(t) == 1793491200  # 2026-11-01
    assert c.period_end(1793491200) == 1796083200  # 2026-12-01
    d = config.Config(base(period=86400))
    assert d.period_of(t) == t - t % 86400
    assert d.period_end(d.period_of(t)) == d.period_of(t) + 86400


def test_round_trip_through_json_text():
    c = config.Config(json.loads(json.dumps(base(period=7200))))
    assert c.period_s == 7200
