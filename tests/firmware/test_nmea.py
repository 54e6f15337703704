"""firmware/gnss/nmea.py under both interpreters (CPython via pytest, MicroPython via mp_run.py).

Plain ``def test_*():`` functions and bare asserts only: no pytest, no typing, no floats.
Expected numbers were worked out by hand (or with exact fractions on the host) and are noted
beside each case.
"""

import os

from firmware.gnss.nmea import (
    MAX_SENTENCE,
    TALKER_GA,
    TALKER_GB,
    TALKER_GL,
    TALKER_GN,
    TALKER_GP,
    TALKER_OTHER,
    TALKER_QZ,
    WEEK_ROLLOVER_DAYS,
    Fix,
    MalformedSentence,
    NmeaParser,
    parse_coord_e7,
    parse_date_days,
    parse_fixed,
    parse_time_ms,
)
from protocol.compat import is_int
from tests.contract.support import raises, shared_dir

# 2009-12-09T00:00:00Z and friends, from the host's datetime (independent of the parser).
T_2009_12_09_143306 = 1260369186
T_2017_01_01 = 1483228800
T_2019_01_01 = 1546300800
T_2024_02_29 = 1709164800
T_2024_12_31_235959 = 1735689599
T_2025_01_01 = 1735689600
T_2025_03_01 = 1740787200


def nmea(body):
    """One sentence with its checksum and CRLF, from the bytes between '$' and '*'."""
    x = 0
    for c in body:
        x ^= c
    return b"$" + body + b"*%02X\r\n" % x


def run(data, min_unix=0, chunks=None, flush=True):
    """Feed ``data`` (in ``chunks`` sizes if given); return (parser, fixes)."""
    fixes = []
    p = NmeaParser(fixes.append, min_unix=min_unix)
    if chunks is None:
        p.feed(data)
    else:
        i = 0
        k = 0
        while i < len(data):
            n = chunks[k % len(chunks)]
            k += 1
            p.feed(data[i : i + n])
            assert p.buffered() <= MAX_SENTENCE
            i += n
    if flush:
        p.flush()
    return p, fixes


def summary(fix):
    return (
        fix.t,
        fix.t_ms,
        fix.valid,
        fix.lat_e7,
        fix.lon_e7,
        fix.alt_dm,
        fix.speed_mmps,
        fix.course_cdeg,
        fix.fix_quality,
        fix.fix_type,
        fix.sats,
        fix.hdop_c,
        fix.pdop_c,
        fix.talkers,
    )


def counters(p):
    return (p.sentences_ok, p.checksum_errors, p.malformed, p.overlong, p.ignored, p.undated)


class Lcg:
    """Tiny deterministic PRNG, identical on both interpreters (no `random` needed)."""

    def __init__(self, seed):
        self.x = seed

    def next(self, n):
        self.x = (self.x * 1103515245 + 12345) & 0x7FFFFFFF
        return (self.x >> 8) % n


def gga(t, quality=b"1", lat=b"4813.0535,N", lon=b"00824.8697,E", talker=b"GP"):
    return nmea(b",".join([talker + b"GGA", t, lat, lon, quality, b"08,0.9,765.8,M,47.4,M,,"]))


def rmc(t, date=b"101015", status=b"A", mode=b",A", talker=b"GP", speed=b"0.00"):
    return nmea(
        talker
        + b"RMC,"
        + t
        + b","
        + status
        + b",4813.0535,N,00824.8697,E,"
        + speed
        + b",12.50,"
        + date
        + b",,"
        + mode
    )


def gsa(fix_type=b"3", talker=b"GN"):
    return nmea(talker + b"GSA,A," + fix_type + b",18,21,26,27,,,,,,,,,1.30,0.70,1.10")


# A car at 30–32 kn from the bt451 capture (u-blox ANTARIS, 2 Hz), GSV lines left out.
CAR = (
    b"$GPRMC,143306.50,A,5546.82983,N,02334.72123,E,30.324,221.16,091209,,,A*52\r\n"
    b"$GPVTG,221.16,T,,M,30.324,N,56.191,K,A*37\r\n"
    b"$GPGGA,143306.50,5546.82983,N,02334.72123,E,1,09,1.26,128.9,M,26.9,M,,*50\r\n"
    b"$GPGSA,A,3,32,09,19,11,14,03,22,06,26,,,,3.25,1.26,2.99*05\r\n"
    b"$GPGLL,5546.82983,N,02334.72123,E,143306.50,A,A*66\r\n"
    b"$GPZDA,143306.50,09,12,2009,00,00*61\r\n"
    b"$GPRMC,143307.00,A,5546.82649,N,02334.71625,E,30.860,221.48,091209,,,A*5D\r\n"
    b"$GPVTG,221.48,T,,M,30.860,N,57.183,K,A*35\r\n"
    b"$GPGGA,143307.00,5546.82649,N,02334.71625,E,1,09,1.26,128.1,M,26.9,M,,*57\r\n"
    b"$GPGSA,A,3,32,09,19,11,14,03,22,06,26,,,,3.25,1.26,3.00*04\r\n"
    b"$GPGLL,5546.82649,N,02334.71625,E,143307.00,A,A*69\r\n"
    b"$GPZDA,143307.00,09,12,2009,00,00*65\r\n"
    b"$GPRMC,143307.50,A,5546.82314,N,02334.71118,E,31.351,221.51,091209,,,A*5C\r\n"
    b"$GPVTG,221.51,T,,M,31.351,N,58.092,K,A*3B\r\n"
    b"$GPGGA,143307.50,5546.82314,N,02334.71118,E,1,09,1.26,127.5,M,26.9,M,,*5D\r\n"
    b"$GPGSA,A,3,32,09,19,11,14,03,22,06,26,,,,3.25,1.26,3.00*04\r\n"
    b"$GPGLL,5546.82314,N,02334.71118,E,143307.50,A,A*68\r\n"
    b"$GPZDA,143307.50,09,12,2009,00,00*60\r\n"
    b"$GPRMC,143308.00,A,5546.81975,N,02334.70604,E,32.000,221.54,091209,,,A*52\r\n"
    b"$GPVTG,221.54,T,,M,32.000,N,59.295,K,A*3E\r\n"
    b"$GPGGA,143308.00,5546.81975,N,02334.70604,E,1,09,1.26,127.1,M,26.9,M,,*56\r\n"
    b"$GPGSA,A,3,32,09,19,11,14,03,22,06,26,,,,3.25,1.26,3.00*04\r\n"
)

