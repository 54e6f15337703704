"""The firmware NMEA parser against gpsd, over the 17 receiver captures in ../shared/nmea.

Each capture's raw bytes (gpsd's '#' comment lines included: the parser must skip them) go
through firmware.gnss.nmea.NmeaParser; the fixes it reports are compared with the TPV reports in
gpsd's ``.chk`` output for the same input:

- time: the Unix time (and milliseconds) must equal a gpsd TPV ``time``. We run with
  ``min_unix`` = 2017-01-01, which is exactly gpsd's rule at the recorded commit (add 1024
  weeks to any date before 2017-01-01, README "date caveat"), so even the shifted pre-2017
  dates compare equal; a second test runs with a 2000-01-01 bound and checks that undoing the
  shift (minus 7168 days) gives the receiver's own dates;
- position: within one unit of 1e-7 degree of a gpsd TPV at that time, or of a TPV gpsd issued
  right after a GGA/RMC/GLL sentence of that time of day (gpsd's TPVs after GGA sometimes lack
  ``time``, e.g. the first fix in beidou-bd or all of garmin-geko201);
- speed: within 1 mm/s of the ``speed`` of a gpsd TPV issued after a GGA/RMC/GLL of that time.

Deliberate differences (asserted below, per file):

- gpsd reports a TPV time only for some epochs (e.g. not for most no-fix epochs, nor for the
  first epoch before it learned the cycle); we report every dated epoch, fix or not.
- bt451: at the hand-made backward time step (15:25:08.50 -> 14:33:06.00) gpsd assumes a
  midnight wrap and dates the next epoch one day later (2029-07-26); we only treat a backward
  step of more than 12 h as midnight, so ours stays on 2029-07-25.
- bundg_zeus_9 (a chartplotter relaying NMEA): its GGA, GLL and RMC of one second carry
  positions up to 0.0002' (0.4 m) apart, and its GGA lags by about a second. We take the first
  position of an epoch, gpsd ends with the last one: 9 epochs differ by < 5e-6 degree ("near")
  and one epoch without RMC (09:48:34) by 3e-5 degree (GGA vs GLL, "far"). Its VTG also
  disagrees with the RMC before it (09:48:30: RMC 5.5 kn, VTG 5.9 kn): we take RMC's speed,
  gpsd's TPV ends with VTG's, so 16 speeds differ, each by exactly that VTG. The log ends with a
  GLL, which we ignore (GGA and RMC carry the same), so gpsd has one fix time more.
- april6_2019: gpsd keeps the position of the RMC whose date is ``2208-1``; we drop the whole
  sentence (it cannot be timed), so that fix is missing on our side.
- firefly-II: all GGA fail their checksum; gpsd drops them too (its TPVs have no altitude).
- validity: wherever gpsd timed an epoch, our ``valid`` equals "gpsd mode >= 2" (asserted).
  garmin-geko201 runs in demo mode (GGA quality 8, RMC mode S): gpsd reports mode 3 with status
  8 "simulated" (in untimed TPVs); for charging that is no fix, so ours are not ``valid``.
  garmin-10x's epoch with GGA quality 6 (dead reckoning) gets no TPV from gpsd; ours is not
  ``valid`` either.
- gp-320fw: gpsd accepts sentences without a checksum (e.g. ``$GPVTG,,T,,M,2C``); we reject
  them. Its garbage RMC dates (2006, 2010) are no-fix epochs for which gpsd gives no time.
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import pytest

from firmware.gnss.nmea import WEEK_ROLLOVER_DAYS, Fix, NmeaParser
from tests.conftest import SHARED

NMEA_DIR = SHARED / "nmea"
CAPTURES = sorted(p.name for p in NMEA_DIR.glob("*.log"))

GPSD_MIN_UNIX = 1483228800  # 2017-01-01T00:00:00Z: gpsd's week-rollover rule at this commit
Y2000 = 946684800

# Captures whose .chk dates are 1024 weeks later than the receiver's (README date caveat).
SHIFTED = {
    "beidou-bd.log",
    "bt451.log",
    "ch-4711.log",
    "firefly-II.log",
    "garmin-10x.log",
    "isync.log",
    "nl2008u.log",
    "rst39.log",
    "skytraq.log",
    "sl869.log",
}


def iso(t: int, ms: int) -> str:
    stamp = datetime.datetime.fromtimestamp(t, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{ms:03d}Z"


def tod_ms(field_: str) -> int | None:
    """gpsd-independent reading of an hhmmss[.sss] field; None if not a time."""
    if len(field_) < 6 or not field_[:6].isdigit():
        return None
    frac = field_[7:10] if len(field_) > 7 and field_[6] == "." else ""
    ms = int((frac + "000")[:3]) if frac.isdigit() else 0
    return ((int(field_[:2]) * 60 + int(field_[2:4])) * 60 + int(field_[4:6])) * 1000 + ms


@dataclass
class Gpsd:
    """What gpsd reported for one capture."""

    times: set[str] = field(default_factory=set)  # every TPV time
    fix_times: set[str] = field(default_factory=set)  # TPV times with mode >= 2
    last_mode: dict[str, int] = field(default_factory=dict)  # mode of the last TPV at a time
    pos_by_time: dict[str, set[tuple[int, int]]] = field(default_factory=dict)
    pos_by_tod: dict[int, set[tuple[int, int]]] = field(default_factory=dict)
    speed_by_tod: dict[int, set[int]] = field(default_factory=dict)


def load_gpsd(name: str) -> Gpsd:
    g = Gpsd()
    last_tod = None  # time of day of the last echoed GGA/RMC/GLL
    for raw in (NMEA_DIR / (name + ".chk")).read_bytes().splitlines():
        line = raw.decode("latin-1").strip()
        if line.startswith("$"):
            f = line.split("*")[0].split(",")
            kind = f[0][3:6]
            if kind in ("GGA", "RMC") and len(f) > 1:
                last_tod = tod_ms(f[1])
            elif kind == "GLL" and len(f) > 5:
                last_tod = tod_ms(f[5])
            continue
        if not line.startswith('{"class":"TPV"'):
            continue
        tpv = json.loads(line)
        t = tpv.get("time")
        if t:
            g.times.add(t)
            g.last_mode[t] = tpv.get("mode", 0)
            if tpv.get("mode", 0) >= 2:
                g.fix_times.add(t)
        if "lat" in tpv:
            pos = (round(tpv["lat"] * 1e7), round(tpv["lon"] * 1e7))
            if t:
                g.pos_by_time.setdefault(t, set()).add(pos)
            if last_tod is not None:
                g.pos_by_tod.setdefault(last_tod, set()).add(pos)
        if "speed" in tpv and last_tod is not None:
            g.speed_by_tod.setdefault(last_tod, set()).add(round(tpv["speed"] * 1000))
    return g


def parse(name: str, min_unix: int) -> tuple[NmeaParser, list[Fix]]:
    fixes: list[Fix] = []
    p = NmeaParser(fixes.append, min_unix=min_unix)
    p.feed((NMEA_DIR / name).read_bytes())
    p.flush()
    return p, fixes


# 0.0003 minute of arc (~0.55 m): how far bundg_zeus_9's GGA/GLL/RMC of one second disagree.
NEAR_E7 = 50


@dataclass
class Result:
    fixes: int = 0
    valid: int = 0
    timed: int = 0  # fixes whose time equals a gpsd TPV time
    pos: int = 0  # positions compared ...
    pos_ok: int = 0  # ... equal to gpsd's within 1e-7 degree
    pos_near: int = 0  # ... within NEAR_E7 (bundg_zeus_9, see module docstring)
    pos_far: list[str] = field(default_factory=list)  # ... farther (bundg_zeus_9, one epoch)
    speed: int = 0
    speed_ok: int = 0
    mode_agree: int = 0  # timed fixes whose `valid` equals gpsd's "mode >= 2" at that time
    gpsd_fix_times_missed: list[str] = field(default_factory=list)


def compare(name: str) -> Result:
    _, fixes = parse(name, GPSD_MIN_UNIX)
    g = load_gpsd(name)
    r = Result(fixes=len(fixes), valid=sum(f.valid for f in fixes))
    ours = set()
    for f in fixes:
        assert f.t is not None
        stamp = iso(f.t, f.t_ms)
        ours.add(stamp)
        if stamp in g.times:
            r.timed += 1
            r.mode_agree += f.valid == (g.last_mode[stamp] >= 2)
        tod = (f.t % 86400) * 1000 + f.t_ms
        if f.lat_e7 is not None and f.lon_e7 is not None:
            cand = g.pos_by_time.get(stamp, set()) | g.pos_by_tod.get(tod, set())
            if cand:
                r.pos += 1
                d = min(max(abs(a - f.lat_e7), abs(b - f.lon_e7)) for a, b in cand)
                r.pos_ok += d <= 1
                r.pos_near += 1 < d <= NEAR_E7
                if d > NEAR_E7:
                    r.pos_far.append(stamp)
        speeds = g.speed_by_tod.get(tod)
        if f.speed_mmps is not None and speeds:
            r.speed += 1
            r.speed_ok += min(abs(s - f.speed_mmps) for s in speeds) <= 1
    r.gpsd_fix_times_missed = sorted(g.fix_times - ours)
    return r


# Per capture: (fixes, valid, fixes at a gpsd TPV time, positions compared, equal, near, far,
# speeds compared, equal, gpsd fix times we have no fix for). Each difference is explained in
# the module docstring.
BUNDG_FAR = ["2018-08-20T09:48:34.000Z"]
BUNDG_GLL_ONLY = ["2018-08-20T09:50:04.000Z"]  # the log ends with a GLL; we ignore GLL
EXPECTED = {
    "april6_2019.log": (1, 1, 1, 1, 1, 0, [], 1, 1, []),
    "beidou-bd.log": (10, 5, 4, 5, 5, 0, [], 4, 4, []),
    "bt451.log": (14, 14, 11, 12, 12, 0, [], 11, 11, ["2029-07-26T14:33:06.000Z"]),
    "bundg_zeus_9.log": (147, 147, 147, 147, 137, 9, BUNDG_FAR, 146, 130, BUNDG_GLL_ONLY),
    "ch-4711.log": (14, 7, 13, 7, 7, 0, [], 7, 7, []),
    "firefly-II.log": (23, 23, 23, 23, 23, 0, [], 23, 23, []),
    "garmin-10x.log": (14, 9, 13, 9, 9, 0, [], 9, 9, []),
    "garmin-geko201.log": (18, 0, 0, 1, 1, 0, [], 0, 0, []),
    "gp-320fw-2019-04-07-coldboot.log": (18, 1, 8, 1, 1, 0, [], 1, 1, []),
    "isync.log": (12, 12, 11, 11, 11, 0, [], 11, 11, []),
    "nl2008u.log": (9, 9, 9, 9, 9, 0, [], 9, 9, []),
    "rst39.log": (41, 41, 40, 40, 40, 0, [], 4, 4, []),
    "sirfstarv-nmea.log": (59, 59, 59, 59, 59, 0, [], 59, 59, []),
    "skytraq.log": (17, 0, 17, 0, 0, 0, [], 0, 0, []),
    "sl869.log": (15, 8, 8, 8, 8, 0, [], 8, 8, []),
    "ublox-8.log": (72, 72, 72, 72, 72, 0, [], 72, 72, []),
    "ublox-zed-f9p-nmea.log": (29, 29, 29, 29, 29, 0, [], 29, 29, []),
}


def test_all_17_captures_are_covered() -> None:
    assert len(CAPTURES) == 17
    assert set(CAPTURES) == set(EXPECTED)


@pytest.mark.parametrize("name", CAPTURES)
def test_capture_matches_gpsd(name: str) -> None:
    r = compare(name)
    got = (
        r.fixes,
        r.valid,
        r.timed,
        r.pos,
        r.pos_ok,
        r.pos_near,
        r.pos_far,
        r.speed,
        r.speed_ok,
        r.gpsd_fix_times_missed,
    )
    assert got == EXPECTED[name]
    assert r.pos_ok + r.pos_near + len(r.pos_far) == r.pos
    assert r.mode_agree == r.timed
    if name != "bundg_zeus_9.log":
        # Outside the chartplotter, every position and speed equals gpsd's decoding.
        assert r.pos_ok == r.pos and r.speed_ok == r.speed


def test_bundg_differences_come_from_the_device_not_the_parser() -> None:
    name = "bundg_zeus_9.log"
    _, fixes = parse(name, GPSD_MIN_UNIX)
    g = load_gpsd(name)
    # Speed of the VTG that follows each RMC, converted here with exact fractions.
    lines = (NMEA_DIR / name).read_text().splitlines()
    vtg_mmps = {}
    for i, line in enumerate(lines):
        if line.startswith("$GPRMC,"):
            for nxt in lines[i + 1 : i + 4]:
                if nxt.startswith("$GPVTG,"):
                    knots = Fraction(nxt.split(",")[5])
                    vtg_mmps[tod_ms(line.split(",")[1])] = round(knots * 1852000 / 3600)
    differing = 0
    for f in fixes:
        tod = (f.t % 86400) * 1000 + f.t_ms
        speeds = g.speed_by_tod.get(tod)
        if f.speed_mmps is None or not speeds or min(abs(s - f.speed_mmps) for s in speeds) <= 1:
            continue
        differing += 1
        vtg = vtg_mmps[tod]
        assert abs(vtg - f.speed_mmps) > 1  # the device's VTG disagrees with its RMC ...
        assert min(abs(s - vtg) for s in speeds) <= 1  # ... and gpsd reported the VTG's
    assert differing == 16
    by_time = {iso(f.t, f.t_ms): f for f in fixes}
    assert by_time["2018-08-20T09:48:30.000Z"].speed_mmps == 2829  # RMC 5.5 kn, VTG 5.9 kn
    # 09:48:34 has no RMC; its GGA (52°50.9536') lags the GLL of the same second (50.9546').
    f = by_time["2018-08-20T09:48:34.000Z"]
    assert (f.lat_e7, f.speed_mmps) == (528492267, None)


def test_pre_2017_dates_are_gpsd_dates_minus_1024_weeks() -> None:
    # With a 2000-01-01 bound the receivers' own dates come out; gpsd's .chk adds 7168 days.
    shift = WEEK_ROLLOVER_DAYS * 86400
    for name in CAPTURES:
        _, plain = parse(name, Y2000)
        _, gpsd_rule = parse(name, GPSD_MIN_UNIX)
        assert len(plain) == len(gpsd_rule)
        for a, b in zip(plain, gpsd_rule, strict=True):
            # garmin-geko201 (2005) is not in the README's list only because its .chk has
            # no times at all; under gpsd's rule its dates move like the others.
            if name in SHIFTED or name == "garmin-geko201.log":
                assert b.t - a.t == shift, name
            elif name in ("april6_2019.log", "gp-320fw-2019-04-07-coldboot.log"):
                # 1999-08-22 is before both bounds: both move it to 2019-04-07; the garbage
                # 2006/2010 dates of gp-320fw move only under the 2017 bound.
                assert b.t - a.t in (0, shift), name
            else:
                assert b.t == a.t, name
    # The rollover receivers land on the simulator's / the real date, 2019-04-07.
    _, fixes = parse("april6_2019.log", Y2000)
    assert iso(fixes[0].t, fixes[0].t_ms) == "2019-04-07T00:02:31.420Z"
    _, fixes = parse("gp-320fw-2019-04-07-coldboot.log", Y2000)
    assert iso(fixes[-1].t, fixes[-1].t_ms) == "2019-04-07T00:04:35.000Z"


def test_counters_account_for_every_sentence() -> None:
    # Every '$' starts one framed sentence (a second '$' cuts the one before), and every
    # framed sentence lands in exactly one counter; all captures end with a line end.
    for name in CAPTURES:
        p, _ = parse(name, GPSD_MIN_UNIX)
        data = (NMEA_DIR / name).read_bytes()
        dollars = data.count(b"$")
        counted = p.sentences_ok + p.checksum_errors + p.malformed + p.overlong + p.ignored
        assert counted == dollars, name


def test_summary_table(capsys: pytest.CaptureFixture[str]) -> None:
    """Prints the per-capture figures (run with -s to see them)."""
    rows = []
    for name in CAPTURES:
        r = compare(name)
        rows.append(
            f"{name:34s} fixes {r.fixes:3d} valid {r.valid:3d} gpsd-timed {r.timed:3d} "
            f"pos {r.pos_ok:3d}/{r.pos:3d} (+{r.pos_near} near) speed {r.speed_ok:3d}/{r.speed:3d}"
        )
    with capsys.disabled():
        print("\n" + "\n".join(rows))
    assert len(rows) == 17


def test_random_splits_of_every_capture_give_the_same_fixes() -> None:
    import random

    rng = random.Random(1)
    for name in CAPTURES:
        p1, whole = parse(name, GPSD_MIN_UNIX)
        data = (NMEA_DIR / name).read_bytes()
        fixes: list[Fix] = []
        p2 = NmeaParser(fixes.append, min_unix=GPSD_MIN_UNIX)
        i = 0
        while i < len(data):
            n = rng.randint(1, 200)
            p2.feed(data[i : i + n])
            i += n
        p2.flush()
        assert [vars(f) for f in fixes] == [vars(f) for f in whole], name
        c1 = (p1.sentences_ok, p1.checksum_errors, p1.malformed, p1.overlong, p1.ignored)
        c2 = (p2.sentences_ok, p2.checksum_errors, p2.malformed, p2.overlong, p2.ignored)
        assert c1 == c2, name


def test_byte_flips_in_captures_never_raise() -> None:
    import random

    rng = random.Random(2)
    for name in CAPTURES:
        data = bytearray((NMEA_DIR / name).read_bytes())
        for _ in range(max(1, len(data) // 200)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        fixes: list[Fix] = []
        p = NmeaParser(fixes.append, min_unix=GPSD_MIN_UNIX)
        for i in range(0, len(data), 61):
            p.feed(bytes(data[i : i + 61]))
            assert p.buffered() <= 128
        p.flush()


def test_shared_folder_is_where_conftest_says() -> None:
    assert isinstance(SHARED, Path) and (SHARED / "nmea" / "README.md").exists()
