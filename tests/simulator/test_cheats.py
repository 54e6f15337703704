"""Cheating firmware (simulator.cheats) does what it claims, and the protocol sees through it."""

from __future__ import annotations

import copy
import random
from pathlib import Path
from typing import Any

import pytest

from firmware.app import App
from protocol import envelopes, geo, messages, p256, verify
from protocol.errors import OpeningMismatch, PriceMismatch, SumMismatch
from simulator import cheats, gnss, nmea_out, trips
from simulator.cheats import CheatApp, CheatSpec
from simulator.network import default_policy
from simulator.obu import InProcessObu, ObuIdentity, prepare_root, sealed_statements, statement_of

AUTHORITY = p256.SoftwareSigner(0x5EED0B22)
POLICY = default_policy()
PID = messages.policy_id(POLICY)
IDENT = ObuIdentity("OBU-CHEAT", "QM CHEAT", 1, "cheat/1")
# Tuesday 2026-03-03, 07:40 local: home-west to the office through the congestion zone.
TRIP = trips.synthetic_trip("home-west", "office-garage", 1772520000, "cheat-trip")


class Recording:
    """Keeps a copy of every record the accounting receives, and the ledger entries' secrets."""

    def __init__(self) -> None:
        self.records: list[messages.SegmentRecord] = []


def _obu(
    tmp: Path, spec: CheatSpec | None, rec: Recording, period: str | int = "month"
) -> InProcessObu:
    root = tmp / IDENT.obu_id
    cfg = prepare_root(
        root,
        IDENT,
        authority_public_key=AUTHORITY.public_key(),
        policy_envelope=envelopes.sign_policy(POLICY, AUTHORITY),
        install_at=POLICY.valid_from,
        period=period,
    )
    base: type = CheatApp if spec is not None else App

    class Recorded(base):  # type: ignore[misc, valid-type]
        def _on_segment(self, record: messages.SegmentRecord) -> None:
            super()._on_segment(record)
            if getattr(self, "last_action", None) != cheats.DROP_SEGMENTS:
                rec.records.append(copy.deepcopy(record))

    kwargs: dict[str, Any] | None = (
        {"cheat": spec, "cheat_rng": random.Random(1)} if spec is not None else None
    )
    return InProcessObu(IDENT, root, cfg, app_class=Recorded, app_kwargs=kwargs)


def _drive(obu: InProcessObu) -> None:
    obu.feed(nmea_out.to_bytes(gnss.epochs(TRIP, gnss.GnssConfig.good(), "cheat")))


def _seal(obu: InProcessObu) -> bytes:
    obu.app.seal_due(TRIP.end_t + 40 * 86400)  # the month is over: one statement
    [env] = sealed_statements(obu.root)
    return env


def test_wrong_rate_passes_ingest_and_fails_its_opening(tmp_path: Path) -> None:
    rec = Recording()
    obu = _obu(tmp_path, CheatSpec(cheats.WRONG_RATE, 1.0), rec)
    _drive(obu)
    env = _seal(obu)
    st, _ = verify.verify_statement(env, lambda kid: IDENT.public_key())
    cheapest = cheats.cheapest_rate(POLICY, 1)
    assert rec.records and all(r.rate_micro_per_km == cheapest for r in rec.records)
    assert st.total_price_micro == sum(r.price_micro for r in rec.records)
    with pytest.raises(PriceMismatch):
        verify.check_record(rec.records[0], POLICY, PID, 1, st)


def test_fake_trace_is_consistent_but_off_the_road(tmp_path: Path) -> None:
    rec = Recording()
    obu = _obu(tmp_path, CheatSpec(cheats.FAKE_TRACE, 1.0), rec)
    _drive(obu)
    st = statement_of(_seal(obu))
    faked = [r for r in rec.records if r.zone_id == 0]
    assert faked, "city segments moved to the outer zone"
    r = faked[0]
    verify.check_record(r, POLICY, PID, 1, st)  # self-consistent: an audit cannot tell
    t = r.t_start + r.trace[len(r.trace) // 2][0]
    truth = next(s for s in TRIP.samples if s.t == t)
    lat, lon = verify.position_at(r, t)
    assert geo.distance_mm(lat, lon, truth.lat_e7, truth.lon_e7) > 5_000_000  # > 5 km


def test_negative_segment_cancels_a_trip_and_only_an_opening_shows_it(tmp_path: Path) -> None:
    rec = Recording()
    obu = _obu(tmp_path, CheatSpec(cheats.NEGATIVE_SEGMENT, 1.0), rec)
    _drive(obu)
    fee = sum(r.price_micro for r in rec.records)
    last = TRIP.samples[-60]
    taken = obu.app.add_negative(TRIP.end_t - 60, last.lat_e7, last.lon_e7, fee // 2)
    assert taken == fee // 2
    env = _seal(obu)
    st, _ = verify.verify_statement(env, lambda kid: IDENT.public_key())  # the sum holds
    assert st.total_price_micro == fee - taken
    ghost = st.segment_count - 1
    _rb, _salt, blind, price_c, _t = obu.app.accounting.entry(st.period_start, ghost)
    from protocol import pedersen

    with pytest.raises(OpeningMismatch):
        pedersen.verify_opening(price_c, 0, pedersen.blind_from_bytes(blind))


def test_forged_statements(tmp_path: Path) -> None:
    rec = Recording()
    obu = _obu(tmp_path, None, rec, period=3600)
    _drive(obu)
    obu.app.seal_due(TRIP.end_t + 7200)  # hourly: the trip's hour and the empty ones after
    envs = sealed_statements(obu.root)
    assert len(envs) >= 2
    signer = IDENT.signer()
    pub = IDENT.public_key()
    replay = cheats.forge_replay(envs[0], envs[1], signer)
    st, _ = verify.verify_statement(replay, lambda kid: pub)  # valid signature and sum
    honest = statement_of(envs[1])
    assert (st.seq, st.prev_hash, st.period_start) == (
        honest.seq,
        honest.prev_hash,
        honest.period_start,
    )
    assert st.commitments == statement_of(envs[0]).commitments
    altered = cheats.forge_altered(envs[0], signer)  # the hour with the driving
    with pytest.raises(SumMismatch):
        verify.verify_statement(altered, lambda kid: pub)
