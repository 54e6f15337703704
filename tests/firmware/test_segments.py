"""Segmentation and pricing (firmware/segments.py), fed by the real Odometer.

Cuts at zone, band, policy and period boundaries, at the maximum length/duration and after
idling; gap events; coverage of every instant of a drive; every record passes the protocol's own
opening checks (verify.check_record); charged distance against ground truth.
Runs under CPython (pytest) and the MicroPython unix port (tests/contract/mp_run.py).
"""

from firmware.odometry import STEP_RESTART, Odometer, OdometerConfig
from firmware.segments import SegmentConfig, Segmenter
from protocol import messages, verify
from protocol.tariff import price_micro
from protocol.timeutil import unix_from_civil
from tests.contract.support import raises
from tests.firmware.drive_support import (
    LAT_E7_PER_M,
    LON_E7_PER_M,
    T_DRIVE,
    Collector,
    Lcg,
    Path,
    Policies,
    drive,
    fix,
    make_policy,
    noisy_fixes,
    speed_profile,
    true_length_um,
    wiggly_path,
)

LAT_MID = 508500000  # the latitude through the middle of the core zone
POLICY = make_policy()
PID = messages.policy_id(POLICY)


class _Statement:
    """What verify.check_record looks at in a statement."""

    def __init__(self, policy_ids):
        self.policy_ids = policy_ids


EXACT = OdometerConfig(doppler_sigma_mmps=0)  # exact speeds for the rule tests


def _pipeline(policies=None, vclass=1, cfg=None, period_of=None, odo_cfg=EXACT):
    c = Collector()
    seg = Segmenter(policies or Policies(POLICY), vclass, c.record, cfg, period_of)
    odo = Odometer(seg.step, seg.gap, odo_cfg)
    return odo, seg, c


def _drive_east(odo, t0, lon0, seconds, speed_mmps=10000, lat=LAT_MID):
    """Exact fixes of a car driving east at a constant speed (reported from the first fix on:
    it is already rolling); returns the last position."""
    per_s = speed_mmps * LON_E7_PER_M // 1000
    lon = lon0
    for i in range(seconds + 1):
        lon = lon0 + i * per_s
        odo.update(fix(t0 + i, lat, lon, speed_mmps))
    return lon


def _check_cells_and_opening(records, policy=POLICY, pid=PID, vclass=1):
    """Every record passes the protocol's opening checks: price, cell of every trace point,
    plausibility and distance against its own trace."""
    st = _Statement([pid])
    for r in records:
        verify.check_record(r, policy, pid, vclass, st)
        # and it survives the wire (bounds of SPEC §4.2)
        r.index = 0
        assert messages.SegmentRecord.decode(r.encode()) == r


def _assert_contiguous(records):
    for i in range(1, len(records)):
        assert records[i].t_start == records[i - 1].t_end, i


# --- cuts ------------------------------------------------------------------------------------
def test_a_drive_through_zones_is_cut_at_every_zone_boundary():
    odo, seg, c = _pipeline()
    _drive_east(odo, T_DRIVE, 43200000, 1060)  # city → core → city → outside
    seg.close()
    recs = c.records
    assert [r.zone_id for r in recs] == [1, 2, 1, 0]
    assert all(r.band_id == 0 and r.flags == 0 and r.policy_id == PID for r in recs)
    _assert_contiguous(recs)
    _check_cells_and_opening(recs)
    # 10 m per second, every metre charged once (floor per segment)
    assert 10600 - 4 <= sum(r.dist_m for r in recs) <= 10600


def test_the_step_crossing_a_zone_boundary_is_charged_to_the_new_zone():
    odo, seg, c = _pipeline()
    # 100 m/s-free layout: one fix 4 m west of the core edge, the next 6 m east of it
    edge = 43400000
    odo.update(fix(T_DRIVE, LAT_MID, edge - 24 * LON_E7_PER_M, 0))
    odo.update(fix(T_DRIVE + 1, LAT_MID, edge - 14 * LON_E7_PER_M, 10000))
    odo.update(fix(T_DRIVE + 2, LAT_MID, edge - 4 * LON_E7_PER_M, 10000))
    odo.update(fix(T_DRIVE + 3, LAT_MID, edge + 6 * LON_E7_PER_M, 10000))
    seg.close()
    city, core = c.records
    assert (city.zone_id, city.dist_m, city.t_end) == (1, 15, T_DRIVE + 2)
    assert (core.zone_id, core.dist_m, core.t_start, core.t_end) == (
        2,
        10,
        T_DRIVE + 2,
        T_DRIVE + 3,
    )
    assert core.trace == [(1, LAT_MID, edge + 6 * LON_E7_PER_M)]
    _check_cells_and_opening(c.records)


