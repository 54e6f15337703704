"""Helpers for the firmware accounting tests (dual-interpreter: no pytest, no typing, no floats).

A small signed-policy world, deterministic randomness, GNSS fixes and synthetic drives whose
true path length is known, so odometry and segmentation can be checked against ground truth.
"""

import os

from firmware.gnss.nmea import Fix
from protocol import envelopes, geo, messages, p256, tariff
from protocol.hashing import sha256
from protocol.timeutil import unix_from_civil

# --- files and randomness --------------------------------------------------------------------


def tmpdir(tag="fw"):
    path = "/tmp/qm-%s-%d" % (tag, int.from_bytes(os.urandom(6), "big"))
    os.mkdir(path)
    return path


def rmtree(path):
    for name in os.listdir(path):
        p = path + "/" + name
        if os.stat(p)[0] & 0x4000:
            rmtree(p)
        else:
            os.remove(p)
    os.rmdir(path)


class Rng:
    """Deterministic stand-in for os.urandom: SHA-256 of a seed and a counter. (The one Rng of
    the firmware suites: uplink_fixtures re-exports it.)"""

    def __init__(self, seed=b"seed"):
        self._seed = seed
        self._n = 0

    def __call__(self, n):
        out = b""
        while len(out) < n:
            self._n += 1
            out += sha256(self._seed + self._n.to_bytes(4, "big"))
        return out[:n]


class Lcg:
    """Small integer PRNG for noise (64-bit LCG, Knuth's MMIX constants)."""

    def __init__(self, seed=1):
        self.x = seed & 0xFFFFFFFFFFFFFFFF

    def next(self):
        self.x = (self.x * 6364136223846793005 + 1442695040888963407) & 0xFFFFFFFFFFFFFFFF
        return self.x >> 33  # 31 bits

    def uniform(self, lo, hi):
        """Integer in [lo, hi]."""
        return lo + self.next() % (hi - lo + 1)

    def noise(self, sigma):
        """Roughly normal integer noise with standard deviation ``sigma`` (sum of 12 uniforms)."""
        s = 0
        for _ in range(12):
            s += self.next() & 0xFFFF
        return (s - 6 * 0xFFFF) * sigma // 0xFFFF


# --- the tariff world ------------------------------------------------------------------------

T2026 = unix_from_civil(2026, 1, 1, 0, 0, 0)
T2027 = unix_from_civil(2027, 1, 1, 0, 0, 0)
# A Wednesday in March 2026, 10:00 UTC (11:00 local, CET): off-peak.
T_DRIVE = unix_from_civil(2026, 3, 11, 10, 0, 0)

# City box and a congestion box inside it (lat_e7, lon_e7), around 50.85 N 4.35 E.
CITY = ((508000000, 43000000), (508000000, 44500000), (509000000, 44500000), (509000000, 43000000))
CORE = ((508400000, 43400000), (508400000, 43700000), (508600000, 43700000), (508600000, 43400000))
# Metres to degrees × 10^7 near 50.85 N (approximate: tests use it to lay out drives).
LAT_E7_PER_M = 90
LON_E7_PER_M = 142


