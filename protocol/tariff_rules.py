"""The tariff's rules that pricing does not need: policy validation, the EU summer-time
offsets and the search for the next time-band change.

Split from protocol/tariff.py for the OBU's heap: the unit prices a fix with protocol.tariff
(zone_at, band_at, rate, price_micro) every second of driving, but validates a policy only
when it installs or loads one, and never plans band changes. ``TariffPolicy.validate()`` (and
Zone/TimeBand/Rate.validate), ``tariff.next_band_change`` and ``tariff.eu_utc_offsets`` call
into this module, so every name of protocol.tariff keeps working unchanged.
"""

from protocol import geo
from protocol.compat import const, is_int
from protocol.errors import InvalidMessage, PolicyError
from protocol.tariff import Rate, TimeBand, Zone
from protocol.timeutil import days_from_civil, days_in_month

_U32 = const(0x100000000)
_DAY_S = const(86400)
_WEEK_S = const(7 * _DAY_S)
# ISO 8601 / RFC 3339 allow offsets up to ±18 h.
_MAX_OFFSET_S = const(18 * 3600)
_MAX_NAME_LEN = const(64)


def _need_int(where, field, value, lo, hi=None):
    """Check ``lo <= value`` (and ``value < hi`` if given) for a non-bool int.

    The error names ``where.field``; the path is only built on failure (no garbage per item).
    """
    if is_int(value) and value >= lo and (hi is None or value < hi):
        return
    path = where + "." + field if where else field
    if not is_int(value):
        raise PolicyError("%s must be an int, got %r" % (path, value))
    if hi is None:
        raise PolicyError("%s = %d must be >= %d" % (path, value, lo))
    raise PolicyError("%s = %d not in [%d, %d)" % (path, value, lo, hi))


def _need_seq(where, value, min_len):
    if not isinstance(value, (list, tuple)):
        raise PolicyError("%s must be a list, got %r" % (where, type(value).__name__))
    if len(value) < min_len:
        raise PolicyError("%s has %d entries, needs >= %d" % (where, len(value), min_len))


# --- validation ------------------------------------------------------------------------------


def check_zone(zone, where="zone"):
    """Zone.validate: raise PolicyError unless id, name and every ring are well-formed."""
    _need_int(where, "zone_id", zone.zone_id, 1, _U32)
    if not isinstance(zone.name, str) or not 1 <= len(zone.name) <= _MAX_NAME_LEN:
        raise PolicyError(
            "%s.name must be a str of 1..%d characters, got %r" % (where, _MAX_NAME_LEN, zone.name)
        )
    _need_seq(where + ".polygons", zone.polygons, 1)
    for p, polygon in enumerate(zone.polygons):
        pw = "%s.polygons[%d]" % (where, p)
        _need_seq(pw, polygon, 1)
        for r, ring in enumerate(polygon):
            rw = "%s[%d]" % (pw, r)
            _need_seq(rw, ring, 3)
            for v, vertex in enumerate(ring):
                if not isinstance(vertex, (list, tuple)) or len(vertex) != 2:
                    raise PolicyError("%s[%d] must be a (lat_e7, lon_e7) pair" % (rw, v))
                try:
                    geo.check_coord(vertex[0], vertex[1])
                except InvalidMessage as e:
                    raise PolicyError("%s[%d]: %s" % (rw, v, e)) from None


def check_band(band, where="band"):
    """TimeBand.validate: band_id >= 1, days_mask in 1..127, 0 <= start < end <= 1440."""
    _need_int(where, "band_id", band.band_id, 1, _U32)
    _need_int(where, "days_mask", band.days_mask, 1, 128)
    _need_int(where, "start_min", band.start_min, 0, 1440)
    _need_int(where, "end_min", band.end_min, 1, 1441)
    if band.start_min >= band.end_min:
        raise PolicyError(
            "%s: start_min %d must be < end_min %d" % (where, band.start_min, band.end_min)
        )


def check_rate(rate, where="rate"):
    """Rate.validate: ids in [0, 2^32) and 0 <= rate < 2^32."""
    _need_int(where, "zone_id", rate.zone_id, 0, _U32)
    _need_int(where, "band_id", rate.band_id, 0, _U32)
    _need_int(where, "vehicle_class", rate.vehicle_class, 0, _U32)
    _need_int(where, "rate_micro_per_km", rate.rate_micro_per_km, 0, _U32)


def check_policy(p):
    """TariffPolicy.validate's checks (see there); raises PolicyError naming the field."""
    _need_int("", "version", p.version, 0, _U32)
    _need_int("", "valid_from", p.valid_from, 0)
    _need_int("", "valid_until", p.valid_until, 0)
    if p.valid_from >= p.valid_until:
        raise PolicyError("valid_from %d must be < valid_until %d" % (p.valid_from, p.valid_until))
    c = p.currency
    if not isinstance(c, str) or len(c) != 3 or not all("A" <= ch <= "Z" for ch in c):
        raise PolicyError("currency must be a 3-letter ISO 4217 code, got %r" % (c,))
    _check_offsets(p)
    zone_ids = _check_zones(p)
    band_ids = _check_bands(p)
    _check_rates(p, zone_ids, band_ids)


