"""The sighting tolerance model: how far a camera's position may lie from an opened trace.

SPEC §6.6 step 7 leaves the tolerance to the authority. An honest vehicle must never be
accused (DESIGN §8: zero false accusations), so every term below is an upper bound on an
honest error, and the model errs wide. For a camera fix with stated accuracy ``a`` (mm):

1. **Measurement**: the trace samples carry GNSS error (σ per fix: white noise and the
   slowly drifting bias) and the camera its own. Treated as independent 2-D errors, their
   combined radius exceeds k·sqrt(σ² + a²) with probability about exp(−k²/2) (k = 6:
   1.5 × 10⁻⁸), with a floor. Multipath is not Gaussian: in street canyons a receiver reports
   fixes 20–90 m off for seconds, and the firmware keeps them in the trace (they look like
   driving). A camera that sees the car during such an excursion is that far from the trace
   (found by the simulator's long run: an honest bad-GNSS unit 100 m off the camera that saw
   it; tests/backend/test_challenges.py replays it), so the bound M on an excursion is added
   in full::

       measurement = max(min_tolerance, k · sqrt(σ_gnss² + a²)) + M

2. **Path between samples**: the trace keeps one fix every ~10 s, and the road between two
   samples A (t_A) and B (t_B) bends. Whatever the road, the car's path from A to B has
   length L ≤ v · (t_B − t_A), so at any instant between them it lies in the ellipse with
   foci A and B and major axis L, and that ellipse lies within its half minor axis
   sqrt(L² − |AB|²) / 2 of the chord AB (the chord is what protocol.verify.check_sighting
   measures against). With a single sample on one side (the sighting before the first or
   after the last sample) the car is within v · |t − t_sample| of it. Both are capped, so a
   unit that samples sparsely does not buy itself an unbounded margin::

       path = min(path_slack_max, sqrt(max(|AB|, v·Δt)² − |AB|²) / 2)     (two samples)
       path = min(path_slack_max, v · |t − t_sample|)                       (one sample)

3. **Clock skew**: the camera's clock may differ from GNSS time by a few seconds, so the
   check passes if the sighting fits the trace at any instant in at_time ± skew.

tolerance(t) = measurement + path(t). Defaults (backend/core/config.py): σ = 10 m, k = 6,
floor 25 m, M = 100 m, v = 40 m/s, cap 250 m, skew 2 s. With 10 s samples on a straight road
at 30 m/s this accepts a camera up to ~290 m off the chord, on a sharp bend up to ~360 m; with
the 1 s samples a multipath excursion leaves ~165 m; a fake trace in another zone is typically
kilometres away. These are policy, not protocol: the simulator
measures false accusations and detection with them (DESIGN §8).
"""

from __future__ import annotations

from dataclasses import dataclass

from backend.core.config import Settings
from protocol import geo, messages, verify
from protocol.errors import NotOnTrace

TracePoint = tuple[int, int, int]  # (t, lat_e7, lon_e7), absolute time


@dataclass(frozen=True)
class ToleranceModel:
    gnss_sigma_mm: int = 10_000
    sigma_multiplier: int = 6
    min_tolerance_mm: int = 25_000
    multipath_mm: int = 100_000
    path_speed_mm_per_s: int = 40_000
    path_slack_max_mm: int = 250_000
    clock_skew_s: int = 2

    @classmethod
    def from_settings(cls, s: Settings) -> ToleranceModel:
        return cls(
            s.sighting_gnss_sigma_mm,
            s.sighting_sigma_multiplier,
            s.sighting_min_tolerance_mm,
            s.sighting_multipath_mm,
            s.sighting_path_speed_mm_per_s,
            s.sighting_path_slack_max_mm,
            s.sighting_clock_skew_s,
        )

    def measurement_mm(self, accuracy_mm: int) -> int:
        combined = geo.isqrt(self.gnss_sigma_mm**2 + accuracy_mm**2)
        gaussian = max(self.min_tolerance_mm, self.sigma_multiplier * combined)
        return gaussian + self.multipath_mm

    def path_slack_mm(self, t: int, before: TracePoint | None, after: TracePoint | None) -> int:
        """Margin for the unsampled road around instant ``t`` (module docstring, term 2)."""
        if before is not None and after is not None:
            chord = geo.distance_mm(before[1], before[2], after[1], after[2])
            reach = max(chord, self.path_speed_mm_per_s * (after[0] - before[0]))
            # Rounded up: the margin must never be smaller than the ellipse's half-width.
            half_width = (geo.isqrt(reach * reach - chord * chord) + 2) // 2
            return min(self.path_slack_max_mm, half_width)
        near = before if before is not None else after
        if near is None:
            return 0
        return min(self.path_slack_max_mm, self.path_speed_mm_per_s * abs(t - near[0]))

    def tolerance_mm(
        self, accuracy_mm: int, t: int, before: TracePoint | None, after: TracePoint | None
    ) -> int:
        return self.measurement_mm(accuracy_mm) + self.path_slack_mm(t, before, after)


def _bracket(points: list[TracePoint], t: int) -> tuple[TracePoint | None, TracePoint | None]:
    """The samples around ``t`` exactly as protocol.verify.check_sighting chooses them."""
    before = None
    after = None
    for p in points:
        if p[0] <= t:
            before = p
        elif after is None:
            after = p
    return before, after


def check_sighting(
    record: messages.SegmentRecord,
    at_time: int,
    lat_e7: int,
    lon_e7: int,
    accuracy_mm: int,
    model: ToleranceModel,
) -> int:
    """Accept if the camera position fits the opened trace at some instant of at_time ± skew
    under ``model``; return the smallest distance found (mm). Raises NotOnTrace otherwise.

    Each candidate instant is checked with protocol.verify.check_sighting, given the
    tolerance the model computes for the samples bracketing that instant. The candidates
    are the window's ends and every sample time inside it, which between them select every
    pair of consecutive samples the window touches.
    """
    points = [(record.t_start + dt, lat, lon) for dt, lat, lon in record.trace]
    lo = at_time - model.clock_skew_s
    hi = at_time + model.clock_skew_s
    candidates = sorted({lo, hi} | {p[0] for p in points if lo <= p[0] <= hi})
    best: int | None = None
    failure: NotOnTrace | None = None
    for t in candidates:
        before, after = _bracket(points, t)
        tolerance = model.tolerance_mm(accuracy_mm, t, before, after)
        try:
            # max speed 0: the one-sample margin is the model's (capped), not the protocol's.
            d = verify.check_sighting(record, t, lat_e7, lon_e7, tolerance, max_speed_mm_per_s=0)
        except NotOnTrace as e:
            failure = e
            continue
        best = d if best is None else min(best, d)
    if best is None:
        raise failure if failure is not None else NotOnTrace("no trace point near the sighting")
    return best
