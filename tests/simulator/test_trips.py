"""Ground-truth trips: synthetic drives on the network, GPX and NMEA loading, true fee."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import pytest
from geographiclib.geodesic import Geodesic

from protocol import tariff, timeutil
from simulator import gnss, network, nmea_out, trips
from simulator.network import Environment
from tests.conftest import SHARED

POLICY = network.default_policy()
# Wednesday 2026-03-04, 08:00 CET: morning peak.
PEAK_T = network.local_to_utc(POLICY, timeutil.unix_from_civil(2026, 3, 4, 8, 0, 0))
# Same day 11:00 CET: off-peak.
OFFPEAK_T = network.local_to_utc(POLICY, timeutil.unix_from_civil(2026, 3, 4, 11, 0, 0))


@pytest.fixture(scope="module")
def random_trips() -> list[trips.Trip]:
    return trips.random_trips(11, 30)


# --- network and policy -------------------------------------------------------------------


def test_default_policy_validates_and_has_congestion_inside_city() -> None:
    net = network.default_network()
    station = net.nodes[net.places["station"].node_id]
    oostdorp = net.nodes[net.places["oostdorp"].node_id]
    ring = net.nodes[net.node_at(2500, 0)]
    assert POLICY.zone_at(station.lat_e7, station.lon_e7) == network.ZONE_CONGESTION
    assert POLICY.zone_at(ring.lat_e7, ring.lon_e7) == network.ZONE_CITY
    assert POLICY.zone_at(oostdorp.lat_e7, oostdorp.lon_e7) == 0
    for vclass in network.VEHICLE_CLASSES:
        assert POLICY.rate(network.ZONE_CONGESTION, 1, vclass) > POLICY.rate(0, 0, vclass)


def test_default_policy_bands_follow_cet_and_cest() -> None:
    # 07:30 local is the morning peak in winter (06:30 UTC) and in summer (05:30 UTC).
    winter = timeutil.unix_from_civil(2026, 2, 3, 6, 30, 0)  # Tuesday
    summer = timeutil.unix_from_civil(2027, 7, 6, 5, 30, 0)  # Tuesday
    assert POLICY.band_at(winter) == network.BAND_MORNING_PEAK
    assert POLICY.band_at(summer) == network.BAND_MORNING_PEAK
    assert POLICY.band_at(winter - 3600) == 0  # 06:30 local
    assert POLICY.band_at(timeutil.unix_from_civil(2027, 12, 31, 22, 30, 0)) == network.BAND_NIGHT
    local = timeutil.unix_from_civil(2026, 7, 1, 9, 0, 0)
    assert network.local_to_utc(POLICY, local) == local - 7200


def test_local_frame_lengths_agree_with_protocol_distance() -> None:
    frame = network.default_network().frame
    for x0, y0, dx, dy in (
        (0, 0, 1000, 0),
        (-8000, 5000, 0, 1000),
        (12000, -3000, 700, -700),
        (-10000, -1000, 3000, -700),
    ):
        a = frame.to_e7(x0, y0)
        b = frame.to_e7(x0 + dx, y0 + dy)
        d = trips.geo.distance_um(a[0], a[1], b[0], b[1]) / 1e6
        assert d == pytest.approx(math.hypot(dx, dy), rel=3e-6, abs=0.02)


def test_shortest_path_prefers_the_motorway_and_passes_the_tunnel() -> None:
    net = network.default_network()
    path = net.route("station", "oostdorp")
    classes = {net.edge_between(a, b).road_class for a, b in itertools.pairwise(path)}
    envs = {net.edge_between(a, b).env for a, b in itertools.pairwise(path)}
    assert network.RoadClass.MOTORWAY in classes
    assert Environment.TUNNEL in envs


# --- synthetic trips ----------------------------------------------------------------------


def test_synthetic_trip_is_deterministic_by_seed() -> None:
    a = trips.synthetic_trip("home-west", "office-garage", PEAK_T, 5)
    b = trips.synthetic_trip("home-west", "office-garage", PEAK_T, 5)
    c = trips.synthetic_trip("home-west", "office-garage", PEAK_T, 6)
    assert a.samples == b.samples
    assert a.samples != c.samples
    assert trips.random_trips(3, 4) == trips.random_trips(3, 4)


def test_samples_are_integers_at_the_sample_period() -> None:
    cfg = trips.SyntheticConfig(sample_period_ms=500)
    trip = trips.synthetic_trip("market", "station", OFFPEAK_T, 1, config=cfg)
    for a, b in itertools.pairwise(trip.samples):
        assert b.time_ms - a.time_ms == 500
    for s in trip.samples:
        for value in (s.t, s.t_ms, s.lat_e7, s.lon_e7, s.alt_dm, s.speed_mmps, s.heading_cdeg):
            assert type(value) is int
        assert 0 <= s.heading_cdeg < 36000 and s.speed_mmps >= 0
    assert trip.samples[0].t == OFFPEAK_T and trip.samples[0].t_ms == 0


def test_synthetic_trips_respect_speed_limits(random_trips: list[trips.Trip]) -> None:
    for trip in random_trips:
        for s in trip.samples:
            assert s.limit_mmps > 0
            assert s.speed_mmps <= s.limit_mmps, (trip.trip_id, s)


def test_synthetic_trips_respect_acceleration_and_braking_limits(
    random_trips: list[trips.Trip],
) -> None:
    for trip in random_trips:
        driver = trip.meta["driver"]
        assert isinstance(driver, trips.DriverProfile)
        for a, b in itertools.pairwise(trip.samples):
            dv = b.speed_mmps - a.speed_mmps
            dt_s = (b.time_ms - a.time_ms) / 1000.0
            # 2 mm/s: rounding of the two speeds to whole mm/s
            assert dv <= driver.accel_mps2 * 1000 * dt_s + 2, (trip.trip_id, a, b)
            assert -dv <= driver.brake_mps2 * 1000 * dt_s + 2, (trip.trip_id, a, b)


def test_synthetic_trips_start_and_end_standing_and_stop_on_the_way(
    random_trips: list[trips.Trip],
) -> None:
    stops = 0
    for trip in random_trips:
        assert trip.samples[0].speed_mmps == 0 and trip.samples[-1].speed_mmps == 0
        moving = [s.speed_mmps > 0 for s in trip.samples]
        first, last = moving.index(True), len(moving) - 1 - moving[::-1].index(True)
        stops += sum(1 for i in range(first, last) if moving[i] and not moving[i + 1])
    assert stops > len(random_trips)  # lights, give-way junctions and queues


def test_peak_trips_are_slower_than_off_peak_ones() -> None:
    peak = [trips.synthetic_trip("home-west", "station", PEAK_T, i) for i in range(8)]
    off = [trips.synthetic_trip("home-west", "station", OFFPEAK_T, i) for i in range(8)]
    assert all(t.meta["peak"] for t in peak) and not any(t.meta["peak"] for t in off)
    assert sum(t.duration_s for t in peak) > 1.2 * sum(t.duration_s for t in off)


def test_true_distance_matches_the_driven_path_and_the_geodesic(
    random_trips: list[trips.Trip],
) -> None:
    for trip in random_trips[:10]:
        true_m = trip.true_dist_um() / 1e6
        assert trip.path_length_m is not None
        # 1 Hz chords cut the corners of turns a little: never by more than 0.1 %.
        assert -1e-3 < true_m / trip.path_length_m - 1 <= 1e-5
        geodesic = sum(
            Geodesic.WGS84.Inverse(a.lat_e7 / 1e7, a.lon_e7 / 1e7, b.lat_e7 / 1e7, b.lon_e7 / 1e7)[
                "s12"
            ]
            for a, b in itertools.pairwise(trip.samples)
        )
        assert true_m == pytest.approx(geodesic, rel=5e-6)


def test_motorway_trip_goes_through_the_tunnel_at_the_tunnel_limit() -> None:
    trip = trips.synthetic_trip("station", "oostdorp", OFFPEAK_T, 2)
    tunnel = [s for s in trip.samples if s.env == Environment.TUNNEL]
    assert 30 <= len(tunnel) <= 60  # 1.2 km at up to 100 km/h
    assert all(s.speed_mmps <= 100000 / 3.6 + 1 for s in tunnel)
    assert max(s.speed_mmps for s in trip.samples) > 30000  # 120 km/h motorway


def test_garage_trips_start_inside_the_garage() -> None:
    trip = trips.synthetic_trip("office-garage", "market", OFFPEAK_T, 3)
    assert trip.samples[0].env == Environment.GARAGE
    by_env = trip.dist_um_by_env()
    assert 30e6 < by_env[Environment.GARAGE] < 45e6  # the 42 m driveway
    assert sum(by_env.values()) == trip.true_dist_um()


def test_commute_trips_follow_the_week_and_never_overlap() -> None:
    week = trips.commute_trips(4, days=7, start_date=(2026, 3, 2))  # Monday
    assert len(week) >= 8
    for a, b in itertools.pairwise(week):
        assert b.start_t > a.end_t
    morning = []
    for trip in week:
        y, mo, d, h, mi, _, wd = timeutil.civil_from_unix(
            trip.start_t + POLICY.utc_offset_at(trip.start_t)
        )
        if trip.origin == "home-west" and trip.destination == "office-garage":
            morning.append((wd, h * 60 + mi))
    assert len(morning) >= 3
    assert all(wd < 5 and 5 * 60 <= m <= 10 * 60 for wd, m in morning)
    assert trips.total_true_fee(week, POLICY) > 0


def test_retimed_trip_keeps_the_path() -> None:
    trip = trips.synthetic_trip("market", "station", OFFPEAK_T, 1)
    later = trip.retimed(OFFPEAK_T + 86400)
    assert later.samples[0].t == OFFPEAK_T + 86400
    assert [(s.lat_e7, s.lon_e7) for s in later.samples] == [
        (s.lat_e7, s.lon_e7) for s in trip.samples
    ]


def test_unknown_or_equal_places_are_refused() -> None:
    with pytest.raises(trips.TripError):
        trips.synthetic_trip("nowhere", "market", OFFPEAK_T, 1)
    with pytest.raises(trips.TripError):
        trips.synthetic_trip("market", "market", OFFPEAK_T, 1)


# --- true fee -----------------------------------------------------------------------------


def _small_policy() -> tariff.TariffPolicy:
    t0 = timeutil.unix_from_civil(2026, 1, 1, 0, 0, 0)
    zone = tariff.Zone(
        1, "town", [[[(510200000, 49000000), (510200000, 51000000), (511000000, 51000000),
                      (511000000, 49000000)]]]
    )  # fmt: skip
    bands = [tariff.TimeBand(3, 0b1111111, 22 * 60, 24 * 60)]
    rates = [
        tariff.Rate(0, 0, 1, 20000),
        tariff.Rate(0, 3, 1, 10000),
        tariff.Rate(1, 0, 1, 60000),
        tariff.Rate(1, 3, 1, 30000),
    ]
    policy = tariff.TariffPolicy(1, t0, t0 + 365 * 86400, [(t0, 3600)], [zone], bands, rates, "EUR")
    policy.validate()
    return policy


def test_true_fee_equals_a_hand_computation() -> None:
    policy = _small_policy()
    t = timeutil.unix_from_civil(2026, 1, 14, 20, 57, 0)  # 21:57 CET
    # Northwards along 5° E, 0.01° (1112.48 m by the geodesic) per step; the third sample lies
    # on the zone's southern edge, which belongs to the zone (the zone lies north of it); the
    # last one is at 22:00 CET, in the night band.
    points = [(0, 510000000), (60, 510100000), (120, 510200000), (150, 510300000),
              (180, 510400000)]  # fmt: skip
    samples = [trips.Sample(t + dt, 0, lat, 50000000, 0, 18000, 0) for dt, lat in points]
    assert [policy.cell_at(s.lat_e7, s.lon_e7, s.t) for s in samples] == [
        (0, 0), (0, 0), (1, 0), (1, 0), (1, 3)
    ]  # fmt: skip
    fee = trips.true_fee(samples, policy, 1)
    # Runs: (0,0) one step, 1112.48 m → 1112 m × 20000 µ/km = 22240;
    #       (1,0) the crossing step + one, 2224.97 m → 2224 m × 60000 µ/km = 133440;
    #       (1,3) one step, 1112.49 m → 1112 m × 30000 µ/km = 33360.
    priced = [
        (r.zone_id, r.band_id, r.dist_m, r.rate_micro_per_km, r.price_micro) for r in fee.runs
    ]
    assert priced == [
        (0, 0, 1112, 20000, 22240),
        (1, 0, 2224, 60000, 133440),
        (1, 3, 1112, 30000, 33360),
    ]  # fmt: skip
    assert [(r.t_start - t, r.t_end - t) for r in fee.runs] == [(0, 60), (60, 150), (150, 180)]
    assert fee.total_micro == 22240 + 133440 + 33360
    assert fee.dist_um == trips.path_dist_um(samples)


def test_true_fee_of_a_city_trip_uses_several_cells() -> None:
    trip = trips.synthetic_trip("westerlo", "market", PEAK_T, 8)
    fee = trip.true_fee(POLICY)
    zones = {r.zone_id for r in fee.runs}
    assert zones == {0, network.ZONE_CITY, network.ZONE_CONGESTION}
    assert {r.band_id for r in fee.runs} == {network.BAND_MORNING_PEAK}
    assert fee.total_micro == sum(r.price_micro for r in fee.runs)
    assert fee.dist_um == trip.true_dist_um()
    assert trip.true_fee(POLICY, 3).total_micro > fee.total_micro  # lorries pay more


def test_trip_truth_is_the_three_separate_figures() -> None:
    # from a garage (invisible samples at the start) and through the city in the peak
    for trip in (
        trips.synthetic_trip("office-garage", "market", OFFPEAK_T, 3),
        trips.synthetic_trip("westerlo", "mall-garage", PEAK_T, 4),
        trips.synthetic_trip("station", "oostdorp", OFFPEAK_T, 2),
    ):
        truth = trips.trip_truth(trip, POLICY, 2)
        visible = [s for s in trip.samples if s.env != Environment.GARAGE]
        assert truth.dist_um_by_env == trip.dist_um_by_env()
        assert truth.fee == trip.true_fee(POLICY, 2)
        assert truth.visible_fee == trips.true_fee(visible, POLICY, 2)
    assert truth.visible_fee == truth.fee  # no garage on that one


def test_a_driver_profile_subclass_drives_like_the_inlined_one() -> None:
    # synthetic_trip inlines DriverProfile.accel_at; a subclass's own accel_at is called
    class Same(trips.DriverProfile):
        def accel_at(self, v_mps: float) -> float:
            return self.accel_mps2 * max(0.3, 1.0 - v_mps / 45.0)

    a = trips.synthetic_trip("home-west", "station", PEAK_T, 6)
    b = trips.synthetic_trip("home-west", "station", PEAK_T, 6, driver=Same())
    assert a.samples == b.samples


# --- GPX and NMEA -------------------------------------------------------------------------

_GPX = """<?xml version="1.0" encoding="UTF-8"?>
<gpx version="1.1" creator="quietmile-test" xmlns="http://www.topografix.com/GPX/1/1">
  <trk><name>test</name><trkseg>
    <trkpt lat="51.0000000" lon="5.0000000"><ele>30.0</ele><time>2026-05-04T10:00:00.500Z</time></trkpt>
    <trkpt lat="51.0004000" lon="5.0000000"><ele>34.0</ele><time>2026-05-04T10:00:04.500Z</time></trkpt>
    <trkpt lat="51.0004000" lon="5.0010000"><ele>34.0</ele><time>2026-05-04T10:00:10.500Z</time></trkpt>
  </trkseg></trk>
