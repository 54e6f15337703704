"""Odometry (firmware/odometry.py): fix acceptance, jitter, jumps, outages, distance.

Runs under CPython (pytest) and the MicroPython unix port (tests/contract/mp_run.py).
"""

from firmware.odometry import FLAG_GAP_BRIDGED, STEP_RESTART, Odometer, OdometerConfig
from protocol import geo
from tests.firmware.drive_support import (
    LAT_E7_PER_M,
    LON_E7_PER_M,
    T_DRIVE,
    Collector,
    Lcg,
    Path,
    drive,
    fix,
    noisy_fixes,
    speed_profile,
    true_length_um,
    wiggly_path,
)

LAT0 = 508200000
LON0 = 43100000
# Exact arithmetic for the rule tests: speeds taken as reported (no de-biasing).
EXACT = OdometerConfig(doppler_sigma_mmps=0)


def _odo(config=EXACT, keep_steps=True):
    c = Collector(keep_steps)
    return Odometer(c.step, c.gap, config), c


def _east(t, metres, speed=None):
    """A fix ``metres`` east of the start point at time T_DRIVE + t."""
    return fix(T_DRIVE + t, LAT0, LON0 + metres * LON_E7_PER_M, speed)


def _total_um(c):
    return c.total_um


# --- acceptance ------------------------------------------------------------------------------
def test_first_accepted_fix_is_a_restart_step_without_distance():
    odo, c = _odo()
    odo.update(_east(0, 0, 0))
    assert c.steps == [(T_DRIVE, LAT0, LON0, 0, STEP_RESTART)]
    assert odo.accepted == 1 and odo.restarts == 1


def test_fixes_failing_the_quality_gate_are_rejected():
    odo, c = _odo()
    bad = [
        fix(T_DRIVE, LAT0, LON0, valid=False),
        fix(T_DRIVE, LAT0, LON0, fix_type=1),
        fix(T_DRIVE, LAT0, LON0, sats=3),
        fix(T_DRIVE, LAT0, LON0, hdop_c=501),
        fix(T_DRIVE, None, LON0),
        fix(T_DRIVE, LAT0, None),
        fix(None, LAT0, LON0),
    ]
    for f in bad:
        odo.update(f)
    assert c.steps == [] and odo.rejected_quality == len(bad) and odo.accepted == 0


def test_fixes_at_the_quality_limits_or_without_quality_fields_are_accepted():
    odo, c = _odo()
    odo.update(fix(T_DRIVE, LAT0, LON0, sats=4, hdop_c=500, fix_type=2))
    f = fix(T_DRIVE + 1, LAT0, LON0, sats=None, hdop_c=None, fix_type=None)
    odo.update(f)
    assert odo.accepted == 2 and odo.rejected_quality == 0


def test_quality_thresholds_come_from_the_config():
    odo, c = _odo(OdometerConfig(min_sats=6, max_hdop_c=200, min_fix_type=3))
    odo.update(fix(T_DRIVE, LAT0, LON0, sats=5))
    odo.update(fix(T_DRIVE, LAT0, LON0, hdop_c=201))
    odo.update(fix(T_DRIVE, LAT0, LON0, fix_type=2))
    assert odo.accepted == 0 and odo.rejected_quality == 3


def test_repeated_or_backward_epoch_times_are_rejected():
    odo, c = _odo()
    odo.update(_east(10, 0, 10000))
    odo.update(_east(10, 2, 10000))  # a 5 Hz receiver: same whole second
    odo.update(_east(9, 4, 10000))
    assert odo.rejected_time == 2 and len(c.steps) == 1


# --- distance ----------------------------------------------------------------------------------
def test_doppler_distance_is_the_trapezoid_of_the_reported_speeds():
    odo, c = _odo()
    odo.update(_east(0, 0, 0))
    odo.update(_east(1, 3, 6000))  # (0 + 6000) / 2 mm
    odo.update(_east(2, 14, 12000))  # (6000 + 12000) / 2
    odo.update(_east(3, 27, 14000))
    assert [s[3] for s in c.steps[1:]] == [3000000, 9000000, 13000000]
    assert [s[4] for s in c.steps[1:]] == [0, 0, 0]


