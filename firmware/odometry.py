"""Odometry: accepted GNSS fixes in, charged distance steps and gap events out. Integers only.

Distance per step comes from the receiver's Doppler ground speed when it reports one: the
trapezoid of the two speeds over the interval, each de-biased for velocity noise as
sqrt(v² − 2σ²) (the length of a noisy velocity vector overstates slow speeds). Doppler speed is
accurate to a few cm/s and, unlike differences of positions, does not turn position noise into
extra distance — with 1 Hz fixes and ~3 m of independent position noise, summing position steps
would overcharge by several per cent at city speeds, far over the +0.5 % budget (DESIGN §8).
Without speed (GGA-only receivers) the distance is measured between positions, advancing an
anchor only once the car has moved more than a jitter radius, so a parked car's wandering fixes
add nothing; that mode stays a fallback (it overcharges by about σ²/(2·radius) per chord under
white position noise).

Rules, in the order they apply to each fix (SPEC §5.1; figures are OdometerConfig defaults):
- acceptance: a valid fix (RMC A / GGA quality 1–5), fix type ≥ 2 when GSA says, ≥ 4
  satellites, HDOP ≤ 5.0 when reported; time strictly after the last accepted fix (a 5 or
  10 Hz receiver is thereby used at 1 Hz: Fix.t is whole seconds);
- long outages (> 300 s): no distance; a gap event if the car was displaced by > 200 m (evidence
  of switch-off or jamming that an audit can see), else just a stop; odometry restarts;
- jumps: a fix implying > 70 m/s from the last accepted fix is rejected; after 5 rejections in
  a row the new position is taken as the truth (the old one was the outlier): odometry
  restarts there without charging the jump;
- short outages (3 s < gap ≤ 300 s, e.g. tunnels): bridged with the straight line, flagged
  GAP_BRIDGED; the straight line is a lower bound of the road driven;
- stationary: reported speed < 0.5 m/s (or, without speed, within 10 m of the anchor): no
  distance, but the fix still counts as seen (so a long stop is not an outage). Without speed a
  parked car (5 standing fixes, or a fresh start) has its anchor averaged over its fixes, and it
  leaves only when 3 fixes in a row lie outside the radius, each ≥ 2 m farther out: wandering
  fixes of a parked car rarely do that, a car driving off always does (the chord is then
  measured from the averaged anchor, so waiting loses no distance). Measured on synthetic
  noise (tests/firmware/test_odometry.py): 2 h parked with 5 m wander adds nothing.

Output (``on_step``): every emitted step ends at an accepted fix and carries the distance since
the previous step. ``STEP_RESTART`` in its flags marks a discontinuity (first fix, after a long
outage, after re-anchoring): the segmenter starts a new segment there and never draws a trace
line across it. When the car moves off after stationary fixes, a zero-distance step at the
anchor and the last stationary instant comes first, so the segment the motion goes into starts
when the car was last seen standing (a segment covers every instant of a drive).
"""

from array import array

from protocol.compat import const
from protocol.geo import distance_um, isqrt

FLAG_GAP_BRIDGED = const(1)  # = record.FLAG_GAP_BRIDGED; duplicated to keep the import light
STEP_RESTART = const(0x100)  # not a record flag: "start a new segment here"

# The odometer's counters (Odometer), first in its ``counts`` array in this order and read as
# attributes by name; the array also holds three runs of fixes (_STILL, _LEAVING, _STREAK).
# One array rather than eleven attributes: the odometer's attribute table stays at 17
# entries (272 bytes at 64 bits, not 464), and a sync's stow, which copies it whole on the
# day's most fragmented heap, needs no larger block (firmware/README.md "Memory").
COUNTS = (
    "accepted",
    "rejected_quality",
    "rejected_time",
    "rejected_jump",
    "stationary",
    "bridged",
    "gaps",
    "restarts",
)
_ACCEPTED = const(0)
_REJ_QUALITY = const(1)
_REJ_TIME = const(2)
_REJ_JUMP = const(3)
_STATIONARY = const(4)
_BRIDGED = const(5)
_GAPS = const(6)
_RESTARTS = const(7)
_STILL = const(8)
_LEAVING = const(9)
_STREAK = const(10)


