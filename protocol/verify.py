"""Verification steps, in the order SPEC.md §6 gives them. Each step raises one typed error.

The group operations are injected: ``group`` is protocol.pedersen (pure, runs on the OBU) or
backend.crypto.group.SodiumGroup (libsodium); the signature check ``verify`` defaults to the
pure P-256 verifier and the backend passes one built on ``cryptography``. Both must behave
identically; the contract suite checks that.
"""

from protocol import cose, geo, labels, messages, tariff
from protocol.hashing import tagged_hash
from protocol.verify_errors import (
    CellMismatch,
    ChainBroken,
    ChallengeMismatch,
    DistanceMismatch,
    ImplausibleTrace,
    NotOnTrace,
    ObuMismatch,
    OpeningMismatch,
    PriceMismatch,
)

# A road vehicle does not exceed this between two trace points (m/s); with GNSS noise on
# 1 s steps real traces stay far below it (SPEC §6.4).
MAX_SPEED_MM_PER_S = 90000
# Slack when comparing the claimed distance with the opened trace's polyline length: the
# sampled polyline is a lower bound of the driven path, minus per-point GNSS noise.
# The distance check compares dist_m (the unit measures it from Doppler speed) with a robust
# lower bound from the trace: the polyline through trace points at least DIST_CHORD_MM apart.
# Multipath can displace single fixes by tens of metres; on long chords that adds little
# length, where on 1 s steps it would add a lot and accuse honest units (simulator finding).
DIST_CHORD_MM = 200000
DIST_SLACK_PER_POINT_MM = 30000  # per kept chord end: GNSS error at both ends of a chord
DIST_SLACK_PERMILLE = 20
# A single fix may be this far off (multipath) without making its trace implausible.
GNSS_OUTLIER_MM = 60000

ZERO_HASH = bytes(32)


def _default_group():
    from protocol import pedersen

    return pedersen


def verify_statement(envelope, resolve_key, obu_id_for_kid=None, group=None, verify=None):
    """Verify a signed Statement envelope; return (statement, kid).

    Steps: COSE structure and ES256 signature under the key ``resolve_key(kid)`` (§6.1);
    payload decoding and bounds (§6.2); the OBU named in the payload is the key's owner
    (``obu_id_for_kid(kid)``, if given); blind_sum canonical; every price commitment a valid
    encoding; sum(C_i) == total·B + blind_sum·H (§6.3).
    """
    if group is None:
        group = _default_group()
    s1 = cose.verify_sign1(envelope, resolve_key, labels.CTY_STATEMENT, verify=verify)
    st = messages.Statement.decode(s1.payload)
    if obu_id_for_kid is not None and obu_id_for_kid(s1.kid) != st.obu_id:
        raise ObuMismatch("statement names OBU %r but is signed by another key" % st.obu_id)
    blind_sum = group.blind_from_bytes(st.blind_sum)
    group.verify_sum((c for c, _ in st.commitments), st.total_price_micro, blind_sum)
    return st, s1.kid


def check_chain(statement, statement_hash_prev, seq_prev):
    """Check a statement extends the chain: seq = previous + 1 and prev_hash = hash(previous).

    For the first statement of an OBU pass ``seq_prev=None``: seq must be 0 and prev_hash all
    zero. Raises ChainBroken. (A *missing* period — a gap in period times — is not an error
    here; the backend flags it, SPEC §6.5.)
    """
    if seq_prev is None:
        if statement.seq != 0 or statement.prev_hash != ZERO_HASH:
            raise ChainBroken("first statement must have seq 0 and a zero prev_hash")
        return
    if statement.seq != seq_prev + 1:
        raise ChainBroken("seq %d does not follow %d" % (statement.seq, seq_prev))
    if statement.prev_hash != statement_hash_prev:
        raise ChainBroken("prev_hash does not match the previous statement")


def check_opening_answers(opening, challenge, statement):
    """The Opening answers exactly this Challenge about this Statement (§6.6 step 1)."""
    if opening.challenge_id != challenge.challenge_id:
        raise ChallengeMismatch("challenge_id differs")
    if opening.obu_id != challenge.obu_id or opening.obu_id != statement.obu_id:
        raise ChallengeMismatch("obu_id differs")
    if opening.statement_seq != challenge.statement_seq or statement.seq != challenge.statement_seq:
        raise ChallengeMismatch("statement_seq differs")
    if opening.is_empty:
        return
    rec = opening.record
    if opening.segment_index >= statement.segment_count:
        raise ChallengeMismatch("segment_index beyond the statement's segments")
    if challenge.kind == messages.CHALLENGE_INDEX:
        if opening.segment_index != challenge.segment_index:
            raise ChallengeMismatch("opened another segment than the one challenged")
    elif not rec.covers(challenge.at_time):
        raise ChallengeMismatch("opened segment does not cover the challenged instant")
    if not (statement.period_start <= rec.t_start and rec.t_end < statement.period_end):
        raise ChallengeMismatch("segment lies outside the statement period")


def check_commitments(opening, statement, group=None):
    """The record and price open the segment's committed values (§6.6 steps 2–3)."""
    if group is None:
        group = _default_group()
    price_c, trace_c = statement.commitments[opening.segment_index]
    record_bytes = opening.record.encode()
    if tagged_hash(labels.TRACE_COMMITMENT, opening.salt, record_bytes) != trace_c:
        raise OpeningMismatch("record does not match the trace commitment")
    group.verify_opening(price_c, opening.record.price_micro, group.blind_from_bytes(opening.blind))


