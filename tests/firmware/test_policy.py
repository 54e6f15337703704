"""Policy store (firmware/policy.py): verification, refusals keep the previous policy, slots.

Runs under CPython (pytest) and the MicroPython unix port (tests/contract/mp_run.py).
"""

from firmware.ledger import atomic
from firmware.odometry import Odometer, OdometerConfig
from firmware.policy import (
    ClockUnknown,
    PolicyClassMissing,
    PolicyExpired,
    PolicyRollback,
    PolicyStore,
)
from firmware.segments import Segmenter
from protocol import cbor, cose, envelopes, labels, messages, p256
from protocol.errors import (
    DecodeError,
    InvalidKey,
    InvalidMessage,
    InvalidSignature,
    NoTariffCell,
    PolicyError,
    UnknownKeyId,
    UnsupportedAlgorithm,
)
from tests.contract.support import raises
from tests.firmware.drive_support import (
    T2026,
    T_DRIVE,
    Collector,
    authority,
    fix,
    make_policy,
    rmtree,
    signed_policy,
    tmpdir,
)

AUTH = authority()
PUB = AUTH.public_key()
V1 = make_policy(1)
ENV1 = signed_policy(V1)
PID1 = messages.policy_id(V1)
NOW = T_DRIVE


def _store(root, now=NOW, vclass=1):
    return PolicyStore(root, PUB, clock=lambda: now, vehicle_class=vclass)


def _installed(root):
    s = _store(root)
    s.install(ENV1)
    return s


def _pid(found):
    return None if found is None else found[1]


def _still_v1(root, s):
    assert _pid(s.current) == PID1 and s.next is None
    assert _pid(_store(root).current) == PID1  # and on flash


# --- installing --------------------------------------------------------------------------------
def test_a_signed_policy_is_installed_looked_up_and_loaded_at_boot():
    root = tmpdir("pol")
    try:
        s = _store(root)
        assert s.lookup(NOW) is None
        p, pid = s.install(ENV1)
        assert pid == PID1 and p.version == 1
        # What was signed, except that only this unit's class keeps its rates (heap).
        assert len(p.zones) == len(V1.zones) and len(p.bands) == len(V1.bands) and p.rates == []
        for r in V1.rates:
            if r.vehicle_class == 1:
                assert p.rate(r.zone_id, r.band_id, 1) == r.rate_micro_per_km
            else:
                raises(NoTariffCell, p.rate, r.zone_id, r.band_id, r.vehicle_class)
        assert sorted(p.class_rates(1)) == sorted(V1.class_rates(1)) and p.class_rates(2) == []
        assert _pid(s.lookup(NOW)) == PID1 and _pid(s.current) == PID1
        assert s.lookup(V1.valid_until) is None and s.lookup(V1.valid_from - 1) is None
        assert atomic.read_file(root + "/policy/current.cose") == ENV1
        b = _store(root)
        assert _pid(b.lookup(NOW)) == PID1 and b.dropped == 0
        assert _pid(s.install(ENV1)) == PID1  # again: no change
    finally:
        rmtree(root)


def test_an_unsigned_policy_is_refused_and_the_previous_kept():
    root = tmpdir("pol")
    try:
        s = _installed(root)
        body = messages.encode_policy(make_policy(2))
        raises(InvalidMessage, s.install, body)  # a bare body is not an envelope
        unsigned = cose.Sign1(b"", {}, {}, body, b"").encode()  # no protected header, no sig
        raises(UnsupportedAlgorithm, s.install, unsigned)
        _still_v1(root, s)
    finally:
        rmtree(root)


def test_a_tampered_policy_is_refused_and_the_previous_kept():
    root = tmpdir("pol")
    try:
        s = _installed(root)
        env = bytearray(signed_policy(make_policy(2)))
        # a rate deep in the payload: still valid CBOR and a valid policy, but not what was signed
        i = len(env) - 64 - 3
        env[i] ^= 1
        raises(InvalidSignature, s.install, bytes(env))
        _still_v1(root, s)
    finally:
        rmtree(root)


def test_a_policy_signed_by_another_key_or_as_another_message_is_refused():
    root = tmpdir("pol")
    try:
        s = _installed(root)
        other = p256.SoftwareSigner(99991)
        raises(UnknownKeyId, s.install, signed_policy(make_policy(2), other))
        wrong_kind = cose.sign1(messages.encode_policy(make_policy(2)), AUTH, labels.CTY_RECEIPT)
        raises(InvalidMessage, s.install, wrong_kind)
        _still_v1(root, s)
    finally:
        rmtree(root)


def test_a_signed_but_malformed_or_invalid_policy_is_refused():
    root = tmpdir("pol")
    try:
        s = _installed(root)
        raises(DecodeError, s.install, cose.sign1(b"\xff\xff", AUTH, labels.CTY_TARIFF_POLICY))
        raises(InvalidMessage, s.install, cose.sign1(b"\xa0", AUTH, labels.CTY_TARIFF_POLICY))
        incomplete = make_policy(2)
        incomplete.rates = incomplete.rates[1:]  # a cell without a rate
        m = messages.policy_to_map(incomplete)
        bad = cose.sign1(cbor.encode(m), AUTH, labels.CTY_TARIFF_POLICY)
        raises(PolicyError, s.install, bad)
        _still_v1(root, s)
    finally:
        rmtree(root)