def _check_offsets(p):
    _need_seq("utc_offsets", p.utc_offsets, 1)
    prev = None
    for i, tr in enumerate(p.utc_offsets):
        w = "utc_offsets[%d]" % i
        if not isinstance(tr, (list, tuple)) or len(tr) != 2:
            raise PolicyError("%s must be a (from_unix_s, offset_s) pair" % w)
        _need_int(w, "from_unix_s", tr[0], -(1 << 62))
        _need_int(w, "offset_s", tr[1], -_MAX_OFFSET_S, _MAX_OFFSET_S + 1)
        if tr[1] % 60:
            raise PolicyError("%s.offset_s = %d is not a whole minute" % (w, tr[1]))
        if prev is not None and tr[0] <= prev:
            raise PolicyError("%s: transitions must be strictly increasing" % w)
        prev = tr[0]
    if p.utc_offsets[0][0] > p.valid_from:
        raise PolicyError(
            "utc_offsets[0] starts at %d, after valid_from %d" % (p.utc_offsets[0][0], p.valid_from)
        )


def _check_zones(p):
    _need_seq("zones", p.zones, 0)
    ids = {}
    for i, z in enumerate(p.zones):
        w = "zones[%d]" % i
        if not isinstance(z, Zone):
            raise PolicyError("%s must be a Zone" % w)
        check_zone(z, w)
        if z.zone_id in ids:
            raise PolicyError("%s: duplicate zone_id %d" % (w, z.zone_id))
        ids[z.zone_id] = True
        z._build_bboxes()
    ids[0] = True
    return ids


def _check_bands(p):
    _need_seq("bands", p.bands, 0)
    ids = {0: True}
    for i, b in enumerate(p.bands):
        w = "bands[%d]" % i
        if not isinstance(b, TimeBand):
            raise PolicyError("%s must be a TimeBand" % w)
        check_band(b, w)
        ids[b.band_id] = True  # repeated ids are allowed: the band is the union
    return ids


def _check_rates(p, zone_ids, band_ids):
    _need_seq("rates", p.rates, 1)
    seen = {}
    classes = {}
    for i, r in enumerate(p.rates):
        w = "rates[%d]" % i
        if not isinstance(r, Rate):
            raise PolicyError("%s must be a Rate" % w)
        check_rate(r, w)
        if r.zone_id not in zone_ids:
            raise PolicyError("%s: unknown zone_id %d" % (w, r.zone_id))
        if r.band_id not in band_ids:
            raise PolicyError("%s: unknown band_id %d" % (w, r.band_id))
        key = (r.zone_id, r.band_id, r.vehicle_class)
        if key in seen:
            raise PolicyError("%s: duplicate rate for zone %d band %d class %d" % ((w,) + key))
        seen[key] = True
        classes[r.vehicle_class] = True
    # Sorted so the reported gap does not depend on dict order (MicroPython's differs).
    for cls in sorted(classes):
        for zid in sorted(zone_ids):
            for bid in sorted(band_ids):
                if (zid, bid, cls) not in seen:
                    raise PolicyError(
                        "rates incomplete: no rate for zone %d band %d class %d" % (zid, bid, cls)
                    )


# --- schedules ---------------------------------------------------------------------------------


def next_band_change(policy, t):
    """The first Unix second u > t at which ``policy.band_at(u) != policy.band_at(t)``, or
    ``valid_until`` if the band stays the same until the policy expires.

    For t before valid_from the answer is valid_from. Candidates are the instants where a
    band window opens or closes in local time, local midnights (weekday changes) and UTC
    offset transitions, so firmware can cut a segment exactly at a band boundary.
    """
    if not is_int(t):
        raise PolicyError("t must be an int, got %r" % (t,))
    if t < policy.valid_from:
        return policy.valid_from
    policy._need_covered(t)
    policy._index()
    bounds = policy._bounds
    trs = policy.utc_offsets
    until = policy.valid_until
    b0 = policy.band_at(t)
    u = t
    regime_start = t  # start of the scan within the current UTC offset
    while True:
        i = policy._offset_index(u)
        next_tr = trs[i + 1][0] if i + 1 < len(trs) else None
        local = u + trs[i][1]
        sod = local % _DAY_S
        nb = _DAY_S
        for b in bounds:
            if b > sod:
                nb = b
                break
        cand = u + (nb - sod)
        if next_tr is not None and next_tr <= cand:
            cand = next_tr
            regime_start = cand
        elif cand - regime_start > _WEEK_S:
            # A whole week under one offset without a change: the weekly pattern repeats, so
            # nothing changes before the next offset transition.
            if next_tr is None:
                return until
            cand = next_tr
            regime_start = cand
        if cand >= until:
            return until
        if policy._band_unchecked(cand) != b0:
            return cand
        u = cand


def eu_utc_offsets(first_year, last_year, standard_offset_s=3600):
    """UTC offset transitions for EU summer time, years first_year..last_year inclusive.

    Starts with standard time at 00:00 UTC on 1 January of first_year; summer time (+1 h)
    runs from 01:00 UTC on the last Sunday of March to 01:00 UTC on the last Sunday of
    October (Directive 2000/84/EC). 3600 gives CET/CEST, 0 WET/WEST, 7200 EET/EEST.
    """

    def last_sunday_0100(y, m):
        last = days_from_civil(y, m, days_in_month(y, m))
        back = ((last + 3) % 7 - 6) % 7  # weekday 6 = Sunday
        return (last - back) * _DAY_S + 3600

    out = [(days_from_civil(first_year, 1, 1) * _DAY_S, standard_offset_s)]
    for y in range(first_year, last_year + 1):
        out.append((last_sunday_0100(y, 3), standard_offset_s + 3600))
        out.append((last_sunday_0100(y, 10), standard_offset_s))
    return out
