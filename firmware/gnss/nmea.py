"""NMEA 0183 parser for the OBU's GNSS receiver: raw UART bytes in, one :class:`Fix` per epoch out.

The parser knows nothing about the UART (Peter Hinch's GPS driver and micropython-lib style): the
driver reads whatever the UART has and calls :meth:`NmeaParser.feed`; tests feed canned bytes.

API (one way out, a callback)::

    parser = NmeaParser(on_fix, min_unix=MIN_UNIX_DEFAULT)
    parser.feed(chunk)   # any bytes, split anywhere; calls on_fix(fix) for each finished epoch
    parser.flush()       # finish the epoch in progress now (end of input, receiver gone quiet)
    parser.buffered()    # bytes of an unfinished sentence held (at most MAX_SENTENCE)

``on_fix`` runs synchronously inside ``feed``/``flush`` and receives a fresh :class:`Fix` that
the parser never touches again, so the callee may keep it.

Framing: a sentence runs from ``$`` to CR or LF; a second ``$`` ends the sentence so far and
starts a new one (collided sentences); bytes outside sentences (comments, binary noise, NULs,
a leading space) are skipped. A sentence longer than :data:`MAX_SENTENCE` is dropped and the
bytes are skipped up to the next ``$``, so memory stays bounded whatever the input. Every
sentence we use must end in a valid ``*hh`` checksum: one without a checksum is rejected.
``feed`` never raises on any input: problems are counted, not thrown (counters on NmeaParser);
only an exception from ``on_fix`` itself comes out.

Sentences used, from any talker (GP, GN, GL, GA, GB, BD, QZ, …): GGA (position, quality,
satellites, HDOP, altitude), RMC (status, position, speed, course, date), GSA (fix type, DOPs;
several per epoch, one per constellation) and VTG (speed/course when no RMC gives them). GLL,
GSV, ZDA, TXT, … and proprietary ``$P…`` sentences are counted as ignored; they are not even
checksummed, which saves the CPU for the sentences that matter (a u-blox F9P sends 24 GSV per
second).

Epochs: sentences with the same UTC time of day form one epoch (GSA and VTG carry no time and
join the epoch in progress). An epoch is finished when the time changes, or as soon as it has
both RMC and GGA, and also a GSA if the receiver sends GSA (learned from the stream: most
receivers send GSA after GGA, so without waiting we would lose the DOPs). Sentences of an epoch
that arrive after it was emitted are dropped. (A receiver that sends GSA before its timed
sentences gets each epoch finished by the next epoch's GSA: one epoch late, DOPs one epoch off.)

Time comes only from the receiver, never from the RTC: the date from RMC (``ddmmyy``), or, for
an epoch without RMC, the last known date, advanced by a day when the time of day wraps past
midnight. Without any known date an epoch is not emitted (counted in ``undated``). GPS week
rollover: old receivers report dates 1024 weeks (7168 days) early; dates before ``min_unix``
are moved forward by 7168 days until they are not.

Integers only: coordinates, times and speeds are parsed from the decimal strings straight into
integers (ESP32 floats are 32-bit: a latitude in float32 is only ~0.4 m precise).
"""

from array import array

from protocol.compat import const
from protocol.timeutil import days_from_civil, days_in_month

# Longest sentence kept, from '$' (exclusive) to the line end. NMEA 0183 allows 82 bytes with
# '$' and CRLF; receivers exceed it (NMEA 4.11 fields, 7-decimal minutes), so leave headroom.
MAX_SENTENCE = const(128)

# Default lower bound for receiver dates: 2024-01-01T00:00:00Z, before this firmware was built.
# A date earlier than the bound can only be a week-rollover error (see NmeaParser).
MIN_UNIX_DEFAULT = const(1704067200)

# 1024 GPS weeks: how far a receiver with an old week-number rollover puts us in the past.
WEEK_ROLLOVER_DAYS = const(7168)