# (lat_e7, lon_e7, speed_mmps, alt_dm) per epoch, from exact fractions: 55°46.82983' =
# 55.780497166…° -> 557804972; 30.324 kn × 1852/3.6 = 15599.98 mm/s -> 15600.
CAR_EXPECTED = (
    (557804972, 235786872, 15600, 1289),
    (557804415, 235786042, 15876, 1281),
    (557803857, 235785197, 16128, 1275),
    (557803292, 235784340, 16462, 1271),
)


# --- the canned car ------------------------------------------------------------------------


def test_car_excerpt_gives_one_fix_per_epoch_with_exact_integers():
    p, fixes = run(CAR)
    assert len(fixes) == 4
    for k in range(4):
        f = fixes[k]
        lat, lon, speed, alt = CAR_EXPECTED[k]
        assert f.t_ms == (500 if k % 2 == 0 else 0)
        assert f.valid is True
        assert (f.lat_e7, f.lon_e7, f.speed_mmps, f.alt_dm) == (lat, lon, speed, alt)
        assert f.fix_quality == 1 and f.fix_type == 3 and f.sats == 9
        assert f.hdop_c == 126 and f.pdop_c == 325
        assert f.talkers == TALKER_GP
    assert fixes[0].course_cdeg == 22116
    assert [f.t for f in fixes] == [
        T_2009_12_09_143306,
        T_2009_12_09_143306 + 1,
        T_2009_12_09_143306 + 1,
        T_2009_12_09_143306 + 2,
    ]
    # GLL and ZDA are ignored; VTG is used (and agrees with RMC, which wins).
    assert p.ignored == 6
    assert p.sentences_ok == 16
    assert p.checksum_errors == 0 and p.malformed == 0 and p.overlong == 0


def test_fix_fields_are_ints_or_none_never_floats():
    _, fixes = run(CAR)
    for f in fixes:
        for v in summary(f):
            assert v is None or is_int(v) or v is True or v is False
        assert is_int(f.t) and is_int(f.lat_e7) and is_int(f.speed_mmps)


def test_each_fix_is_a_fresh_object():
    _, fixes = run(CAR)
    assert len(fixes) == 4
    for k in range(3):
        assert fixes[k] is not fixes[k + 1]
    assert fixes[0].lat_e7 == CAR_EXPECTED[0][0]  # not overwritten by later epochs


# --- framing --------------------------------------------------------------------------------


def test_split_anywhere_equals_one_shot():
    _, whole = run(CAR)
    expect = [summary(f) for f in whole]
    # Every single split point, including inside '$GP', inside '*hh' and between CR and LF.
    for cut in range(1, len(CAR)):
        fixes = []
        p = NmeaParser(fixes.append, min_unix=0)
        p.feed(CAR[:cut])
        p.feed(CAR[cut:])
        p.flush()
        assert [summary(f) for f in fixes] == expect, cut
    # Byte by byte, and random chunk sizes.
    p1, fixes = run(CAR, chunks=[1])
    assert [summary(f) for f in fixes] == expect
    rng = Lcg(7)
    for _ in range(20):
        sizes = [1 + rng.next(40) for _ in range(30)]
        p2, fixes = run(CAR, chunks=sizes)
        assert [summary(f) for f in fixes] == expect
        assert counters(p2) == counters(p1)


def test_bytearray_input_is_accepted():
    _, fixes = run(bytearray(CAR))
    assert len(fixes) == 4


def test_lf_cr_and_crlf_endings_are_equivalent():
    _, crlf = run(CAR)
    lf = CAR.replace(b"\r\n", b"\n")
    cr = CAR.replace(b"\r\n", b"\r")
    mixed = CAR.replace(b"*04\r\n", b"*04\n")
    for data in (lf, cr, mixed):
        _, fixes = run(data)
        assert [summary(f) for f in fixes] == [summary(f) for f in crlf]


def test_comment_lines_leading_space_and_blank_lines_are_skipped():
    data = (
        b"# Name: some receiver $ with a dollar in the comment\n"
        b"#\n"
        b"\r\n"
        b" " + gga(b"120000.00") + b"\n# mid-data comment\n" + rmc(b"120000.00")
    )
    p, fixes = run(data)
    assert len(fixes) == 1 and fixes[0].valid
    # The '$' inside the comment starts a would-be sentence that fails on its address.
    assert p.malformed == 1
    assert p.sentences_ok == 2


def test_checksum_good_bad_missing():
    good = gga(b"120000.00")
    p, fixes = run(good + rmc(b"120000.00"))
    assert p.sentences_ok == 2 and p.checksum_errors == 0 and len(fixes) == 1
    # One flipped digit in the body.
    bad = good.replace(b"4813.0535", b"4813.0536")
    p, fixes = run(bad + rmc(b"120000.00"))
    assert p.checksum_errors == 1 and p.sentences_ok == 1
    assert fixes[0].fix_quality is None  # the GGA did not count
    # No checksum at all: rejected too (a truncated or unchecked sentence is not trusted).
    p, _ = run(b"$GPGGA,120000.00,4813.0535,N,00824.8697,E,1,08,0.9,765.8,M,47.4,M,,\r\n")
    assert p.checksum_errors == 1 and p.sentences_ok == 0
    # '*' with one hex digit, non-hex digits.
    p, _ = run(good.replace(b"*", b"*0")[:-3] + b"\r\n")
    assert p.checksum_errors == 1
    p, _ = run(b"$GPGSA,A,1,,,,,,,,,,,,,,,*ZZ\r\n")
    assert p.checksum_errors == 1


