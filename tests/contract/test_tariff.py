from protocol import tariff, timeutil
from protocol.errors import InvalidMessage, NoTariffCell, PolicyError
from protocol.tariff import Rate, TariffPolicy, TimeBand, Zone
from tests.contract.support import raises

# A realistic policy: a city zone with a park enclave (a hole, so zone 0) and a congestion
# zone inside the city, listed first so it wins; a peak band Mon–Fri 07:00–09:30 and
# 16:00–19:00 local and a night band 22:00–06:00 every day; CET/CEST for 2026.
CONGESTION = 1
CITY = 2
PEAK = 1
NIGHT = 2
CAR = 1
VAN = 2

CITY_RING = [
    (507800000, 43000000),
    (507700000, 43800000),
    (508200000, 44600000),
    (508900000, 44800000),
    (509300000, 44200000),
    (509400000, 43400000),
    (509000000, 42800000),
    (508300000, 42600000),
]
PARK_HOLE = [(508000000, 43900000), (508000000, 44100000), (508150000, 44100000),
             (508150000, 43900000)]  # fmt: skip
CONGESTION_RING = [
    (508380000, 43420000),
    (508350000, 43620000),
    (508500000, 43720000),
    (508640000, 43560000),
    (508560000, 43380000),
]

# micro-EUR per km for cars: zone -> (off-peak, peak, night); vans pay double.
CAR_RATES = {0: (20000, 30000, 10000), CITY: (50000, 80000, 20000),
             CONGESTION: (150000, 250000, 40000)}  # fmt: skip

T_2026 = 1767225600  # 2026-01-01T00:00:00Z
T_2027 = 1798761600  # 2027-01-01T00:00:00Z
SPRING = 1774746000  # 2026-03-29T01:00:00Z, CET -> CEST
AUTUMN = 1792890000  # 2026-10-25T01:00:00Z, CEST -> CET


def _utc(y, mo, d, h=0, mi=0, s=0):
    return timeutil.unix_from_civil(y, mo, d, h, mi, s)


def make_policy():
    zones = [
        Zone(CONGESTION, "congestion", [[list(CONGESTION_RING)]]),
        Zone(CITY, "city", [[list(CITY_RING), list(PARK_HOLE)]]),
    ]
    bands = [
        TimeBand(PEAK, 0b0011111, 7 * 60, 9 * 60 + 30),
        TimeBand(PEAK, 0b0011111, 16 * 60, 19 * 60),
        TimeBand(NIGHT, 0b1111111, 22 * 60, 24 * 60),
        TimeBand(NIGHT, 0b1111111, 0, 6 * 60),
    ]
    rates = []
    for zone_id in (0, CITY, CONGESTION):
        off, peak, night = CAR_RATES[zone_id]
        for band_id, r in ((0, off), (PEAK, peak), (NIGHT, night)):
            rates.append(Rate(zone_id, band_id, CAR, r))
            rates.append(Rate(zone_id, band_id, VAN, 2 * r))
    offsets = tariff.eu_utc_offsets(2026, 2026, 3600)
    return TariffPolicy(7, T_2026, T_2027, offsets, zones, bands, rates, "EUR")


def _valid_policy():
    p = make_policy()
    p.validate()
    return p


def test_eu_offsets_for_2026_switch_on_the_last_sundays_at_0100_utc():
    assert tariff.eu_utc_offsets(2026, 2026) == [(T_2026, 3600), (SPRING, 7200), (AUTUMN, 3600)]
    assert timeutil.civil_from_unix(SPRING)[6] == 6  # a Sunday
    assert timeutil.civil_from_unix(AUTUMN)[6] == 6
    both = tariff.eu_utc_offsets(2026, 2027, 0)
    assert len(both) == 5 and both[3] == (_utc(2027, 3, 28, 1), 3600)


def test_realistic_policy_validates():
    p = _valid_policy()
    assert p.covers(T_2026) and p.covers(T_2027 - 1)
    assert not p.covers(T_2026 - 1) and not p.covers(T_2027)


# --- zones --------------------------------------------------------------------------------
def test_zone_lookup_first_match_wins_and_holes_are_zone_0():
    p = _valid_policy()
    assert p.zone_at(508500000, 43550000) == CONGESTION  # also inside the city ring
    assert p.zone_at(509000000, 43200000) == CITY
    assert p.zone_at(508070000, 44000000) == 0  # the park enclave
    assert p.zone_at(510000000, 43500000) == 0  # north of the city
    assert p.zone_at(-338688000, 1512093000) == 0  # far away


