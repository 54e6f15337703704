"""What the simulator found in the system under test, pinned as tests.

Each test states the budget (DESIGN §8) the system should meet and is marked xfail(strict)
while it does not: when the firmware or protocol changes fix the cause, the test passes, the
strict marker turns that into a failure, and whoever fixed it removes the marker.
"""

from __future__ import annotations

import copy
from collections import Counter
from pathlib import Path

import pytest

from firmware.app import App
from protocol import envelopes, messages, p256, verify
from protocol.errors import ProtocolError
from simulator import gnss, nmea_out, trips
from simulator.network import default_policy
from simulator.obu import InProcessObu, ObuIdentity, prepare_root, statement_of

AUTHORITY = p256.SoftwareSigner(0x5EED0C33)
POLICY = default_policy()
PID = messages.policy_id(POLICY)


def _honest_records(tmp: Path, receiver: gnss.GnssConfig) -> list[messages.SegmentRecord]:
    """Every committed record of a week's commute through the city centre (honest unit)."""
    ident = ObuIdentity("OBU-FIND", "QM FIND", 1, "finding/1")
    root = tmp / ident.obu_id
    cfg = prepare_root(
        root,
        ident,
        authority_public_key=AUTHORITY.public_key(),
        policy_envelope=envelopes.sign_policy(POLICY, AUTHORITY),
        install_at=POLICY.valid_from,
    )
    kept: list[messages.SegmentRecord] = []

    class Recorded(App):  # type: ignore[misc]
        def _on_segment(self, record: messages.SegmentRecord) -> None:
            super()._on_segment(record)
            kept.append(copy.deepcopy(record))

    obu = InProcessObu(ident, root, cfg, app_class=Recorded)
    who = trips.Commuter(home="home-west", work="office-garage", errands=("market", "station"))
    for i, t in enumerate(trips.commute_trips(4, commuter=who, days=7)):
        obu.feed(nmea_out.to_bytes(gnss.epochs(t, receiver, f"finding/{i}")))
    return [r for r in kept if not r.flags & messages.FLAG_GAP_EVENT]


def _opening_failures(records: list[messages.SegmentRecord]) -> Counter[str]:
    # check_record needs a statement naming the policy: any will do for the record checks
    st = statement_of(
        envelopes.sign_statement(
            messages.Statement("OBU-FIND", 0, bytes(32), 0, 1, [PID], 0, bytes(32), []),
            AUTHORITY,
        )
    )
    out: Counter[str] = Counter()
    for r in records:
        try:
            verify.check_record(r, POLICY, PID, 1, st)
        except ProtocolError as e:
            out[e.code] += 1
    return out


# Fixed: protocol/verify now bounds the trace length over chords of >= 200 m (SPEC §6.6.6),
# so single multipath fixes no longer make honest records fail distance_mismatch.
@pytest.mark.parametrize("receiver", ["good", "bad"])
def test_honest_urban_records_pass_their_opening_checks(tmp_path: Path, receiver: str) -> None:
    cfg = gnss.GnssConfig.good() if receiver == "good" else gnss.GnssConfig.bad()
    records = _honest_records(tmp_path, cfg)
    assert len(records) > 20
    assert _opening_failures(records) == Counter()


# Fixed: GET /api/v1/obu/challenges hands the open challenges out in pages of at most 32
# (SPEC §4.9) and the OBU answers page after page, so a unit with more open challenges than
# one 16 KB response body holds (~90) no longer lets them all expire as no_answer.
def test_a_unit_answers_a_month_of_sightings(tmp_path: Path) -> None:
    from simulator.backend import BackendClient, BackendServer, SimClock
    from simulator.obu import open_obu

    day = trips.commute_trips(9, days=1)
    clock = SimClock(day[0].start_t - 3600)
    with BackendServer(tmp_path / "backend", clock) as server:
        client = BackendClient(server.url, server.token("operator"), server.token("auditor"))
        client.publish_policy(POLICY)
        envelope = client.policy_envelope(day[0].start_t)
        ident = ObuIdentity("OBU-MANY", "QM MANY", 1, "many/1")
        vid = client.create_vehicle(ident.plate, 1, client.create_driver("many"))
        prov = client.register_obu(ident.obu_id, ident.public_key(), vid)
        root = tmp_path / ident.obu_id
        cfg = prepare_root(
            root,
            ident,
            authority_public_key=bytes.fromhex(prov["authority_public_key"]),
            policy_envelope=envelope,
            install_at=day[0].start_t - 3600,
            backend_url=server.url,
            period=86400,
        )
        obu = open_obu("inprocess", ident, root, cfg, network=True)
        try:
            for i, t in enumerate(day):
                obu.feed(nmea_out.to_bytes(gnss.epochs(t, gnss.GnssConfig.good(), i)))
            # next morning: the day's statement goes up
            wake = trips.straight_trip(
                day[-1].samples[-1].lat_e7,
                day[-1].samples[-1].lon_e7,
                day[0].start_t + 86400,
                8,
                speed_mmps=0,
            )
            clock.set(wake.end_t)
            obu.feed(nmea_out.to_bytes(gnss.epochs(wake, gnss.GnssConfig.good(), "w")))
            assert obu.sync().uploaded == 1
            moving = [s for t in day for s in t.samples if s.speed_mmps > 5000]
            moving = moving[:: max(1, len(moving) // 120)][:120]
            for k, s in enumerate(moving):
                client.post_sighting(f"C{k}", ident.plate, s.lat_e7, s.lon_e7, s.t, 2000)
            res = obu.sync()
            outcomes = Counter(c["outcome"] for c in client.challenges(vid))
        finally:
            obu.close()
            client.close()
    assert len(moving) == 120
    assert res.answered == 120, res.errors
    assert outcomes == {"pass": 120}, outcomes  # every one answered, none left to expire
    polls = [r.path for r in res.requests if r.method == "GET" and "/obu/challenges" in r.path]
    assert len(polls) == 15  # pages of 8 (firmware/challenges.py PAGE_SIZE)
