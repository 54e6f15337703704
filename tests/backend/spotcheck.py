"""Builders for spot-check, audit and dispute tests: an OBU's month of driving with every
segment's opening kept (like tools/scenario.py), cheats of each kind, and the OBU's signed
calls to the challenge and dispute endpoints."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import rbcl

from protocol import cbor, envelopes, labels, messages, pedersen, ristretto, tariff, timeutil
from tests.backend import support
from tests.backend.conftest import Env, Fleet
from tools.scenario import DetRng, OpenedSegment, _drive, _segments_from_fixes

Fix = tuple[int, int, int]  # (t, lat_e7, lon_e7)


def _t(d: int, h: int, mi: int) -> int:
    return timeutil.unix_from_civil(2026, 11, d, h, mi, 0)


# tools/scenario.py's two trips: a Tuesday morning-peak drive from the city into the
# congestion zone (segments 0: city, 1: congestion) and a Saturday night drive (segment 2).
TRIPS: list[list[Fix]] = [
    _drive(_t(3, 7, 50), (508250000, 43250000), (4000, 4000), 45),
    _drive(_t(7, 23, 10), (508700000, 44400000), (-2500, -2000), 30),
]


@dataclass
class Period:
    """A signed statement and the OBU-private material to open any of its segments."""

    statement: messages.Statement
    envelope: bytes
    segments: list[OpenedSegment]
    signer: Any

    @property
    def hash(self) -> bytes:
        return envelopes.statement_hash(self.envelope)

    def covering(self, t: int) -> int | None:
        """SPEC §5.4: the lowest index whose record covers ``t``."""
        for s in self.segments:
            if s.record.covers(t):
                return s.record.index
        return None

    def opening(
        self,
        challenge: messages.Challenge | bytes,
        index: int | None = None,
        *,
        record: messages.SegmentRecord | None = None,
        salt: bytes | None = None,
        blind: int | None = None,
        empty: bool = False,
        obu_id: str | None = None,
        seq: int | None = None,
    ) -> messages.Opening:
        """An Opening of segment ``index`` (default: what the challenge asks for)."""
        if isinstance(challenge, messages.Challenge):
            cid, name, st_seq = challenge.challenge_id, challenge.obu_id, challenge.statement_seq
            if index is None and not empty:
                index = (
                    challenge.segment_index
                    if challenge.kind == messages.CHALLENGE_INDEX
                    else self.covering(challenge.at_time)
                )
        else:
            cid, name, st_seq = challenge, self.statement.obu_id, self.statement.seq
        name = obu_id or name
        st_seq = self.statement.seq if seq is None else seq
        if empty or index is None:
            return messages.Opening(cid, name, st_seq, None, None, None, None)
        seg = self.segments[index]
        return messages.Opening(
            cid,
            name,
            st_seq,
            index,
            record if record is not None else seg.record,
            salt if salt is not None else seg.salt,
            pedersen.blind_to_bytes(seg.blind if blind is None else blind),
        )

    def sign(self, opening: messages.Opening, signer: Any = None) -> bytes:
        return envelopes.sign_message(opening, signer or self.signer, labels.CTY_OPENING)


def _negative_commitment(x: int, blind: int) -> bytes:
    """(−x)·B + blind·H: what a cheater commits to shrink the total by x (SPEC §9)."""
    neg = (ristretto.L - x).to_bytes(32, "little")
    xb = rbcl.crypto_scalarmult_ristretto255_base(neg)
    rh = rbcl.crypto_scalarmult_ristretto255(blind.to_bytes(32, "little"), pedersen.H_ENCODED)
    out: bytes = rbcl.crypto_core_ristretto255_add(xb, rh)
    return out


@dataclass
class Cheats:
    """Ways to build a statement that passes ingest but not an opening."""

    # index -> the price the unit commits to and writes in its record (under-pricing)
    price: dict[int, int] = field(default_factory=dict)
    # index -> x: the unit commits to −x (mod ℓ) and keeps an honest-looking record
    negative: dict[int, int] = field(default_factory=dict)
    # index -> a function changing the record before it is committed
    record: dict[int, Callable[[messages.SegmentRecord], messages.SegmentRecord]] = field(
        default_factory=dict
    )


def build_period(
    signer: Any,
    obu_id: str,
    *,
    trips: list[list[Fix]] | None = None,
    seq: int = 0,
    prev_hash: bytes = bytes(32),
    period: tuple[int, int] = (support.NOV_2026, support.DEC_2026),
    vehicle_class: int = 1,
    cheats: Cheats | None = None,
    seed: bytes = b"period",
    extra_records: list[messages.SegmentRecord] | None = None,
) -> Period:
    """Segments cut from ``trips`` exactly as the firmware would (one tariff cell each),
    priced by the example policy, committed; then the signed statement."""
    cheats = cheats or Cheats()
    rng = DetRng(b"spotcheck/" + seed + obu_id.encode() + seq.to_bytes(4, "big"))
    policy = support.POLICY
    pid = support.POLICY_ID
    records: list[messages.SegmentRecord] = []
    for fixes in trips if trips is not None else TRIPS:
        for t0, t1, zone, band, dist_m, pts in _segments_from_fixes(
            fixes, policy, pid, vehicle_class
        ):
            rate = policy.rate(zone, band, vehicle_class)
            records.append(
                messages.SegmentRecord(
                    len(records),
                    t0,
                    t1,
                    zone,
                    band,
                    vehicle_class,
                    dist_m,
                    rate,
                    tariff.price_micro(dist_m, rate),
                    pid,
                    0,
                    [(t - t0, lat, lon) for t, lat, lon in pts],
                )
            )
    for extra in extra_records or []:
        records.append(_reindexed(extra, len(records)))
    segs: list[OpenedSegment] = []
    total = 0
    blind_sum = 0
    for rec in records:
        i = rec.index
        if i in cheats.price:
            rec = _with(rec, price_micro=cheats.price[i])
        if i in cheats.record:
            rec = cheats.record[i](rec)
        blind = pedersen.random_blind(rng)
        salt = rng(messages.SALT_LEN)
        if i in cheats.negative:
            c = _negative_commitment(cheats.negative[i], blind)
            total -= cheats.negative[i]
        else:
            c = pedersen.commit(rec.price_micro, blind)
            total += rec.price_micro
        segs.append(
            OpenedSegment(rec, salt, blind, c, messages.trace_commitment(rec.encode(), salt))
        )
        blind_sum = pedersen.add_blinds(blind_sum, blind)
    assert total >= 0, "a cheat cannot make the total negative"
    st = messages.Statement(
        obu_id,
        seq,
        prev_hash,
        period[0],
        period[1],
        [pid] if segs else [],
        total,
        pedersen.blind_to_bytes(blind_sum),
        [(s.price_commitment, s.trace_commitment) for s in segs],
    )
    return Period(st, envelopes.sign_statement(st, signer), segs, signer)


def _with(rec: messages.SegmentRecord, **changes: Any) -> messages.SegmentRecord:
    fields = rec.__dict__ | changes
    return messages.SegmentRecord(
        fields["index"],
        fields["t_start"],
        fields["t_end"],
        fields["zone_id"],
        fields["band_id"],
        fields["vehicle_class"],
        fields["dist_m"],
        fields["rate_micro_per_km"],
        fields["price_micro"],
        fields["policy_id"],
        fields["flags"],
        fields["trace"],
    )


def _reindexed(rec: messages.SegmentRecord, index: int) -> messages.SegmentRecord:
    return _with(rec, index=index)


with_fields = _with  # for tests that alter a record


def gap_event(t_start: int, t_end: int, before: tuple[int, int], after: tuple[int, int]) -> Any:
    """A committed long outage (SPEC §4.2 flag GAP_EVENT): nothing charged."""
    return messages.SegmentRecord(
        0,
        t_start,
        t_end,
        0,
        0,
        1,
        0,
        0,
        0,
        support.POLICY_ID,
        messages.FLAG_GAP_EVENT,
        [(0, before[0], before[1]), (t_end - t_start, after[0], after[1])],
    )


# --- the OBU's calls -----------------------------------------------------------------------


def obu_request(
    env: Env,
    signer: Any,
    method: str,
    path: str,
    body: bytes = b"",
    content_type: str | None = None,
) -> Any:
    headers = support.signed_header(signer, method, path, body, env.clock.now, os.urandom(16))
    if content_type is not None:
        headers["content-type"] = content_type
    return env.client.request(method, path, content=body or None, headers=headers)


def poll_page(
    env: Env, signer: Any, query: str = ""
) -> tuple[list[messages.Challenge], str | None]:
    """One page of the OBU's open challenges (each verified under the authority key) and
    the next page's cursor (None on the last page). ``query``: e.g. ``"limit=5"``."""
    path = "/api/v1/obu/challenges" + (f"?{query}" if query else "")
    r = obu_request(env, signer, "GET", path)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/cbor"
    out = []
    for env_bytes in cbor.decode(r.content):
        ch, kid = envelopes.open_message(
            env_bytes, messages.Challenge, _authority(env), labels.CTY_CHALLENGE
        )
        assert kid == env.authority.kid
        out.append(ch)
    return out, r.headers.get("qm-next-cursor")