def test_lowercase_checksum_digits_are_accepted():
    # NMEA says upper-case hex; some receivers send lower case. The value is what counts.
    body = b"GPGSA,A,3,20,,,,13,31,,04,,,,,02.7,01.4,02.9"
    upper = nmea(body)
    assert upper[-4:-2] != upper[-4:-2].lower()  # has a hex letter
    p, _ = run(upper[:-4] + upper[-4:-2].lower() + b"\r\n")
    assert p.sentences_ok == 1 and p.checksum_errors == 0


def test_binary_noise_and_nuls_do_not_break_framing():
    rng = Lcg(1)
    noise = bytes([rng.next(256) for _ in range(300)])
    nul_line = b"$GPRMC,000346.03,A,4808" + b"\x00" * 12 + b"      \r\n"
    data = noise + CAR[:300] + nul_line + noise + CAR[300:]
    p, fixes = run(data)
    assert [summary(f) for f in fixes] == [summary(f) for f in run(CAR)[1]]
    assert p.checksum_errors >= 1  # the NUL line


def test_overlong_line_is_dropped_and_buffer_stays_bounded():
    p = NmeaParser(lambda f: None, min_unix=0)
    p.feed(b"$GPGGA,")
    for _ in range(100):
        p.feed(b"1234567890" * 10)
        assert p.buffered() <= MAX_SENTENCE
    assert p.overlong == 1  # counted once per sentence, not per chunk
    # After a dropped sentence, framing resumes at the next '$'.
    fixes = []
    p = NmeaParser(fixes.append, min_unix=0)
    p.feed(b"$" + b"A" * 500 + gga(b"120000.00") + rmc(b"120000.00"))
    p.flush()
    assert p.overlong == 1 and len(fixes) == 1 and fixes[0].valid
    # Exactly MAX_SENTENCE bytes between '$' and the line end still fit.
    body = b"GPTXT,01,01,02," + b"x" * (MAX_SENTENCE - 18)
    line = nmea(body)
    assert len(line) == MAX_SENTENCE + 3  # '$' + body + '*hh' + CRLF
    p, _ = run(line)
    assert p.overlong == 0 and p.ignored == 1
    p, _ = run(nmea(body + b"x"))
    assert p.overlong == 1


def test_dollar_inside_a_sentence_restarts_framing():
    # isync: a GSV cut by a PTNTA, the rest of the GSV on the next line without '$'.
    data = (
        gga(b"131539.00")
        + b"$GPGSV,4,1,15,02,11,115,36,0$PTNTA,20160203131539,2,T4,000000066,+107,3,0,3*18\n"
        + b"5,34,060,48,07,00,023,,13,56,090,49*71\n"
        + rmc(b"131539.00")
        + gsa()
        # gp-320fw: a complete GSA run into the next RMC on one line.
        + b"$GPGSA,A,1,,,,,,,,,,,,,,,*1E"
        + rmc(b"131540.00")
    )
    p, fixes = run(data)
    assert len(fixes) == 2
    assert fixes[0].valid and fixes[0].fix_type == 3 and fixes[1].fix_type is None
    assert p.sentences_ok == 5  # GGA, RMC, GSA, the run-in GSA, RMC
    assert p.ignored == 2  # the cut GSV (never checksummed) and the PTNTA


def test_truncated_last_line_is_not_used():
    data = CAR + b"$GPRMC,143308.50,A,5546.81633,N,02334.70079,E,32.2"
    p, fixes = run(data)
    assert len(fixes) == 4
    assert p.buffered() > 0  # still waiting for the rest
    p.feed(b"\r\n")
    assert p.checksum_errors == 1
    # garmin-geko201: '*' without its two digits.
    p, _ = run(b"$GPRMC,214352,V,,,,,,,140605,,,N*\r\n")
    assert p.checksum_errors == 1


def test_malformed_addresses_are_counted_not_raised():
    lines = (
        b"$GPN,00000.0000,E,0,00,0.0,,M,,M,,*5C\r\n",
        b"$GP\r\n",
        b"$11,23,87,270,,13,70,270,,24,59,270,,04,40,270,40*7E\r\n",
        b"$GPV427.00,V,0000.0000,N,00000.0000,E,,,220899,,,N*4F\r\n",
        b"$\r\n",
        b"$gpgga,120000,,,,,0,00,,,M,,M,,*00\r\n",
    )
    for line in lines:
        p, fixes = run(line)
        assert p.malformed == 1, line
        assert fixes == []


def test_random_bytes_never_raise():
    rng = Lcg(12345)
    alphabet = b"$*,\r\n0123456789.ABCDEFGHNPRSTVWXZ-"
    for round_ in range(30):
        n = 50 + rng.next(600)
        if round_ % 2:
            data = bytes([rng.next(256) for _ in range(n)])
        else:
            data = bytes([alphabet[rng.next(len(alphabet))] for _ in range(n)])
        p, _ = run(data, chunks=[1 + rng.next(30), 1 + rng.next(5)])
        assert p.buffered() <= MAX_SENTENCE


def test_corrupted_sentences_never_raise_and_good_ones_survive():
    rng = Lcg(99)
    for _ in range(40):
        data = bytearray(CAR)
        for _ in range(1 + rng.next(6)):
            data[rng.next(len(data))] = rng.next(256)
        _, fixes = run(bytes(data), chunks=[1 + rng.next(64)])
        assert len(fixes) <= 4
        for f in fixes:
            if f.valid:
                assert f.lat_e7 is not None and 557000000 < f.lat_e7 < 558000000