# Bits of Fix.talkers: which talkers contributed to the epoch.
TALKER_GP = const(1)  # GPS
TALKER_GL = const(2)  # GLONASS
TALKER_GA = const(4)  # Galileo
TALKER_GB = const(8)  # BeiDou (GB, or BD from older receivers)
TALKER_GN = const(16)  # combined multi-constellation solution
TALKER_QZ = const(32)  # QZSS (QZ, or GQ)
TALKER_GI = const(64)  # NavIC
TALKER_OTHER = const(128)

# Sentence types as 24-bit codes of the three type letters (no allocation to compare).
_GGA = const(0x474741)
_RMC = const(0x524D43)
_GSA = const(0x475341)
_VTG = const(0x565447)

# Epoch content mask, and what its sentences said: "fix", or "no fix"/"not a real fix".
_HAS_RMC = const(1)
_HAS_GGA = const(2)
_HAS_GSA = const(4)
_SAID_FIX = const(8)
_SAID_NO_FIX = const(16)

# The parser's counters (NmeaParser), in its ``counts`` array in this order and read as
# attributes by name. One array rather than six attributes: the parser's attribute table
# stays at 17 entries (272 bytes at 64 bits, not 368), and a sync's stow, which copies it
# whole on the day's most fragmented heap, needs no larger block (firmware/README.md).
COUNTS = ("sentences_ok", "checksum_errors", "malformed", "overlong", "ignored", "undated")
_OK = const(0)
_CHECKSUM = const(1)
_MALFORMED = const(2)
_OVERLONG = const(3)
_IGNORED = const(4)
_UNDATED = const(5)

_MS_PER_DAY = const(86400000)
_HALF_DAY_MS = const(43200000)

_POW10 = const((1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000))


class NmeaError(ValueError):
    """Base of the parser's errors. They are caught and counted inside feed(), never raised."""


class MalformedSentence(NmeaError):
    """A sentence with a good checksum whose content is impossible (bad field, bad date…)."""


class Fix:
    """One epoch of receiver output, in integers.

    ``t`` Unix seconds UTC and ``t_ms`` its milliseconds (0..999); ``valid`` True only for a
    real fix fit for charging (RMC status A and/or GGA quality 1..5, no vetoing indicator: RMC
    V, RMC mode E/M/S/N, GGA quality 0/6/7/8, GSA no-fix, and a position present);
    ``lat_e7``/``lon_e7`` degrees × 10^7 (None when absent or the 0,0 placeholder);
    ``alt_dm`` altitude above mean sea level in decimetres; ``speed_mmps`` ground speed in mm/s;
    ``course_cdeg`` true course in centidegrees; ``fix_quality`` GGA quality; ``fix_type`` GSA
    mode 1/2/3 (best of the epoch's GSAs); ``sats`` satellites used (GGA); ``hdop_c``/``pdop_c``
    DOP × 100; ``talkers`` TALKER_* bits. Absent values are None.
    """

    def __init__(self):
        self.t = None
        self.t_ms = 0
        self.valid = False
        self.lat_e7 = None
        self.lon_e7 = None
        self.alt_dm = None
        self.speed_mmps = None
        self.course_cdeg = None
        self.fix_quality = None
        self.fix_type = None
        self.sats = None
        self.hdop_c = None
        self.pdop_c = None
        self.talkers = 0

    def __repr__(self):
        return "Fix(t=%r.%03d valid=%r lat_e7=%r lon_e7=%r speed_mmps=%r q=%r type=%r)" % (
            self.t,
            self.t_ms,
            self.valid,
            self.lat_e7,
            self.lon_e7,
            self.speed_mmps,
            self.fix_quality,
            self.fix_type,
        )


# --- field parsers: bytes in, ints out; empty field -> None; bad field -> MalformedSentence ---


