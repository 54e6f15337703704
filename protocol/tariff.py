"""The tariff model: zones × time bands × vehicle classes → rate, and the one pricing rule.

A :class:`TariffPolicy` says what a kilometre costs where and when. Lookups are pure and
deterministic so that the OBU (MicroPython) and the backend (CPython) price a segment
identically:

- ``zone_at``: zones are tried in list order and the first containing zone wins (list a
  congestion zone before the city zone around it); outside every zone is zone 0.
  Containment uses geo.point_in_polygon and its boundary rule (a boundary point belongs to
  the zone east of it, or north of it on an east–west edge).
- ``band_at``: local time = UTC + the policy's explicit UTC offset in force (the OBU has no tz
  database); bands are tried in list order, first match wins; no match is band 0.
- ``rate``: rates are complete per vehicle class, checked by ``validate``.
- :func:`price_micro`: floor(dist_m × rate_micro_per_km / 1000).

The CBOR wire form lives in protocol/messages.py, which builds these objects and must call
``validate()`` before use. Constructors only store their arguments. The validation rules,
``next_band_change`` and ``eu_utc_offsets`` are in protocol/tariff_rules.py (the OBU prices on
every fix with this module alone); the names here call into it.
"""

from protocol import geo
from protocol.compat import const, is_int
from protocol.errors import NoTariffCell, PolicyError

_DAY_S = const(86400)


class Zone:
    """A charging zone: ``polygons`` is a list of polygons, each [outer ring, hole, …],
    each ring a list of (lat_e7, lon_e7) vertices, implicitly closed. ``zone_id`` >= 1."""

    def __init__(self, zone_id: int, name: str, polygons: list):
        self.zone_id = zone_id
        self.name = name
        self.polygons = polygons
        self._bbox = None  # type: tuple | None
        self._poly_bboxes = None  # type: list | None

    def validate(self, where="zone"):
        """Raise PolicyError unless id, name and every ring are well-formed."""
        from protocol.tariff_rules import check_zone

        check_zone(self, where)

    def _build_bboxes(self):
        # Holes lie inside the outer ring, so the outer ring's box bounds the polygon.
        boxes = [geo.bbox_of(polygon[0]) for polygon in self.polygons]
        lat0, lon0, lat1, lon1 = boxes[0]
        for b in boxes:
            lat0 = min(lat0, b[0])
            lon0 = min(lon0, b[1])
            lat1 = max(lat1, b[2])
            lon1 = max(lon1, b[3])
        self._poly_bboxes = boxes
        self._bbox = (lat0, lon0, lat1, lon1)
        return self._bbox

    def bbox(self):
        """``(min_lat_e7, min_lon_e7, max_lat_e7, max_lon_e7)`` of the zone."""
        b = self._bbox
        return b if b is not None else self._build_bboxes()

    def contains(self, lat_e7, lon_e7):
        """True if the point lies in one of the zone's polygons (boxes tested first)."""
        b = self._bbox
        if b is None:
            b = self._build_bboxes()
        if not (b[0] <= lat_e7 <= b[2] and b[1] <= lon_e7 <= b[3]):
            return False
        boxes = self._poly_bboxes
        polygons = self.polygons
        for k in range(len(polygons)):
            pb = boxes[k]  # type: ignore[index]
            if (
                pb[0] <= lat_e7 <= pb[2]
                and pb[1] <= lon_e7 <= pb[3]
                and geo.point_in_polygon(lat_e7, lon_e7, polygons[k])
            ):
                return True
        return False


class TimeBand:
    """Local-time window ``[start_min, end_min)`` on the days of ``days_mask``.

    days_mask bit 0 = Monday … bit 6 = Sunday. Several TimeBand entries may share a band_id:
    the band is then their union (e.g. a peak band with a morning and an evening window, or a
    night band 22:00–24:00 plus 00:00–06:00, since a window cannot span midnight).
    """

    def __init__(self, band_id: int, days_mask: int, start_min: int, end_min: int):
        self.band_id = band_id
        self.days_mask = days_mask
        self.start_min = start_min
        self.end_min = end_min

    def validate(self, where="band"):
        """Raise PolicyError unless band_id >= 1, days_mask in 1..127, 0 <= start < end <= 1440."""
        from protocol.tariff_rules import check_band

        check_band(self, where)