# --- sentence types -------------------------------------------------------------------------


def test_gga_fields():
    _, fixes = run(
        nmea(b"GPGGA,094736,5251.0094,N,00518.8172,E,2,12,0.60,-4,M,46.8,M,,")
        + rmc(b"094736", date=b"200818")
    )
    f = fixes[0]
    # 52°51.0094' = 52.850156666…° ; 5°18.8172' = 5.31362° exactly.
    assert (f.lat_e7, f.lon_e7) == (528501567, 53136200)
    assert f.alt_dm == -40 and f.sats == 12 and f.hdop_c == 60 and f.fix_quality == 2
    assert f.valid


def test_rmc_fields_speed_course_date():
    _, fixes = run(rmc(b"010203.42", date=b"070419", speed=b"10.0") + gga(b"010203.42"))
    f = fixes[0]
    # 10 kn = 10 × 1852 / 3.6 mm/s = 5144.44 -> 5144.
    assert f.speed_mmps == 5144 and f.course_cdeg == 1250
    assert f.t == 1554598923 and f.t_ms == 420  # 2019-04-07T01:02:03.42Z


def test_rmc_without_mode_field_pre_nmea_2_3():
    # firefly-II: no mode field, nothing after the magnetic variation.
    s = b"$GPRMC,005947.00,A,3715.6616,N,12157.6709,W,0.0,0.0,080710,,*2F\r\n"
    p, fixes = run(s)
    f = fixes[0]
    assert p.sentences_ok == 1 and f.valid
    # 37°15.6616' = 37.26102667° ; 121°57.6709' W = -121.961181666…°
    assert (f.lat_e7, f.lon_e7) == (372610267, -1219611817)


def test_nmea_4_11_extra_fields():
    # ublox-zed-f9p: RMC nav status field, GSA system id; southern and eastern hemisphere.
    data = (
        b"$GNRMC,003956.00,A,4552.65403,S,17030.00668,E,0.025,,120419,,,A,V*07\r\n"
        b"$GNGGA,003956.00,4552.65403,S,17030.00668,E,1,12,0.64,14.2,M,1.8,M,,*56\r\n"
        b"$GNGSA,A,3,13,16,21,15,10,29,27,20,,,,,1.05,0.64,0.83,1*03\r\n"
        b"$GNGSA,A,3,82,66,81,,,,,,,,,,1.05,0.64,0.83,2*0C\r\n"
    )
    p, fixes = run(data)
    f = fixes[0]
    assert p.sentences_ok == 4
    assert f.valid and f.lat_e7 == -458775672 and f.lon_e7 == 1705001113
    assert f.speed_mmps == 13 and f.course_cdeg is None  # 0.025 kn = 12.86 mm/s
    assert f.fix_type == 3 and f.pdop_c == 105 and f.hdop_c == 64


def test_gsa_fix_type_and_dops_first_gsa_wins_best_type_kept():
    # u-blox order: RMC, GGA, then one GSA per constellation after them.
    data = rmc(b"120000.00") + gga(b"120000.00") + gsa(b"2") + gsa(b"3")
    data += rmc(b"120001.00") + gga(b"120001.00")
    fixes = []
    p = NmeaParser(fixes.append, min_unix=0)
    p.feed(data)
    # The epoch waited for its GSA and was emitted at the first one (later GSAs repeat the
    # DOPs); GGA's HDOP (0.9) wins over GSA's (0.70).
    assert len(fixes) == 1
    assert fixes[0].fix_type == 2 and fixes[0].pdop_c == 130 and fixes[0].hdop_c == 90
    p.flush()
    assert len(fixes) == 2 and fixes[1].fix_type is None  # flushed before its GSA came


def test_multiple_gsa_before_completion_keep_best_fix_type():
    # SiRF order: GGAs, GSAs, then RMC completes the epoch.
    data = b""
    for s in (b"10", b"11"):
        t = b"0209" + s + b".000"
        data += gga(t) + gsa(b"2", b"GN") + gsa(b"3", b"GN") + rmc(t, date=b"050219")
    _, fixes = run(data)
    assert [f.fix_type for f in fixes] == [3, 3]


def test_vtg_gives_speed_when_no_rmc_speed():
    data = (
        rmc(b"120000.00", speed=b"")
        + nmea(b"GPVTG,054.7,T,034.4,M,005.5,N,010.2,K,A")
        + gga(b"120000.00")
    )
    _, fixes = run(data)
    # 5.5 kn -> 2829.44 mm/s; course from VTG as RMC's is present (12.50) and wins.
    assert fixes[0].speed_mmps == 2829 and fixes[0].course_cdeg == 1250
    # Pre-NMEA-2.3 VTG: course, course, knots, km/h.
    data = rmc(b"120000.00", speed=b"") + nmea(b"GPVTG,054.7,034.4,005.5,010.2") + gga(b"120000.00")
    p, fixes = run(data)
    assert fixes[0].speed_mmps == 2829 and p.malformed == 0


def test_unused_types_and_proprietary_are_ignored():
    data = (
        nmea(b"GPGLL,4813.0535,N,00824.8697,E,120000.00,A,A")
        + nmea(b"GPGSV,1,1,00")
        + nmea(b"GPZDA,120000.00,10,10,2015,,")
        + nmea(b"GNTXT,01,01,02,u-blox AG - www.u-blox.com")
        + b"$GPTXT,TELIT SW Version: SL869 v3.1.2.1 -STD -N96\r\n"
        + nmea(b"PSRFEPE,074150.799,V,,,,,")
        + b"$PLCS,REV,PLN012054S07,070312,145743\r\n"
        + nmea(b"PUBX,00,120000.00")
        + nmea(b"SDDPT,5.3,0.4,")
    )
    p, fixes = run(data)
    assert p.ignored == 9 and p.sentences_ok == 0 and p.checksum_errors == 0
    assert fixes == []