def test_doppler_distance_ignores_position_noise():
    odo, c = _odo()
    for i in range(60):
        wobble = (7, -6, 5, -8)[i % 4]  # metres of cross-track noise
        f = fix(T_DRIVE + i, LAT0 + wobble * LAT_E7_PER_M, LON0 + i * 10 * LON_E7_PER_M, 10000)
        odo.update(f)
    assert _total_um(c) == 59 * 10000000


def test_reported_speeds_are_de_biased_for_velocity_noise():
    # |v + noise| overstates v by about σ²/2v; the odometer integrates sqrt(v² − 2σ²).
    odo, c = _odo(OdometerConfig(doppler_sigma_mmps=100))
    odo.update(_east(0, 0, 1000))
    odo.update(_east(1, 1, 1000))
    odo.update(_east(2, 3, 10000))
    slow = geo.isqrt(1000 * 1000 - 20000)  # 989 mm/s
    fast = geo.isqrt(10000 * 10000 - 20000)  # 9998 mm/s
    assert [s[3] for s in c.steps[1:]] == [slow * 1000, (slow + fast) * 500]
    odo, c = _odo(OdometerConfig(doppler_sigma_mmps=100))
    odo.update(_east(0, 0, 0))
    odo.update(_east(1, 0, 515))  # sqrt(0.515² − 0.02) < 0.5 m/s: standing
    assert c.step_count == 1


def test_speeds_below_the_stationary_threshold_count_as_zero():
    odo, c = _odo()
    odo.update(_east(0, 0, 0))
    odo.update(_east(1, 0, 499))
    odo.update(_east(2, 1, 500))
    assert _total_um(c) == 250000
    assert odo.stationary == 1


def test_without_speed_the_chords_between_anchors_are_charged():
    odo, c = _odo()
    odo.update(_east(0, 0, 10000))
    odo.update(_east(1, 10, 10000))  # moving: from here on positions only
    for i in range(2, 6):
        odo.update(_east(i, 10 + 12 * (i - 1)))
    d = geo.distance_um(LAT0, LON0, LAT0, LON0 + 12 * LON_E7_PER_M)
    assert [s[3] for s in c.steps[1:]] == [10000000, d, d, d, d]
    assert 11990000 < d < 12010000


def test_without_speed_a_parked_car_leaves_after_three_fixes_moving_away():
    odo, c = _odo()
    odo.update(_east(0, 0))  # a fresh start counts as parked
    odo.update(_east(1, 3))  # within the 10 m radius: averaged into the anchor
    odo.update(_east(2, 12))
    odo.update(_east(3, 24))
    assert len(c.steps) == 1  # two fixes moving away are not enough
    odo.update(_east(4, 36))
    anchor = LON0 + 3 * LON_E7_PER_M // 2
    d = geo.distance_um(LAT0, anchor, LAT0, LON0 + 36 * LON_E7_PER_M)
    # a zero step marks the last standing instant, then the chord from the averaged anchor
    assert c.steps[1:] == [
        (T_DRIVE + 1, LAT0, anchor, 0, 0),
        (T_DRIVE + 4, LAT0, LON0 + 36 * LON_E7_PER_M, d, 0),
    ]
    odo.update(_east(5, 48))  # moving now: every chord counts at once
    assert len(c.steps) == 4


def test_a_fix_without_speed_amid_doppler_fixes_falls_back_to_the_chord():
    odo, c = _odo()
    odo.update(_east(0, 0, 10000))
    odo.update(_east(1, 10, 10000))
    odo.update(_east(2, 20, None))
    odo.update(_east(3, 30, 10000))  # last speed unknown: chord again
    odo.update(_east(4, 40, 10000))
    steps = [s[3] for s in c.steps[1:]]
    assert steps[0] == 10000000 and steps[3] == 10000000
    assert 9990000 < steps[1] < 10010000 and 9990000 < steps[2] < 10010000


