"""NMEA output: valid sentences, parsed back identically by pynmea2 and by the firmware."""

from __future__ import annotations

import datetime as dt
import itertools
import random
import re
from dataclasses import replace

import pynmea2
import pytest

from firmware.gnss.nmea import TALKER_GN, TALKER_GP, Fix, NmeaParser
from protocol import timeutil
from simulator import gnss, nmea_out, trips
from simulator.network import Environment

T0 = timeutil.unix_from_civil(2026, 9, 14, 7, 45, 0)  # Monday, morning peak


@pytest.fixture(scope="module")
def city_epochs() -> list[gnss.GnssEpoch]:
    """A city trip from a garage, with the bad receiver: many kinds of epochs."""
    trip = trips.synthetic_trip("mall-garage", "station", T0, 9)
    return gnss.simulate(trip, gnss.GnssConfig.bad(), seed=9)


def _firmware_fixes(data: bytes) -> list[Fix]:
    out: list[Fix] = []
    parser = NmeaParser(out.append)
    parser.feed(data)
    parser.flush()
    assert (parser.checksum_errors, parser.malformed, parser.overlong) == (0, 0, 0)
    return out


def _epoch(**kw: object) -> gnss.GnssEpoch:
    base = gnss.GnssEpoch(
        T0, 0, True, True, 510000000, 50000000, 345, 12345, 4512, 1, 3, 9, 95, 162, 131,
        (5, 13, 15, 18, 20, 23, 24, 26, 29), Environment.OPEN, 510000000, 50000000, 12345,
    )  # fmt: skip
    return replace(base, **kw)  # type: ignore[arg-type]


# --- sentences ----------------------------------------------------------------------------


def test_checksums_match_known_receiver_sentences() -> None:
    # u-blox M8 protocol description example, and a Telit receiver's empty RMC (gpsd capture)
    assert (
        nmea_out.sentence("GPGGA,092725.00,4717.11399,N,00833.91590,E,1,08,1.01,499.6,M,48.0,M,,")
        == b"$GPGGA,092725.00,4717.11399,N,00833.91590,E,1,08,1.01,499.6,M,48.0,M,,*5B\r\n"
    )
    assert nmea_out.sentence("GPRMC,,V,,,,,,,,,,N") == b"$GPRMC,,V,,,,,,,,,,N*53\r\n"


def test_checksum_is_the_xor_of_every_byte_at_any_length() -> None:
    rng = random.Random(5)
    for n in range(130):
        body = bytes(rng.randrange(256) for _ in range(n))
        x = 0
        for c in body:
            x ^= c
        assert nmea_out.checksum(body) == x, n


def test_field_formats_are_the_receivers() -> None:
    rmc, gga, gsa = nmea_out.epoch_sentences(_epoch(t=T0 + 0, t_ms=250))
    assert rmc == nmea_out.sentence(
        "GPRMC,074500.25,A,5100.00000,N,00500.00000,E,23.997,45.12,140926,,,A"
    )
    assert gga == nmea_out.sentence(
        "GPGGA,074500.25,5100.00000,N,00500.00000,E,1,09,0.95,34.5,M,47.0,M,,"
    )
    assert gsa == nmea_out.sentence("GPGSA,A,3,05,13,15,18,20,23,24,26,29,,,,1.62,0.95,1.31")


def test_coordinates_round_to_the_nearest_minute_digit_and_carry() -> None:
    f = nmea_out.format_coord
    assert f(510000000, 2, "N", "S", 5) == ("5100.00000", "N")
    assert f(-338765432, 2, "N", "S", 5) == ("3352.59259", "S")  # 52.592592 min
    assert f(-1234567891, 3, "E", "W", 7) == ("12327.4073460", "W")  # exact with 7 digits
    assert f(509999999, 2, "N", "S", 5) == ("5059.99999", "N")  # 59.999994 min
    assert f(509999999, 2, "N", "S", 4) == ("5100.0000", "N")  # … carries with 4 digits
    assert f(4, 3, "E", "W", 5) == ("00000.00002", "E")  # 0.000024 min


def test_speed_converts_to_knots_with_three_decimals() -> None:
    assert nmea_out.knots_e3(0) == 0
    assert nmea_out.knots_e3(514) == 999  # 0.99914 kn
    assert nmea_out.knots_e3(33333) == 64794  # 64.7942 kn (120 km/h is 64.795 kn)


