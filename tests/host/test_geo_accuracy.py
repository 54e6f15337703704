"""Accuracy of protocol.geo's integer distance against Karney's geodesic (geographiclib, WGS84).

CPython only (the reference needs doubles). Measures (a) random steps at latitudes −80..80
and (b) consecutive fixes of the real receiver captures in ../shared/nmea, asserts the bounds
stated in protocol/GEO.md and prints the measured figures (run with ``-s`` to see them).
"""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pytest
from geographiclib.geodesic import Geodesic

from protocol import geo
from tests.conftest import SHARED

WGS84 = Geodesic.WGS84

# Bounds (protocol/GEO.md). distance_um: the projection and table interpolation stay within
# 2e-6 of the geodesic at |lat| <= 80 and steps <= 5 km, plus < 3 µm from flooring the two
# components (< 1 µm each, so < 1.5 µm on the hypotenuse) and the root (< 1 µm).
# distance_mm adds flooring to whole mm: up to 1 mm more, always down.
REL_UM = 2e-6
SLACK_UM = 3
# Overstatement is what matters for charging: no step may be over by more than this.
MAX_OVER_REL = 1e-6


def _ref_um(lat1: int, lon1: int, lat2: int, lon2: int) -> float:
    return WGS84.Inverse(lat1 / 1e7, lon1 / 1e7, lat2 / 1e7, lon2 / 1e7)["s12"] * 1e6


@dataclass
class Stats:
    """Signed errors of one data set, in µm and relative to the geodesic."""

    name: str
    n: int = 0
    short: int = 0
    worst_rel: float = 0.0
    worst_over_rel: float = -1.0
    sum_rel: float = 0.0
    worst_short_abs_um: float = 0.0
    worst_short_over_um: float = -1e9
    rel: list[float] = field(default_factory=list)
    total_ref_um: float = 0.0
    total_err_um: float = 0.0

    def add(self, err_um: float, ref_um: float) -> None:
        self.n += 1
        self.total_ref_um += ref_um
        self.total_err_um += err_um
        if ref_um >= 10e6:
            r = err_um / ref_um
            self.rel.append(r)
            self.worst_rel = max(self.worst_rel, abs(r))
            self.worst_over_rel = max(self.worst_over_rel, r)
            self.sum_rel += r
        else:
            self.short += 1
            self.worst_short_abs_um = max(self.worst_short_abs_um, abs(err_um))
            self.worst_short_over_um = max(self.worst_short_over_um, err_um)

    @property
    def mean_rel(self) -> float:
        return self.sum_rel / len(self.rel) if self.rel else 0.0

    def report(self) -> str:
        return (
            f"{self.name}: {self.n} steps ({len(self.rel)} >= 10 m): "
            f"max |rel| {self.worst_rel * 100:.6f} %, mean rel {self.mean_rel * 100:+.6f} %, "
            f"max over {self.worst_over_rel * 100:+.6f} %; "
            + (
                f"steps < 10 m: max |err| {self.worst_short_abs_um / 1000:.4f} mm, "
                f"max over {self.worst_short_over_um / 1000:+.4f} mm; "
                if self.short
                else "no steps < 10 m; "
            )
            + f"sum of steps {self.total_ref_um / 1e6:.3f} m, "
            f"off by {self.total_err_um / 1000:+.3f} mm "
            f"({self.total_err_um / max(self.total_ref_um, 1) * 100:+.5f} %)"
        )


def _measure(name: str, pairs: list[tuple[int, int, int, int]]) -> tuple[Stats, Stats]:
    um = Stats(name + " distance_um")
    mm = Stats(name + " distance_mm")
    for lat1, lon1, lat2, lon2 in pairs:
        ref = _ref_um(lat1, lon1, lat2, lon2)
        d_um = geo.distance_um(lat1, lon1, lat2, lon2)
        d_mm = geo.distance_mm(lat1, lon1, lat2, lon2)
        bound = SLACK_UM + REL_UM * ref
        assert abs(d_um - ref) <= bound, (lat1, lon1, lat2, lon2, d_um, ref)
        assert d_um - ref <= SLACK_UM + MAX_OVER_REL * ref, (lat1, lon1, lat2, lon2, d_um, ref)
        assert -1000 - bound < d_mm * 1000 - ref <= bound, (lat1, lon1, lat2, lon2, d_mm, ref)
        um.add(d_um - ref, ref)
        mm.add(d_mm * 1000 - ref, ref)
    print("\n" + um.report() + "\n" + mm.report())
    return um, mm