class OdometerConfig:
    """Thresholds for fix acceptance and odometry; the defaults suit a car."""

    def __init__(
        self,
        min_sats=4,
        max_hdop_c=500,
        min_fix_type=2,
        stationary_mmps=500,
        jitter_radius_mm=10000,
        max_speed_mmps=70000,
        max_reject_streak=5,
        bridge_max_s=300,
        gap_min_displacement_mm=200000,
        doppler_max_dt_s=3,
        settle_fixes=5,
        leave_fixes=3,
        leave_step_mm=2000,
        doppler_sigma_mmps=240,
    ):
        self.min_sats = min_sats
        self.max_hdop_c = max_hdop_c
        self.min_fix_type = min_fix_type
        self.stationary_mmps = stationary_mmps
        self.jitter_radius_mm = jitter_radius_mm
        self.max_speed_mmps = max_speed_mmps
        self.max_reject_streak = max_reject_streak
        self.bridge_max_s = bridge_max_s
        self.gap_min_displacement_mm = gap_min_displacement_mm
        # Speeds are integrated over at most this interval (a dropped epoch or two); a longer
        # hole is bridged by the straight line and flagged, which never overcharges.
        self.doppler_max_dt_s = doppler_max_dt_s
        # Position-only mode: standing fixes before the car counts as parked, and fixes moving
        # away in a row before a parked car counts as moving.
        self.settle_fixes = settle_fixes
        self.leave_fixes = leave_fixes
        self.leave_step_mm = leave_step_mm
        # Noise of the receiver's velocity, per axis. A speed is the length of a noisy vector,
        # which is biased upwards (E|v + n|² = v² + 2σ²: +0.7 % at 1 m/s with 120 mm/s noise);
        # speeds are de-biased as sqrt(v² − 2σ²) so slow driving is not overcharged.
        # σ is set for a poor receiver in town (~0.24 m/s per axis where reflections disturb
        # the Doppler too), not for a good one (0.05–0.08): assuming too much noise only
        # undercharges creeping (the safe side), too little overcharges it: with 0.1 m/s poor
        # receivers were charged up to +1.35 % on slow town trips (docs/campaign/README.md has
        # the measurements before and after; tests/simulator/test_findings.py the finding).
        self.doppler_var2 = 2 * doppler_sigma_mmps * doppler_sigma_mmps