def test_a_drive_is_cut_when_the_time_band_changes():
    # Wednesday 2026-03-11: 07:00 local (CET) = 06:00 UTC starts the morning peak (band 1).
    t0 = unix_from_civil(2026, 3, 11, 5, 58, 0)
    odo, seg, c = _pipeline()
    _drive_east(odo, t0, 43100000, 200)
    seg.close()
    off, peak = c.records
    assert (off.band_id, peak.band_id) == (0, 1)
    assert off.t_end == t0 + 119 and peak.t_start == t0 + 119
    assert peak.trace[0][0] == 1  # its first point is 06:00:00, in the band
    assert peak.rate_micro_per_km == POLICY.rate(1, 1, 1)
    _check_cells_and_opening(c.records)


def test_a_new_policy_starts_a_new_segment():
    switch = T_DRIVE + 100
    old = make_policy(1, valid_until=switch)
    new = make_policy(2, valid_from=switch, base={0: 30000, 1: 70000, 2: 160000})
    odo, seg, c = _pipeline(Policies(old, new))
    _drive_east(odo, T_DRIVE, 43100000, 200)
    seg.close()
    a, b = c.records
    assert a.policy_id == messages.policy_id(old) and b.policy_id == messages.policy_id(new)
    assert a.t_end == switch - 1 and b.t_start == switch - 1
    assert b.rate_micro_per_km == 70000


def test_long_drives_are_cut_at_the_maximum_length_with_cut_max():
    odo, seg, c = _pipeline()
    _drive_east(odo, T_DRIVE, 44600000, 1200, 30000, lat=509500000)  # outside, 30 m/s, 36 km
    seg.close()
    recs = c.records
    assert [r.flags for r in recs] == [messages.FLAG_CUT_MAX] * 3 + [0]
    assert all(r.dist_m <= 10000 for r in recs) and recs[0].dist_m >= 9970
    assert sum(r.dist_m for r in recs) == 36000
    _assert_contiguous(recs)
    _check_cells_and_opening(recs)


def test_slow_drives_are_cut_at_the_maximum_duration_with_cut_max():
    odo, seg, c = _pipeline()
    _drive_east(odo, T_DRIVE, 44600000, 2400, 2000, lat=509500000)  # 40 min at 2 m/s
    seg.close()
    recs = c.records
    assert [r.t_end - r.t_start for r in recs] == [900, 900, 600]
    assert [r.flags for r in recs] == [messages.FLAG_CUT_MAX] * 2 + [0]
    _assert_contiguous(recs)
    _check_cells_and_opening(recs)


def test_limits_come_from_the_config():
    cfg = SegmentConfig(max_len_m=1000, max_dur_s=60, trace_interval_s=5, idle_cut_s=30)
    odo, seg, c = _pipeline(cfg=cfg)
    _drive_east(odo, T_DRIVE, 44600000, 300, 10000, lat=509500000)
    seg.close()
    assert len(c.records) == 5 and all(r.t_end - r.t_start <= 60 for r in c.records)
    assert all(len(r.trace) == 13 for r in c.records[1:])
    raises(ValueError, SegmentConfig, max_len_m=0)
    raises(ValueError, SegmentConfig, max_len_m=1000001)  # its points are packed in 32 bits
    raises(ValueError, SegmentConfig, max_dur_s=1 << 31)
    assert SegmentConfig(max_len_m=1000000, max_dur_s=(1 << 31) - 1).max_len_um == 10**12
    raises(ValueError, SegmentConfig, trace_interval_s=0)