def make_policy(version=1, valid_from=T2026, valid_until=T2027, base=None):
    """Zone 2 (core) inside zone 1 (city); bands 1 (weekday 07:00–09:30) and 3 (night, 0–6);
    CET all year; classes 1 and 2 (class 2 pays triple)."""
    zones = [tariff.Zone(2, "core", [[list(CORE)]]), tariff.Zone(1, "city", [[list(CITY)]])]
    bands = [
        tariff.TimeBand(1, 0b0011111, 7 * 60, 9 * 60 + 30),
        tariff.TimeBand(3, 0b1111111, 0, 6 * 60),
    ]
    if base is None:
        base = {0: 20000, 1: 60000, 2: 150000}
    rates = []
    for vclass, factor in ((1, 1), (2, 3)):
        for zone_id in (0, 1, 2):
            for band_id, mult in ((0, 10), (1, 15), (3, 5)):
                rates.append(
                    tariff.Rate(zone_id, band_id, vclass, base[zone_id] * factor * mult // 10)
                )
    p = tariff.TariffPolicy(
        version, valid_from, valid_until, [(valid_from, 3600)], zones, bands, rates, "EUR"
    )
    p.validate()
    return p


def authority():
    return p256.SoftwareSigner(p256.private_key_from_bytes(sha256(b"test authority")))


def obu_signer():
    return p256.SoftwareSigner(p256.private_key_from_bytes(sha256(b"test obu")))


def signed_policy(policy, signer=None):
    return envelopes.sign_policy(policy, signer if signer is not None else authority())


class Policies:
    """A fixed list of (policy, policy_id), looked up like firmware.policy.PolicyStore."""

    def __init__(self, *policies):
        self.items = [(p, messages.policy_id(p)) for p in policies]

    def lookup(self, t):
        found = None
        for p, pid in self.items:
            if p.covers(t):
                found = (p, pid)
        return found


# --- fixes and drives ------------------------------------------------------------------------


def fix(t, lat, lon, speed=None, sats=9, hdop_c=90, fix_type=3, valid=True):
    f = Fix()
    f.t = t
    f.valid = valid
    f.lat_e7 = lat
    f.lon_e7 = lon
    f.speed_mmps = speed
    f.sats = sats
    f.hdop_c = hdop_c
    f.fix_type = fix_type
    f.fix_quality = 1
    return f


class Path:
    """A polyline of (lat_e7, lon_e7) waypoints; positions by arc length in µm."""

    def __init__(self, points):
        self.points = points
        self.cum = [0]
        for i in range(1, len(points)):
            a = points[i - 1]
            b = points[i]
            self.cum.append(self.cum[-1] + geo.distance_um(a[0], a[1], b[0], b[1]))
        self.length_um = self.cum[-1]
        self._i = 0

    def at(self, s_um):
        """(lat_e7, lon_e7) at arc length s_um (monotone calls are O(1))."""
        if s_um >= self.length_um:
            return self.points[-1]
        if s_um < self.cum[self._i]:
            self._i = 0
        while self.cum[self._i + 1] <= s_um:
            self._i += 1
        i = self._i
        a = self.points[i]
        b = self.points[i + 1]
        num = s_um - self.cum[i]
        den = self.cum[i + 1] - self.cum[i]
        return (a[0] + (b[0] - a[0]) * num // den, a[1] + (b[1] - a[1]) * num // den)


def wiggly_path(start, n_legs, leg_m, lcg):
    """A road-like polyline: legs of about ``leg_m`` metres with random heading changes."""
    pts = [start]
    # heading as a (dlat_m, dlon_m) unit-ish vector from a small table of directions
    dirs = (
        (1000, 0), (924, 383), (707, 707), (383, 924), (0, 1000), (-383, 924), (-707, 707),
        (-924, 383), (-1000, 0), (-924, -383), (-707, -707), (-383, -924), (0, -1000),
        (383, -924), (707, -707), (924, -383),
    )  # fmt: skip
    h = 2
    lat, lon = start
    for _ in range(n_legs):
        h = (h + lcg.uniform(-1, 1)) % 16
        d = leg_m * lcg.uniform(70, 130) // 100
        lat += dirs[h][0] * d * LAT_E7_PER_M // 1000
        lon += dirs[h][1] * d * LON_E7_PER_M // 1000
        pts.append((lat, lon))
    return pts


def speed_profile(lcg, duration_s, cruise_mmps, stops=True):
    """Speeds (mm/s) at each second: accelerate, cruise with variation, stop now and then."""
    v = []
    cur = 0
    target = cruise_mmps
    stop_left = 0
    for i in range(duration_s + 1):
        if stop_left > 0:
            stop_left -= 1
            target = 0
        elif stops and i % 240 == 200:
            stop_left = 25  # a traffic light
            target = 0
        elif i % 30 == 0:
            target = cruise_mmps * lcg.uniform(60, 130) // 100
        if cur < target:
            cur = min(target, cur + 2500)  # 2.5 m/s² acceleration
        elif cur > target:
            cur = max(target, cur - 3500)
        v.append(cur)
    if v:
        v[0] = 0
        v[-1] = 0
    return v


def true_length_um(path, speeds):
    """Length of the drive along ``path`` with ``speeds``: the exact trapezoid, capped."""
    s = 0
    for i in range(1, len(speeds)):
        s += (speeds[i - 1] + speeds[i]) * 500
    return min(s, path.length_um)


def drive(path, speeds, t0):
    """Ground truth of a drive along ``path``: yields (t, lat, lon, speed_mmps) each second.

    Speeds are linear between whole seconds, so the trapezoid is the exact arc length.
    """
    s = 0
    for i in range(len(speeds)):
        if i:
            s += (speeds[i - 1] + speeds[i]) * 500
        if s > path.length_um:
            s = path.length_um
        lat, lon = path.at(s)
        yield (t0 + i, lat, lon, speeds[i])


def noisy_fixes(truth, lcg, pos_sigma_m=3, speed_sigma_mmps=80, with_speed=True):
    """Fixes from ground truth (yielded): correlated position noise and speed noise.

    Real receivers' position errors wander slowly (AR(1) here, about ``pos_sigma_m``); the
    white part is the fix-to-fix jitter. Doppler speed noise is white and a few cm/s; a
    standing receiver reports up to 0.15 m/s.
    """
    wlat = 0
    wlon = 0
    for t, lat, lon, v in truth:
        wlat = wlat * 95 // 100 + lcg.noise(pos_sigma_m * 300)
        wlon = wlon * 95 // 100 + lcg.noise(pos_sigma_m * 300)
        dlat = (wlat + lcg.noise(pos_sigma_m * 300)) * LAT_E7_PER_M // 1000
        dlon = (wlon + lcg.noise(pos_sigma_m * 300)) * LON_E7_PER_M // 1000
        speed = None
        if with_speed:
            speed = v + lcg.noise(speed_sigma_mmps) if v > 0 else lcg.uniform(0, 150)
            speed = max(0, speed)
        yield fix(t, lat + dlat, lon + dlon, speed)


class Collector:
    """Records what an Odometer or Segmenter emits (``keep_steps=False``: only sums them)."""

    def __init__(self, keep_steps=True):
        self.keep_steps = keep_steps
        self.steps = []
        self.step_count = 0
        self.total_um = 0
        self.gaps = []
        self.records = []

    def step(self, t, lat, lon, dist_um, flags):
        self.step_count += 1
        self.total_um += dist_um
        if self.keep_steps:
            self.steps.append((t, lat, lon, dist_um, flags))

    def gap(self, t0, lat0, lon0, t1, lat1, lon1):
        self.gaps.append((t0, lat0, lon0, t1, lat1, lon1))

    def record(self, rec):
        self.records.append(rec)