def test_talkers_from_any_constellation():
    cases = (
        (b"GP", TALKER_GP),
        (b"GN", TALKER_GN),
        (b"GL", TALKER_GL),
        (b"GA", TALKER_GA),
        (b"GB", TALKER_GB),
        (b"BD", TALKER_GB),
        (b"QZ", TALKER_QZ),
        (b"II", TALKER_OTHER),
    )
    for talker, bit in cases:
        t = b"120000.00"
        _, fixes = run(gga(t, talker=talker) + rmc(t, talker=talker))
        assert len(fixes) == 1 and fixes[0].valid, talker
        assert fixes[0].talkers == bit, talker
    # Mixed talkers in one epoch: bits combine (ch-4711: GN GGA/RMC, GL GSA).
    t = b"120000.00"
    _, fixes = run(gga(t, talker=b"GN") + rmc(t, talker=b"GN") + gsa(talker=b"GL"))
    assert fixes[0].talkers == TALKER_GN | TALKER_GL
    data = gsa(talker=b"GL") + gga(t, talker=b"GN") + rmc(t, talker=b"GP") + gsa(talker=b"GL")
    _, fixes = run(data)
    assert fixes[0].talkers == TALKER_GN | TALKER_GP | TALKER_GL


def test_one_gga_per_constellation_sums_satellites():
    # sirfstarv: GPGGA with 08 and GLGGA with 02 satellites in the same epoch.
    data = (
        b"$GPGGA,020935.000,4404.1351,N,12118.8556,W,1,08,0.9,1123.9,M,-19.6,M,,0000*5E\n"
        b"$GLGGA,020935.000,4404.1351,N,12118.8556,W,1,02,0.9,1123.9,M,-19.6,M,,0000*48\n"
        b"$GNGSA,A,3,15,17,30,28,01,19,24,11,,,,,1.8,0.9,1.5*2C\n"
        b"$GNGSA,A,3,73,82,,,,,,,,,,,1.8,0.9,1.5*26\n"
        b"$GNRMC,020935.000,A,4404.1351,N,12118.8556,W,0.04,359.11,050219,,,A*6C\n"
    )
    _, fixes = run(data)
    assert fixes[0].sats == 10 and fixes[0].valid
    assert fixes[0].talkers == TALKER_GP | TALKER_GL | TALKER_GN


# --- fix validity -----------------------------------------------------------------------------


def test_no_fix_sentences_give_invalid_fixes():
    t = b"074150.799"
    # beidou-bd: empty position, GGA quality 0, RMC V mode N.
    data = nmea(b"GNGGA,074150.799,,,,,0,00,,,M,0.0,M,,0000,") + nmea(
        b"GNRMC,074150.799,V,,,,,,,250215,,,N"
    )
    _, fixes = run(data)
    f = fixes[0]
    assert f.valid is False and f.lat_e7 is None and f.lon_e7 is None and f.fix_quality == 0
    # skytraq: zero coordinates with 7-decimal minutes stand for "no position".
    data = nmea(b"GPGGA,212406.000,0000.0000000,N,00000.0000000,E,0,00,0.0,0.000,M,0.000,M,,0000")
    data += nmea(b"GPRMC,212406.000,V,0000.0000000,N,00000.0000000,E,000.0,000.0,280316,,,N")
    _, fixes = run(data)
    assert fixes[0].valid is False and fixes[0].lat_e7 is None
    # RMC V and GGA 0 with coordinates (sl869, ch-4711): positions kept, not valid.
    _, fixes = run(gga(t, quality=b"0") + rmc(t, status=b"V", mode=b""))
    assert fixes[0].valid is False and fixes[0].lat_e7 == 482175583
    # bt451 before the first fix: everything empty, even the time: nothing to emit.
    data = b"$GPRMC,,V,,,,,,,,,,N*53\r\n$GPGGA,,,,,,0,00,99.99,,,,,,*48\r\n"
    data += b"$GPGSA,A,1,,,,,,,,,,,,,99.99,99.99,99.99*30\r\n$GPVTG,,,,,,,,,N*30\r\n"
    p, fixes = run(data)
    assert fixes == [] and p.sentences_ok == 4 and p.malformed == 0


def test_estimated_manual_and_simulated_fixes_are_invalid():
    t = b"165010.000"
    for quality in (b"6", b"7", b"8"):
        _, fixes = run(gga(t, quality=quality))
        assert fixes == []  # GGA alone has no date
        _, fixes = run(rmc(b"165000.000", date=b"180710") + gga(t, quality=quality))
        assert fixes[1].valid is False and fixes[1].fix_quality == int(quality)
    for quality in (b"1", b"2", b"4", b"5"):
        _, fixes = run(gga(t, quality=quality) + rmc(t))
        assert fixes[0].valid is True, quality
    for mode in (b"E", b"S", b"M", b"N"):
        _, fixes = run(gga(t) + rmc(t, mode=b"," + mode))
        assert fixes[0].valid is False, mode
    for mode in (b"A", b"D", b"P", b"R", b"F"):
        _, fixes = run(gga(t) + rmc(t, mode=b"," + mode))
        assert fixes[0].valid is True, mode
    # garmin-10x: GGA quality 6 with RMC V mode E.
    data = (
        b"$GPGGA,165010.000,4143.6057,N,08338.0788,W,6,00,50.0,203.8,M,-33.7,M,,0000*5D\r\n"
        b"$GPGSA,A,2,,,,,,,,,,,,,50.0,50.0,50.0*06\r\n"
        b"$GPRMC,165010.000,V,4143.6057,N,08338.0788,W,0.60,231.03,180710,,,E*67\r\n"
    )
    _, fixes = run(data)
    assert fixes[0].valid is False and fixes[0].lat_e7 == 417267617
    # garmin-geko201 demo mode: quality 8 and RMC V,S.
    data = (
        b"$GPRMC,214350,V,4023.8600,N,00339.1630,W,10.8,0.0,140605,2.5,W,S*21\n"
        b"$GPGGA,214350,4023.8600,N,00339.1630,W,8,09,2.0,695.7,M,51.6,M,,*5A\n"
    )
    _, fixes = run(data)
    assert fixes[0].valid is False and fixes[0].fix_quality == 8