def test_a_long_stop_cuts_the_segment_and_the_next_starts_when_the_car_last_stood():
    odo, seg, c = _pipeline()
    lon = _drive_east(odo, T_DRIVE, 44600000, 60, lat=509500000)
    for i in range(61, 661):  # ten minutes parked (the first second still rolls 5 m)
        odo.update(fix(T_DRIVE + i, 509500000, lon, 0))
    seg.tick(T_DRIVE + 400)  # the app's periodic tick closes the segment during the stop
    assert len(c.records) == 1 and c.records[0].t_end == T_DRIVE + 61
    _drive_east(odo, T_DRIVE + 661, lon, 60, lat=509500000)
    seg.close()
    first, second = c.records
    assert second.t_start == T_DRIVE + 660  # the last standing fix
    assert second.trace[0] == (0, 509500000, lon)
    assert (first.dist_m, second.dist_m) == (605, 605)
    _check_cells_and_opening(c.records)


def test_a_stop_shorter_than_the_idle_cut_stays_in_the_segment():
    odo, seg, c = _pipeline()
    lon = _drive_east(odo, T_DRIVE, 44600000, 60, lat=509500000)
    for i in range(61, 121):
        odo.update(fix(T_DRIVE + i, 509500000, lon, 0))
    _drive_east(odo, T_DRIVE + 121, lon, 60, lat=509500000)
    seg.close()
    assert len(c.records) == 1 and c.records[0].dist_m == 1210  # 2 × 5 m braking/starting


def test_segments_are_cut_at_the_period_boundary_and_cover_it():
    t0 = unix_from_civil(2026, 3, 31, 23, 58, 0)
    april = unix_from_civil(2026, 4, 1, 0, 0, 0)
    odo, seg, c = _pipeline()
    _drive_east(odo, t0, 44600000, 240, lat=509500000)
    seg.close()
    march, apr = c.records
    assert march.t_end == april - 1 and apr.t_start == april
    assert (march.zone_id, march.band_id) == (apr.zone_id, apr.band_id)
    assert march.dist_m + apr.dist_m == 2400


def test_tick_closes_a_segment_once_its_period_is_over():
    t0 = unix_from_civil(2026, 3, 31, 23, 50, 0)
    odo, seg, c = _pipeline()
    _drive_east(odo, t0, 44600000, 60, lat=509500000)
    seg.tick(t0 + 120)
    assert c.records == []
    seg.tick(unix_from_civil(2026, 4, 1, 0, 0, 0))
    assert len(c.records) == 1


def test_a_period_function_can_be_injected():
    day = 86400
    odo, seg, c = _pipeline(period_of=lambda t: t - t % day)
    t0 = T_DRIVE - T_DRIVE % day + day - 30  # 30 s before midnight UTC
    _drive_east(odo, t0, 44600000, 60, lat=509500000)
    seg.close()
    assert [r.t_start for r in c.records] == [t0, t0 + 30]


def test_a_restart_step_starts_a_segment_that_does_not_share_the_boundary():
    odo, seg, c = _pipeline()
    lon = _drive_east(odo, T_DRIVE, 44600000, 30, lat=509500000)
    seg.step(T_DRIVE + 40, 509500000, lon + 50000, 0, STEP_RESTART)
    seg.step(T_DRIVE + 41, 509500000, lon + 51420, 10000000, 0)
    seg.close()
    a, b = c.records
    assert b.t_start == T_DRIVE + 40 and a.t_end == T_DRIVE + 30


# --- gap events, lone points, policies ------------------------------------------------------
def test_a_long_outage_with_displacement_becomes_a_gap_event_record():
    odo, seg, c = _pipeline()
    lon = _drive_east(odo, T_DRIVE, 44600000, 30, lat=509500000)
    odo.update(fix(T_DRIVE + 1000, 509500000, lon + 5000 * LON_E7_PER_M, 10000))
    _drive_east(odo, T_DRIVE + 1001, lon + 5010 * LON_E7_PER_M, 10, lat=509500000)
    seg.close()
    before, gap, after = c.records
    assert gap.flags == messages.FLAG_GAP_EVENT
    assert (gap.t_start, gap.t_end) == (before.t_end, T_DRIVE + 1000)
    assert (gap.dist_m, gap.price_micro, gap.rate_micro_per_km) == (0, 0, 0)
    assert gap.trace == [(0, 509500000, lon), (970, 509500000, lon + 5000 * LON_E7_PER_M)]
    assert after.t_start == T_DRIVE + 1000
    _check_cells_and_opening(c.records)