def test_zone_boundary_points_follow_the_east_north_rule():
    p = _valid_policy()
    # Midpoint of the congestion zone's south-west edge: its interior lies to the east.
    assert p.zone_at(508365000, 43520000) == CONGESTION
    # Midpoint of its north-east edge: east of it is the city.
    assert p.zone_at(508570000, 43640000) == CITY
    # The park's west edge belongs to the park (zone 0), its east edge to the city.
    assert p.zone_at(508070000, 43900000) == 0
    assert p.zone_at(508070000, 44100000) == CITY


def _two_zone_policy(west_first):
    west = Zone(10, "west", [[[(0, 0), (0, 1000), (1000, 1200), (1000, 0)]]])
    east = Zone(20, "east", [[[(0, 1000), (0, 2000), (1000, 2000), (1000, 1200)]]])
    zones = [west, east] if west_first else [east, west]
    rates = [Rate(z, 0, CAR, 1000) for z in (0, 10, 20)]
    p = TariffPolicy(1, 0, 1000, [(0, 0)], zones, [], rates)
    p.validate()
    return p


def test_adjacent_zones_claim_a_shared_edge_once_whatever_their_order():
    for west_first in (True, False):
        p = _two_zone_policy(west_first)
        for lat in range(0, 1000, 50):
            # Points on the slanted shared edge: lon = 1000 + lat / 5.
            assert p.zone_at(lat, 1000 + lat // 5) == 20, (west_first, lat)
        assert p.zone_at(500, 500) == 10 and p.zone_at(500, 1500) == 20
        assert p.zone_at(1000, 1200) == 0  # the top vertex: north of both


def test_the_obus_form_keeps_one_class_and_packs_the_rings_answering_alike():
    """TariffPolicy.for_obu (the policy store's form): the unit's class's rates only, the
    zones' rings packed flat, every lookup as the full policy answers it."""

    full = _valid_policy()
    obu = _valid_policy()
    obu.for_obu(CAR)
    for z in obu.zones:
        for polygon in z.polygons:
            assert all(type(r[0]) is int and len(r) % 2 == 0 for r in polygon)
    assert obu.rates == [] and sorted(obu.class_rates(CAR)) == sorted(full.class_rates(CAR))
    raises(NoTariffCell, obu.rate, 0, 0, CAR + 1)
    assert full.rate(0, 0, CAR + 1) >= 0
    # Lookups over a grid across the city, the congestion zone and the park, and on edges.
    seen = set()
    for lat in range(507800000, 509400000, 40000):
        for lon in range(42800000, 44600000, 40000):
            zone = full.zone_at(lat, lon)
            assert obu.zone_at(lat, lon) == zone, (lat, lon)
            seen.add(zone)
    assert seen == {0, CITY, CONGESTION}
    for lat, lon in ((508365000, 43520000), (508570000, 43640000), (508070000, 43900000)):
        assert obu.zone_at(lat, lon) == full.zone_at(lat, lon)
    assert obu.cell_at(508500000, 43550000, T_2026 + 3600) == full.cell_at(
        508500000, 43550000, T_2026 + 3600
    )


# --- time ---------------------------------------------------------------------------------
def test_local_time_and_bands_across_spring_forward():
    p = _valid_policy()
    assert p.utc_offset_at(SPRING - 1) == 3600
    assert p.utc_offset_at(SPRING) == 7200
    assert p.local_time(SPRING - 1) == (6, 1 * 60 + 59)  # Sunday 01:59 CET
    assert p.local_time(SPRING) == (6, 3 * 60)  # Sunday 03:00 CEST
    assert p.band_at(SPRING - 1) == NIGHT and p.band_at(SPRING) == NIGHT
    # The first weekday in CEST: 07:00 local is 05:00Z.
    assert p.band_at(_utc(2026, 3, 30, 4, 59, 59)) == 0
    assert p.band_at(_utc(2026, 3, 30, 5, 0, 0)) == PEAK
    # The Monday before, in CET, 07:00 local is 06:00Z.
    assert p.band_at(_utc(2026, 3, 23, 5, 59, 59)) == 0
    assert p.band_at(_utc(2026, 3, 23, 6, 0, 0)) == PEAK


def test_local_time_and_bands_across_fall_back():
    p = _valid_policy()
    assert p.local_time(AUTUMN - 1) == (6, 2 * 60 + 59)  # 02:59:59 CEST
    assert p.local_time(AUTUMN) == (6, 2 * 60)  # 02:00 CET again
    assert p.utc_offset_at(AUTUMN) == 3600
    # Friday 2026-10-23 in CEST: the evening peak ends at 19:00 local = 17:00Z.
    assert p.band_at(_utc(2026, 10, 23, 16, 59, 59)) == PEAK
    assert p.band_at(_utc(2026, 10, 23, 17, 0, 0)) == 0
    # Friday 2026-10-30 in CET: 19:00 local = 18:00Z.
    assert p.band_at(_utc(2026, 10, 30, 17, 59, 59)) == PEAK
    assert p.band_at(_utc(2026, 10, 30, 18, 0, 0)) == 0


def test_band_windows_are_half_open_and_weekday_bound():
    p = _valid_policy()
    # Tuesday 2026-01-06, CET.
    assert p.band_at(_utc(2026, 1, 6, 8, 29, 59)) == PEAK  # 09:29:59 local
    assert p.band_at(_utc(2026, 1, 6, 8, 30, 0)) == 0  # 09:30 local
    assert p.band_at(_utc(2026, 1, 6, 21, 0, 0)) == NIGHT  # 22:00 local
    assert p.band_at(_utc(2026, 1, 6, 4, 59, 59)) == NIGHT  # 05:59:59 local
    # Saturday 2026-01-10 08:00 local: no peak at weekends.
    assert p.band_at(_utc(2026, 1, 10, 7, 0, 0)) == 0


def test_cells_and_rates():
    p = _valid_policy()
    t = _utc(2026, 1, 6, 7, 0, 0)  # Tuesday 08:00 CET
    assert p.cell_at(508500000, 43550000, t) == (CONGESTION, PEAK)
    assert p.rate(CONGESTION, PEAK, CAR) == 250000
    assert p.rate(CONGESTION, PEAK, VAN) == 500000
    assert p.rate(0, 0, CAR) == 20000
    assert p.cell_at(510000000, 43500000, _utc(2026, 1, 10, 12)) == (0, 0)
    raises(NoTariffCell, p.rate, CONGESTION, PEAK, 3)  # no such vehicle class
    raises(NoTariffCell, p.rate, 99, 0, CAR)


def test_lookups_outside_the_validity_raise_no_tariff_cell():
    p = _valid_policy()
    for fn in (p.band_at, p.local_time, p.utc_offset_at):
        raises(NoTariffCell, fn, T_2027)
        raises(NoTariffCell, fn, T_2026 - 1)
    raises(NoTariffCell, p.cell_at, 508500000, 43550000, T_2027)
    raises(InvalidMessage, p.zone_at, 900000001, 0)


# --- validation ---------------------------------------------------------------------------
def _rejects(mutate, fragment):
    p = make_policy()
    mutate(p)
    e = raises(PolicyError, p.validate)
    assert fragment in str(e), (fragment, str(e))


def _set(obj, name, value):
    setattr(obj, name, value)


def test_validation_rejects_bad_header_fields():
    _rejects(lambda p: _set(p, "version", -1), "version")
    _rejects(lambda p: _set(p, "version", True), "version must be an int")
    _rejects(lambda p: _set(p, "valid_until", T_2026), "valid_from")
    _rejects(lambda p: _set(p, "valid_from", -5), "valid_from")
    _rejects(lambda p: _set(p, "currency", "eur"), "currency")
    _rejects(lambda p: _set(p, "currency", "EURO"), "currency")


def test_validation_rejects_bad_utc_offsets():
    _rejects(lambda p: _set(p, "utc_offsets", []), "utc_offsets has 0 entries")
    _rejects(lambda p: _set(p, "utc_offsets", [(T_2026 + 1, 3600)]), "after valid_from")
    _rejects(
        lambda p: _set(p, "utc_offsets", [(T_2026, 3600), (T_2026, 7200)]), "strictly increasing"
    )
    _rejects(
        lambda p: _set(p, "utc_offsets", [(SPRING, 7200), (T_2026, 3600)]), "strictly increasing"
    )
    _rejects(lambda p: _set(p, "utc_offsets", [(T_2026, 3630)]), "whole minute")
    _rejects(lambda p: _set(p, "utc_offsets", [(T_2026, 19 * 3600)]), "offset_s")
    _rejects(lambda p: _set(p, "utc_offsets", [(T_2026,)]), "pair")


def test_validation_rejects_bad_zones():
    _rejects(lambda p: _set(p.zones[0], "zone_id", 0), "zones[0].zone_id")
    _rejects(lambda p: _set(p.zones[1], "zone_id", CONGESTION), "duplicate zone_id")
    _rejects(lambda p: _set(p.zones[0], "name", ""), "zones[0].name")
    _rejects(lambda p: _set(p.zones[0], "polygons", []), "zones[0].polygons has 0")
    _rejects(lambda p: _set(p.zones[1], "polygons", [[CITY_RING[:2]]]), "has 2 entries")
    _rejects(lambda p: _set(p.zones[0], "polygons", [[[(900000001, 0), (0, 1), (1, 1)]]]), "lat_e7")
    _rejects(
        lambda p: _set(p.zones[0], "polygons", [[[(0, 0), (0, -1800000001), (1, 1)]]]), "lon_e7"
    )
    _rejects(lambda p: _set(p.zones[0], "polygons", [[[(0, 0, 0), (0, 1), (1, 1)]]]), "pair")
    _rejects(lambda p: p.zones.append("not a zone"), "zones[2] must be a Zone")


def test_validation_rejects_bad_bands():
    _rejects(lambda p: _set(p.bands[0], "band_id", 0), "bands[0].band_id")
    _rejects(lambda p: _set(p.bands[0], "days_mask", 0), "days_mask")
    _rejects(lambda p: _set(p.bands[0], "days_mask", 128), "days_mask")
    _rejects(lambda p: _set(p.bands[1], "start_min", 19 * 60), "start_min 1140 must be < end_min")
    _rejects(lambda p: _set(p.bands[2], "end_min", 1441), "end_min")


def test_validation_rejects_bad_rates():
    _rejects(lambda p: _set(p.rates[0], "rate_micro_per_km", -1), "rate_micro_per_km")
    _rejects(lambda p: _set(p.rates[0], "rate_micro_per_km", 1 << 32), "rate_micro_per_km")
    _rejects(lambda p: _set(p.rates[0], "rate_micro_per_km", True), "must be an int")
    _rejects(lambda p: p.rates.append(Rate(0, 0, CAR, 1)), "duplicate rate for zone 0 band 0")
    _rejects(lambda p: p.rates.append(Rate(5, 0, CAR, 1)), "unknown zone_id 5")
    _rejects(lambda p: p.rates.append(Rate(0, 9, CAR, 1)), "unknown band_id 9")
    # A class with a single rate is incomplete in every other cell.
    _rejects(lambda p: p.rates.append(Rate(0, 0, 3, 1)), "no rate for zone 0 band 1 class 3")
    _rejects(lambda p: p.rates.pop(), "rates incomplete")
    _rejects(lambda p: _set(p, "rates", []), "rates has 0 entries")


def test_validated_policy_rebuilds_its_rate_table():
    p = _valid_policy()
    assert p.rate(0, 0, CAR) == 20000
    p.rates[0].rate_micro_per_km = 21000
    p.validate()
    assert p.rate(0, 0, CAR) == 21000


# --- pricing ------------------------------------------------------------------------------
def test_price_rounds_down_exactly():
    assert tariff.price_micro(0, 250000) == 0
    assert tariff.price_micro(1, 999) == 0  # 0.999 micro-units
    assert tariff.price_micro(1, 1000) == 1
    assert tariff.price_micro(1500, 333) == 499  # 499.5
    assert tariff.price_micro(1234, 80000) == 98720
    assert tariff.price_micro(3000000, 4294967295) == 12884901885000  # 3,000 km at the cap
    raises(PolicyError, tariff.price_micro, -1, 1000)
    raises(PolicyError, tariff.price_micro, 1, -1000)
    raises(PolicyError, tariff.price_micro, True, 1000)
    raises(PolicyError, tariff.price_micro, 10, 2.5)


# --- next band change ---------------------------------------------------------------------
def test_next_band_change_within_a_day():
    p = _valid_policy()
    # Monday 2026-01-05 06:00 CET (night ends): next is 07:00 local = 06:00Z.
    assert tariff.next_band_change(p, _utc(2026, 1, 5, 5, 0, 0)) == _utc(2026, 1, 5, 6, 0, 0)
    # 08:00 local in the morning peak: 09:30 local.
    assert tariff.next_band_change(p, _utc(2026, 1, 5, 7, 0, 0)) == _utc(2026, 1, 5, 8, 30, 0)
    # Friday 18:00 local: 19:00 local, then 22:00 night.
    assert tariff.next_band_change(p, _utc(2026, 1, 9, 17, 0, 0)) == _utc(2026, 1, 9, 18, 0, 0)
    assert tariff.next_band_change(p, _utc(2026, 1, 9, 18, 0, 0)) == _utc(2026, 1, 9, 21, 0, 0)


def test_next_band_change_across_midnight_and_the_week_end():
    p = _valid_policy()
    # Saturday 23:00 local: the night band continues past midnight, ends Sunday 06:00.
    assert tariff.next_band_change(p, _utc(2026, 1, 10, 22)) == _utc(2026, 1, 11, 5)
    # Sunday 06:00 local: nothing until 22:00 (no peak on Sundays).
    assert tariff.next_band_change(p, _utc(2026, 1, 11, 5)) == _utc(2026, 1, 11, 21)
    # Sunday 22:00 local: night until Monday 06:00, then the Monday peak at 07:00.
    assert tariff.next_band_change(p, _utc(2026, 1, 11, 21)) == _utc(2026, 1, 12, 5)
    assert tariff.next_band_change(p, _utc(2026, 1, 12, 5)) == _utc(2026, 1, 12, 6)


def test_next_band_change_across_dst_transitions():
    p = _valid_policy()
    # Sunday 2026-03-29 01:30 CET, night: the clock jumps at 01:00Z, the night band still
    # ends at 06:00 local, which is now 04:00Z.
    assert tariff.next_band_change(p, _utc(2026, 3, 29, 0, 30)) == _utc(2026, 3, 29, 4)
    # Sunday 2026-10-25 05:30 CET: 06:00 CET = 05:00Z.
    assert tariff.next_band_change(p, _utc(2026, 10, 25, 4, 30)) == _utc(2026, 10, 25, 5)
    # Saturday 2026-10-24 23:30 CEST: night until Sunday 06:00 CET = 05:00Z, across the
    # fall-back transition at 01:00Z.
    assert tariff.next_band_change(p, _utc(2026, 10, 24, 21, 30)) == _utc(2026, 10, 25, 5)


def test_next_band_change_at_a_transition_that_itself_changes_the_band():
    # A band 03:00–04:00 local: on the spring-forward night local time jumps into it.
    rates = [Rate(0, b, CAR, 1) for b in (0, 5)]
    offsets = tariff.eu_utc_offsets(2026, 2026)
    p = TariffPolicy(1, T_2026, T_2027, offsets, [], [TimeBand(5, 127, 180, 240)], rates)
    p.validate()
    assert p.band_at(SPRING - 1) == 0 and p.band_at(SPRING) == 5
    assert tariff.next_band_change(p, _utc(2026, 3, 29, 0, 30)) == SPRING
    assert tariff.next_band_change(p, SPRING) == SPRING + 3600


def test_next_band_change_when_the_band_never_changes_is_valid_until():
    offsets = tariff.eu_utc_offsets(2026, 2026)
    no_bands = TariffPolicy(1, T_2026, T_2027, offsets, [], [], [Rate(0, 0, CAR, 1)])
    no_bands.validate()
    assert tariff.next_band_change(no_bands, T_2026 + 5) == T_2027
    always = TariffPolicy(
        1, T_2026, T_2027, offsets, [], [TimeBand(3, 127, 0, 1440)],
        [Rate(0, 0, CAR, 1), Rate(0, 3, CAR, 1)],
    )  # fmt: skip
    always.validate()
    assert tariff.next_band_change(always, T_2026) == T_2027


def test_next_band_change_outside_validity():
    p = _valid_policy()
    assert tariff.next_band_change(p, T_2026 - 100) == T_2026
    raises(NoTariffCell, tariff.next_band_change, p, T_2027)
    # The last band run is cut at valid_until: 2026-12-31 23:00 local is night into 2027.
    assert tariff.next_band_change(p, T_2027 - 1800) == T_2027


def test_next_band_change_agrees_with_a_minute_by_minute_scan():
    p = _valid_policy()
    t = T_2026 + 17
    n = 0
    for _ in range(60):
        u = tariff.next_band_change(p, t)
        b0 = p.band_at(t)
        assert u > t
        assert p.band_at(u - 1) == b0
        assert u == T_2027 or p.band_at(u) != b0
        # Bands only change on whole minutes (offsets are whole minutes): scan them.
        m = (t // 60 + 1) * 60
        while m < u:
            assert p.band_at(m) == b0, (t, m, u)
            m += 60
        n += 1
        t = u + 6 * 86400 + 7919  # hop ~6 days to odd seconds: covers the whole year
        if not p.covers(t):
            break
    assert n > 50
