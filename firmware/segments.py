"""Segmentation and pricing: odometer steps in, priced SegmentRecords out (SPEC §4.2, §5.1).

A segment is a run of driving in one tariff cell — (statement period, policy, zone, time band)
— cut when the cell of a step point changes, at a maximum length or duration (flag CUT_MAX),
when the car has not moved for ``idle_cut_s``, or where the odometer restarts (STEP_RESTART:
first fix, after a long outage or a re-anchoring). The distance of the step that crosses into a
new cell is charged to the new cell (the step's end point decides), so every trace point of a
record lies in the record's cell. A segment cut for a cell change or at the maximum starts at
the previous segment's last instant, and one cut at a period boundary starts at the period's
first second, so consecutive segments of a drive leave no instant uncovered (a camera sighting
always has a segment to open; SPEC §5.4 gives a shared instant to the lower index).

Trace sampling is deviation-bounded (an online "opening window" line simplification): a fix
becomes a trace point when the fixes since the last trace point no longer all lie within
``trace_tolerance_m`` of the straight line to the newest fix, and at least every
``trace_interval_s``; the last fix always ends the trace. So every fix of a segment lies within
the tolerance of the trace line between the two trace points around its time — what the
backend's sighting check (verify.check_sighting) measures — while straight roads cost a point
per interval instead of one per 10 s, and corners are never cut (a fixed 10 s sampling cuts a
street corner by ~35 m at city speed). ``trace_tolerance_m=None`` samples by time only. The
trace is bounded by record.MAX_TRACE_POINTS (a max-duration cut comes long before).

Nothing here touches the clock, the filesystem or the crypto: records go to
``on_segment(record)`` with index -1; the committer (firmware.accounting) numbers, commits and
stores them.
"""

from array import array

from firmware.odometry import STEP_RESTART
from protocol import record
from protocol.compat import const
from protocol.errors import NoTariffCell
from protocol.geo import distance_um
from protocol.tariff import price_micro
from protocol.timeutil import month_start

_RECORD_FLAGS = record.FLAG_GAP_BRIDGED  # the only record flag a step can carry
_MAX_LEN_M = const(1000000)  # 1000 km: 1e9 mm, well inside a 32-bit int
# _Open.geo, in this order (µm per 1e-5° is at most ~1.11e9: a 32-bit int too)
_LAT0 = const(0)
_LON0 = const(1)
_KY = const(2)
_KX = const(3)
_A_DT = const(4)
_AX = const(5)
_AY = const(6)
_N_DT = const(7)  # the window's newest fix: the one a trace point is made of
_N_LAT = const(8)
_N_LON = const(9)


class SegmentConfig:
    """Cut and sampling parameters (defaults: SPEC §4.2's 10 km / 15 min)."""

    def __init__(
        self,
        max_len_m=10000,
        max_dur_s=900,
        trace_interval_s=20,
        idle_cut_s=300,
        trace_tolerance_m=8,
    ):
        # The open segment packs its points in 32-bit ints (_Open): its seconds and its local
        # map's mm (no farther from its first point than its length, and a cut comes at
        # max_len_m) must fit.
        if not (0 < max_len_m <= _MAX_LEN_M and 0 < max_dur_s < 1 << 31 and 0 < trace_interval_s):
            raise ValueError("segment limits must be positive, max_len_m at most 1000 km")
        if trace_tolerance_m is not None and not 0 < trace_tolerance_m <= 1000:
            raise ValueError("trace_tolerance_m must be in 1..1000 or None")
        self.max_len_um = max_len_m * 1000000
        self.max_dur_s = max_dur_s
        self.trace_interval_s = trace_interval_s
        self.idle_cut_s = idle_cut_s
        self.trace_tol_mm = None if trace_tolerance_m is None else trace_tolerance_m * 1000


def monthly_period(t):
    """Default statement period: the calendar month (UTC) containing t, by its start."""
    return month_start(t)