def test_a_gap_event_across_a_period_boundary_is_clamped_into_the_new_period():
    c = Collector()
    seg = Segmenter(Policies(POLICY), 1, c.record)
    april = unix_from_civil(2026, 4, 1, 0, 0, 0)
    seg.gap(april - 3600, 509500000, 44600000, april + 3600, 509500000, 44700000)
    (gap,) = c.records
    assert (gap.t_start, gap.t_end) == (april, april + 3600)
    assert gap.trace == [(0, 509500000, 44600000), (3600, 509500000, 44700000)]


def test_a_lone_fix_makes_no_record():
    odo, seg, c = _pipeline()
    odo.update(fix(T_DRIVE, LAT_MID, 43100000, 0))
    for i in range(1, 100):
        odo.update(fix(T_DRIVE + i, LAT_MID, 43100000, 0))
    seg.close()
    assert c.records == [] and seg.segments == 0


def test_without_a_valid_policy_nothing_is_priced_and_steps_are_counted():
    odo, seg, c = _pipeline(Policies(make_policy(1, valid_until=T_DRIVE + 30)))
    _drive_east(odo, T_DRIVE, 44600000, 60, lat=509500000)
    seg.close()
    (rec,) = c.records
    assert rec.t_end == T_DRIVE + 29 and seg.unpriced_steps == 31


def test_prices_follow_the_rate_of_the_vehicle_class():
    odo, seg, c = _pipeline(vclass=2)
    _drive_east(odo, T_DRIVE, 43200000, 1060)
    seg.close()
    for r in c.records:
        assert r.vehicle_class == 2
        assert r.rate_micro_per_km == POLICY.rate(r.zone_id, r.band_id, 2)
        assert r.price_micro == price_micro(r.dist_m, r.rate_micro_per_km)
    _check_cells_and_opening(c.records, vclass=2)


def test_a_class_without_rates_is_not_priced():
    odo, seg, c = _pipeline(vclass=9)
    _drive_east(odo, T_DRIVE, 43200000, 60)
    seg.close()
    assert c.records == [] and seg.unpriced_steps == 61


def test_on_a_straight_road_the_trace_keeps_a_point_per_interval_and_the_last_one():
    odo, seg, c = _pipeline()
    _drive_east(odo, T_DRIVE, 44600000, 95, lat=509500000)
    seg.close()
    (r,) = c.records
    assert [p[0] for p in r.trace] == [0, 20, 40, 60, 80, 95]


def test_time_only_sampling_is_available():
    odo, seg, c = _pipeline(cfg=SegmentConfig(trace_interval_s=10, trace_tolerance_m=None))
    _drive_east(odo, T_DRIVE, 44600000, 95, lat=509500000)
    seg.close()
    assert [p[0] for p in c.records[0].trace] == [0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95]


def test_a_corner_is_kept_in_the_trace():
    # 10 s east, then 10 s north: the trace must turn where the car turned
    odo, seg, c = _pipeline()
    lat = 509500000
    lon = 44600000
    for i in range(11):
        odo.update(fix(T_DRIVE + i, lat, lon + i * 10 * LON_E7_PER_M, 10000))
    corner = lon + 100 * LON_E7_PER_M
    for i in range(1, 11):
        odo.update(fix(T_DRIVE + 10 + i, lat + i * 10 * LAT_E7_PER_M, corner, 10000))
    seg.close()
    (r,) = c.records
    assert (10, lat, corner) in r.trace and len(r.trace) == 3
    for i in range(21):  # every fix is on the trace line around its time
        f_lat = lat + max(0, i - 10) * 10 * LAT_E7_PER_M
        f_lon = lon + min(i, 10) * 10 * LON_E7_PER_M
        assert verify.check_sighting(r, T_DRIVE + i, f_lat, f_lon, 1000) < 1000


# --- a realistic drive -------------------------------------------------------------------------
def _city_drive(seed, seconds=3000):
    lcg = Lcg(seed)
    start = (508450000, 43300000)  # in the city, west of the core
    path = Path(wiggly_path(start, 240, 160, lcg))
    speeds = speed_profile(lcg, seconds, 11000)
    return lcg, path, speeds