def parse_fixed(f, decimals):
    """Decimal field (``-12.345``) as int × 10**decimals, rounded half away from zero."""
    if not f:
        return None
    neg = False
    c = f[0]
    if c == 0x2D or c == 0x2B:  # '-' '+'
        neg = c == 0x2D
        f = f[1:]
    dot = f.find(b".")
    if dot < 0:
        ip = f
        fp = b""
    else:
        ip = f[:dot]
        fp = f[dot + 1 :]
    # isdigit() before int(): int() would also take spaces and '_' separators.
    if ip:
        if not ip.isdigit():
            raise MalformedSentence("bad number")
        v = int(ip) * _POW10[decimals]
    elif fp:
        v = 0
    else:
        raise MalformedSentence("bad number")
    k = len(fp)
    if k:
        if not fp.isdigit():
            raise MalformedSentence("bad number")
        if k > decimals:
            if decimals:
                v += int(fp[:decimals])
            if fp[decimals] >= 0x35:  # next digit >= '5': round the magnitude up
                v += 1
        else:
            v += int(fp) * _POW10[decimals - k]
    return -v if neg else v


def parse_int(f):
    """Unsigned integer field (``08``) or None."""
    if not f:
        return None
    if not f.isdigit():
        raise MalformedSentence("bad integer")
    return int(f)


def parse_coord_e7(f, hemi, pos, neg, max_deg):
    """``(d)ddmm.mmmm`` + hemisphere letter as degrees × 10^7, rounded half away from zero.

    Any number of decimals of minutes. ``pos``/``neg`` are the hemisphere letters (N/S or E/W
    as ints); ``max_deg`` bounds the magnitude (90 or 180).
    """
    if not f:
        return None
    dot = f.find(b".")
    if dot < 0:
        ip = f
        fp = b""
    else:
        ip = f[:dot]
        fp = f[dot + 1 :]
    if len(ip) < 3 or not ip.isdigit() or (fp and not fp.isdigit()):
        raise MalformedSentence("bad coordinate")
    n = len(ip)
    deg = int(ip[: n - 2])
    minutes = (ip[n - 2] - 48) * 10 + ip[n - 1] - 48
    if minutes >= 60 or deg > max_deg:
        raise MalformedSentence("bad coordinate")
    # deg × 1e7 + minutes × 1e7 / 60, exact: minutes scaled to 1e-k, then to 1e-7 of a minute.
    k = len(fp)
    if k <= 7:
        num = (minutes * _POW10[k] + (int(fp) if k else 0)) * _POW10[7 - k]
        den = 60
    else:  # more than 7 decimals: rare, bigger ints
        num = minutes * 10**k + int(fp)
        den = 60 * 10 ** (k - 7)
    q, r = divmod(num, den)
    if r + r >= den:
        q += 1
    v = deg * 10000000 + q
    if v > max_deg * 10000000:
        raise MalformedSentence("coordinate out of range")
    if len(hemi) != 1:
        raise MalformedSentence("bad hemisphere")
    h = hemi[0]
    if h == neg:
        return -v
    if h != pos:
        raise MalformedSentence("bad hemisphere")
    return v


def parse_time_ms(f):
    """``hhmmss[.sss…]`` as milliseconds of the UTC day (decimals past the third are dropped).

    Second 60 (a leap second) is accepted; it keeps its own value (86,400,000 at most).
    """
    n = len(f)
    if n < 6:
        raise MalformedSentence("bad time")
    head = f[:6] if n > 6 else f
    if not head.isdigit():
        raise MalformedSentence("bad time")
    h = (f[0] - 48) * 10 + f[1] - 48
    mi = (f[2] - 48) * 10 + f[3] - 48
    s = (f[4] - 48) * 10 + f[5] - 48
    if h > 23 or mi > 59 or s > 60:
        raise MalformedSentence("bad time")
    ms = 0
    if n > 6:
        if f[6] != 0x2E or (n > 7 and not f[7:].isdigit()):
            raise MalformedSentence("bad time")
        for k in range(7, 10 if n > 10 else n):
            ms += (f[k] - 48) * _POW10[9 - k]
    return ((h * 60 + mi) * 60 + s) * 1000 + ms