class Odometer:
    """Feed fixes with :meth:`update`; steps and gaps come out through the callbacks.

    ``on_step(t, lat_e7, lon_e7, dist_um, flags)``: the car was at (lat, lon) at t, having covered
    ``dist_um`` micrometres since the previous step; flags: FLAG_GAP_BRIDGED, STEP_RESTART.
    ``on_gap(t0, lat0, lon0, t1, lat1, lon1)``: a long outage with displacement, between the
    last fix before it and the first after it. Counters (ints, read as attributes): accepted,
    rejected_quality, rejected_time, rejected_jump, stationary, bridged, gaps, restarts.
    """

    def __init__(self, on_step, on_gap, config=None):
        self.on_step = on_step
        self.on_gap = on_gap
        self.cfg = config if config is not None else OdometerConfig()
        # the last accepted fix: outages, jump checks and speeds are measured from it
        self.last_t = None
        self.last_lat = 0
        self.last_lon = 0
        self.last_speed = None
        # the anchor: where and when the last step was emitted
        self.anchor_t = 0
        self.anchor_lat = 0
        self.anchor_lon = 0
        self.stand_t = 0  # the last fix judged standing
        self.anchor_n = 1  # fixes averaged into the anchor while parked (position mode)
        self.leave_um = 0
        self.pending_um = 0  # distance since the anchor, not yet emitted
        self.pending_flags = 0
        # COUNTS, read as attributes, then the runs of fixes: standing in a row (_STILL,
        # position mode), moving away from a parked anchor (_LEAVING), rejected as jumps
        # (_STREAK)
        self.counts = array("I", [0] * (len(COUNTS) + 3))

    def __getattr__(self, name):
        """The counters (:data:`COUNTS`) by name."""
        if name in COUNTS:
            return self.counts[COUNTS.index(name)]
        raise AttributeError(name)

    def acceptable(self, fix):
        """Quality gate for one fix."""
        c = self.cfg
        if not fix.valid or fix.lat_e7 is None or fix.lon_e7 is None or fix.t is None:
            return False
        if fix.fix_type is not None and fix.fix_type < c.min_fix_type:
            return False
        if fix.sats is not None and fix.sats < c.min_sats:
            return False
        if fix.hdop_c is not None and fix.hdop_c > c.max_hdop_c:
            return False
        return True

    def update(self, fix):
        """Process one fix (a firmware.gnss.nmea.Fix or anything with the same fields)."""
        if not self.acceptable(fix):
            self.counts[_REJ_QUALITY] += 1
            return
        c = self.cfg
        t = fix.t
        lat = fix.lat_e7
        lon = fix.lon_e7
        if self.last_t is None:
            self._restart(t, lat, lon, self._speed(fix.speed_mmps))
            return
        dt = t - self.last_t
        if dt <= 0:
            self.counts[_REJ_TIME] += 1  # repeated epoch second (5/10 Hz) or time going back
            return
        from_last_um = distance_um(self.last_lat, self.last_lon, lat, lon)

        if dt > c.bridge_max_s:
            # Long outage: nothing is charged across it; evidence if the car moved meanwhile.
            self._flush()
            if from_last_um > c.gap_min_displacement_mm * 1000:
                self.counts[_GAPS] += 1
                self.on_gap(self.last_t, self.last_lat, self.last_lon, t, lat, lon)
            self._restart(t, lat, lon, self._speed(fix.speed_mmps))
            return

        if from_last_um > c.max_speed_mmps * 1000 * dt:
            self.counts[_STREAK] += 1
            self.counts[_REJ_JUMP] += 1
            if self.counts[_STREAK] >= c.max_reject_streak:
                # Persistent: the previous position was the outlier. Charge nothing for the jump.
                self._flush()
                self._restart(t, lat, lon, self._speed(fix.speed_mmps))
            return
        self.counts[_STREAK] = 0
        self.counts[_ACCEPTED] += 1

        speed = self._speed(fix.speed_mmps)
        by_position = False
        if dt > c.doppler_max_dt_s:
            self.counts[_BRIDGED] += 1
            self.pending_um += from_last_um
            self.pending_flags |= FLAG_GAP_BRIDGED
        elif speed is not None and self.last_speed is not None:
            v0 = self.last_speed if self.last_speed >= c.stationary_mmps else 0
            v1 = speed if speed >= c.stationary_mmps else 0
            self.pending_um += (v0 + v1) * dt * 500  # trapezoid: mm/s × s / 2 → µm
        else:
            by_position = True
        self.last_t = t
        self.last_lat = lat
        self.last_lon = lon
        self.last_speed = speed

        if by_position:
            from_anchor = distance_um(self.anchor_lat, self.anchor_lon, lat, lon)
            if not self._moved(from_anchor, lat, lon):
                self.counts[_STATIONARY] += 1
                return
            # The chord from the anchor replaces whatever was pending since it.
            self.pending_um = from_anchor
        elif self.pending_um == 0:
            self.counts[_STATIONARY] += 1
            self.counts[_STILL] += 1
            self.stand_t = t
            return
        else:
            self.counts[_STILL] = 0
        if self.stand_t > self.anchor_t:
            # Moving off after standing fixes: mark where and until when the car stood.
            self.on_step(self.stand_t, self.anchor_lat, self.anchor_lon, 0, 0)
        self._emit(t, lat, lon, 0)

    def _speed(self, v):
        """The reported speed, de-biased (see OdometerConfig.doppler_var2); None stays None."""
        if v is None or not self.cfg.doppler_var2:
            return v
        v2 = v * v - self.cfg.doppler_var2
        return isqrt(v2) if v2 > 0 else 0

    def _moved(self, from_anchor, lat, lon):
        """Position mode: has the car left the anchor? Averages the anchor while parked."""
        c = self.cfg
        if from_anchor < c.jitter_radius_mm * 1000:
            self.counts[_LEAVING] = 0
            self.counts[_STILL] += 1
            self.stand_t = self.last_t
            if self.counts[_STILL] >= c.settle_fixes:
                # Parked: the centroid of the standing fixes is a better anchor than any one.
                n = self.anchor_n + 1 if self.anchor_n < 16 else 16
                self.anchor_n = n
                self.anchor_lat += (lat - self.anchor_lat) // n
                self.anchor_lon += (lon - self.anchor_lon) // n
            return False
        if self.counts[_STILL] >= c.settle_fixes:
            if self.counts[_LEAVING] and from_anchor >= self.leave_um + c.leave_step_mm * 1000:
                self.counts[_LEAVING] += 1
            else:
                self.counts[_LEAVING] = 1
            self.leave_um = from_anchor
            if self.counts[_LEAVING] < c.leave_fixes:
                return False
        self.counts[_STILL] = 0
        self.counts[_LEAVING] = 0
        return True

    def _restart(self, t, lat, lon, speed):
        self.counts[_ACCEPTED] += 1
        self.counts[_RESTARTS] += 1
        self.last_t = t
        self.last_lat = lat
        self.last_lon = lon
        self.last_speed = speed
        self.pending_um = 0
        self.pending_flags = 0
        self.counts[_STREAK] = 0
        self.counts[_STILL] = self.cfg.settle_fixes  # a fresh start is treated as parked
        self.counts[_LEAVING] = 0
        self._emit(t, lat, lon, STEP_RESTART)

    def _emit(self, t, lat, lon, extra_flags):
        d = self.pending_um
        flags = self.pending_flags | extra_flags
        self.pending_um = 0
        self.pending_flags = 0
        self.anchor_t = t
        self.anchor_lat = lat
        self.anchor_lon = lon
        self.anchor_n = 1
        self.on_step(t, lat, lon, d, flags)

    def _flush(self):
        # Distance integrated from speeds that never reached the jitter test: emit it at the
        # last fix before a discontinuity rather than lose it.
        if self.pending_um:
            self._emit(self.last_t, self.last_lat, self.last_lon, 0)