def check_record(record, policy, pid, vehicle_class, statement):
    """The opened record is priced and classified correctly and physically plausible (§6.6 4–6).

    ``policy`` is the tariff.TariffPolicy whose id ``pid`` the record names;
    ``vehicle_class`` is the class registered for the OBU.
    """
    if record.policy_id != pid or pid not in statement.policy_ids:
        raise PriceMismatch("record names a policy the statement does not")
    if record.vehicle_class != vehicle_class:
        raise PriceMismatch("record's vehicle class is not the registered one")
    gap_event = record.flags & messages.FLAG_GAP_EVENT
    if gap_event:
        if record.dist_m != 0 or record.price_micro != 0:
            raise PriceMismatch("a gap event charges nothing")
    else:
        rate = policy.rate(record.zone_id, record.band_id, vehicle_class)
        if record.rate_micro_per_km != rate:
            raise PriceMismatch("rate %d is not the tariff's %d" % (record.rate_micro_per_km, rate))
        if record.price_micro != tariff.price_micro(record.dist_m, rate):
            raise PriceMismatch("price is not dist_m × rate under the rounding rule")
    _check_trace(record, policy, gap_event)


def _check_trace(record, policy, gap_event):
    trace = record.trace
    if not trace:
        raise ImplausibleTrace("an opened segment has at least one trace point")
    prev = None
    for dt, lat, lon in trace:
        t = record.t_start + dt
        if not gap_event:
            if policy.zone_at(lat, lon) != record.zone_id or policy.band_at(t) != record.band_id:
                raise CellMismatch("trace point at t=%d is in another tariff cell" % t)
        if prev is not None:
            step = geo.distance_mm(prev[1], prev[2], lat, lon)
            dts = dt - prev[0]
            limit = MAX_SPEED_MM_PER_S * (dts if dts > 0 else 1) + 2 * GNSS_OUTLIER_MM
            if not gap_event and step > limit:
                raise ImplausibleTrace("speed between trace points exceeds the limit")
        prev = (dt, lat, lon)
    # The length bound walks the trace with every interior point replaced by the median of
    # itself and its two neighbours, per coordinate: a single multipath spike (a fix ~100 m
    # off between two good ones) would otherwise become a chord end and add up to twice its
    # offset (simulator finding: an honest 337 m segment whose spikes made 507 m of chords).
    length_mm = 0  # over chords of >= DIST_CHORD_MM between kept points
    kept = None
    n_kept = 1
    last = len(trace) - 1
    lat = lon = 0
    for i in range(last + 1):
        lat, lon = trace[i][1], trace[i][2]
        if 0 < i < last:
            lat = _median3(trace[i - 1][1], lat, trace[i + 1][1])
            lon = _median3(trace[i - 1][2], lon, trace[i + 1][2])
        if kept is None:
            kept = (lat, lon)
            continue
        chord = geo.distance_mm(kept[0], kept[1], lat, lon)
        if chord >= DIST_CHORD_MM:
            length_mm += chord
            kept = (lat, lon)
            n_kept += 1
    if kept is not None and (lat, lon) != kept:
        length_mm += geo.distance_mm(kept[0], kept[1], lat, lon)
        n_kept += 1
    if not gap_event:
        slack_mm = DIST_SLACK_PER_POINT_MM * n_kept + length_mm * DIST_SLACK_PERMILLE // 1000
        if record.dist_m * 1000 + slack_mm < length_mm:
            raise DistanceMismatch(
                "claims %d m, its own trace covers %d m" % (record.dist_m, length_mm // 1000)
            )


def _median3(a, b, c):
    lo, hi = (a, b) if a <= b else (b, a)
    return lo if c < lo else hi if c > hi else c


def position_at(record, t):
    """The (lat_e7, lon_e7) on the opened trace at instant ``t``, interpolated in integers."""
    prev = None
    for dt, lat, lon in record.trace:
        tp = record.t_start + dt
        if tp >= t:
            if prev is None or tp == prev[0]:
                return lat, lon
            span = tp - prev[0]
            w = t - prev[0]
            return (
                prev[1] + (lat - prev[1]) * w // span,
                prev[2] + (lon - prev[2]) * w // span,
            )
        prev = (tp, lat, lon)
    if prev is None:
        raise ImplausibleTrace("an opened segment has at least one trace point")
    return prev[1], prev[2]


def check_sighting(
    record, at_time, lat_e7, lon_e7, tolerance_mm, max_speed_mm_per_s=MAX_SPEED_MM_PER_S
):
    """The sighting position lies on the opened trace near ``at_time`` (§6.6 step 7).

    The trace is sampled, so the car was somewhere on the path between the samples around the
    sighting time: accept if the sighting is within ``tolerance_mm`` (GNSS + camera error) of
    the trace polyline restricted to the samples bracketing ``at_time``, widened by how far the
    car could have travelled in the time to the nearest sample.
    """
    before = None
    after = None
    for dt, lat, lon in record.trace:
        tp = record.t_start + dt
        if tp <= at_time:
            before = (tp, lat, lon)
        elif after is None:
            after = (tp, lat, lon)
    pts = [p for p in (before, after) if p is not None]
    if not pts:
        raise NotOnTrace("no trace point near the sighting")
    if len(pts) == 1:
        d = geo.distance_mm(pts[0][1], pts[0][2], lat_e7, lon_e7)
        slack = max_speed_mm_per_s * abs(at_time - pts[0][0])
    else:
        d = geo.point_segment_distance_mm(
            lat_e7, lon_e7, (pts[0][1], pts[0][2]), (pts[1][1], pts[1][2])
        )
        slack = 0
    if d > tolerance_mm + slack:
        raise NotOnTrace("sighting is %d m from the opened trace" % (d // 1000))
    return d
