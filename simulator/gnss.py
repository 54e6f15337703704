"""The GNSS receiver model: ground-truth samples in, the epochs a real receiver would report out.

Per epoch (1 Hz by default, any multiple of 10 ms) the model produces a :class:`GnssEpoch`
holding what the receiver says (position, altitude, Doppler speed and course, satellites,
DOPs, fix quality — all integers, as NMEA carries them) and, for analysis, the truth and the
error components behind it. simulator.nmea_out turns epochs into NMEA bytes.

Error model (horizontal, per axis east/north, in metres):

- **white noise**: N(0, (uere_m · HDOP)²) — the receiver's own estimate of its precision
  scales with the geometry, so the DOPs it reports are consistent with the noise;
- **slowly drifting bias**: a first-order Gauss–Markov process (:class:`GaussMarkov`) with
  standard deviation ``bias_sigma_m`` and correlation time ``bias_tau_s`` (minutes):
  atmospheric and orbit errors that change slowly;
- **multipath jumps**: events starting at a rate per hour that depends on the environment
  (rare in open sky, frequent in street canyons), a fixed offset of tens of metres in a random
  direction held for a few seconds;
- **outages**: no signal in tunnels and garages (no fix: GGA quality 0, RMC V, GSA mode 1, or
  no sentences at all — see nmea_out); after an outage of ≥ ``reacquire_after_s`` the
  receiver needs ``reacquire_s`` to fix again (hot reacquisition);
- **start**: the first fix comes ``ttff_s`` seconds (of signal) after power-on; a cold start
  (``cold_start=True``) also has no valid time until then, so the receiver sends empty
  time and date fields as real ones do.

Velocity: the true velocity vector plus N(0, σ²) per axis (σ = ``doppler_sigma_mmps``, a few
cm/s: receivers measure it from the carrier Doppler shift, independently of the position
noise); speed = its length, course = its direction. Below ``course_hold_mmps`` the course is
held (receivers freeze it when standing still, where the direction of a noise vector means
nothing).

Satellites: a count drifting within the environment's range; HDOP ≈ 2.6 / sqrt(sats − 3.5)
(± 4 %), PDOP ≈ 1.7 · HDOP, VDOP = sqrt(PDOP² − HDOP²).

Determinism: everything is drawn from one ``random.Random`` seeded from ``seed`` (and the
trip id); no global RNG, no time-based seeds. The same seed gives the same epochs.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace

from simulator.network import Environment, metres_to_deg
from simulator.trips import Sample, Trip

Seed = int | str


class GaussMarkov:
    """First-order Gauss–Markov process: x' = φ·x + sqrt(1 − φ²)·σ·w, φ = exp(−dt/τ).

    Stationary with standard deviation ``sigma`` and autocorrelation exp(−|lag|/τ) at any
    step size. Starts from its stationary distribution (the receiver has been on a while).
    """

    def __init__(self, sigma: float, tau_s: float, rng: random.Random) -> None:
        self.sigma = sigma
        self.tau_s = tau_s
        self.rng = rng
        self.value = rng.gauss(0.0, sigma) if sigma > 0 else 0.0
        self._memo = (math.nan, math.nan, 0.0, 0.0)  # (dt, τ, φ, sqrt(1 − φ²)) of the last step

    def step(self, dt_s: float) -> float:
        """Advance by ``dt_s`` seconds and return the new value."""
        if self.sigma <= 0:
            return 0.0
        dt, tau, phi, kick = self._memo
        if dt_s != dt or self.tau_s != tau:  # steps are regular: compute φ once
            phi = math.exp(-dt_s / self.tau_s)
            kick = math.sqrt(1.0 - phi * phi)
            self._memo = (dt_s, self.tau_s, phi, kick)
        self.value = phi * self.value + kick * self.rng.gauss(0.0, self.sigma)
        return self.value


@dataclass(frozen=True)
class EnvConditions:
    """Reception in one environment."""

    signal: bool
    sats: tuple[int, int] = (0, 0)  # range of satellites used
    multipath_per_hour: float = 0.0
    multipath_m: tuple[float, float] = (0.0, 0.0)  # jump size range
    multipath_s: tuple[int, int] = (0, 0)  # duration range, seconds
    doppler_factor: float = 1.0  # Doppler noise multiplier (reflections disturb it too)


GOOD_CONDITIONS: dict[int, EnvConditions] = {
    Environment.OPEN: EnvConditions(True, (9, 13), 1.0, (10.0, 30.0), (1, 3), 1.0),
    Environment.SUBURBAN: EnvConditions(True, (7, 11), 6.0, (10.0, 40.0), (2, 5), 1.2),
    Environment.URBAN: EnvConditions(True, (5, 9), 30.0, (15.0, 60.0), (2, 8), 1.6),
    Environment.TUNNEL: EnvConditions(False),
    Environment.GARAGE: EnvConditions(False),
}

BAD_CONDITIONS: dict[int, EnvConditions] = {
    Environment.OPEN: EnvConditions(True, (7, 11), 4.0, (15.0, 50.0), (1, 5), 1.0),
    Environment.SUBURBAN: EnvConditions(True, (5, 9), 25.0, (15.0, 60.0), (2, 8), 1.5),
    Environment.URBAN: EnvConditions(True, (4, 7), 120.0, (20.0, 90.0), (2, 12), 2.0),
    Environment.TUNNEL: EnvConditions(False),
    Environment.GARAGE: EnvConditions(False),
}


@dataclass(frozen=True)
class GnssConfig:
    """Receiver model parameters; the defaults are a decent automotive module at 1 Hz."""

    period_ms: int = 1000
    uere_m: float = 1.2  # white noise σ per horizontal axis at HDOP 1
    bias_sigma_m: float = 2.0  # Gauss–Markov bias σ per horizontal axis
    bias_tau_s: float = 300.0
    vertical_factor: float = 1.8  # vertical errors are larger than horizontal ones
    doppler_sigma_mmps: float = 50.0  # per axis
    course_hold_mmps: int = 500
    ttff_s: float = 1.0  # time to first fix after power-on (hot start)
    cold_start: bool = False  # no valid time either until the first fix
    reacquire_after_s: float = 10.0
    reacquire_s: tuple[float, float] = (1.0, 3.0)
    quality: int = 1  # GGA quality of a fix: 1 autonomous, 2 SBAS/DGPS
    multipath_scale: float = 1.0  # multiplies every environment's multipath rate
    conditions: dict[int, EnvConditions] = field(default_factory=lambda: dict(GOOD_CONDITIONS))

    @classmethod
    def good(cls, **kw: object) -> GnssConfig:
        """The default, realistic receiver."""
        return replace(cls(), **kw)  # type: ignore[arg-type]

    @classmethod
    def bad(cls, **kw: object) -> GnssConfig:
        """An honest vehicle with bad GNSS: poor antenna, more noise, far more multipath."""
        base = cls(
            uere_m=2.5,
            bias_sigma_m=4.0,
            bias_tau_s=180.0,
            doppler_sigma_mmps=120.0,
            reacquire_s=(2.0, 6.0),
            conditions=dict(BAD_CONDITIONS),
        )
        return replace(base, **kw)  # type: ignore[arg-type]

    @classmethod
    def cold(cls, ttff_s: float = 32.0, **kw: object) -> GnssConfig:
        """A cold start: no time and no fix for ``ttff_s`` seconds of signal."""
        return replace(cls(), ttff_s=ttff_s, cold_start=True, **kw)  # type: ignore[arg-type]


@dataclass(frozen=True)
class GnssEpoch:
    """What the receiver reports at one epoch, plus the truth and errors behind it.

    Reported (integers, as in NMEA): ``t``/``t_ms`` UTC; ``time_valid`` False before the
    receiver knows the time (cold start); ``fix`` True for a position fix; ``lat_e7``,
    ``lon_e7``, ``alt_dm``, ``speed_mmps``, ``course_cdeg`` (None while unknown) only
    meaningful with a fix; ``quality`` GGA quality (0 = none); ``fix_type`` GSA 1/2/3;
    ``sats``; ``hdop_c``/``pdop_c``/``vdop_c`` DOP × 100 (9999 without a fix); ``prns`` the
    satellites used. Diagnostics (floats, metres): true position and speed, the total
    horizontal error and its parts.
    """

    t: int
    t_ms: int
    time_valid: bool
    fix: bool
    lat_e7: int
    lon_e7: int
    alt_dm: int
    speed_mmps: int
    course_cdeg: int | None
    quality: int
    fix_type: int
    sats: int
    hdop_c: int
    pdop_c: int
    vdop_c: int
    prns: tuple[int, ...]
    env: int
    true_lat_e7: int
    true_lon_e7: int
    true_speed_mmps: int
    err_east_m: float = 0.0
    err_north_m: float = 0.0
    white_east_m: float = 0.0
    white_north_m: float = 0.0
    bias_east_m: float = 0.0
    bias_north_m: float = 0.0
    multipath_m: float = 0.0


# A fixed sky: GPS PRNs (1–32) then GLONASS slots (65–96 in NMEA), in the order satellites
# are taken into the solution when the count grows.
_SKY = (5, 13, 15, 18, 20, 23, 24, 26, 29, 10, 2, 7, 16, 27, 68, 69, 70, 78, 79, 84, 85)


def hdop_for(sats: int) -> float:
    """Typical HDOP for a number of satellites used (open geometry)."""
    return 2.6 / math.sqrt(max(0.5, sats - 3.5))


# Per satellite count, computed once: the HDOP and the PRNs used (an epoch's are shared).
_HDOP = [hdop_for(n) for n in range(len(_SKY) + 1)]
_PRNS = [tuple(sorted(_SKY[:n])) for n in range(len(_SKY) + 1)]


def _truth_at(samples: Sequence[Sample], time_ms: int, j: int) -> tuple[Sample, int]:
    """Truth at ``time_ms`` (linear between samples); also the index to start from next."""
    n = len(samples)
    while j + 1 < n and samples[j + 1].t * 1000 + samples[j + 1].t_ms <= time_ms:
        j += 1
    a = samples[j]
    if a.t * 1000 + a.t_ms == time_ms or j + 1 >= n:
        return a, j
    b = samples[j + 1]
    f = (time_ms - a.time_ms) / (b.time_ms - a.time_ms)

    def mix(p: int, q: int) -> int:
        return round(p + (q - p) * f)

    dh = (b.heading_cdeg - a.heading_cdeg + 18000) % 36000 - 18000
    return (
        Sample(
            time_ms // 1000,
            time_ms % 1000,
            mix(a.lat_e7, b.lat_e7),
            mix(a.lon_e7, b.lon_e7),
            mix(a.alt_dm, b.alt_dm),
            mix(a.speed_mmps, b.speed_mmps),
            round(a.heading_cdeg + dh * f) % 36000,
            a.env,
            a.limit_mmps,
        ),
        j,
    )


def _no_fix(truth: Sample, time_valid: bool) -> GnssEpoch:
    """An epoch without a position: the receiver still reports (or does not know) the time."""
    return GnssEpoch(
        truth.t,
        truth.t_ms,
        time_valid,
        False,
        0,
        0,
        0,
        0,
        None,
        0,
        1,
        0,
        9999,
        9999,
        9999,
        (),
        truth.env,
        truth.lat_e7,
        truth.lon_e7,
        truth.speed_mmps,
    )


def simulate(trip: Trip, config: GnssConfig | None = None, seed: Seed = 0) -> list[GnssEpoch]:
    """The receiver's epochs over the whole trip (see :func:`epochs`)."""
    return list(epochs(trip, config, seed))