# --- stationary jitter ---------------------------------------------------------------------------
def _parked_fixes(with_speed, seconds=3600):
    """A parked car: position jumps by up to ±4 m, Doppler speed noise up to 0.4 m/s."""
    lcg = Lcg(7)
    for i in range(seconds):
        dlat = lcg.uniform(-4, 4) * LAT_E7_PER_M
        dlon = lcg.uniform(-4, 4) * LON_E7_PER_M // 2
        speed = lcg.uniform(0, 400) if with_speed else None
        yield fix(T_DRIVE + i, LAT0 + dlat, LON0 + dlon, speed)


def test_a_parked_car_with_wandering_fixes_adds_no_distance_without_speed():
    odo, c = _odo()
    for f in _parked_fixes(False):
        odo.update(f)
    assert len(c.steps) == 1 and _total_um(c) == 0
    assert odo.stationary == 3599


def test_a_parked_car_with_doppler_noise_adds_no_distance():
    odo, c = _odo()
    for f in _parked_fixes(True):
        odo.update(f)
    assert len(c.steps) == 1 and _total_um(c) == 0


def _parked_with_wander(with_speed, sigma_m):
    lcg = Lcg(5)
    truth = ((T_DRIVE + i, LAT0, LON0, 0) for i in range(7200))
    return noisy_fixes(truth, lcg, pos_sigma_m=sigma_m, with_speed=with_speed)


def test_two_hours_parked_with_slowly_wandering_fixes_add_no_distance():
    # Correlated wander of ~5 m (a receiver under trees), with and without Doppler speed.
    for with_speed in (False, True):
        odo, c = _odo(OdometerConfig())
        for f in _parked_with_wander(with_speed, 5):
            odo.update(f)
        assert c.step_count == 1 and _total_um(c) == 0, with_speed


def test_moving_off_after_a_stop_first_marks_the_last_standing_instant():
    odo, c = _odo()
    odo.update(_east(0, 0, 10000))
    odo.update(_east(1, 10, 10000))
    for i in range(2, 50):
        odo.update(_east(i, 10, 0))  # standing at 10 m
    odo.update(_east(50, 13, 6000))
    anchor = LON0 + 10 * LON_E7_PER_M
    assert c.steps[-2] == (T_DRIVE + 49, LAT0, anchor, 0, 0)
    assert c.steps[-1][0] == T_DRIVE + 50 and c.steps[-1][3] == 3000000


# --- jumps ---------------------------------------------------------------------------------------
def test_a_single_outlier_implying_impossible_speed_is_rejected():
    odo, c = _odo()
    odo.update(_east(0, 0, 10000))
    odo.update(_east(1, 10, 10000))
    odo.update(_east(2, 500, 10000))  # 490 m in 1 s
    odo.update(_east(3, 30, 10000))  # back on track: 20 m in 2 s
    assert odo.rejected_jump == 1
    assert _total_um(c) == 30000000
    assert all(s[2] < LON0 + 100 * LON_E7_PER_M for s in c.steps)


def test_a_persistent_jump_reanchors_without_charging_the_jump():
    odo, c = _odo()
    odo.update(_east(0, 0, 10000))
    odo.update(_east(1, 10, 10000))
    for i in range(2, 8):  # the truth is 2 km away: rejected 4 times, then taken
        odo.update(_east(i, 2000 + 10 * i, 10000))
    assert odo.rejected_jump == 5
    restarts = [s for s in c.steps if s[4] & STEP_RESTART]
    assert len(restarts) == 2 and restarts[1][0] == T_DRIVE + 6
    assert _total_um(c) == 10000000 + 10000000  # the step before, and one after the restart
    assert c.gaps == []


# --- outages -------------------------------------------------------------------------------------
def test_a_dropped_epoch_is_integrated_from_speeds_not_bridged():
    odo, c = _odo()
    odo.update(_east(0, 0, 10000))
    odo.update(_east(3, 30, 10000))  # two epochs lost
    assert c.steps[-1][3] == 30000000 and c.steps[-1][4] == 0 and odo.bridged == 0