def poll(env: Env, signer: Any) -> list[messages.Challenge]:
    """All the OBU's open challenges, page after page."""
    out, cursor = poll_page(env, signer)
    while cursor is not None:
        page, cursor = poll_page(env, signer, f"cursor={cursor}")
        assert page
        out += page
    return out


def _authority(env: Env) -> Callable[[bytes], bytes | None]:
    def resolve(kid: bytes) -> bytes | None:
        return env.authority.public_key() if kid == env.authority.kid else None

    return resolve


def answer(env: Env, signer: Any, opening_envelope: bytes) -> Any:
    return obu_request(
        env, signer, "POST", "/api/v1/obu/openings", opening_envelope, "application/cose"
    )


def sighting(
    env: Env,
    t: int,
    lat_e7: int,
    lon_e7: int,
    *,
    plate: str = "B-QM-1",
    accuracy_mm: int = 1000,
    camera: str = "CAM-1",
) -> Any:
    return env.client.post(
        "/api/v1/sightings",
        json={
            "camera_id": camera,
            "plate": plate,
            "lat_e7": lat_e7,
            "lon_e7": lon_e7,
            "seen_at": t,
            "accuracy_mm": accuracy_mm,
        },
        headers=env.auth("auditor"),
    )


def challenge(env: Env, challenge_id: str, who: str = "auditor") -> dict[str, Any]:
    r = env.client.get(f"/api/v1/challenges/{challenge_id}", headers=env.auth(who))
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def submitted(fleet: Fleet, **kw: Any) -> Period:
    """Build alice's November period (with ``kw`` cheats etc.) and submit it."""
    p = build_period(fleet.signer, fleet.obu_id, **kw)
    r = fleet.env.submit(p.envelope)
    assert r.status_code == 201, r.text
    return p


def on_trace(p: Period, index: int, k: int | None = None) -> tuple[int, int, int]:
    """(t, lat_e7, lon_e7) of a trace sample of segment ``index`` (default: the middle)."""
    rec = p.segments[index].record
    dt, lat, lon = rec.trace[len(rec.trace) // 2 if k is None else k]
    return rec.t_start + dt, lat, lon
