"""Cheating OBUs: the strategies of DESIGN §7, each a small change around the real firmware.

Nothing in firmware/ is edited. A cheater runs the real pipeline in-process with one of:

- **NMEA-level** changes the host makes to what the unit hears (simulator.fleet applies them):
  ``switch_off`` — the unit loses power mid-trip for a while (a power cut: the segment in
  progress is lost and, the odometer's state being in RAM, no gap event is recorded);
  ``jammer`` — a GNSS jammer: the receiver reports no fix (time only) for a while, so the
  firmware sees a long outage and commits a gap event once the fix returns;
- **segment-level** changes, by :class:`CheatApp` (an App subclass) between the segmenter and
  the accounting: ``wrong_rate`` (the cheapest rate of the tariff), ``short_distance`` (40 %
  off the distance), ``fake_trace`` (the trace moved 6 km north into the cheap outer zone and
  priced there), ``drop_segments`` (never committed) and ``negative_segment`` (an extra segment
  committed to −x mod ℓ that cancels a trip's fee: it passes the homomorphic sum and only an
  audit that opens it catches it);
- **statement-level** cheats with the unit's own key (an owner who extracted it), in
  :func:`forge_replay` and :func:`forge_altered`: re-sign an old period's cheap commitments as
  the new period's statement, or lower the total.

Every segment-level choice is drawn from the unit's own ``random.Random`` (not from the RNG
the firmware gets), so cheating never shifts the firmware's blinds and salts.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from protocol import envelopes, messages, pedersen, ristretto, tariff
from protocol import tables_ristretto as _tables
from simulator.fw import module

App: Any = module("firmware.app").App
entry_pieces: Any = module("firmware.accounting").entry_pieces

HONEST = "honest"
SWITCH_OFF = "switch_off"
JAMMER = "jammer"
WRONG_RATE = "wrong_rate"
SHORT_DISTANCE = "short_distance"
FAKE_TRACE = "fake_trace"
DROP_SEGMENTS = "drop_segments"
NEGATIVE_SEGMENT = "negative_segment"
REPLAY_STATEMENT = "replay_statement"
ALTER_STATEMENT = "alter_statement"

NMEA_STRATEGIES = (SWITCH_OFF, JAMMER)
SEGMENT_STRATEGIES = (WRONG_RATE, SHORT_DISTANCE, FAKE_TRACE, DROP_SEGMENTS)
STATEMENT_STRATEGIES = (REPLAY_STATEMENT, ALTER_STATEMENT)
STRATEGIES = (
    HONEST,
    *NMEA_STRATEGIES,
    *SEGMENT_STRATEGIES,
    NEGATIVE_SEGMENT,
    *STATEMENT_STRATEGIES,
)
# What catches each (DESIGN §7), for the report.
CAUGHT_BY = {
    SWITCH_OFF: "sighting with no covering segment",
    JAMMER: "sighting during a committed gap event",
    WRONG_RATE: "opening at a sighting: rate ≠ tariff",
    SHORT_DISTANCE: "opening at a sighting: distance < its own trace",
    FAKE_TRACE: "opening at a sighting: camera off the trace",
    DROP_SEGMENTS: "sighting with no covering segment",
    NEGATIVE_SEGMENT: "random-index audit: the segment does not open",
    REPLAY_STATEMENT: (
        "any spot check in the forged period: openings do not match the forged commitments"
    ),
    ALTER_STATEMENT: "ingest: homomorphic sum",
}

SHORT_FACTOR_PERMILLE = 600  # short_distance keeps 60 % of the distance
FAKE_SHIFT_LAT_E7 = 550_000  # fake_trace: 0.055° north (~6.1 km), outside the city zone


class CheatError(ValueError):
    """An unknown strategy or impossible parameter."""


@dataclass(frozen=True)
class CheatSpec:
    """A vehicle's behaviour. ``share``: the probability per segment (segment-level), per trip
    (NMEA-level, negative_segment) of cheating; statement-level cheats act once per period."""

    strategy: str = HONEST
    share: float = 0.0

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise CheatError(f"unknown strategy {self.strategy!r}; one of {', '.join(STRATEGIES)}")
        if not 0.0 <= self.share <= 1.0:
            raise CheatError("share must be in [0, 1]")

    @property
    def honest(self) -> bool:
        return self.strategy == HONEST

    @property
    def needs_cheat_app(self) -> bool:
        return self.strategy in (*SEGMENT_STRATEGIES, NEGATIVE_SEGMENT)


def cheapest_rate(policy: tariff.TariffPolicy, vehicle_class: int) -> int:
    return min(policy.class_rates(vehicle_class))


class CheatApp(App):
    """The real App with a cheating step between segmenter and accounting (module docstring).

    ``cheat`` a CheatSpec; ``cheat_rng`` a random.Random kept by the host across reboots.
    After each committed or dropped record, ``last_action`` names what was done to it (None:
    committed as the firmware built it).
    """

    def __init__(
        self, *args: Any, cheat: CheatSpec, cheat_rng: random.Random, **kwargs: Any
    ) -> None:
        self.cheat = cheat
        self.cheat_rng = cheat_rng
        self.last_action: str | None = None
        super().__init__(*args, **kwargs)

    def _on_segment(self, record: messages.SegmentRecord) -> None:
        self.last_action = None
        if (
            record.flags & messages.FLAG_GAP_EVENT
            or self.cheat.strategy not in SEGMENT_STRATEGIES
            or self.cheat_rng.random() >= self.cheat.share
        ):
            super()._on_segment(record)
            return
        strategy = self.cheat.strategy
        if strategy == DROP_SEGMENTS:
            self.last_action = DROP_SEGMENTS  # never committed: no trace of it anywhere
            return
        found = self.policies.lookup(record.t_start)
        if found is None:
            super()._on_segment(record)
            return
        policy = found[0]
        vclass = record.vehicle_class
        if strategy == WRONG_RATE:
            rate = cheapest_rate(policy, vclass)
            if rate < record.rate_micro_per_km:
                record.rate_micro_per_km = rate
                self.last_action = WRONG_RATE
        elif strategy == SHORT_DISTANCE:
            if record.dist_m > 0:
                record.dist_m = record.dist_m * SHORT_FACTOR_PERMILLE // 1000
                self.last_action = SHORT_DISTANCE
        elif strategy == FAKE_TRACE and record.zone_id != 0:
            moved = [(dt, lat + FAKE_SHIFT_LAT_E7, lon) for dt, lat, lon in record.trace]
            if all(policy.zone_at(lat, lon) == 0 for _, lat, lon in moved):
                record.trace = moved
                record.zone_id = 0
                record.rate_micro_per_km = policy.rate(0, record.band_id, vclass)
                self.last_action = FAKE_TRACE
        record.price_micro = tariff.price_micro(record.dist_m, record.rate_micro_per_km)
        super()._on_segment(record)

    def add_negative(self, t: int, lat_e7: int, lon_e7: int, amount: int) -> int:
        """Append a zero-distance segment at (t, lat, lon) committed to −amount (mod ℓ) and
        lower the period's running total by it. Returns the amount actually taken (never more
        than the period's total so far: a statement's total cannot be negative).

        Writes the ledger entry and the totals with the accounting's own internals, then a
        checkpoint at once: a cheating firmware would keep the lowered total the same way.
        """
        acc = self.accounting
        found = self.policies.lookup(t)
        if found is None:
            return 0
        policy, pid = found
        period = acc.period_of(t)
        tot = acc._load(period)
        amount = min(amount, tot.total)
        if tot.closed or amount <= 0:
            return 0
        vclass = self.cfg.vehicle_class
        zone = policy.zone_at(lat_e7, lon_e7)
        band = policy.band_at(t)
        rate = policy.rate(zone, band, vclass)
        acc._switch_current(period)
        lg = acc.ledger(period)
        acc._totals[period] = tot
        rec = messages.SegmentRecord(
            lg.count, t, t, zone, band, vclass, 0, rate, 0, pid, 0, [(0, lat_e7, lon_e7)]
        )
        record_bytes = rec.encode()
        blind = pedersen.random_blind(self.rng)
        salt = self.rng(16)
        negative = ristretto.L - amount
        price_c = ristretto.encode(
            ristretto.comb_mult2(blind, _tables.H_COMB, negative, _tables.B_COMB)
        )
        trace_c = messages.trace_commitment(record_bytes, salt)
        entry = entry_pieces(record_bytes, salt, pedersen.blind_to_bytes(blind), price_c, trace_c)
        lg.append(entry)
        tot.fold(-amount, blind, pid, trace_c)
        acc._write_checkpoint(tot)
        self.last_action = NEGATIVE_SEGMENT
        return amount


# --- statement-level cheats -------------------------------------------------------------------


def _decode(envelope: bytes) -> messages.Statement:
    from protocol import cose

    return messages.Statement.decode(cose.decode_sign1(envelope).payload)


def forge_replay(previous: bytes, honest: bytes, signer: Any) -> bytes:
    """The new period's statement rebuilt from the previous period's (cheaper) commitments:
    same seq, prev_hash and period as the honest one, signed with the unit's key. It passes
    every ingest check; only an opening can show that it commits to other driving."""
    old = _decode(previous)
    new = _decode(honest)
    forged = messages.Statement(
        new.obu_id,
        new.seq,
        new.prev_hash,
        new.period_start,
        new.period_end,
        old.policy_ids,
        old.total_price_micro,
        old.blind_sum,
        old.commitments,
    )
    return bytes(envelopes.sign_statement(forged, signer))


def forge_altered(honest: bytes, signer: Any, keep_permille: int = 800) -> bytes:
    """The honest statement with a lower total (80 % by default), re-signed with the unit's
    key: the signature holds, the homomorphic sum does not."""
    st = _decode(honest)
    st.total_price_micro = st.total_price_micro * keep_permille // 1000
    return bytes(envelopes.sign_statement(st, signer))