class _Open:
    """The segment being built (kept small: lives for up to 15 minutes on the heap)."""

    def __init__(self, key, policy, pid, zone, band, rate, t_start):
        self.key = key
        self.policy = policy
        self.pid = pid
        self.zone = zone
        self.band = band
        self.rate = rate
        self.t_start = t_start
        self.t_end = t_start
        self.dist_um = 0
        self.flags = 0
        # Packed flat as 32-bit ints (all fit: seconds of the segment, 1e-7 degrees, mm of the
        # local map within a 10 km cut): 12 and 20 bytes a point where tuples and their list
        # slots took 72 and 80 at 64 bits, and no 2-block tuple left behind per fix.
        self.trace = array("i")  # kept points: dt_s, lat_e7, lon_e7, dt_s, …
        # The fixes since the last kept point, as their local map positions x_mm, y_mm, … (8
        # bytes a fix, a block of up to ~170 bytes: the newest fix's time and position, which
        # a trace point is made of, are in ``geo``).
        self.win = array("i")
        # The local map (mm east/north of the first point) for the deviation test: its origin
        # _LAT0, _LON0 and scales _KY, _KX (µm per 1e-5°, set by the first point), the last
        # kept point's time and map position _A_DT, _AX, _AY, and the window's newest fix
        # _N_DT, _N_LAT, _N_LON. One array rather than ten attributes: this object's attribute
        # table stays at 17 entries (272 bytes at 64 bits, not 368), which a sync's stow copies
        # whole (firmware/README.md "Memory").
        self.geo = None

    def add_point(self, dt, lat, lon, cfg):
        trace = self.trace
        if not trace:
            trace.append(dt)
            trace.append(lat)
            trace.append(lon)
            # µm per 10^5 units (1e-7°) at this latitude: 10 km is flat enough for a 1e-4 test
            ky = distance_um(lat, lon, lat + (100000 if lat < 0 else -100000), lon)
            kx = distance_um(lat, lon, lat, lon + (100000 if lon < 0 else -100000))
            self.geo = array("i", (lat, lon, ky, kx, dt, 0, 0, 0, 0, 0))
            return
        g = self.geo
        x = (lon - g[_LON0]) * g[_KX] // 100000000
        y = (lat - g[_LAT0]) * g[_KY] // 100000000
        tol = cfg.trace_tol_mm
        if tol is not None and self.win and not self._fits(x, y, tol):
            self._keep_last()
        win = self.win
        win.append(x)
        win.append(y)
        g[_N_DT] = dt
        g[_N_LAT] = lat
        g[_N_LON] = lon
        if dt - g[_A_DT] >= cfg.trace_interval_s:
            self._keep_last()

    def _fits(self, x, y, tol):
        """Do all fixes since the last kept point lie within ``tol`` mm of the line to (x, y)?"""
        g = self.geo
        ax = g[_AX]
        ay = g[_AY]
        bx = x - ax
        by = y - ay
        len2 = bx * bx + by * by
        tol2 = tol * tol
        win = self.win
        for k in range(0, len(win), 2):
            wx = win[k] - ax
            wy = win[k + 1] - ay
            t = wx * bx + wy * by
            if t <= 0:
                d2 = wx * wx + wy * wy
            elif t >= len2:
                d2 = (wx - bx) * (wx - bx) + (wy - by) * (wy - by)
            else:
                c = wx * by - wy * bx
                if c * c > tol2 * len2:
                    return False
                continue
            if d2 > tol2:
                return False
        return True

    def _keep_last(self):
        # The window's newest fix becomes a trace point.
        win = self.win
        n = len(win)
        g = self.geo
        dt = g[_N_DT]
        g[_A_DT] = dt
        g[_AX] = win[n - 2]
        g[_AY] = win[n - 1]
        if len(self.trace) < 3 * (record.MAX_TRACE_POINTS - 1):
            self.trace.append(dt)
            self.trace.append(g[_N_LAT])
            self.trace.append(g[_N_LON])
            self.win = array("i")
        else:  # full (only with extreme configs): the newest point ends it
            self.win = win[n - 2 :]

    def finish(self):
        """The trace as the record's sequence of (dt_s, lat_e7, lon_e7), ended by the newest
        fix: a view of the packed points (Trace)."""
        trace = self.trace
        if self.win:
            g = self.geo
            trace.append(g[_N_DT])
            trace.append(g[_N_LAT])
            trace.append(g[_N_LON])
            self.win = array("i")
        return Trace(trace)


class Trace:
    """A segment's trace points as a read-only sequence of (dt_s, lat_e7, lon_e7) tuples over
    the packed ints (dt, lat, lon, dt, …) the open segment kept: the record is committed
    from it (firmware/commit.py reads it point by point) without a list of tuples — 72 bytes
    a point at 64 bits, ~6 KB for a 15-minute segment, on the driving heap beside the commit
    path's code. Equal to a list of the same tuples."""

    def __init__(self, packed):
        self.packed = packed

    def __len__(self):
        return len(self.packed) // 3

    def __getitem__(self, i):
        n = len(self.packed) // 3
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError("trace point index out of range")
        t = self.packed
        k = 3 * i
        return (t[k], t[k + 1], t[k + 2])

    def __eq__(self, other):
        return list(self) == list(other)