def test_an_expired_policy_is_refused_and_the_previous_kept():
    root = tmpdir("pol")
    try:
        s = _installed(root)
        old = make_policy(2, valid_from=T2026, valid_until=NOW)
        raises(PolicyExpired, s.install, signed_policy(old))
        raises(PolicyExpired, s.install, signed_policy(old), NOW + 10)
        _still_v1(root, s)
    finally:
        rmtree(root)


def test_an_older_version_is_refused_as_a_rollback():
    root = tmpdir("pol")
    try:
        s = _store(root)
        s.install(signed_policy(make_policy(5)))
        raises(PolicyRollback, s.install, ENV1)
        raises(PolicyRollback, s.install, signed_policy(make_policy(5, base={0: 1, 1: 2, 2: 3})))
        assert s.current[0].version == 5
    finally:
        rmtree(root)


def test_a_policy_without_rates_for_the_vehicle_class_is_refused():
    root = tmpdir("pol")
    try:
        s = _store(root, vclass=7)
        raises(PolicyClassMissing, s.install, ENV1)
        assert s.current is None
        assert _store(root, vclass=2).install(ENV1)[1] == PID1
    finally:
        rmtree(root)


def test_without_gnss_time_nothing_is_installed():
    root = tmpdir("pol")
    try:
        s = PolicyStore(root, PUB, clock=lambda: None)
        raises(ClockUnknown, s.install, ENV1)
        assert s.install(ENV1, now=NOW)[1] == PID1  # an explicit time is enough
        raises(ClockUnknown, PolicyStore(root + "/other", PUB).install, ENV1)
    finally:
        rmtree(root)


def test_a_bad_authority_key_is_refused_at_construction():
    raises(InvalidKey, PolicyStore, "/tmp", b"\x04" + bytes(64))


# --- current and next --------------------------------------------------------------------------
def test_an_announced_policy_waits_in_the_next_slot_and_takes_over_at_its_start():
    root = tmpdir("pol")
    try:
        switch = NOW + 86400
        v2 = make_policy(2, valid_from=switch, base={0: 30000, 1: 70000, 2: 160000})
        pid2 = messages.policy_id(v2)
        s = _installed(root)
        s.install(signed_policy(v2))
        assert _pid(s.current) == PID1 and _pid(s.next) == pid2
        assert _pid(s.lookup(switch - 1)) == PID1 and _pid(s.lookup(switch)) == pid2
        b = _store(root)  # both slots survive a reboot
        assert b.lookup(switch - 1)[1] == PID1 and b.lookup(switch)[1] == pid2
        assert not b.rotate(switch - 1)
        assert b.rotate(switch)
        assert _pid(b.current) == pid2 and b.next is None
        assert _pid(_store(root).current) == pid2
        # an older announcement is a rollback, a newer one replaces the announced one
        c = _installed(root + "/other")
        c.install(signed_policy(v2))
        raises(PolicyRollback, c.install, signed_policy(make_policy(2, valid_from=switch + 5)))
        v3 = make_policy(3, valid_from=switch + 5)
        c.install(signed_policy(v3))
        assert c.next[0].version == 3
    finally:
        rmtree(root)


def test_a_newer_policy_in_force_now_replaces_the_current_and_an_older_announcement():
    root = tmpdir("pol")
    try:
        s = _installed(root)
        s.install(signed_policy(make_policy(2, valid_from=NOW + 100)))
        v3 = make_policy(3, valid_from=T2026)
        s.install(signed_policy(v3))
        assert s.current[0].version == 3 and s.next is None
    finally:
        rmtree(root)


def test_a_policy_file_damaged_on_flash_is_dropped_at_boot_and_the_other_slot_kept():
    root = tmpdir("pol")
    try:
        s = _installed(root)
        s.install(signed_policy(make_policy(2, valid_from=NOW + 100)))
        path = root + "/policy/current.cose"
        env = bytearray(atomic.read_file(path))
        env[len(env) // 2] ^= 0x40
        atomic.atomic_write(path, bytes(env))
        b = _store(root)
        assert b.dropped == 1 and b.current is None and b.next[0].version == 2
        assert not atomic.exists(path)
    finally:
        rmtree(root)


def test_a_reset_between_the_two_slot_writes_is_finished_at_boot():
    root = tmpdir("pol")
    try:
        s = _installed(root)
        v2 = signed_policy(make_policy(2, valid_from=NOW + 100))
        s.install(v2)
        # rotate was cut short: current already holds v2, next still holds it too
        atomic.atomic_write(root + "/policy/current.cose", v2)
        b = _store(root)
        assert b.current[0].version == 2 and b.next is None
    finally:
        rmtree(root)


def test_the_segmenter_prices_with_the_installed_policy():
    root = tmpdir("pol")
    try:
        s = _installed(root)
        c = Collector()
        seg = Segmenter(s, 1, c.record)
        odo = Odometer(seg.step, seg.gap, OdometerConfig(doppler_sigma_mmps=0))
        for i in range(61):
            odo.update(fix(NOW + i, 509500000, 44600000 + 1420 * i, 10000))
        seg.close()
        (r,) = c.records
        assert r.policy_id == PID1 and r.rate_micro_per_km == V1.rate(0, 0, 1)
        assert r.dist_m == 600 and envelopes.open_policy(ENV1, lambda k: PUB)[1] == PID1
    finally:
        rmtree(root)