def test_gsa_no_fix_vetoes_and_rmc_a_alone_is_valid():
    t = b"120000.00"
    data = gsa() + gga(t) + rmc(t) + gsa(b"1")  # first GSA teaches: this receiver sends GSA
    _, fixes = run(data)
    assert fixes[0].valid is False and fixes[0].fix_type == 1
    _, fixes = run(rmc(t))
    assert fixes[0].valid is True and fixes[0].fix_quality is None


# --- epochs ---------------------------------------------------------------------------------


def test_epoch_is_emitted_as_soon_as_it_is_complete():
    fixes = []
    p = NmeaParser(fixes.append, min_unix=0)
    p.feed(rmc(b"120000.00") + gga(b"120000.00"))
    assert fixes == []  # most receivers send GSA after GGA: wait for it
    p.feed(gsa())
    assert len(fixes) == 1  # no need to wait for the next second
    # A late or repeated sentence of that epoch is dropped (bundg_zeus_9 repeats an RMC).
    p.feed(rmc(b"120000.00") + gga(b"120000.00") + gsa())
    assert len(fixes) == 1
    p.flush()
    assert len(fixes) == 1
    # A receiver without GSA: the first epoch waits for the next second, later ones do not.
    fixes = []
    p = NmeaParser(fixes.append, min_unix=0)
    p.feed(rmc(b"120000.00") + gga(b"120000.00"))
    assert fixes == []
    p.feed(rmc(b"120001.00"))
    assert len(fixes) == 1
    p.feed(gga(b"120001.00"))
    assert len(fixes) == 2


def test_epoch_is_emitted_when_the_time_changes_or_on_flush():
    fixes = []
    p = NmeaParser(fixes.append, min_unix=0)
    p.feed(rmc(b"120000.00"))
    p.feed(rmc(b"120001.00"))  # RMC-only receiver: the next second closes the epoch
    assert [f.t % 86400 for f in fixes] == [43200]
    p.flush()
    assert [f.t % 86400 for f in fixes] == [43200, 43201]
    # 10 Hz GGA with 1 Hz RMC (rst39): one fix per GGA time.
    data = rmc(b"204132.00", date=b"190214") + gga(b"204132.00")
    for k in range(1, 10):
        data += gga(b"204132.%d0" % k)
    data += gga(b"204133.00") + rmc(b"204133.00", date=b"190214")
    _, fixes = run(data)
    assert [f.t_ms for f in fixes] == [0, 100, 200, 300, 400, 500, 600, 700, 800, 900, 0]
    assert fixes[1].t == fixes[0].t and fixes[10].t == fixes[0].t + 1
    assert fixes[1].speed_mmps is None and fixes[0].speed_mmps == 0


def test_receiver_that_stops_sending_gsa_is_not_waited_for_forever():
    data = b""
    for s in range(3):
        t = b"1200%02d.00" % s
        data += gga(t) + rmc(t) + gsa()
    fixes = []
    p = NmeaParser(fixes.append, min_unix=0)
    p.feed(data)
    assert len(fixes) == 3
    p.feed(gga(b"120003.00") + rmc(b"120003.00"))
    assert len(fixes) == 3  # waiting for the GSA this receiver used to send
    p.feed(gga(b"120004.00") + rmc(b"120004.00"))
    assert len(fixes) == 5  # the time change closed 120003, and 120004 no longer waits


def test_undated_epochs_are_not_emitted():
    p, fixes = run(gga(b"120000.00") + gga(b"120001.00") + gsa())
    assert fixes == [] and p.undated == 2
    # Once an RMC dates the stream, GGA-only epochs get the date.
    p, fixes = run(gga(b"120000.00") + rmc(b"120001.00", date=b"010125") + gga(b"120002.00"))
    assert p.undated == 1
    assert [f.t for f in fixes] == [T_2025_01_01 + 43201, T_2025_01_01 + 43202]


# --- time and date ----------------------------------------------------------------------------


def test_time_of_day_with_0_to_3_and_more_decimals():
    assert parse_time_ms(b"094737") == 35257000
    assert parse_time_ms(b"000231.4") == 151400
    assert parse_time_ms(b"000231.42") == 151420
    assert parse_time_ms(b"000231.099") == 151099
    assert parse_time_ms(b"102143.9999") == 37303999  # truncated, not rounded to the next second
    assert parse_time_ms(b"235960") == 86400000  # leap second keeps its own value
    for bad in (b"24000", b"240000", b"126000", b"120061", b"12000a", b"120000,5", b"1200.0"):
        raises(MalformedSentence, parse_time_ms, bad)


def test_date_parsing_two_digit_years():
    assert parse_date_days(b"010180") == 3652  # 1980-01-01
    assert parse_date_days(b"010170") * 86400 == 3155760000  # 2070-01-01, not 1970
    assert parse_date_days(b"010180") * 86400 == 315532800  # 1980-01-01
    assert parse_date_days(b"311299") * 86400 == 946598400  # 1999-12-31
    assert parse_date_days(b"010100") * 86400 == 946684800  # 2000-01-01
    assert parse_date_days(b"311279") * 86400 == 3471206400  # 2079-12-31
    assert parse_date_days(b"290224") * 86400 == T_2024_02_29