def epochs(trip: Trip, config: GnssConfig | None = None, seed: Seed = 0) -> Iterator[GnssEpoch]:
    """Generate the receiver's epochs from the trip's first sample to its last.

    The receiver is powered on at the first sample. Same trip, config and seed → same epochs.
    """
    cfg = config if config is not None else GnssConfig()
    if cfg.period_ms <= 0 or cfg.period_ms % 10:
        raise ValueError("period_ms must be a positive multiple of 10 (NMEA time has 2 decimals)")
    rng = random.Random(f"quietmile/gnss/{seed}/{trip.trip_id}")
    samples = trip.samples
    dt = cfg.period_ms / 1000.0
    bias_e = GaussMarkov(cfg.bias_sigma_m, cfg.bias_tau_s, rng)
    bias_n = GaussMarkov(cfg.bias_sigma_m, cfg.bias_tau_s, rng)
    bias_u = GaussMarkov(cfg.bias_sigma_m * cfg.vertical_factor, cfg.bias_tau_s, rng)
    acquire_left = cfg.ttff_s
    time_valid = not cfg.cold_start
    outage_s = 0.0
    sats = 0
    env_prev = -1
    mp_left = 0.0
    mp_e = mp_n = 0.0
    course: int | None = None
    j = 0
    # NMEA prints hundredths of a second: keep epochs on whole 10 ms.
    t0 = -(-samples[0].time_ms // 10) * 10
    t1 = samples[-1].time_ms
    for time_ms in range(t0, t1 + 1, cfg.period_ms):
        truth, j = _truth_at(samples, time_ms, j)
        be = bias_e.step(dt)
        bn = bias_n.step(dt)
        bu = bias_u.step(dt)
        cond = cfg.conditions[truth.env]

        if not cond.signal:
            outage_s += dt
            mp_left = 0.0
            if outage_s >= cfg.reacquire_after_s and acquire_left <= 0:
                acquire_left = rng.uniform(*cfg.reacquire_s)
            env_prev = truth.env
            yield _no_fix(truth, time_valid)
            continue
        outage_s = 0.0
        if acquire_left > 0:
            acquire_left -= dt
            yield _no_fix(truth, time_valid)
            continue
        time_valid = True

        # Satellites: re-drawn on entering a new environment, then a slow random walk.
        lo, hi = cond.sats
        if truth.env != env_prev or sats == 0:
            sats = rng.randint(lo, hi)
        elif rng.random() < 0.05 * dt:
            sats = min(hi, max(lo, sats + rng.choice((-1, 1))))
        env_prev = truth.env
        hdop = (_HDOP[sats] if sats < len(_HDOP) else hdop_for(sats)) * (
            1.0 + rng.uniform(-0.04, 0.04)
        )
        pdop = hdop * 1.7
        vdop = math.sqrt(pdop * pdop - hdop * hdop)

        sigma = cfg.uere_m * hdop
        we = rng.gauss(0.0, sigma)
        wn = rng.gauss(0.0, sigma)
        wu = rng.gauss(0.0, sigma * cfg.vertical_factor)

        if mp_left > 0:
            mp_left -= dt
        if mp_left <= 0:
            mp_e = mp_n = 0.0
            rate = cond.multipath_per_hour * cfg.multipath_scale
            if rng.random() < rate * dt / 3600.0:
                size = rng.uniform(*cond.multipath_m)
                ang = rng.uniform(0.0, 2.0 * math.pi)
                mp_e = size * math.sin(ang)
                mp_n = size * math.cos(ang)
                mp_left = rng.randint(*cond.multipath_s)
        ee = be + we + mp_e
        en = bn + wn + mp_n
        lat_deg = truth.lat_e7 * 1e-7
        dlat, dlon = metres_to_deg(lat_deg, ee, en)

        # Doppler velocity: true velocity vector + independent noise per axis.
        v = truth.speed_mmps
        h = math.radians(truth.heading_cdeg / 100.0)
        sd = cfg.doppler_sigma_mmps * cond.doppler_factor
        ve = v * math.sin(h) + rng.gauss(0.0, sd)
        vn = v * math.cos(h) + rng.gauss(0.0, sd)
        speed = round(math.hypot(ve, vn))
        if speed >= cfg.course_hold_mmps or course is None:
            course = round(math.degrees(math.atan2(ve, vn)) * 100.0) % 36000

        yield GnssEpoch(
            truth.t,
            truth.t_ms,
            True,
            True,
            truth.lat_e7 + round(dlat * 1e7),
            truth.lon_e7 + round(dlon * 1e7),
            truth.alt_dm + round((bu + wu) * 10.0),
            speed,
            course,
            cfg.quality,
            3,
            sats,
            round(hdop * 100.0),
            round(pdop * 100.0),
            round(vdop * 100.0),
            _PRNS[sats] if sats < len(_PRNS) else _PRNS[-1],
            truth.env,
            truth.lat_e7,
            truth.lon_e7,
            truth.speed_mmps,
            ee,
            en,
            we,
            wn,
            be,
            bn,
            math.hypot(mp_e, mp_n),
        )