</gpx>
"""  # noqa: E501


def test_gpx_trip_is_resampled_to_whole_seconds(tmp_path: Path) -> None:
    path = tmp_path / "drive.gpx"
    path.write_text(_GPX, encoding="utf-8")
    trip = trips.load_gpx(path)
    t0 = timeutil.unix_from_civil(2026, 5, 4, 10, 0, 1)
    assert trip.source == "gpx" and trip.trip_id == "drive.gpx"
    assert [s.t for s in trip.samples] == list(range(t0, t0 + 10))
    assert all(s.t_ms == 0 for s in trip.samples)
    first, at_corner = trip.samples[0], trip.samples[3]  # 10:00:01, 10:00:04
    # linear: 0.5 s into a 4 s leg of 400e-7 ... 4000e-7 degrees
    assert (first.lat_e7, first.lon_e7, first.alt_dm) == (510000500, 50000000, 305)
    assert (at_corner.lat_e7, at_corner.lon_e7) == (510003500, 50000000)
    assert trip.samples[1].heading_cdeg == 0  # north on the first leg
    assert trip.samples[-1].heading_cdeg == 9000  # east on the second (to 1 cdeg)
    # 44.5 m in 4 s north, then 70.2 m in 6 s east: the speeds follow
    assert trip.samples[1].speed_mmps == pytest.approx(11120, rel=0.01)
    assert trip.samples[-2].speed_mmps == pytest.approx(11700, rel=0.01)


def test_gpx_without_times_is_refused() -> None:
    xml = _GPX.replace("<time>", "<!--").replace("</time>", "-->")
    with pytest.raises(trips.TripError):
        trips.trip_from_gpx_text(xml)


def test_nmea_log_of_a_simulated_trip_gives_back_the_fixes() -> None:
    trip = trips.straight_trip(509000000, 49000000, OFFPEAK_T, 60, heading_deg=30.0)
    cfg = gnss.GnssConfig(uere_m=0.0, bias_sigma_m=0.0, doppler_sigma_mmps=0.0, ttff_s=0.0)
    epochs = gnss.simulate(trip, cfg, seed=1)
    data = b"# a comment line\n" + nmea_out.to_bytes(epochs, nmea_out.NmeaConfig(coord_decimals=7))
    back = trips.trip_from_nmea_bytes(data)
    assert back.source == "nmea"
    assert [(s.t, s.lat_e7, s.lon_e7, s.alt_dm) for s in back.samples] == [
        (s.t, s.lat_e7, s.lon_e7, s.alt_dm) for s in trip.samples
    ]
    assert all(abs(b.speed_mmps - 15000) <= 1 for b in back.samples)


def test_nmea_capture_of_a_boat_is_a_trip() -> None:
    log = SHARED / "nmea" / "bundg_zeus_9.log"
    if not log.exists():
        pytest.skip(f"shared captures not found at {log.parent}")
    trip = trips.load_nmea_log(log)
    # README of the captures: 1 Hz, 147 s, a boat at 4.3–6.7 kn covering about 427 m.
    assert len(trip.samples) == 147
    assert 420 < trip.true_dist_um() / 1e6 < 435
    # RMC speeds (2.2–3.45 m/s); an epoch without RMC gets the speed of its positions
    speeds = sorted(s.speed_mmps for s in trip.samples)
    assert 2000 < speeds[3] and speeds[-4] < 3500 and speeds[-1] < 5000
    assert timeutil.civil_from_unix(trip.start_t)[:3] == (2018, 8, 20)


def test_nmea_log_without_dated_fixes_is_refused() -> None:
    with pytest.raises(trips.TripError):
        trips.trip_from_nmea_bytes(b"$GPRMC,,V,,,,,,,,,,N*53\r\n")
