from protocol import timeutil
from protocol.errors import InvalidMessage
from tests.contract.support import raises

# Day numbers below were computed with CPython's datetime: (date - date(1970, 1, 1)).days.


def test_epoch_day_is_zero_and_its_neighbours_are_plus_minus_one():
    assert timeutil.days_from_civil(1970, 1, 1) == 0
    assert timeutil.days_from_civil(1970, 1, 2) == 1
    assert timeutil.days_from_civil(1969, 12, 31) == -1
    assert timeutil.civil_from_days(-1) == (1969, 12, 31)


def test_known_dates_match_datetime():
    known = (
        ((2000, 1, 1), 10957),
        ((2000, 2, 29), 11016),
        ((2100, 3, 1), 47541),
        ((1900, 3, 1), -25508),
        ((1600, 2, 29), -135081),
        ((2200, 12, 31), 84370),
        ((1, 1, 1), -719162),
    )
    for ymd, days in known:
        assert timeutil.days_from_civil(ymd[0], ymd[1], ymd[2]) == days, ymd
        assert timeutil.civil_from_days(days) == ymd, days


def test_leap_years_follow_the_gregorian_rule():
    assert timeutil.is_leap_year(2000) and timeutil.is_leap_year(2024)
    assert not timeutil.is_leap_year(2100) and not timeutil.is_leap_year(1900)
    assert not timeutil.is_leap_year(2026)
    assert timeutil.days_in_month(2000, 2) == 29
    assert timeutil.days_in_month(2100, 2) == 28
    # 2100-02-28 is followed by 2100-03-01.
    assert timeutil.days_from_civil(2100, 3, 1) - timeutil.days_from_civil(2100, 2, 28) == 1
    assert timeutil.days_from_civil(2000, 3, 1) - timeutil.days_from_civil(2000, 2, 28) == 2


def test_every_day_from_1969_to_2201_follows_its_predecessor():
    # Independent of the round trip: walk the calendar and check each step by hand rules.
    first = timeutil.days_from_civil(1969, 1, 1)
    last = timeutil.days_from_civil(2201, 12, 31)
    y, m, d = timeutil.civil_from_days(first)
    assert (y, m, d) == (1969, 1, 1)
    for days in range(first + 1, last + 1):
        ny, nm, nd = timeutil.civil_from_days(days)
        if d < timeutil.days_in_month(y, m):
            assert (ny, nm, nd) == (y, m, d + 1), days
        elif m < 12:
            assert (ny, nm, nd) == (y, m + 1, 1), days
        else:
            assert (ny, nm, nd) == (y + 1, 1, 1), days
        y, m, d = ny, nm, nd
    assert (y, m, d) == (2201, 12, 31)
    assert timeutil.days_from_civil(y, m, d) == last


def test_weekdays_count_from_monday():
    assert timeutil.weekday_from_days(0) == 3  # 1970-01-01 was a Thursday
    assert timeutil.weekday_from_days(timeutil.days_from_civil(2000, 1, 1)) == 5  # Saturday
    assert timeutil.weekday_from_days(timeutil.days_from_civil(2026, 1, 5)) == 0  # Monday
    assert timeutil.weekday_from_days(timeutil.days_from_civil(2026, 3, 29)) == 6  # Sunday
    assert timeutil.weekday_from_days(-1) == 2  # 1969-12-31, Wednesday


def test_unix_time_round_trips_with_2038_rollover():
    t = timeutil.unix_from_civil(2038, 1, 19, 3, 14, 7)
    assert t == 2147483647
    assert timeutil.civil_from_unix(t) == (2038, 1, 19, 3, 14, 7, 1)
    assert timeutil.civil_from_unix(t + 1) == (2038, 1, 19, 3, 14, 8, 1)
    assert timeutil.unix_from_civil(2026, 3, 29, 1, 0, 0) == 1774746000
    assert timeutil.civil_from_unix(1774746000) == (2026, 3, 29, 1, 0, 0, 6)