def test_a_noisy_city_drive_is_charged_within_budget_covered_and_every_record_opens():
    # Correlated position noise, Doppler speeds, a tunnel (40 s without fixes), zone and band
    # changes: the records chain without a hole, each passes the opening checks, and the
    # charged distance is within -1 % / +0.5 % of the true path.
    t0 = unix_from_civil(2026, 3, 11, 5, 50, 0)  # crosses into the morning peak at 06:00
    lcg, path, speeds = _city_drive(11)
    true_um = true_length_um(path, speeds)
    odo, seg, c = _pipeline(odo_cfg=OdometerConfig())
    for f in noisy_fixes(drive(path, speeds, t0), lcg):
        if not t0 + 1200 <= f.t < t0 + 1240:
            odo.update(f)
    seg.close()
    recs = c.records
    zones = {}
    for r in recs:
        zones[r.zone_id] = True
    assert len(zones) >= 2 and len(recs) >= 6
    assert any(r.band_id == 1 for r in recs) and any(r.band_id == 0 for r in recs)
    assert sum(1 for r in recs if r.flags & messages.FLAG_GAP_BRIDGED) == 1
    _assert_contiguous(recs)
    assert recs[0].t_start == t0 and recs[-1].t_end >= t0 + len(speeds) - 30
    _check_cells_and_opening(recs)
    charged_um = sum(r.dist_m for r in recs) * 1000000
    assert true_um * 99 // 100 <= charged_um <= true_um * 1005 // 1000, (charged_um, true_um)


def test_every_fix_of_a_noisy_drive_lies_within_the_tolerance_of_its_trace():
    # What the backend's sighting check measures: the fix at t against the trace line between
    # the points around t. 8 m tolerance (+ rounding) for every accepted, moving fix.
    lcg, path, speeds = _city_drive(23, 1200)
    fixes = {}
    counts = [0, 0, 0]  # fixes checked, trace points, records

    def on_segment(r):
        counts[1] += len(r.trace)
        counts[2] += 1
        for t in range(r.t_start, r.t_end + 1):
            if t in fixes and (t > r.t_start or r.trace[0][0] == 0):
                lat, lon = fixes[t]
                assert verify.check_sighting(r, t, lat, lon, 8050) <= 8050, t
                counts[0] += 1
        for t in [k for k in fixes if k < r.t_end]:  # keep the heap small on MicroPython
            del fixes[t]

    seg = Segmenter(Policies(POLICY), 1, on_segment)

    def step(t, lat, lon, dist_um, flags):
        fixes[t] = (lat, lon)
        seg.step(t, lat, lon, dist_um, flags)

    odo = Odometer(step, seg.gap, OdometerConfig())
    for f in noisy_fixes(drive(path, speeds, T_DRIVE), lcg):
        odo.update(f)
    seg.close()
    assert counts[0] > 1000 and counts[2] >= 2
    assert counts[1] * 10 < counts[0]  # and it takes far fewer points than fixes


def test_charged_distance_stays_within_budget_over_several_drives():
    t0 = T_DRIVE
    for seed in (1, 2, 3):
        lcg, path, speeds = _city_drive(seed, 1800)
        true_um = true_length_um(path, speeds)
        odo, seg, c = _pipeline(odo_cfg=OdometerConfig())
        for f in noisy_fixes(drive(path, speeds, t0), lcg):
            odo.update(f)
        seg.close()
        charged_um = sum(r.dist_m for r in c.records) * 1000000
        assert true_um * 99 // 100 <= charged_um <= true_um * 1005 // 1000, (seed, charged_um)
        t0 += 7200


def test_records_carry_no_more_than_max_trace_points_and_fit_a_ledger_frame():
    cfg = SegmentConfig(max_dur_s=5000, trace_interval_s=1, max_len_m=99999)
    odo, seg, c = _pipeline(cfg=cfg)
    _drive_east(odo, T_DRIVE, 44600000, 1000, 2000, lat=509500000)
    seg.close()
    (r,) = c.records
    assert len(r.trace) == messages.MAX_TRACE_POINTS
    assert r.trace[-1][0] == 1000
    r.index = 0
    assert len(r.encode()) < 8192 - 200  # ledger MAX_PAYLOAD minus the commitments