def test_every_sentence_is_well_formed(city_epochs: list[gnss.GnssEpoch]) -> None:
    data = nmea_out.to_bytes(city_epochs)
    lines = data.split(b"\r\n")
    assert lines[-1] == b""
    shape = re.compile(rb"^\$(GP(RMC|GGA|GSA)),[0-9A-Z.,-]*\*[0-9A-F]{2}$")
    for line in lines[:-1]:
        assert shape.match(line), line
        assert len(line) + 2 <= 82  # NMEA 0183 maximum with CRLF
        body, hh = line[1:].split(b"*")
        assert nmea_out.checksum(body) == int(hh, 16)


def test_no_fix_epochs_look_like_a_receivers() -> None:
    no_fix = _epoch(fix=False, quality=0, fix_type=1, sats=0, hdop_c=9999, prns=())
    assert nmea_out.epoch_sentences(no_fix) == [
        b"$GPRMC,074500.00,V,,,,,,,140926,,,N*73\r\n",
        nmea_out.sentence("GPGGA,074500.00,,,,,0,00,99.99,,,,,,"),
        nmea_out.sentence("GPGSA,A,1,,,,,,,,,,,,,99.99,99.99,99.99"),
    ]
    no_time = replace(no_fix, time_valid=False)
    assert nmea_out.epoch_sentences(no_time)[:2] == [
        b"$GPRMC,,V,,,,,,,,,,N*53\r\n",
        b"$GPGGA,,,,,,0,00,99.99,,,,,,*48\r\n",
    ]
    silent = nmea_out.NmeaConfig(no_fix="silent")
    assert nmea_out.epoch_sentences(no_fix, silent) == []
    assert nmea_out.epoch_sentences(_epoch(), silent) != []


def test_bad_configs_are_refused() -> None:
    with pytest.raises(ValueError):
        nmea_out.NmeaConfig(talker="gp")
    with pytest.raises(ValueError):
        nmea_out.NmeaConfig(coord_decimals=8)


# --- determinism --------------------------------------------------------------------------


def test_same_seed_same_bytes_different_seed_different() -> None:
    trip = trips.synthetic_trip("home-north", "station", T0, 1)
    a = nmea_out.to_bytes(gnss.simulate(trip, seed=1))
    b = nmea_out.to_bytes(gnss.simulate(trip, seed=1))
    c = nmea_out.to_bytes(gnss.simulate(trip, seed=2))
    assert a == b and a != c
    assert a == b"".join(nmea_out.stream(gnss.simulate(trip, seed=1)))


# --- parsed back by pynmea2 ---------------------------------------------------------------


def test_pynmea2_reads_back_every_field(city_epochs: list[gnss.GnssEpoch]) -> None:
    checked = 0
    for ep in city_epochs:
        if not ep.fix:
            continue
        rmc, gga, gsa = (
            pynmea2.parse(s.decode().strip(), check=True) for s in nmea_out.epoch_sentences(ep)
        )
        when = dt.datetime.fromtimestamp(ep.t, dt.UTC)
        for msg in (rmc, gga):
            assert abs(msg.latitude * 1e7 - ep.lat_e7) <= 1.0
            assert abs(msg.longitude * 1e7 - ep.lon_e7) <= 1.0
            assert msg.timestamp.replace(tzinfo=None) == when.time().replace(
                microsecond=ep.t_ms * 1000
            )
        assert rmc.status == "A" and rmc.datestamp == when.date()
        assert abs(rmc.spd_over_grnd * 463 / 900 * 1000 - ep.speed_mmps) <= 0.6
        assert round(rmc.true_course * 100) == ep.course_cdeg
        assert gga.gps_qual == ep.quality and int(gga.num_sats) == ep.sats
        assert round(float(gga.horizontal_dil) * 100) == ep.hdop_c
        assert round(gga.altitude * 10) == ep.alt_dm
        assert gsa.mode_fix_type == "3"
        assert round(float(gsa.pdop) * 100) == ep.pdop_c
        assert round(float(gsa.vdop) * 100) == ep.vdop_c
        prns = [getattr(gsa, f"sv_id{k:02d}") for k in range(1, 13)]
        assert [int(p) for p in prns if p] == list(ep.prns[:12])
        checked += 1
    assert checked > 200


def test_pynmea2_reads_no_fix_sentences() -> None:
    no_fix = _epoch(fix=False, quality=0, fix_type=1, sats=0, hdop_c=9999, prns=())
    rmc, gga, gsa = (
        pynmea2.parse(s.decode().strip(), check=True) for s in nmea_out.epoch_sentences(no_fix)
    )
    assert rmc.status == "V" and gga.gps_qual == 0 and gsa.mode_fix_type == "1"


# --- parsed back by the firmware ----------------------------------------------------------