def test_a_short_outage_is_bridged_with_the_straight_line_and_flagged():
    odo, c = _odo()
    odo.update(_east(0, 0, 20000))
    odo.update(_east(1, 20, 20000))
    odo.update(_east(61, 1220, 20000))  # a 60 s tunnel
    odo.update(_east(62, 1240, 20000))
    line = geo.distance_um(LAT0, LON0 + 20 * LON_E7_PER_M, LAT0, LON0 + 1220 * LON_E7_PER_M)
    assert c.steps[2][3] == line and c.steps[2][4] == FLAG_GAP_BRIDGED
    assert c.steps[3][4] == 0  # the flag is on the bridged step only
    assert odo.bridged == 1 and c.gaps == []


def test_a_bridge_is_still_checked_against_the_speed_limit():
    odo, c = _odo()
    odo.update(_east(0, 0, 20000))
    odo.update(_east(100, 8000, 20000))  # 80 m/s through a "tunnel"
    assert odo.rejected_jump == 1 and len(c.steps) == 1


def test_a_long_outage_with_displacement_is_a_gap_event_and_restarts():
    odo, c = _odo()
    odo.update(_east(0, 0, 10000))
    odo.update(_east(1, 10, 10000))
    odo.update(_east(1000, 5000, 10000))  # 16 min later, 5 km away
    assert c.gaps == [(T_DRIVE + 1, LAT0, LON0 + 10 * LON_E7_PER_M, T_DRIVE + 1000, LAT0,
                       LON0 + 5000 * LON_E7_PER_M)]  # fmt: skip
    last = c.steps[-1]
    assert last[0] == T_DRIVE + 1000 and last[3] == 0 and last[4] & STEP_RESTART
    assert _total_um(c) == 10000000  # nothing charged for the outage
    # every step before the gap event is at or before its start
    assert all(s[0] <= T_DRIVE + 1 for s in c.steps[:-1])


def test_a_long_outage_without_displacement_is_just_a_stop():
    odo, c = _odo()
    odo.update(_east(0, 0, 10000))
    odo.update(_east(1, 10, 0))
    odo.update(_east(4000, 60, 0))  # parked overnight, 50 m further (a car park)
    assert c.gaps == [] and odo.gaps == 0
    assert c.steps[-1][4] & STEP_RESTART and _total_um(c) == 5000000


def test_outage_thresholds_come_from_the_config():
    cfg = OdometerConfig(bridge_max_s=30, gap_min_displacement_mm=50000, doppler_sigma_mmps=0)
    odo, c = _odo(cfg)
    odo.update(_east(0, 0, 10000))
    odo.update(_east(31, 300, 10000))
    assert len(c.gaps) == 1


# --- accuracy ------------------------------------------------------------------------------------
def test_odometer_distance_on_a_noisy_drive_with_doppler_is_within_half_a_percent():
    lcg = Lcg(2026)
    path = Path(wiggly_path((LAT0, LON0), 120, 150, lcg))
    speeds = speed_profile(lcg, 1500, 12000)
    true_um = true_length_um(path, speeds)
    odo, c = _odo(OdometerConfig(), keep_steps=False)
    for f in noisy_fixes(drive(path, speeds, T_DRIVE), lcg):
        odo.update(f)
    got = _total_um(c)
    assert true_um > 10000000000  # > 10 km
    assert true_um * 995 // 1000 <= got <= true_um * 1005 // 1000, (got, true_um)


def test_position_only_odometry_overcharges_less_than_five_percent_on_the_same_drive():
    # GGA-only receivers: documented as a fallback; bound it so regressions show.
    lcg = Lcg(2026)
    path = Path(wiggly_path((LAT0, LON0), 120, 150, lcg))
    speeds = speed_profile(lcg, 1500, 12000)
    true_um = true_length_um(path, speeds)
    odo, c = _odo(OdometerConfig(), keep_steps=False)
    for f in noisy_fixes(drive(path, speeds, T_DRIVE), lcg, with_speed=False):
        odo.update(f)
    got = _total_um(c)
    assert true_um * 95 // 100 <= got <= true_um * 105 // 100, (got, true_um)