class Rate:
    """Price per km in micro-units of the policy currency for one (zone, band, class) cell."""

    def __init__(self, zone_id: int, band_id: int, vehicle_class: int, rate_micro_per_km: int):
        self.zone_id = zone_id
        self.band_id = band_id
        self.vehicle_class = vehicle_class
        self.rate_micro_per_km = rate_micro_per_km

    def validate(self, where="rate"):
        """Raise PolicyError unless ids are in [0, 2^32) and 0 <= rate < 2^32."""
        from protocol.tariff_rules import check_rate

        check_rate(self, where)


class TariffPolicy:
    """A versioned tariff valid for Unix seconds ``[valid_from, valid_until)``.

    ``utc_offsets``: list of (from_unix_s, offset_s), strictly increasing in from_unix_s, the
    first at or before valid_from; offset_s is a whole number of minutes within ±18 h.
    """

    def __init__(
        self,
        version: int,
        valid_from: int,
        valid_until: int,
        utc_offsets: list,
        zones: list,
        bands: list,
        rates: list,
        currency: str = "EUR",
    ):
        self.version = version
        self.valid_from = valid_from
        self.valid_until = valid_until
        self.utc_offsets = utc_offsets
        self.zones = zones
        self.bands = bands
        self.rates = rates
        self.currency = currency
        self._rate_map = None  # type: dict | None
        self._bounds = None  # type: list | None

    # --- validation ----------------------------------------------------------------------
    def validate(self):
        """Raise PolicyError (with the offending field's path) unless the policy is usable.

        Checks bounds, unique zone ids, sorted offset transitions covering valid_from, rates
        unique per (zone, band, class) and referring to defined zones/bands, and completeness:
        every class that has a rate has one for every (zone incl. 0, band incl. 0). The rules
        live in protocol/tariff_rules.py, imported here: the OBU validates a policy when it
        installs or loads it, not while it prices.
        """
        from protocol.tariff_rules import check_policy

        check_policy(self)
        self._rate_map = None
        self._bounds = None
        self._index()

    # --- lookup tables (built once; validate() rebuilds them) ------------------------------
    def _index(self):
        m = self._rate_map
        if m is None:
            m = {}
            for r in self.rates:
                m[(r.zone_id, r.band_id, r.vehicle_class)] = r.rate_micro_per_km
            # Seconds of the local day at which some band opens or closes; 0 is always one
            # (the weekday changes at midnight).
            b = {0: True}
            for band in self.bands:
                b[(band.start_min * 60) % _DAY_S] = True
                b[(band.end_min * 60) % _DAY_S] = True
            self._bounds = sorted(b)
            self._rate_map = m
        return m

    # --- time ----------------------------------------------------------------------------
    def covers(self, t):
        """True if Unix second ``t`` is within [valid_from, valid_until)."""
        return self.valid_from <= t < self.valid_until

    def _need_covered(self, t):
        if not is_int(t):
            raise PolicyError("t must be an int, got %r" % (t,))
        if not self.valid_from <= t < self.valid_until:
            raise NoTariffCell(
                "t = %d outside the policy's validity [%d, %d)"
                % (t, self.valid_from, self.valid_until)
            )

    def _offset_index(self, t):
        # Binary search: last transition with from_unix_s <= t (validate ensures index 0
        # qualifies for every covered t).
        trs = self.utc_offsets
        lo = 0
        hi = len(trs)
        while hi - lo > 1:
            mid = (lo + hi) >> 1
            if trs[mid][0] <= t:
                lo = mid
            else:
                hi = mid
        return lo

    def utc_offset_at(self, t):
        """UTC offset in seconds in force at Unix second ``t`` (local = UTC + offset)."""
        self._need_covered(t)
        return self.utc_offsets[self._offset_index(t)][1]

    def local_time(self, t):
        """``(weekday, minute_of_day)`` in local time at ``t``; weekday 0 = Monday."""
        self._need_covered(t)
        local = t + self.utc_offsets[self._offset_index(t)][1]
        days = local // _DAY_S
        return ((days + 3) % 7, (local - days * _DAY_S) // 60)

    def _band_local(self, weekday, minute):
        for b in self.bands:
            if (b.days_mask >> weekday) & 1 and b.start_min <= minute < b.end_min:
                return b.band_id
        return 0

    def _band_unchecked(self, t):
        # local_time without the checks or the tuple: band_at runs per fix on the OBU.
        local = t + self.utc_offsets[self._offset_index(t)][1]
        days = local // _DAY_S
        return self._band_local((days + 3) % 7, (local - days * _DAY_S) // 60)

    def band_at(self, t):
        """Time band in force at ``t``: the first matching TimeBand's id, else 0."""
        self._need_covered(t)
        return self._band_unchecked(t)

    # --- space ---------------------------------------------------------------------------
    def zone_at(self, lat_e7, lon_e7):
        """Zone at a position: the first zone in list order that contains it, else 0."""
        geo.check_coord(lat_e7, lon_e7)
        for z in self.zones:
            if z.contains(lat_e7, lon_e7):
                return z.zone_id
        return 0

    def cell_at(self, lat_e7, lon_e7, t):
        """Tariff cell ``(zone_id, band_id)`` at a position and Unix second."""
        return (self.zone_at(lat_e7, lon_e7), self.band_at(t))

    def class_rates(self, vehicle_class):
        """The rates (micro-units per km) of one vehicle class, in no particular cell order."""
        return [v for k, v in self._index().items() if k[2] == vehicle_class]

    def for_obu(self, vehicle_class):
        """The OBU's form of a validated policy, which is not validated again (PolicyStore):
        only ``vehicle_class``'s rates are kept — an OBU prices one class, and the Rate
        objects of the others are heap it never uses: ``rates`` is emptied and :meth:`rate`
        and :meth:`class_rates` answer from the index — and every zone's rings are packed
        flat (geo.pack_ring: 8 bytes a vertex instead of 40 at 64 bits), their boxes made
        first. Lookups answer as before; the policy id, the signed payload's hash, does not
        change."""
        self._rate_map = {k: v for k, v in self._index().items() if k[2] == vehicle_class}
        self.rates = []
        for z in self.zones:
            z.bbox()
            z.polygons = [[geo.pack_ring(r) for r in polygon] for polygon in z.polygons]

    def rate(self, zone_id, band_id, vehicle_class):
        """Rate in micro-units per km for a cell and vehicle class; NoTariffCell if none."""
        r = self._index().get((zone_id, band_id, vehicle_class))
        if r is None:
            raise NoTariffCell(
                "no rate for zone %r band %r class %r" % (zone_id, band_id, vehicle_class)
            )
        return r


def next_band_change(policy, t):
    """The first Unix second u > t at which ``policy.band_at(u) != policy.band_at(t)``, or
    ``valid_until`` if the band stays the same until the policy expires (see
    protocol.tariff_rules.next_band_change)."""
    from protocol.tariff_rules import next_band_change as nbc

    return nbc(policy, t)


def price_micro(dist_m, rate_micro_per_km):
    """Price of ``dist_m`` metres at ``rate_micro_per_km``, in micro-units.

    THE rounding rule, identical in firmware and backend: floor(dist_m × rate / 1000) in exact
    integer arithmetic. Rounding down means a segment is never overcharged; the loss is under
    one micro-unit per segment.
    """
    if not is_int(dist_m) or dist_m < 0:
        raise PolicyError("dist_m must be a non-negative int, got %r" % (dist_m,))
    if not is_int(rate_micro_per_km) or rate_micro_per_km < 0:
        raise PolicyError(
            "rate_micro_per_km must be a non-negative int, got %r" % (rate_micro_per_km,)
        )
    return (dist_m * rate_micro_per_km) // 1000


def eu_utc_offsets(first_year, last_year, standard_offset_s=3600):
    """UTC offset transitions for EU summer time, years first_year..last_year inclusive (see
    protocol.tariff_rules.eu_utc_offsets)."""
    from protocol.tariff_rules import eu_utc_offsets as euo

    return euo(first_year, last_year, standard_offset_s)