def parse_date_days(f):
    """RMC ``ddmmyy`` as days since 1970-01-01. Years 80..99 are 19xx, 00..79 are 20xx."""
    if len(f) != 6 or not f.isdigit():
        raise MalformedSentence("bad date")
    d = (f[0] - 48) * 10 + f[1] - 48
    mo = (f[2] - 48) * 10 + f[3] - 48
    yy = (f[4] - 48) * 10 + f[5] - 48
    y = 1900 + yy if yy >= 80 else 2000 + yy
    if mo < 1 or mo > 12 or d < 1 or d > days_in_month(y, mo):
        raise MalformedSentence("bad date")
    return days_from_civil(y, mo, d)


def _talker_bit(c0, c1):
    code = (c0 << 8) | c1
    if code == 0x4750:  # GP
        return TALKER_GP
    if code == 0x474E:  # GN
        return TALKER_GN
    if code == 0x474C:  # GL
        return TALKER_GL
    if code == 0x4741:  # GA
        return TALKER_GA
    if code == 0x4742 or code == 0x4244:  # GB, BD
        return TALKER_GB
    if code == 0x515A or code == 0x4751:  # QZ, GQ
        return TALKER_QZ
    if code == 0x4749:  # GI
        return TALKER_GI
    return TALKER_OTHER


def _hex_value(c):
    if 0x30 <= c <= 0x39:
        return c - 0x30
    c |= 0x20  # fold to lower case; NMEA says upper, some receivers send lower
    if 0x61 <= c <= 0x66:
        return c - 0x57
    return -1