def _random_steps(seed: int, n: int, lo_m: float, hi_m: float, log: bool) -> list:
    rnd = random.Random(seed)
    out: list[tuple[int, int, int, int]] = []
    while len(out) < n:
        lat = rnd.randint(-800000000, 800000000)
        lon = rnd.randint(-1800000000, 1800000000)
        d = (
            math.exp(rnd.uniform(math.log(lo_m), math.log(hi_m)))
            if log
            else rnd.uniform(lo_m, hi_m)
        )
        r = WGS84.Direct(lat / 1e7, lon / 1e7, rnd.uniform(0.0, 360.0), d)
        lat2 = round(r["lat2"] * 1e7)
        lon2 = round(r["lon2"] * 1e7)
        if lon2 > 1800000000:
            lon2 -= 3600000000
        elif lon2 < -1800000000:
            lon2 += 3600000000
        if abs(lat2) <= 800000000:
            out.append((lat, lon, lat2, lon2))
    return out


def test_random_odometer_steps_0_1_to_70_m() -> None:
    um, mm = _measure("random 0.1-70 m", _random_steps(1, 20000, 0.1, 70.0, log=True))
    assert um.short > 5000 and len(um.rel) > 5000
    # Not systematically positive: the mean is at most a hair above zero before rounding,
    # and rounding to mm makes it clearly negative.
    assert um.mean_rel <= 1e-7
    assert mm.mean_rel < 0
    assert mm.worst_rel <= 5e-4  # the 0.05 % target (the floor to mm costs <= 1e-4 at 10 m)


def test_random_steps_70_m_to_5_km() -> None:
    um, mm = _measure("random 70 m-5 km", _random_steps(2, 20000, 70.0, 5000.0, log=False))
    assert len(um.rel) == 20000
    assert um.worst_rel <= REL_UM
    assert um.mean_rel <= 1e-7
    assert mm.worst_rel <= 5e-4


# --- the real receiver captures -----------------------------------------------------------
NMEA_DIR = SHARED / "nmea"


def _checksum_ok(sentence: str) -> bool:
    star = sentence.rfind("*")
    if star < 0 or len(sentence) < star + 3:
        return False
    c = 0
    for ch in sentence[1:star]:
        c ^= ord(ch)
    try:
        return c == int(sentence[star + 1 : star + 3], 16)
    except ValueError:
        return False


def _e7(value: str, hemi: str, deg_digits: int) -> int | None:
    if not value or hemi not in "NSEW" or not hemi:
        return None
    deg = int(value[:deg_digits])
    minutes = Decimal(value[deg_digits:])
    e7 = int(((deg + minutes / 60) * 10**7).to_integral_value())
    return -e7 if hemi in "SW" else e7


def _fixes(path: Path) -> list[tuple[int, int]]:
    """Positions of valid GGA (quality > 0) and RMC (status A) sentences, in file order."""
    out: list[tuple[int, int]] = []
    for line in path.read_bytes().decode("ascii", "replace").splitlines():
        if line.startswith("#"):
            continue
        dollar = line.rfind("$")  # skips binary noise or a leading space before a sentence
        if dollar < 0:
            continue
        s = line[dollar:].strip()
        if not _checksum_ok(s):
            continue
        fld = s[: s.rfind("*")].split(",")
        kind = fld[0][3:]
        try:
            if kind == "GGA" and len(fld) > 6 and fld[6] not in ("", "0"):
                pos = (_e7(fld[2], fld[3], 2), _e7(fld[4], fld[5], 3))
            elif kind == "RMC" and len(fld) > 6 and fld[2] == "A":
                pos = (_e7(fld[3], fld[4], 2), _e7(fld[5], fld[6], 3))
            else:
                continue
        except (ValueError, ArithmeticError):
            continue
        if pos[0] is None or pos[1] is None or pos == (0, 0):
            continue
        out.append((pos[0], pos[1]))
    return out


def _capture_pairs() -> tuple[list, int]:
    pairs = []
    files = sorted(NMEA_DIR.glob("*.log"))
    for path in files:
        fixes = _fixes(path)
        for (a, b), (c, d) in itertools.pairwise(fixes):
            if (a, b) != (c, d) and _ref_um(a, b, c, d) <= 5e9:
                pairs.append((a, b, c, d))
    return pairs, len(files)