def test_times_before_1970_are_negative_and_floor_correctly():
    assert timeutil.civil_from_unix(-1) == (1969, 12, 31, 23, 59, 59, 2)
    assert timeutil.civil_from_unix(-86400) == (1969, 12, 31, 0, 0, 0, 2)
    assert timeutil.civil_from_unix(-86401) == (1969, 12, 30, 23, 59, 59, 1)
    assert timeutil.unix_from_civil(1969, 12, 31, 23, 59, 59) == -1


def test_round_trip_of_sampled_instants_1970_to_2200():
    t = 0
    end = timeutil.unix_from_civil(2200, 12, 31, 23, 59, 59)
    step = 7777777  # ~90 days, odd so the time of day varies
    while t <= end:
        y, mo, d, h, mi, s, wd = timeutil.civil_from_unix(t)
        assert timeutil.unix_from_civil(y, mo, d, h, mi, s) == t
        assert wd == timeutil.weekday_from_days(t // 86400)
        t += step


def test_leap_second_60_maps_to_the_next_minute():
    a = timeutil.unix_from_civil(2016, 12, 31, 23, 59, 60)
    assert a == timeutil.unix_from_civil(2017, 1, 1, 0, 0, 0)


def test_month_boundaries_are_utc_calendar_months():
    t = timeutil.unix_from_civil(2026, 3, 15, 12, 0, 0)
    assert timeutil.month_start(t) == timeutil.unix_from_civil(2026, 3, 1, 0, 0, 0)
    assert timeutil.next_month_start(t) == timeutil.unix_from_civil(2026, 4, 1, 0, 0, 0)
    dec = timeutil.unix_from_civil(2026, 12, 31, 23, 59, 59)
    assert timeutil.month_start(dec) == timeutil.unix_from_civil(2026, 12, 1, 0, 0, 0)
    assert timeutil.next_month_start(dec) == timeutil.unix_from_civil(2027, 1, 1, 0, 0, 0)
    feb = timeutil.unix_from_civil(2028, 2, 29, 0, 0, 0)
    assert timeutil.next_month_start(feb) - timeutil.month_start(feb) == 29 * 86400
    start = timeutil.unix_from_civil(2026, 5, 1, 0, 0, 0)
    assert timeutil.month_start(start) == start  # a period starts at its own first second
    assert timeutil.month_start(start - 1) == timeutil.unix_from_civil(2026, 4, 1, 0, 0, 0)
    assert timeutil.next_month_start(start - 1) == start


def test_epoch_2000_conversions():
    assert timeutil.EPOCH_2000_OFFSET == 946684800
    assert timeutil.EPOCH_2000_OFFSET == timeutil.unix_from_civil(2000, 1, 1, 0, 0, 0)
    assert timeutil.unix_from_epoch2000(0) == 946684800
    assert timeutil.epoch2000_from_unix(946684800) == 0
    t = 1774746000
    assert timeutil.unix_from_epoch2000(timeutil.epoch2000_from_unix(t)) == t


def test_bad_dates_and_times_raise_invalid_message():
    raises(InvalidMessage, timeutil.days_from_civil, 2026, 13, 1)
    raises(InvalidMessage, timeutil.days_from_civil, 2026, 0, 1)
    raises(InvalidMessage, timeutil.days_from_civil, 2026, 4, 31)
    raises(InvalidMessage, timeutil.days_from_civil, 2100, 2, 29)
    raises(InvalidMessage, timeutil.days_from_civil, 2026, 1, 0)
    raises(InvalidMessage, timeutil.unix_from_civil, 2026, 1, 1, 24, 0, 0)
    raises(InvalidMessage, timeutil.unix_from_civil, 2026, 1, 1, 0, 60, 0)
    raises(InvalidMessage, timeutil.unix_from_civil, 2026, 1, 1, 0, 0, 61)
    raises(InvalidMessage, timeutil.unix_from_civil, 2026, 1, 1, -1, 0, 0)
    raises(InvalidMessage, timeutil.days_from_civil, True, 1, 1)
    raises(InvalidMessage, timeutil.civil_from_unix, "0")
    raises(InvalidMessage, timeutil.month_start, None)