class NmeaParser:
    """Frames, checks and decodes NMEA sentences and assembles them into :class:`Fix` epochs.

    ``on_fix(fix)`` is called for every finished epoch that has a date. ``min_unix`` is the
    week-rollover bound: an RMC date before it gets 7168 days added until it is not, which
    is right for any true date in [min_unix, min_unix + 19.6 years).

    Counters (ints, never reset; read as attributes, kept in ``counts``): ``sentences_ok``
    used sentences that passed; ``checksum_errors`` used sentences whose ``*hh`` is wrong or
    missing; ``malformed`` framed lines that are not sentences (bad address) or whose content
    is impossible; ``overlong``
    sentences longer than MAX_SENTENCE; ``ignored`` well-formed sentences of types we do not
    use (proprietary included); ``undated`` epochs dropped because no date was known yet.
    """

    def __init__(self, on_fix, min_unix=MIN_UNIX_DEFAULT):
        self._on_fix = on_fix
        self.min_unix = min_unix
        self._buf = bytearray(MAX_SENTENCE)
        self._mv = memoryview(self._buf)
        self._n = -1  # bytes in _buf; -1: between sentences, hunting for '$'
        self.counts = array("I", [0] * len(COUNTS))  # COUNTS, read as attributes
        # Epoch in progress (None: none open) and its bookkeeping.
        self._fix = None
        self._ready = None  # finished Fix waiting to be handed to on_fix
        self._key = -1  # time of day in ms of the open epoch
        self._mask = 0  # _HAS_* seen in the open epoch, and _SAID_*
        self._days = None  # RMC date of the open epoch (days since 1970), rollover-corrected
        self._gga_talker = 0
        self._done_key = -1  # time of day of the last finished epoch: late sentences dropped
        # Whether the receiver sends GSA, so that an epoch waits for it. Start by assuming it
        # does: a receiver without GSA costs one late first epoch, not lost DOPs.
        self._want_gsa = True
        # Last known date (days since 1970) and the time of day it applied to.
        self._date = None
        self._date_key = 0

    def __getattr__(self, name):
        """The counters (:data:`COUNTS`) by name."""
        if name in COUNTS:
            return self.counts[COUNTS.index(name)]
        raise AttributeError(name)

    # --- framing --------------------------------------------------------------------------

    def feed(self, data):
        """Consume a chunk of receiver bytes (``bytes`` or ``bytearray``), any size.

        Never raises on account of the data. An exception raised by ``on_fix`` propagates;
        the rest of that chunk is then lost, but the parser stays usable.
        """
        end = len(data)
        i = 0
        # Next '$', CR and LF at or after i; found once and reused, so a chunk is scanned in
        # linear time however many sentences it holds. `end` stands for "none left".
        p_dollar = p_cr = p_lf = -1
        while i < end:
            n = self._n
            if n < 0:
                j = data.find(b"$", i)
                if j < 0:
                    return
                self._n = 0
                i = j + 1
                continue
            if p_dollar < i:
                p_dollar = data.find(b"$", i)
                if p_dollar < 0:
                    p_dollar = end
            if p_cr < i:
                p_cr = data.find(b"\r", i)
                if p_cr < 0:
                    p_cr = end
            if p_lf < i:
                p_lf = data.find(b"\n", i)
                if p_lf < 0:
                    p_lf = end
            e = p_dollar
            if p_cr < e:
                e = p_cr
            if p_lf < e:
                e = p_lf
            m = e - i
            if n + m > MAX_SENTENCE:
                # Too long for any real sentence (binary noise after a '$', a lost line end):
                # drop it and hunt for the next '$'.
                self.counts[_OVERLONG] += 1
                self._n = -1
                i = e
                continue
            if m:
                self._mv[n : n + m] = data[i:e]
                n += m
                self._n = n
            if e == end:
                return  # the sentence continues in the next chunk
            # Framing state first: if on_fix raises, the parser is still consistent.
            self._n = 0 if data[e] == 0x24 else -1
            i = e + 1
            self._sentence(n)

    def buffered(self):
        """Bytes of an unfinished sentence held right now (never more than MAX_SENTENCE)."""
        return self._n if self._n > 0 else 0

    def flush(self):
        """Finish the epoch in progress (call at end of input or when the receiver is silent)."""
        if self._fix is not None:
            self._close()
            self._deliver()

    # --- one sentence ---------------------------------------------------------------------

    def _sentence(self, n):
        buf = self._buf
        if n and buf[0] == 0x50:  # 'P': proprietary ($PSRF, $PGRME, $PUBX, …)
            self.counts[_IGNORED] += 1
            return
        # Address: two talker letters and three type letters, then ','.
        if n < 6 or buf[5] != 0x2C:
            self.counts[_MALFORMED] += 1
            return
        for k in range(5):
            c = buf[k]
            if c < 0x41 or c > 0x5A:
                self.counts[_MALFORMED] += 1
                return
        code = (buf[2] << 16) | (buf[3] << 8) | buf[4]
        if code != _GGA and code != _RMC and code != _GSA and code != _VTG:
            self.counts[_IGNORED] += 1
            return
        # Checksum: '*hh' must end the sentence; XOR of everything between '$' and '*'.
        star = n - 3
        if star < 5 or buf[star] != 0x2A:
            self.counts[_CHECKSUM] += 1
            return
        hi = _hex_value(buf[n - 2])
        lo = _hex_value(buf[n - 1])
        x = 0
        for c in self._mv[:star]:
            x ^= c
        if hi < 0 or lo < 0 or x != (hi << 4) | lo:
            self.counts[_CHECKSUM] += 1
            return
        fields = bytes(self._mv[6:star]).split(b",")
        talker = _talker_bit(buf[0], buf[1])
        try:
            if code == _GGA:
                self._gga(fields, talker)
            elif code == _RMC:
                self._rmc(fields, talker)
            elif code == _GSA:
                self._gsa(fields, talker)
            else:
                self._vtg(fields, talker)
        except (ValueError, IndexError):
            # MalformedSentence in practice (the field parsers check everything); the wider
            # net is defence in depth: an unforeseen receiver must not kill the GNSS task.
            self.counts[_MALFORMED] += 1
        else:
            self.counts[_OK] += 1
        self._deliver()

    def _deliver(self):
        # on_fix runs outside the try above, so the caller's own errors are not mistaken
        # for malformed input (and do propagate). One slot is enough: a sentence finishes at
        # most one epoch (the one it closes by a new time, or the one it completes).
        fix = self._ready
        if fix is not None:
            self._ready = None
            self._on_fix(fix)

    # Each decoder parses every field into locals first and only then touches the epoch, so
    # a malformed sentence leaves no half-applied state.

    def _gga(self, f, talker):
        if len(f) < 10:
            raise MalformedSentence("GGA too short")
        lat = parse_coord_e7(f[1], f[2], 0x4E, 0x53, 90)
        lon = parse_coord_e7(f[3], f[4], 0x45, 0x57, 180)
        quality = parse_int(f[5])
        sats = parse_int(f[6])
        hdop = parse_fixed(f[7], 2)
        alt = parse_fixed(f[8], 1) if f[9] == b"M" else None
        if not f[0]:
            return  # no time (receivers without a fix send empty GGAs): nothing to place
        key = parse_time_ms(f[0])
        fix = self._open(key, talker)
        if fix is None:
            return
        self._mask |= _HAS_GGA
        if quality is not None:
            if 1 <= quality <= 5:  # GPS, DGPS, PPS, RTK fixed, RTK float
                self._mask |= _SAID_FIX
            else:  # 0 invalid, 6 dead reckoning, 7 manual, 8 simulator
                self._mask |= _SAID_NO_FIX
            if fix.fix_quality is None:
                fix.fix_quality = quality
        if sats is not None:
            if fix.sats is None:
                fix.sats = sats
                self._gga_talker = talker
            elif (
                talker != self._gga_talker and talker != TALKER_GN and self._gga_talker != TALKER_GN
            ):
                # One GGA per constellation (SiRFstarV: GPGGA then GLGGA): each counts its own.
                fix.sats += sats
        if hdop is not None:
            fix.hdop_c = hdop  # GGA's HDOP is the solution's; it wins over GSA's
        if alt is not None and fix.alt_dm is None:
            fix.alt_dm = alt
        self._position(fix, lat, lon)
        self._maybe_done()

    def _rmc(self, f, talker):
        if len(f) < 9:
            raise MalformedSentence("RMC too short")
        status = f[1]
        lat = parse_coord_e7(f[2], f[3], 0x4E, 0x53, 90)
        lon = parse_coord_e7(f[4], f[5], 0x45, 0x57, 180)
        speed_mkn = parse_fixed(f[6], 3)  # knots × 1000
        if speed_mkn is not None and speed_mkn < 0:
            raise MalformedSentence("negative speed")
        course = parse_fixed(f[7], 2)
        days = parse_date_days(f[8]) if f[8] else None
        # NMEA 2.3+ mode: A autonomous, D differential, P precise, R RTK, F float RTK are
        # fixes; E estimated, M manual, S simulator, N none are not. Older receivers omit it.
        mode = f[11] if len(f) > 11 else b""
        if not f[0]:
            return
        key = parse_time_ms(f[0])
        if days is not None:
            days = self._rollover(days, key // 1000)
        fix = self._open(key, talker)
        if fix is None:
            return
        self._mask |= _HAS_RMC
        if status == b"A":
            self._mask |= _SAID_FIX
        else:
            self._mask |= _SAID_NO_FIX
        if mode and mode[0] not in b"ADPRF":
            self._mask |= _SAID_NO_FIX
        if days is not None:
            self._days = days
        if speed_mkn is not None and fix.speed_mmps is None:
            # 1 kn = 1852/3600 m/s; mkn × 1852/3600 mm/s = mkn × 463/900, rounded half up.
            fix.speed_mmps = (speed_mkn * 463 + 450) // 900
        if course is not None and fix.course_cdeg is None:
            fix.course_cdeg = course % 36000
        self._position(fix, lat, lon)
        self._maybe_done()

    def _gsa(self, f, talker):
        if len(f) < 17:
            raise MalformedSentence("GSA too short")
        fix_type = parse_int(f[1])
        if fix_type is not None and not 1 <= fix_type <= 3:
            raise MalformedSentence("bad GSA fix type")
        pdop = parse_fixed(f[14], 2)
        hdop = parse_fixed(f[15], 2)
        # Any GSA, even one we have to drop, tells us this receiver sends them.
        self._want_gsa = True
        fix = self._fix
        if fix is None:
            return  # belongs to an epoch already emitted
        fix.talkers |= talker
        if self._mask & _HAS_GSA == 0:
            # First GSA of the epoch: its DOPs are the solution's (later ones repeat them).
            fix.pdop_c = pdop
            if fix.hdop_c is None:
                fix.hdop_c = hdop
        if fix_type == 1:
            self._mask |= _SAID_NO_FIX  # "no fix" from the receiver's own solution status
        if fix_type is not None and (fix.fix_type is None or fix_type > fix.fix_type):
            fix.fix_type = fix_type  # one GSA per constellation: keep the best
        self._mask |= _HAS_GSA
        self._maybe_done()

    def _vtg(self, f, talker):
        # NMEA 2.3+: course,T,course,M,knots,N,km/h,K[,mode]; pre-2.3: course,course,kn,km/h.
        n = len(f)
        if n >= 8:  # unit letters are left empty by some receivers without a fix
            course = parse_fixed(f[0], 2)
            speed_mkn = parse_fixed(f[4], 3)
        elif n == 4:
            course = parse_fixed(f[0], 2)
            speed_mkn = parse_fixed(f[2], 3)
        else:
            raise MalformedSentence("bad VTG")
        if speed_mkn is not None and speed_mkn < 0:
            raise MalformedSentence("negative speed")
        fix = self._fix
        if fix is None:
            return
        fix.talkers |= talker
        # Only fills what RMC did not give: receivers set up without RMC.
        if speed_mkn is not None and fix.speed_mmps is None:
            fix.speed_mmps = (speed_mkn * 463 + 450) // 900
        if course is not None and fix.course_cdeg is None:
            fix.course_cdeg = course % 36000

    # --- epochs ---------------------------------------------------------------------------

    def _open(self, key, talker):
        """The epoch for time of day ``key``, opening it if needed; None if already emitted."""
        fix = self._fix
        if fix is not None:
            if key == self._key:
                fix.talkers |= talker
                return fix
            # A new time: the open epoch will get nothing more. If it waited in vain for a
            # GSA, the receiver stopped sending them (or sends them first): stop waiting.
            if self._want_gsa and self._mask & _HAS_GSA == 0:
                self._want_gsa = False
            self._close()
        if key == self._done_key:
            return None  # late or repeated sentence of the epoch just emitted
        fix = Fix()
        fix.talkers = talker
        self._fix = fix
        self._key = key
        self._mask = 0
        self._days = None
        self._gga_talker = 0
        return fix

    def _position(self, fix, lat, lon):
        # The first sentence with a position sets it (GGA and RMC of one epoch agree).
        # 0,0 is a receiver's placeholder (SkyTraq, GP-320FW without fix), never a position.
        if fix.lat_e7 is None and lat is not None and lon is not None and (lat or lon):
            fix.lat_e7 = lat
            fix.lon_e7 = lon

    def _maybe_done(self):
        m = self._mask
        if m & _HAS_RMC and m & _HAS_GGA and (m & _HAS_GSA or not self._want_gsa):
            self._close()

    def _rollover(self, days, sec):
        # GPS week rollover: a date before min_unix is 1024 weeks (or a multiple) too early.
        while days * 86400 + sec < self.min_unix:
            days += WEEK_ROLLOVER_DAYS
        return days

    def _close(self):
        fix = self._fix
        self._fix = None
        key = self._key
        self._done_key = key
        days = self._days
        if days is None:
            days = self._date
            if days is None:
                self.counts[_UNDATED] += 1
                return
            # No RMC in this epoch: carry the last date forward, a day later once the time
            # of day has wrapped past midnight. Only a big backward step is a wrap: smaller
            # ones are a receiver restarting or an edited log, not a new day.
            if key < self._date_key - _HALF_DAY_MS:
                days += 1
        self._date = days
        self._date_key = key
        fix.t = days * 86400 + key // 1000
        fix.t_ms = key % 1000
        said = self._mask & (_SAID_FIX | _SAID_NO_FIX)
        fix.valid = said == _SAID_FIX and fix.lat_e7 is not None
        self._ready = fix