@pytest.mark.skipif(not NMEA_DIR.is_dir(), reason="../shared/nmea captures not present")
def test_consecutive_fixes_of_real_receiver_captures() -> None:
    pairs, n_files = _capture_pairs()
    assert n_files == 17
    um, mm = _measure(f"NMEA captures ({n_files} files)", pairs)
    assert len(pairs) > 300
    # Few steps reach 10 m: the car captures log at 2 Hz (~8 m) or crawl, rst39 is 10 Hz.
    assert len(um.rel) >= 20
    assert um.mean_rel <= 1e-7
    assert mm.worst_rel <= 5e-4
    assert um.worst_short_abs_um <= SLACK_UM + REL_UM * 10e6
    # As an odometer: summing distance_um over the whole capture loses well under 1 mm/km.
    assert -1e-6 * um.total_ref_um <= um.total_err_um <= 1e-7 * um.total_ref_um


# --- the tables themselves ----------------------------------------------------------------
def test_radius_tables_match_a_double_precision_recomputation() -> None:
    a = 6378137.0
    f = 1 / 298.257223563
    e2 = f * (2 - f)
    k = math.pi / 180 * 1e3  # metres of radius -> 1e-10 m per 1e-7 degree
    for i in range(91):
        phi = math.radians(i)
        w = 1 - e2 * math.sin(phi) ** 2
        meridian = geo._k(geo._K_MERIDIAN, i)
        parallel = geo._k(geo._K_PARALLEL, i)
        assert meridian == round(a * (1 - e2) / w**1.5 * k), i
        assert abs(parallel - a / math.sqrt(w) * math.cos(phi) * k) <= 0.5 + 1e-6, i
        assert meridian < 1 << 30 and parallel < 1 << 30  # ESP32 small ints
    assert len(geo._K_MERIDIAN) == len(geo._K_PARALLEL) == 910


def test_isqrt_agrees_with_math_isqrt() -> None:
    rnd = random.Random(3)
    for bits in range(1, 400, 3):
        n = rnd.getrandbits(bits)
        assert geo.isqrt(n) == math.isqrt(n)


# --- distance to a trace ------------------------------------------------------------------
def _ref_point_segment_um(p: tuple[int, int], a: tuple[int, int], b: tuple[int, int]) -> float:
    """Geodesic distance from p to the geodesic a-b, by golden-section search along a-b."""
    inv = WGS84.Inverse(a[0] / 1e7, a[1] / 1e7, b[0] / 1e7, b[1] / 1e7)
    line = WGS84.Line(a[0] / 1e7, a[1] / 1e7, inv["azi1"])

    def dist(s: float) -> float:
        q = line.Position(s)
        return WGS84.Inverse(p[0] / 1e7, p[1] / 1e7, q["lat2"], q["lon2"])["s12"]

    lo, hi = 0.0, inv["s12"]
    g = (math.sqrt(5) - 1) / 2
    for _ in range(80):
        m1 = hi - g * (hi - lo)
        m2 = lo + g * (hi - lo)
        if dist(m1) < dist(m2):
            hi = m2
        else:
            lo = m1
    return min(dist((lo + hi) / 2), dist(0.0), dist(inv["s12"])) * 1e6


def test_point_segment_distance_against_the_geodesic() -> None:
    rnd = random.Random(4)
    worst = 0.0
    for _ in range(300):
        lat = rnd.randint(-800000000, 800000000)
        lon = rnd.randint(-1790000000, 1790000000)
        a = (lat + rnd.randint(-20000, 20000), lon + rnd.randint(-20000, 20000))
        b = (a[0] + rnd.randint(-2000, 2000), a[1] + rnd.randint(-2000, 2000))  # <= ~300 m
        p = (lat, lon)
        ref = _ref_point_segment_um(p, a, b)
        got = geo.point_segment_distance_mm(lat, lon, a, b) * 1000
        far = max(_ref_um(lat, lon, a[0], a[1]), _ref_um(lat, lon, b[0], b[1]))
        # One local map for three points: its distortion grows with their spread.
        assert -1000 - 5 - 1e-5 * far < got - ref <= 5 + 1e-5 * far, (p, a, b, got, ref)
        worst = max(worst, abs(got - ref) / 1000)
    print(f"\npoint_segment_distance_mm: 300 cases within 300 m, max |err| {worst:.3f} mm")