def test_impossible_dates_are_malformed():
    for bad in (b"2208-1", b"001019", b"011319", b"320119", b"290223", b"310419", b"22089", b""):
        raises(MalformedSentence, parse_date_days, bad)
    # april6_2019: the RMC with year "-1" is dropped whole.
    p, fixes = run(
        b"$GPRMC,000231.099,A,4829.0005,N,00022.0015,E,0.15,212.28,2208-1,,,A*73\r\n",
        min_unix=T_2019_01_01,
    )
    assert p.malformed == 1 and fixes == []


def test_week_rollover_is_corrected_from_min_unix():
    # april6_2019 / gp-320fw: 1999-08-22 reported for 2019-04-07.
    s = b"$GPRMC,000231.42,A,4829.0005,N,00022.0016,E,0.16,212.28,220899,,,A*59\r\n"
    _, fixes = run(s, min_unix=T_2019_01_01)
    assert fixes[0].t == 1554595351 and fixes[0].t_ms == 420  # 2019-04-07T00:02:31.42Z
    fixes = []
    p = NmeaParser(fixes.append)  # default bound: 2024-01-01
    p.feed(s)
    p.flush()
    assert fixes[0].t == 1554595351 + WEEK_ROLLOVER_DAYS * 86400  # 2038-11-21: 2 rollovers
    p = NmeaParser(lambda f: None)
    assert p.min_unix == 1704067200
    _, fixes = run(s, min_unix=0)
    assert fixes[0].t == 1554595351 - WEEK_ROLLOVER_DAYS * 86400  # taken as given
    # A date at or after the bound is never moved.
    _, fixes = run(rmc(b"000000.00", date=b"010117"), min_unix=T_2017_01_01)
    assert fixes[0].t == T_2017_01_01
    _, fixes = run(rmc(b"235959.99", date=b"311216"), min_unix=T_2017_01_01)
    assert fixes[0].t == T_2017_01_01 - 1 + WEEK_ROLLOVER_DAYS * 86400


def test_gga_only_epochs_roll_the_date_over_midnight_year_end():
    data = rmc(b"235959.00", date=b"311224") + gga(b"235959.00")
    data += gga(b"000000.00") + gga(b"000001.00") + gga(b"000002.00")
    _, fixes = run(data)
    assert [f.t for f in fixes] == [
        T_2024_12_31_235959,
        T_2025_01_01,
        T_2025_01_01 + 1,
        T_2025_01_01 + 2,
    ]


def test_gga_only_epochs_roll_over_leap_day_and_month_end():
    data = rmc(b"235958.00", date=b"280224") + gga(b"235959.50") + gga(b"000000.50")
    _, fixes = run(data)
    assert fixes[-1].t == T_2024_02_29 and fixes[-1].t_ms == 500
    data = rmc(b"235958.00", date=b"280225") + gga(b"000000.00")
    _, fixes = run(data)
    assert fixes[-1].t == T_2025_03_01
    # An outage across midnight: the last date was yesterday, the time is earlier.
    data = rmc(b"230000.00", date=b"311224") + gga(b"003000.00")
    _, fixes = run(data)
    assert fixes[-1].t == T_2025_01_01 + 1800


def test_a_small_backward_time_step_is_not_a_new_day():
    # bt451: segments joined by hand, time steps back from 15:25:08.50 to 14:33:06.00.
    data = rmc(b"152508.50", date=b"091209") + gga(b"152508.50") + gga(b"143306.00")
    _, fixes = run(data)
    assert fixes[1].t == T_2009_12_09_143306 and fixes[1].t - fixes[0].t == -3122


def test_rmc_date_wins_over_carried_date():
    data = rmc(b"235959.00", date=b"311224") + gga(b"000000.00")
    data += rmc(b"000001.00", date=b"010125") + gga(b"000001.00")
    _, fixes = run(data)
    assert [f.t for f in fixes] == [T_2024_12_31_235959, T_2025_01_01, T_2025_01_01 + 1]


# --- number parsing ---------------------------------------------------------------------------


def test_coordinates_any_decimals_rounded_half_away_from_zero():
    n = 0x4E
    s = 0x53
    assert parse_coord_e7(b"4807.038", b"N", n, s, 90) == 481173000
    assert parse_coord_e7(b"4807.038", b"S", n, s, 90) == -481173000
    assert parse_coord_e7(b"4807", b"N", n, s, 90) == 481166667
    assert parse_coord_e7(b"4205.733476", b"N", n, s, 90) == 420955579  # 6 decimals (rst39)
    assert parse_coord_e7(b"0000.0000000", b"N", n, s, 90) == 0  # 7 decimals (skytraq)
    # Exactly half a unit: 0.0000030' = 0.5e-7° rounds away from zero on both sides.
    assert parse_coord_e7(b"0000.0000030", b"N", n, s, 90) == 1
    assert parse_coord_e7(b"0000.0000030", b"S", n, s, 90) == -1
    assert parse_coord_e7(b"0000.0000029", b"N", n, s, 90) == 0
    # More decimals than 1e-7° needs (9): still exact.
    assert parse_coord_e7(b"0000.000003000", b"S", n, s, 90) == -1
    assert parse_coord_e7(b"0000.000002999", b"S", n, s, 90) == 0
    assert parse_coord_e7(b"17959.9999", b"W", 0x45, 0x57, 180) == -1799999983
    assert parse_coord_e7(b"17959.9999999", b"E", 0x45, 0x57, 180) == 1800000000  # rounds up
    assert parse_coord_e7(b"9000.0000", b"N", n, s, 90) == 900000000
    assert parse_coord_e7(b"", b"", n, s, 90) is None
    for bad, hemi in (
        (b"9000.0001", b"N"),
        (b"4860.0000", b"N"),
        (b"48.5", b"N"),
        (b"4807.03a", b"N"),
        (b"4807.038", b"E"),
        (b"4807.038", b""),
        (b"4807.038", b"NN"),
        (b"-4807.038", b"N"),
        (b"48 7.038", b"N"),
        (b"48_7.038", b"N"),
    ):
        raises(MalformedSentence, parse_coord_e7, bad, hemi, n, s, 90)
    raises(MalformedSentence, parse_coord_e7, b"18000.0001", b"E", 0x45, 0x57, 180)


