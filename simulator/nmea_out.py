"""NMEA 0183 output: simulated receiver epochs in, the bytes a receiver's UART would send out.

Per epoch, in the order u-blox and most chipsets use: RMC, GGA, then GSA (one per
constellation with the ``GN`` talker: GPS PRNs, then GLONASS PRNs). Formats follow NMEA 0183
4.0 as u-blox M8 modules print it:

    $GPRMC,hhmmss.ss,A,ddmm.mmmmm,N,dddmm.mmmmm,E,s.sss,c.cc,ddmmyy,,,A*hh
    $GPGGA,hhmmss.ss,ddmm.mmmmm,N,dddmm.mmmmm,E,1,nn,h.hh,a.a,M,g.g,M,,*hh
    $GPGSA,A,3,p1,…,p12,P.PP,H.HH,V.VV*hh

Latitude/longitude carry ``coord_decimals`` decimals of minutes (5 by default: 1.7e-7°,
rounded to nearest; 7 gives every 1e-7° exactly, like high-precision mode). Speed is in knots
with 3 decimals, course with 2, HDOP/DOPs with 2, altitude with 1. Every sentence ends in its
``*hh`` checksum (XOR of the bytes between ``$`` and ``*``) and CRLF.

Epochs without a fix look like a receiver's: with a known time
``$GPRMC,hhmmss.ss,V,,,,,,,ddmmyy,,,N``, ``$GPGGA,hhmmss.ss,,,,,0,00,99.99,,,,,,`` and
``$GPGSA,A,1,,,,,,,,,,,,,99.99,99.99,99.99``; before the time is known (cold start) the time
and date fields are empty too. With ``no_fix="silent"`` such epochs produce no bytes at all
(a receiver that stays quiet, or an unpowered antenna).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

from protocol import timeutil
from simulator.gnss import GnssEpoch

_MAX_PRNS = 12  # PRN slots in one GSA


@dataclass(frozen=True)
class NmeaConfig:
    """Output format. ``talker``: "GP" (GPS only) or "GN" (multi-constellation)."""

    talker: str = "GP"
    coord_decimals: int = 5
    gsa: bool = True
    no_fix: Literal["empty", "silent"] = "empty"
    geoid_sep_dm: int = 470  # geoid separation printed in GGA (47.0 m in the Low Countries)

    def __post_init__(self) -> None:
        if len(self.talker) != 2 or not self.talker.isalpha() or not self.talker.isupper():
            raise ValueError(f"talker must be two capital letters, got {self.talker!r}")
        if not 1 <= self.coord_decimals <= 7:
            raise ValueError("coord_decimals must be 1..7")


def checksum(body: bytes) -> int:
    """NMEA checksum: XOR of every byte between ``$`` and ``*``."""
    # Fold the bytes as one big integer, halving its width each round (a handful of bigint
    # operations instead of a Python-level loop over every byte of every sentence).
    n = len(body)
    x = int.from_bytes(body, "little")
    while n > 1:
        half = (n + 1) // 2
        x = (x & ((1 << (8 * half)) - 1)) ^ (x >> (8 * half))
        n = half
    return x


def sentence(body: str) -> bytes:
    """``$`` + body + ``*hh`` + CRLF, with the checksum of ``body`` in upper-case hex."""
    raw = body.encode("ascii")
    return b"$" + raw + b"*%02X\r\n" % checksum(raw)


_FIXED_FORMATS = {d: f"%s%d.%0{d}d" for d in range(1, 10)}


def _fixed(value: int, decimals: int) -> str:
    """An integer scaled by 10**decimals as a decimal string (``-45`` , 1 → ``-4.5``)."""
    sign = "-" if value < 0 else ""
    v = -value if value < 0 else value
    if decimals == 0:
        return f"{sign}{v}"
    q, r = divmod(v, 10**decimals)
    return _FIXED_FORMATS[decimals] % (sign, q, r)


def format_coord(
    value_e7: int, deg_digits: int, pos: str, neg: str, decimals: int
) -> tuple[str, str]:
    """Degrees × 10^7 as (``(d)ddmm.mmmmm``, hemisphere), minutes rounded half up."""
    hemi = neg if value_e7 < 0 else pos
    v = abs(value_e7)
    deg = v // 10_000_000
    rem = v - deg * 10_000_000
    scale = 10**decimals
    # minutes × scale = rem × 60 × scale / 10^7, rounded half up in exact integers
    m = (rem * 60 * scale * 2 + 10_000_000) // 20_000_000
    if m >= 60 * scale:  # rounding carried into the next degree
        deg += 1
        m -= 60 * scale
    return (f"{deg:0{deg_digits}d}{m // scale:02d}.{m % scale:0{decimals}d}", hemi)


def format_time(t: int, t_ms: int) -> str:
    """UTC time of day as ``hhmmss.ss`` (t_ms is truncated to hundredths)."""
    sod = t % 86400
    return "%02d%02d%02d.%02d" % (sod // 3600, sod // 60 % 60, sod % 60, t_ms // 10)


def format_date(t: int) -> str:
    """UTC date as ``ddmmyy``."""
    return _date_of_day(t // 86400)


@functools.lru_cache(maxsize=64)
def _date_of_day(day: int) -> str:
    y, mo, d = timeutil.civil_from_days(day)
    return f"{d:02d}{mo:02d}{y % 100:02d}"


def knots_e3(speed_mmps: int) -> int:
    """Speed in mm/s as knots × 1000, rounded half up (1 kn = 463/900 m/s exactly)."""
    return (speed_mmps * 900 * 2 + 463) // 926


@functools.lru_cache(maxsize=1024)
def _gsa_heads(prns: tuple[int, ...], talker: str, fix_type: int) -> tuple[str, ...]:
    """``{talker}GSA,A,{fix_type},{p1,…,p12},`` per GSA sentence of an epoch (cached: a
    receiver's satellites change every few minutes, its epochs come every second)."""
    if talker == "GN":
        groups = [
            tuple(p for p in prns if p <= 32)[:_MAX_PRNS],
            tuple(p for p in prns if p > 32)[:_MAX_PRNS],
        ]
    else:
        groups = [prns[:_MAX_PRNS]]
    heads = []
    for group in groups:
        slots = [f"{p:02d}" for p in group] + [""] * (_MAX_PRNS - len(group))
        heads.append(f"{talker}GSA,A,{fix_type},{','.join(slots)},")
    return tuple(heads)


def epoch_sentences(ep: GnssEpoch, config: NmeaConfig | None = None) -> list[bytes]:
    """The sentences a receiver sends for one epoch (empty list: nothing is sent)."""
    cfg = config if config is not None else NmeaConfig()
    tk = cfg.talker
    if not ep.fix:
        if cfg.no_fix == "silent":
            return []
        tm = format_time(ep.t, ep.t_ms) if ep.time_valid else ""
        date = format_date(ep.t) if ep.time_valid else ""
        out = [
            sentence(f"{tk}RMC,{tm},V,,,,,,,{date},,,N"),
            sentence(f"{tk}GGA,{tm},,,,,0,00,99.99,,,,,,"),
        ]
        if cfg.gsa:
            out.append(sentence(f"{tk}GSA,A,1,,,,,,,,,,,,,99.99,99.99,99.99"))
        return out

    tm = format_time(ep.t, ep.t_ms)
    lat, ns = format_coord(ep.lat_e7, 2, "N", "S", cfg.coord_decimals)
    lon, ew = format_coord(ep.lon_e7, 3, "E", "W", cfg.coord_decimals)
    speed = _fixed(knots_e3(ep.speed_mmps), 3)
    course = _fixed(ep.course_cdeg, 2) if ep.course_cdeg is not None else ""
    mode = "D" if ep.quality == 2 else "A"
    hdop = _fixed(ep.hdop_c, 2)
    out = [
        sentence(
            f"{tk}RMC,{tm},A,{lat},{ns},{lon},{ew},{speed},{course},{format_date(ep.t)},,,{mode}"
        ),
        sentence(
            f"{tk}GGA,{tm},{lat},{ns},{lon},{ew},{ep.quality},{ep.sats:02d},"
            f"{hdop},{_fixed(ep.alt_dm, 1)},M,{_fixed(cfg.geoid_sep_dm, 1)},M,,"
        ),
    ]
    if cfg.gsa:
        dops = f"{_fixed(ep.pdop_c, 2)},{hdop},{_fixed(ep.vdop_c, 2)}"
        for head in _gsa_heads(tuple(ep.prns), tk, ep.fix_type):
            out.append(sentence(head + dops))
    return out


def stream(epochs: Iterable[GnssEpoch], config: NmeaConfig | None = None) -> Iterator[bytes]:
    """One chunk of bytes per epoch (possibly empty), in order: what the UART would carry."""
    cfg = config if config is not None else NmeaConfig()
    for ep in epochs:
        yield b"".join(epoch_sentences(ep, cfg))


def to_bytes(epochs: Iterable[GnssEpoch], config: NmeaConfig | None = None) -> bytes:
    """All epochs as one byte string."""
    return b"".join(stream(epochs, config))
