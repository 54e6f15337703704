"""Calendar and epoch arithmetic on integer Unix seconds (UTC), without ``time`` or floats.

The protocol counts time in Unix seconds (1970-01-01T00:00:00Z, leap seconds not counted, as
POSIX does). MicroPython on the ESP32 counts from 2000-01-01 instead, so device clock values
are converted with :func:`unix_from_epoch2000` before they enter the protocol.

The day-number conversions are Howard Hinnant's ``days_from_civil`` / ``civil_from_days``
(proleptic Gregorian calendar, exact for every int). Python's floor division and modulo
make the era arithmetic work for negative inputs without special cases.
"""

from protocol.compat import const, is_int
from protocol.errors import InvalidMessage

# Seconds from 1970-01-01 to 2000-01-01 (10,957 days): MicroPython's embedded epoch.
EPOCH_2000_OFFSET = 946684800

SECONDS_PER_DAY = 86400

_DAYS_IN_MONTH = const((31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31))


def _need_int(name, value):
    if not is_int(value):
        raise InvalidMessage("%s must be an int, got %r" % (name, value))


def is_leap_year(y):
    """True if ``y`` is a Gregorian leap year."""
    return y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)


def days_in_month(y, m):
    """Number of days in month ``m`` (1..12) of year ``y``."""
    if m == 2 and is_leap_year(y):
        return 29
    return _DAYS_IN_MONTH[m - 1]


def days_from_civil(y, m, d):
    """Days since 1970-01-01 of the Gregorian date ``y-m-d`` (negative before 1970)."""
    _need_int("year", y)
    _need_int("month", m)
    _need_int("day", d)
    if not 1 <= m <= 12:
        raise InvalidMessage("month %d not in 1..12" % m)
    if not 1 <= d <= days_in_month(y, m):
        raise InvalidMessage("day %d not in month %d-%02d" % (d, y, m))
    # Hinnant: shift the year to start on 1 March so the leap day is the last day of a year.
    if m <= 2:
        y -= 1
    era = y // 400
    yoe = y - era * 400  # [0, 399]
    doy = (153 * (m - 3 if m > 2 else m + 9) + 2) // 5 + d - 1  # [0, 365]
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy  # [0, 146096]
    return era * 146097 + doe - 719468


def civil_from_days(days):
    """Gregorian ``(y, m, d)`` of the day number ``days`` (days since 1970-01-01)."""
    _need_int("days", days)
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097  # [0, 146096]
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365  # [0, 399]
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)  # [0, 365]
    mp = (5 * doy + 2) // 153  # [0, 11], March = 0
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    y = yoe + era * 400
    if m <= 2:
        y += 1
    return (y, m, d)


def weekday_from_days(days):
    """Weekday of a day number, 0 = Monday … 6 = Sunday (1970-01-01 was a Thursday)."""
    return (days + 3) % 7


def unix_from_civil(y, mo, d, h, mi, s):
    """Unix seconds of the UTC date-time ``y-mo-d h:mi:s``.

    ``s`` may be 60 (a leap second as GNSS receivers print it); like POSIX time it then maps
    onto the first second of the next minute.
    """
    _need_int("hour", h)
    _need_int("minute", mi)
    _need_int("second", s)
    if not 0 <= h <= 23:
        raise InvalidMessage("hour %d not in 0..23" % h)
    if not 0 <= mi <= 59:
        raise InvalidMessage("minute %d not in 0..59" % mi)
    if not 0 <= s <= 60:
        raise InvalidMessage("second %d not in 0..60" % s)
    return days_from_civil(y, mo, d) * SECONDS_PER_DAY + h * 3600 + mi * 60 + s


def civil_from_unix(t):
    """``(y, mo, d, h, mi, s, weekday)`` in UTC of Unix seconds ``t``; weekday 0 = Monday."""
    _need_int("t", t)
    days = t // SECONDS_PER_DAY
    sod = t - days * SECONDS_PER_DAY  # [0, 86399] also for t < 0
    y, mo, d = civil_from_days(days)
    return (y, mo, d, sod // 3600, (sod // 60) % 60, sod % 60, weekday_from_days(days))


def month_start(t):
    """Unix seconds of 00:00:00 UTC on the first day of the calendar month containing ``t``.

    Statements cover UTC calendar months by default: the period containing ``t`` is
    ``[month_start(t), next_month_start(t))``.
    """
    _need_int("t", t)
    y, m, _ = civil_from_days(t // SECONDS_PER_DAY)
    return days_from_civil(y, m, 1) * SECONDS_PER_DAY


def next_month_start(t):
    """Unix seconds of the first instant of the UTC calendar month after the one of ``t``."""
    _need_int("t", t)
    y, m, _ = civil_from_days(t // SECONDS_PER_DAY)
    if m == 12:
        y += 1
        m = 1
    else:
        m += 1
    return days_from_civil(y, m, 1) * SECONDS_PER_DAY


def unix_from_epoch2000(t2000):
    """Unix seconds from seconds since 2000-01-01 (the ESP32 MicroPython epoch)."""
    _need_int("t2000", t2000)
    return t2000 + EPOCH_2000_OFFSET


def epoch2000_from_unix(t):
    """Seconds since 2000-01-01 (the ESP32 MicroPython epoch) from Unix seconds."""
    _need_int("t", t)
    return t - EPOCH_2000_OFFSET