def test_parse_fixed_rounds_half_away_from_zero():
    assert parse_fixed(b"1.25", 1) == 13
    assert parse_fixed(b"-1.25", 1) == -13
    assert parse_fixed(b"1.24", 1) == 12
    assert parse_fixed(b"-4", 1) == -40
    assert parse_fixed(b"+4", 1) == 40
    assert parse_fixed(b"00.00", 2) == 0
    assert parse_fixed(b"01.8", 2) == 180
    assert parse_fixed(b".5", 0) == 1
    assert parse_fixed(b"7.", 2) == 700
    assert parse_fixed(b"221.921", 1) == 2219
    assert parse_fixed(b"", 2) is None
    for bad in (b"-", b".", b"1.2.3", b"1e3", b" 1", b"1_0", b"--1", b"0x1"):
        raises(MalformedSentence, parse_fixed, bad, 2)


def test_malformed_field_values_are_counted():
    t = b"120000.00"
    bad = (
        nmea(b"GPGGA,120000.00,4813.0535,X,00824.8697,E,1,08,0.9,765.8,M,47.4,M,,"),
        nmea(b"GPGGA,120000.00,4813.0535,N,00824.8697,E,1,08"),
        nmea(b"GPGGA,120000.00,4813.0535,N,00824.8697,E,one,08,0.9,765.8,M,47.4,M,,"),
        nmea(b"GPRMC,120000.00,A,4813.0535,N,00824.8697,E,-1.0,12.5,101015,,,A"),
        nmea(b"GPRMC,126000.00,A,4813.0535,N,00824.8697,E,1.0,12.5,101015,,,A"),
        nmea(b"GPGSA,A,4,,,,,,,,,,,,,1.0,1.0,1.0"),
        nmea(b"GPGSA,A,3,1.0,1.0,1.0"),
        nmea(b"GPVTG,1,2,3"),
    )
    for s in bad:
        p, fixes = run(s + rmc(t))
        assert p.malformed == 1, s
        assert p.sentences_ok == 1 and len(fixes) == 1
        # Nothing of the malformed sentence leaked into the epoch.
        assert fixes[0].fix_quality is None and fixes[0].fix_type is None


def test_errors_of_the_callback_propagate_and_are_not_counted_as_input_errors():
    calls = []

    def on_fix(fix):
        calls.append(fix)
        if len(calls) == 1:
            raise ValueError("consumer bug")

    p = NmeaParser(on_fix, min_unix=0)
    data = gga(b"120000.00") + rmc(b"120000.00") + gsa()
    e = raises(ValueError, p.feed, data)
    assert str(e) == "consumer bug"
    assert p.malformed == 0 and p.sentences_ok == 3
    # Still usable afterwards.
    p.feed(gga(b"120001.00") + rmc(b"120001.00") + gsa())
    assert len(calls) == 2 and calls[1].valid


def test_fix_repr_is_readable():
    r = repr(Fix())
    assert r.startswith("Fix(") and "valid=False" in r


# --- real captures (also under MicroPython: no exception on real corrupt data) ---------------

# Fixes emitted, valid ones, and rejected sentences (checksum + malformed + overlong) per
# capture with min_unix = 2017-01-01; tests/host/test_nmea_gpsd.py compares them with gpsd.
CAPTURES = {
    "april6_2019.log": (1, 1, 1),
    "beidou-bd.log": (10, 5, 0),
    "bt451.log": (14, 14, 0),
    "bundg_zeus_9.log": (147, 147, 0),
    "ch-4711.log": (14, 7, 0),
    "firefly-II.log": (23, 23, 23),
    "garmin-10x.log": (14, 9, 0),
    "garmin-geko201.log": (18, 0, 0),
    "gp-320fw-2019-04-07-coldboot.log": (18, 1, 31),
    "isync.log": (12, 12, 0),
    "nl2008u.log": (9, 9, 0),
    "rst39.log": (41, 41, 0),
    "sirfstarv-nmea.log": (59, 59, 0),
    "skytraq.log": (17, 0, 0),
    "sl869.log": (15, 8, 0),
    "ublox-8.log": (72, 72, 1),
    "ublox-zed-f9p-nmea.log": (29, 29, 0),
}


def _capture(name):
    with open(shared_dir() + "/nmea/" + name, "rb") as fh:
        return fh.read()


def test_all_captures_parse_without_exceptions_and_give_the_known_fixes():
    names = [n for n in os.listdir(shared_dir() + "/nmea") if n.endswith(".log")]
    assert len(names) == 17
    for name in names:
        p, fixes = run(_capture(name), min_unix=T_2017_01_01)
        emitted, valid, rejected = CAPTURES[name]
        assert len(fixes) == emitted, name
        assert len([f for f in fixes if f.valid]) == valid, name
        assert p.checksum_errors + p.malformed + p.overlong == rejected, name
        for f in fixes:
            assert f.t >= T_2017_01_01
            if f.valid:
                assert f.lat_e7 is not None and -900000000 <= f.lat_e7 <= 900000000


def test_corrupted_captures_split_randomly_equal_one_shot():
    rng = Lcg(2024)
    for name in ("gp-320fw-2019-04-07-coldboot.log", "isync.log", "ublox-8.log"):
        data = _capture(name)
        p1, whole = run(data, min_unix=T_2017_01_01)
        sizes = [1 + rng.next(97) for _ in range(50)]
        p2, split = run(data, min_unix=T_2017_01_01, chunks=sizes)
        assert [summary(f) for f in split] == [summary(f) for f in whole], name
        assert counters(p2) == counters(p1), name