def _assert_fix_matches(fix: Fix, ep: gnss.GnssEpoch, exact_coords: bool) -> None:
    assert (fix.t, fix.t_ms) == (ep.t, ep.t_ms)
    assert fix.valid == ep.fix
    if not ep.fix:
        assert fix.lat_e7 is None and fix.fix_quality == 0 and fix.fix_type == 1
        return
    tol = 0 if exact_coords else 1
    assert fix.lat_e7 is not None and fix.lon_e7 is not None
    assert abs(fix.lat_e7 - ep.lat_e7) <= tol and abs(fix.lon_e7 - ep.lon_e7) <= tol
    assert fix.speed_mmps is not None and abs(fix.speed_mmps - ep.speed_mmps) <= 1
    assert fix.course_cdeg == ep.course_cdeg
    assert (fix.alt_dm, fix.sats, fix.hdop_c, fix.pdop_c) == (
        ep.alt_dm,
        ep.sats,
        ep.hdop_c,
        ep.pdop_c,
    )
    assert (fix.fix_quality, fix.fix_type) == (ep.quality, ep.fix_type)


@pytest.mark.parametrize("decimals", [5, 7])
def test_firmware_parser_reads_back_every_epoch(
    city_epochs: list[gnss.GnssEpoch], decimals: int
) -> None:
    cfg = nmea_out.NmeaConfig(coord_decimals=decimals)
    fixes = _firmware_fixes(nmea_out.to_bytes(city_epochs, cfg))
    timed = [e for e in city_epochs if e.time_valid]
    assert len(fixes) == len(timed)
    assert sum(1 for e in timed if not e.fix) > 10  # the garage and the first epoch
    for fix, ep in zip(fixes, timed, strict=True):
        _assert_fix_matches(fix, ep, exact_coords=decimals == 7)
        assert fix.talkers == TALKER_GP


def test_firmware_and_pynmea2_agree_on_multi_constellation_output() -> None:
    trip = trips.straight_trip(-338765432, -1234567891, T0, 30, heading_deg=225.0)
    cfg = gnss.GnssConfig(conditions={Environment.OPEN: gnss.EnvConditions(True, (16, 20))})
    eps = gnss.simulate(trip, cfg, seed=3)
    out = nmea_out.NmeaConfig(talker="GN")
    data = nmea_out.to_bytes(eps, out)
    fixes = _firmware_fixes(data)
    assert len(fixes) == len(eps)
    for fix, ep in zip(fixes, eps, strict=True):
        _assert_fix_matches(fix, ep, exact_coords=False)
        assert fix.talkers == TALKER_GN
    sentences = [pynmea2.parse(line.decode(), check=True) for line in data.split(b"\r\n")[:-1]]
    # the first epoch has no fix yet (one GSA); the second one a fix (GPS, then GLONASS)
    kinds = [m.sentence_type for m in sentences[:7]]
    assert kinds == ["RMC", "GGA", "GSA", "RMC", "GGA", "GSA", "GSA"]
    rmc = sentences[3]  # southern and western hemispheres
    assert rmc.lat_dir == "S" and rmc.lon_dir == "W" and rmc.latitude < 0 < -rmc.longitude
    gps = [int(getattr(sentences[5], f"sv_id{k:02d}") or 0) for k in range(1, 13)]
    glonass = [int(getattr(sentences[6], f"sv_id{k:02d}") or 0) for k in range(1, 13)]
    assert all(p <= 32 for p in gps) and all(gps)
    assert all(p == 0 or p > 64 for p in glonass) and any(glonass)


def test_cold_start_and_silent_outages_reach_the_firmware_as_receivers_send_them() -> None:
    envs = [Environment.OPEN] * 60 + [Environment.TUNNEL] * 20 + [Environment.OPEN] * 40
    trip = trips.straight_trip(510000000, 50000000, T0, 119, env_at=lambda i: envs[i])
    eps = gnss.simulate(trip, gnss.GnssConfig.cold(ttff_s=25), seed=2)
    # empty sentences before the time is known produce no fix at all; afterwards every
    # epoch, fixed or not, is one Fix
    fixes = _firmware_fixes(nmea_out.to_bytes(eps))
    assert fixes[0].t == T0 + 25 and fixes[0].valid
    assert len(fixes) == 120 - 25
    assert [f.valid for f in fixes].count(False) >= 20
    # silent receiver: the tunnel is a hole in the stream
    silent = _firmware_fixes(nmea_out.to_bytes(eps, nmea_out.NmeaConfig(no_fix="silent")))
    assert all(f.valid for f in silent)
    times = [f.t for f in silent if f.t is not None]
    assert max(b - a for a, b in itertools.pairwise(times)) >= 21