class Segmenter:
    """Turn odometer steps into priced segment records.

    ``policies.lookup(t)`` returns (TariffPolicy, policy_id) valid at t, or None;
    ``period_of(t)`` the statement period's start for t (default: calendar month). Counters:
    segments, gap_events, unpriced_steps (steps dropped for want of a valid policy or rate).
    """

    def __init__(self, policies, vehicle_class, on_segment, config=None, period_of=None):
        self.policies = policies
        self.vehicle_class = vehicle_class
        self.on_segment = on_segment
        self.cfg = config if config is not None else SegmentConfig()
        self.period_of = period_of if period_of is not None else monthly_period
        self.cur = None
        self.unpriced_steps = 0
        self.segments = 0
        self.gap_events = 0

    # --- input ---------------------------------------------------------------------------

    def step(self, t, lat, lon, dist_um, flags):
        """One odometer step (see firmware.odometry.Odometer)."""
        found = self.policies.lookup(t)
        if found is None:
            # No valid signed policy: nothing can be priced. The status shows a fault.
            self.unpriced_steps += 1
            self.close()
            return
        policy, pid = found
        zone = policy.zone_at(lat, lon)
        band = policy.band_at(t)
        period = self.period_of(t)
        key = (period, pid, zone, band)
        cfg = self.cfg
        cur = self.cur
        t_start = t
        if cur is not None:
            if flags & STEP_RESTART or t - cur.t_end > cfg.idle_cut_s:
                self.close()
            elif cur.key != key:
                # Contiguous: share the boundary instant, or start with the new period.
                t_start = cur.t_end if cur.key[0] == period else period
                self.close()
            elif (cur.dist_um and cur.dist_um + dist_um > cfg.max_len_um) or (
                t - cur.t_start > cfg.max_dur_s
            ):
                cur.flags |= record.FLAG_CUT_MAX
                t_start = cur.t_end
                self.close()
            cur = self.cur
        if cur is None:
            try:
                rate = policy.rate(zone, band, self.vehicle_class)
            except NoTariffCell:
                self.unpriced_steps += 1  # the policy store refuses such policies
                return
            cur = _Open(key, policy, pid, zone, band, rate, t_start)
            self.cur = cur
        cur.dist_um += dist_um
        cur.flags |= flags & _RECORD_FLAGS
        cur.t_end = t
        cur.add_point(t - cur.t_start, lat, lon, cfg)

    def gap(self, t0, lat0, lon0, t1, lat1, lon1):
        """A long outage with displacement: close the segment, emit a gap event record.

        The record spans the outage with the fixes on both sides as its trace; it lies in the
        period of t1 (an earlier period may already be sealed), so t0 is clamped to its start.
        """
        self.close()
        found = self.policies.lookup(t1)
        if found is None:
            self.unpriced_steps += 1
            return
        pid = found[1]
        start = self.period_of(t1)
        if t0 < start:
            t0 = start
        rec = record.SegmentRecord(
            -1,
            t0,
            t1,
            0,
            0,
            self.vehicle_class,
            0,
            0,
            0,
            pid,
            record.FLAG_GAP_EVENT,
            [(0, lat0, lon0), (t1 - t0, lat1, lon1)],
        )
        self.gap_events += 1
        self.on_segment(rec)

    def tick(self, t):
        """Call periodically with the GNSS time: closes the open segment after a long stop or
        once its period is over, so statements can be sealed while the car is parked."""
        cur = self.cur
        if cur is None:
            return
        if t - cur.t_end > self.cfg.idle_cut_s or self.period_of(t) != cur.key[0]:
            self.close()

    # --- output ----------------------------------------------------------------------------

    def close(self):
        """Price and emit the open segment, if any (before sealing, before power-down)."""
        cur = self.cur
        if cur is None:
            return
        self.cur = None
        trace = cur.finish()
        if cur.dist_um == 0 and cur.t_end == cur.t_start and not cur.flags:
            return  # a lone point: nothing driven, nothing to cover
        dist_m = cur.dist_um // 1000000  # rounded down: never overcharge
        rec = record.SegmentRecord(
            -1,
            cur.t_start,
            cur.t_end,
            cur.zone,
            cur.band,
            self.vehicle_class,
            dist_m,
            cur.rate,
            price_micro(dist_m, cur.rate),
            cur.pid,
            cur.flags,
            trace,
        )
        self.segments += 1
        self.on_segment(rec)
