"""A small, deterministic protocol scenario: keys, a realistic policy, a month with a few
segments, the statement, a receipt, a sighting challenge and its opening.

Used by tools/gen_vectors.py (pinned vectors), tools/demo.py and the host tests. Everything is
derived from a seed, so the same seed gives byte-identical messages.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from protocol import envelopes, labels, messages, p256, pedersen, tariff, timeutil
from protocol.hashing import tagged_hash


class DetRng:
    """Deterministic byte source: SHA-256(seed ‖ counter) blocks. For vectors and tests only."""

    def __init__(self, seed: bytes) -> None:
        self.seed = seed
        self.counter = 0

    def __call__(self, n: int) -> bytes:
        out = b""
        while len(out) < n:
            out += hashlib.sha256(self.seed + self.counter.to_bytes(8, "big")).digest()
            self.counter += 1
        return out[:n]


def _t(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> int:
    return timeutil.unix_from_civil(y, mo, d, h, mi, s)


def example_policy() -> tariff.TariffPolicy:
    """A city zone with a congestion zone inside it, peak and night bands, CET/CEST in 2026."""
    city = [
        (508000000, 43000000),
        (508000000, 44500000),
        (509000000, 44500000),
        (509000000, 43000000),
    ]
    congestion = [
        (508400000, 43400000),
        (508400000, 43700000),
        (508600000, 43700000),
        (508600000, 43400000),
    ]
    zones = [
        tariff.Zone(2, "congestion", [[congestion]]),
        tariff.Zone(1, "city", [[city]]),
    ]
    bands = [
        tariff.TimeBand(1, 0b0011111, 7 * 60, 9 * 60 + 30),  # Mon–Fri morning peak
        tariff.TimeBand(2, 0b0011111, 16 * 60, 19 * 60),  # Mon–Fri evening peak
        tariff.TimeBand(3, 0b1111111, 0, 6 * 60),  # night, before 06:00
    ]
    offsets = [
        (_t(2025, 10, 26, 1), 3600),
        (_t(2026, 3, 29, 1), 7200),
        (_t(2026, 10, 25, 1), 3600),
    ]
    base = {0: 20000, 1: 60000, 2: 150000}  # micro-EUR per km by zone, off-peak, class 1
    rates = []
    for vclass, factor in ((1, 1), (2, 3)):
        for zone_id, r in base.items():
            for band_id, mult in ((0, 10), (1, 15), (2, 15), (3, 5)):
                rates.append(tariff.Rate(zone_id, band_id, vclass, r * factor * mult // 10))
    return tariff.TariffPolicy(
        1, _t(2026, 1, 1), _t(2027, 1, 1), offsets, zones, bands, rates, "EUR"
    )


@dataclass
class OpenedSegment:
    record: messages.SegmentRecord
    salt: bytes
    blind: int
    price_commitment: bytes
    trace_commitment: bytes


@dataclass
class Scenario:
    authority: p256.SoftwareSigner
    obu: p256.SoftwareSigner
    obu_id: str
    vehicle_class: int
    policy: tariff.TariffPolicy
    policy_envelope: bytes
    policy_id: bytes
    segments: list[OpenedSegment]
    statement: messages.Statement
    statement_envelope: bytes
    receipt: messages.Receipt
    receipt_envelope: bytes
    challenge: messages.Challenge
    challenge_envelope: bytes
    opening: messages.Opening
    opening_envelope: bytes
    sighting: tuple[int, int, int] = field(default=(0, 0, 0))  # (t, lat_e7, lon_e7)

    def resolve_key(self, kid: bytes) -> bytes:
        from protocol.errors import UnknownKeyId

        for s in (self.authority, self.obu):
            if s.kid == kid:
                return s.public_key()
        raise UnknownKeyId(kid.hex())


# Trips: (start time, [(lat_e7, lon_e7) every 10 s]) — plain straight-ish drives.
def _drive(
    t0: int, start: tuple[int, int], step: tuple[int, int], n: int
) -> list[tuple[int, int, int]]:
    return [(t0 + 10 * i, start[0] + step[0] * i, start[1] + step[1] * i) for i in range(n)]


def _segments_from_fixes(
    fixes: list[tuple[int, int, int]], policy: tariff.TariffPolicy, pid: bytes, vclass: int
) -> list[tuple[int, int, int, int, int, list[tuple[int, int, int]]]]:
    """Cut a fix list into (t_start, t_end, zone, band, dist_m, trace) runs of one cell."""
    from protocol import geo

    runs = []
    cur: list[tuple[int, int, int]] = []
    cell = None
    dist_mm = 0
    for t, lat, lon in fixes:
        c = policy.cell_at(lat, lon, t)
        if cell is not None and c != cell:
            runs.append((cur[0][0], cur[-1][0], cell[0], cell[1], dist_mm // 1000, cur))
            # the step across the boundary belongs to the new segment
            prev = cur[-1]
            dist_mm = geo.distance_mm(prev[1], prev[2], lat, lon)
            cur = []
        elif cur:
            dist_mm += geo.distance_mm(cur[-1][1], cur[-1][2], lat, lon)
        cell = c
        cur.append((t, lat, lon))
    if cur and cell is not None:
        runs.append((cur[0][0], cur[-1][0], cell[0], cell[1], dist_mm // 1000, cur))
    return runs


def build(seed: bytes = b"quietmile-scenario-v1") -> Scenario:
    """Build the whole scenario deterministically from ``seed``."""
    rng = DetRng(seed)
    authority = p256.SoftwareSigner(p256.generate_private_key(DetRng(seed + b"/authority")))
    obu = p256.SoftwareSigner(p256.generate_private_key(DetRng(seed + b"/obu")))
    obu_id = "OBU-0001"
    vclass = 1
    policy = example_policy()
    policy_env = envelopes.sign_policy(policy, authority)
    pid = messages.policy_id(policy)

    period_start = _t(2026, 11, 1)
    period_end = timeutil.next_month_start(period_start)
    fixes = _drive(_t(2026, 11, 3, 7, 50), (508250000, 43250000), (4000, 4000), 45)  # Tue, peak
    fixes += _drive(_t(2026, 11, 7, 23, 10), (508700000, 44400000), (-2500, -2000), 30)  # Sat night
    runs = _segments_from_fixes(fixes, policy, pid, vclass)

    segs: list[OpenedSegment] = []
    total = 0
    blind_sum = 0
    for i, (t0, t1, zone, band, dist_m, pts) in enumerate(runs):
        rate = policy.rate(zone, band, vclass)
        price = tariff.price_micro(dist_m, rate)
        trace = [(t - t0, lat, lon) for t, lat, lon in pts]
        rec = messages.SegmentRecord(
            i, t0, t1, zone, band, vclass, dist_m, rate, price, pid, 0, trace
        )
        blind = pedersen.random_blind(rng)
        salt = rng(messages.SALT_LEN)
        c = pedersen.commit(price, blind)
        tc = messages.trace_commitment(rec.encode(), salt)
        segs.append(OpenedSegment(rec, salt, blind, c, tc))
        total += price
        blind_sum = pedersen.add_blinds(blind_sum, blind)

    st = messages.Statement(
        obu_id,
        0,
        bytes(32),
        period_start,
        period_end,
        [pid],
        total,
        pedersen.blind_to_bytes(blind_sum),
        [(s.price_commitment, s.trace_commitment) for s in segs],
    )
    st_env = envelopes.sign_statement(st, obu)
    receipt = messages.Receipt(
        obu_id, 0, envelopes.statement_hash(st_env), total, len(segs), _t(2026, 12, 1, 0, 5)
    )
    receipt_env = envelopes.sign_message(receipt, authority, labels.CTY_RECEIPT)

    # A camera sees the car in the congestion zone during the first trip.
    sighted = segs[1].record
    s_dt, s_lat, s_lon = sighted.trace[len(sighted.trace) // 2]
    sighting = (sighted.t_start + s_dt, s_lat + 30, s_lon - 20)
    ch = messages.Challenge(
        rng(messages.CHALLENGE_ID_LEN),
        obu_id,
        0,
        messages.CHALLENGE_SIGHTING,
        sighting[0],
        None,
        _t(2026, 12, 15),
    )
    ch_env = envelopes.sign_message(ch, authority, labels.CTY_CHALLENGE)
    covering = next(s for s in segs if s.record.covers(ch.at_time))
    op = messages.Opening(
        ch.challenge_id,
        obu_id,
        0,
        covering.record.index,
        covering.record,
        covering.salt,
        pedersen.blind_to_bytes(covering.blind),
    )
    op_env = envelopes.sign_message(op, obu, labels.CTY_OPENING)
    assert (
        tagged_hash(labels.TRACE_COMMITMENT, covering.salt, covering.record.encode())
        == covering.trace_commitment
    )
    return Scenario(
        authority,
        obu,
        obu_id,
        vclass,
        policy,
        policy_env,
        pid,
        segs,
        st,
        st_env,
        receipt,
        receipt_env,
        ch,
        ch_env,
        op,
        op_env,
        sighting,
    )
