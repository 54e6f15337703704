"""Sealing statements (firmware/statement.py) and the chain state (firmware/state.py).

The streamed envelope is byte-identical to protocol.envelopes.sign_statement, verifies with the
protocol verifier, chains; a kill before or after any filesystem step of a seal leaves the
period either unsealed (sealing again gives the same bytes) or sealed exactly once.
Runs under CPython (pytest) and the MicroPython unix port (tests/contract/mp_run.py).
"""

import os

from firmware import accounting as acc_mod
from firmware import state as state_mod
from firmware import statement as st_mod
from firmware.accounting import Accounting
from firmware.ledger import Store, atomic
from firmware.state import AlreadySealed, ChainState, PeriodOrder, StateCorrupt
from firmware.statement import read_statement, seal_period
from firmware.uplink.sealed import SealedInvalid, StatementFiles
from protocol import envelopes, messages, p256, pedersen, verify
from protocol.errors import InvalidMessage
from protocol.tariff import price_micro
from protocol.timeutil import unix_from_civil
from tests.contract.support import raises
from tests.firmware.drive_support import Rng, obu_signer, rmtree, tmpdir

MARCH = unix_from_civil(2026, 3, 1, 0, 0, 0)
APRIL = unix_from_civil(2026, 4, 1, 0, 0, 0)
MAY = unix_from_civil(2026, 5, 1, 0, 0, 0)
PID = b"P" * 16
OBU = "OBU-0001"
SIGNER = obu_signer()


def seg(t_start, dist_m=1500, rate=60000, pid=PID):
    trace = [(0, 508500000, 43500000), (60, 508510000, 43510000)]
    return messages.SegmentRecord(
        -1, t_start, t_start + 60, 1, 0, 1, dist_m, rate, price_micro(dist_m, rate), pid, 0, trace
    )


class _World:
    """An OBU data folder: ledger store, accounting and chain state, as at boot."""

    def __init__(self, root, **chain):
        self.root = root
        self.store = Store(root, Rng(b"store"))
        self.acc = Accounting(self.store, Rng(b"acc"))
        self.state = ChainState(root, **chain)

    def seal(self, start, end, signer=SIGNER):
        return seal_period(self.acc, self.state, start, end, OBU, signer)


def _fill(w, n=5, start=MARCH, pids=(PID,)):
    for i in range(n):
        w.acc.add(seg(start + 3600 * i, dist_m=1000 + 17 * i, pid=pids[i % len(pids)]))


def _resolve(kid):
    return SIGNER.public_key() if kid == SIGNER.kid else None


def _expected_statement(w, start, end, seq, prev_hash):
    count, total, blind_sum, pids = w.acc.totals(start)
    pairs = [(bytes(c), bytes(t)) for c, t in w.acc.commitments(start)]
    assert len(pairs) == count
    return messages.Statement(
        OBU, seq, prev_hash, start, end, pids, total, pedersen.blind_to_bytes(blind_sum), pairs
    )


def _bytes(path):
    with open(path, "rb") as f:
        return f.read()


def _outbox(root):
    return sorted(n for n in os.listdir(root + "/outbox"))


# --- the envelope --------------------------------------------------------------------------------
def test_the_streamed_envelope_equals_sign_statement_byte_for_byte():
    root = tmpdir("st")
    try:
        w = _World(root)
        _fill(w, 7, pids=(PID, b"Q" * 16))
        seq, path, h = w.seal(MARCH, APRIL)
        env = _bytes(path)
        st = _expected_statement(w, MARCH, APRIL, 0, bytes(32))
        assert env == envelopes.sign_statement(st, SIGNER)
        assert h == envelopes.statement_hash(env)
        assert (seq, path) == (0, root + "/outbox/0.cose")
        assert read_statement(path)[0] == st
    finally:
        rmtree(root)


def test_a_sealed_statement_verifies_and_the_next_one_chains_to_it():
    root = tmpdir("st")
    try:
        w = _World(root)
        _fill(w, 4)
        _fill(w, 3, start=APRIL)
        s0, p0, h0 = w.seal(MARCH, APRIL)
        s1, p1, h1 = w.seal(APRIL, MAY)
        st0, kid = verify.verify_statement(_bytes(p0), _resolve)
        st1, _ = verify.verify_statement(_bytes(p1), _resolve)
        assert kid == SIGNER.kid and (st0.seq, st1.seq) == (0, 1)
        verify.check_chain(st0, None, None)
        verify.check_chain(st1, h0, 0)
        assert st1.prev_hash == h0 and st0.segment_count == 4 and st1.segment_count == 3
        assert (w.state.next_seq, w.state.prev_hash, w.state.last_period_end) == (2, h1, MAY)
    finally:
        rmtree(root)


def test_a_period_without_driving_still_gets_a_statement():
    root = tmpdir("st")
    try:
        w = _World(root)
        seq, path, h = w.seal(MARCH, APRIL)
        st, _ = verify.verify_statement(_bytes(path), _resolve)
        assert (st.segment_count, st.total_price_micro, st.policy_ids) == (0, 0, [])
        assert st.blind_sum == bytes(32)
        assert _bytes(path) == envelopes.sign_statement(st, SIGNER)
        assert w.acc.periods() == []  # no ledger was created for it
    finally:
        rmtree(root)


def test_envelope_length_arithmetic_holds_across_cbor_head_sizes():
    # 23/24 and 255/256 pairs change the array head; a long obu id moves the header.
    for n in (0, 1, 23, 24, 255, 256):
        header = messages.Statement("X" * 64, 70000, b"h" * 32, 0, 1 << 33, [PID] * 16, 1 << 40,
                                    b"b" * 32, ()).header_map()  # fmt: skip
        st = messages.Statement(
            "X" * 64, 70000, b"h" * 32, 0, 1 << 33, [PID] * 16, 1 << 40, b"b" * 32,
            [(bytes((i & 0xFF,)) * 32, b"t" * 32) for i in range(n)],
        )  # fmt: skip
        assert st_mod.payload_length(header, n) == len(st.encode())


# --- order and idempotency ---------------------------------------------------------------------
def test_sealing_a_sealed_period_again_returns_the_same_result():
    root = tmpdir("st")
    try:
        w = _World(root)
        _fill(w, 2)
        first = w.seal(MARCH, APRIL)
        assert w.seal(MARCH, APRIL) == first
        w2 = _World(root)
        assert w2.seal(MARCH, APRIL) == first
        assert _outbox(root) == ["0.cose"]
    finally:
        rmtree(root)


def test_periods_are_sealed_in_order_without_holes():
    root = tmpdir("st")
    try:
        w = _World(root)
        w.seal(MARCH, APRIL)
        raises(PeriodOrder, w.seal, MAY, unix_from_civil(2026, 6, 1, 0, 0, 0))  # hole
        raises(PeriodOrder, w.seal, MARCH, MAY)  # sealed, other end
        raises(PeriodOrder, w.seal, APRIL, APRIL)
        raises(PeriodOrder, w.seal, APRIL, MAY + 86400)  # not one accounting period
        raises(PeriodOrder, w.seal, APRIL + 86400, MAY)
        raises(InvalidMessage, seal_period, w.acc, w.state, APRIL, MAY, "", SIGNER)
        raises(InvalidMessage, seal_period, w.acc, w.state, APRIL, MAY, "x" * 65, SIGNER)
        assert w.state.next_seq == 1
        assert w.seal(APRIL, MAY)[0] == 1
    finally:
        rmtree(root)


def test_sealing_closes_the_period_for_segments():
    root = tmpdir("st")
    try:
        w = _World(root)
        _fill(w, 1)
        w.seal(MARCH, APRIL)
        raises(acc_mod.PeriodClosed, w.acc.add, seg(MARCH + 86400))
    finally:
        rmtree(root)


# --- state and registry ------------------------------------------------------------------------
def test_the_registry_maps_seq_to_period_envelope_and_receipt():
    root = tmpdir("st")
    try:
        w = _World(root)
        _fill(w, 3)
        s0, p0, h0 = w.seal(MARCH, APRIL)
        s1, p1, h1 = w.seal(APRIL, MAY)
        m = w.state.meta(0)
        assert (m.seq, m.period_start, m.period_end, m.statement_hash) == (0, MARCH, APRIL, h0)
        assert (m.envelope, m.receipt_held, m.segment_count) == ("outbox/0.cose", False, 3)
        assert m.total_price_micro == w.acc.totals(MARCH)[1]
        assert w.state.statement_seqs() == [0, 1]
        assert w.state.seq_of_period(APRIL) == 1 and w.state.seq_of_period(MAY) is None
        assert w.state.envelope_path(1) == p1
        assert w.state.is_sealed(MARCH) and w.state.is_sealed(APRIL) and not w.state.is_sealed(MAY)
        w.state.mark_receipt(0, APRIL + 100)
        m = ChainState(root).meta(0)
        assert m.receipt_held and m.received_at == APRIL + 100
        m.envelope = "sent/0.cose"  # an entry whose envelope lies elsewhere
        atomic.atomic_write(root + "/statements/0.meta", m.to_bytes())
        assert w.state.envelope_path(0) == root + "/sent/0.cose"
        # Without the chain's code (the challenge responder) the registry's files say the same.
        files = StatementFiles(root)
        assert files.envelope_path(0) == root + "/sent/0.cose" and files.envelope_path(1) == p1
        assert files.envelope_path(7) == root + "/outbox/7.cose"  # no entry: the outbox
        atomic.atomic_write(root + "/statements/1.meta", b"\xa1\x05\x03")  # {5: 3}
        raises(SealedInvalid, files.envelope_path, 1)
        atomic.atomic_write(root + "/statements/1.meta", b"\xa1\x01\x58")  # truncated
        raises(SealedInvalid, files.envelope_path, 1)
        atomic.atomic_write(root + "/statements/1.meta", b"\x81\x00")  # [0]
        raises(SealedInvalid, files.envelope_path, 1)
        raises(state_mod.StateError, w.state.mark_receipt, 2, 0)
    finally:
        rmtree(root)


def test_a_replacement_unit_continues_the_vehicle_chain_from_a_configured_head():
    root = tmpdir("st")
    try:
        head = b"\x42" * 32
        w = _World(root, next_seq=41, prev_hash=head)
        w.seal(MARCH, APRIL)
        st, _ = read_statement(root + "/outbox/41.cose")
        assert (st.seq, st.prev_hash) == (41, head)
        verify.check_chain(st, head, 40)
        # the head is the unit's own from now on: configuration no longer applies
        assert ChainState(root, next_seq=7).next_seq == 42
        raises(AlreadySealed, w.state.provision, 5, bytes(32))
    finally:
        rmtree(root)


def test_the_head_can_be_provisioned_before_the_first_seal():
    root = tmpdir("st")
    try:
        w = _World(root)
        w.state.provision(9, b"\x01" * 32, MARCH)
        s = ChainState(root)
        assert (s.next_seq, s.prev_hash, s.last_period_end) == (9, b"\x01" * 32, MARCH)
        raises(PeriodOrder, w.seal, unix_from_civil(2026, 2, 1, 0, 0, 0), MARCH)
        assert w.seal(MARCH, APRIL)[0] == 9
    finally:
        rmtree(root)


def test_a_damaged_chain_file_is_reported_not_guessed():
    root = tmpdir("st")
    try:
        ChainState(root)
        good = atomic.read_file(root + "/state/chain")
        atomic.atomic_write(root + "/state/chain", b"\xff\x00")
        raises(StateCorrupt, ChainState, root)
        atomic.atomic_write(root + "/state/chain", good[:20] + bytes((good[20] ^ 1,)) + good[21:])
        raises(StateCorrupt, ChainState, root)
        atomic.atomic_write(root + "/state/chain", good)
        assert ChainState(root).next_seq == 0
        raises(StateCorrupt, ChainState(root + "/other").provision, 1 << 32, bytes(32))
    finally:
        rmtree(root)


# --- crash safety ---------------------------------------------------------------------------------
class _Killed(Exception):
    pass


class _Faults:
    """Counts the filesystem mutations of a seal and kills the process at one of them.

    ``mode``: "before" (the step never happened), "after" (it completed, then the kill), or
    "torn" (an atomic write left its temp file half written; the envelope file half written).
    """

    def __init__(self, kill_at=-1, mode="before"):
        self.kill_at = kill_at
        self.mode = mode
        self.n = 0

    def step(self, path, do, torn=None):
        k = self.n
        self.n += 1
        if k == self.kill_at:
            if self.mode == "before":
                raise _Killed(path)
            if self.mode == "torn" and torn is not None:
                torn()
                raise _Killed(path)
        result = do()
        if k == self.kill_at:
            raise _Killed(path)
        return result


class _FaultyAtomic:
    def __init__(self, faults):
        self.faults = faults

    def __getattr__(self, name):
        return getattr(atomic, name)

    def atomic_write(self, path, data):
        def torn():
            with open(path + atomic.TMP, "wb") as f:
                f.write(data[: len(data) // 2])

        return self.faults.step(path, lambda: atomic.atomic_write(path, data), torn)

    def remove(self, path):
        return self.faults.step(path, lambda: atomic.remove(path))


class _FaultyOs:
    def __init__(self, faults):
        self.faults = faults

    def __getattr__(self, name):
        return getattr(os, name)

    def rename(self, a, b):
        return self.faults.step(b, lambda: os.rename(a, b))


class _TornEnvelope:
    def __init__(self, f, faults):
        self.f = f
        self.faults = faults
        self.n = 0

    def write(self, data):
        self.n += len(data)
        if self.n > 300:  # die half-way through the envelope
            self.f.write(data[: len(data) // 2])
            self.f.close()
            raise _Killed("envelope")
        return self.f.write(data)

    def flush(self):
        self.f.flush()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.f.close()


def _faulty_open(faults):
    def opener(path, mode="r"):
        f = open(path, mode)
        if "w" not in mode:
            return f
        k = faults.n
        faults.n += 1
        if k == faults.kill_at:
            if faults.mode == "before":
                f.close()
                raise _Killed(path)
            return _TornEnvelope(f, faults)
        return f

    return opener


def _install(faults):
    acc_mod.atomic = _FaultyAtomic(faults)
    state_mod.atomic = _FaultyAtomic(faults)
    st_mod.atomic = _FaultyAtomic(faults)
    st_mod.os = _FaultyOs(faults)
    st_mod.open = _faulty_open(faults)


def _uninstall():
    acc_mod.atomic = atomic
    state_mod.atomic = atomic
    st_mod.atomic = atomic
    st_mod.os = os
    try:
        del st_mod.open
    except (AttributeError, KeyError):
        pass


def test_a_kill_at_any_step_of_a_seal_leaves_it_undone_or_done_exactly_once():
    # Reference: the same data folder sealed without faults.
    ref_root = tmpdir("st")
    try:
        w = _World(ref_root)
        _fill(w, 6)
        ref = w.seal(MARCH, APRIL)
        ref_env = _bytes(ref[1])
    finally:
        rmtree(ref_root)
    counter = _Faults()
    root = tmpdir("st")
    try:
        w = _World(root)
        _fill(w, 6)
        _install(counter)
        w.seal(MARCH, APRIL)
    finally:
        _uninstall()
        rmtree(root)
    steps = counter.n
    assert steps >= 5  # close, envelope, meta, rename, chain
    outcomes = {}
    for mode in ("before", "after", "torn"):
        for k in range(steps):
            root = tmpdir("st")
            try:
                w = _World(root)
                _fill(w, 6)
                _install(_Faults(k, mode))
                try:
                    w.seal(MARCH, APRIL)
                    finished = True
                except _Killed:
                    finished = False
                finally:
                    _uninstall()
                # reboot: recovery runs, then the application seals the period (again)
                w = _World(root)
                was_sealed = w.state.is_sealed(MARCH)
                outcomes[(mode, k)] = (finished, was_sealed)
                seq, path, h = w.seal(MARCH, APRIL)
                assert (seq, h) == (ref[0], ref[2]), (mode, k)
                assert _outbox(root) == ["0.cose"], (mode, k, _outbox(root))
                assert _bytes(root + "/outbox/0.cose") == ref_env
                assert w.state.next_seq == 1 and w.state.statement_seqs() == [0]
                # and the next period chains to it
                assert w.seal(APRIL, MAY)[0] == 1
            finally:
                rmtree(root)
    # the kills did land on both sides of the commit point
    assert any(v == (False, True) for v in outcomes.values())
    assert any(v == (False, False) for v in outcomes.values())


def test_a_randomized_signer_cannot_fork_the_chain_after_the_commit_point():
    # A secure element signs with random nonces: a reseal would give other bytes. Once the
    # envelope is in the outbox, boot recovery keeps it instead of sealing again.
    class RandomSigner(p256.SoftwareSigner):
        def __init__(self, d):
            super().__init__(d)
            self.calls = 0

        def sign_digest(self, digest32):
            # (r, s) and (r, n - s) are both valid: alternate, as a random nonce would differ
            self.calls += 1
            sig = p256.sign_digest(self._d, digest32)
            if self.calls % 2:
                return sig
            s = p256.N - int.from_bytes(sig[32:], "big")
            return sig[:32] + s.to_bytes(32, "big")

    signer = RandomSigner(12345)
    counter = _Faults()
    root = tmpdir("st")
    try:
        w = _World(root)
        _fill(w, 2)
        _install(counter)
        w.seal(MARCH, APRIL, signer)
    finally:
        _uninstall()
        rmtree(root)
    rolled = 0
    for k in range(counter.n):
        root = tmpdir("st")
        try:
            w = _World(root)
            _fill(w, 2)
            _install(_Faults(k, "after"))
            try:
                w.seal(MARCH, APRIL, signer)
            except _Killed:
                pass
            finally:
                _uninstall()
            env = atomic.read_file(root + "/outbox/0.cose")
            w = _World(root)
            rolled += w.state.rolled_forward
            if env is not None:
                assert w.state.next_seq == 1
                w.seal(MARCH, APRIL, signer)
                assert atomic.read_file(root + "/outbox/0.cose") == env
                verify.verify_statement(env, lambda kid: signer.public_key())
        finally:
            rmtree(root)
    assert rolled == 1  # exactly the kill between the rename and the chain file


# --- end to end ----------------------------------------------------------------------------------
def test_a_drive_becomes_a_verified_statement_and_a_segment_opens_against_a_sighting():
    from firmware.odometry import Odometer
    from firmware.policy import PolicyStore
    from firmware.segments import Segmenter
    from tests.firmware.drive_support import (
        Lcg,
        Path,
        authority,
        drive,
        make_policy,
        noisy_fixes,
        signed_policy,
        speed_profile,
        wiggly_path,
    )

    root = tmpdir("e2e")
    try:
        t0 = unix_from_civil(2026, 3, 11, 5, 50, 0)  # into the morning peak at 06:00 UTC
        w = _World(root)
        policies = PolicyStore(root, authority().public_key(), clock=lambda: t0, vehicle_class=1)
        policy, pid = policies.install(signed_policy(make_policy(1)))
        seg = Segmenter(policies, 1, w.acc.add)
        odo = Odometer(seg.step, seg.gap)
        lcg = Lcg(77)
        path = Path(wiggly_path((508450000, 43300000), 150, 160, lcg))
        speeds = speed_profile(lcg, 1500, 11000)
        for f in noisy_fixes(drive(path, speeds, t0), lcg):
            odo.update(f)
        seg.close()
        count = w.acc.count(MARCH)
        assert count >= 4

        seq, env_path, h = w.seal(MARCH, APRIL)
        env = _bytes(env_path)
        st, kid = verify.verify_statement(env, _resolve)  # pure group, pure P-256
        verify.check_chain(st, None, None)
        assert st.segment_count == count and st.policy_ids == [pid]
        assert h == envelopes.statement_hash(env)

        # a camera saw the car in the middle of segment 2: open exactly that segment
        rb, salt, blind, c, t = w.acc.entry(MARCH, 2)
        record = messages.SegmentRecord.decode(rb)
        at = (record.t_start + record.t_end) // 2
        challenge = messages.Challenge(b"c" * 16, OBU, seq, messages.CHALLENGE_SIGHTING, at, None,
                                       at + 86400)  # fmt: skip
        opening = messages.Opening(b"c" * 16, OBU, seq, 2, record, salt, blind)
        opening = messages.Opening.decode(opening.encode())  # as the backend receives it
        verify.check_opening_answers(opening, challenge, st)
        verify.check_commitments(opening, st)
        verify.check_record(opening.record, policy, pid, 1, st)
        for t, lat, lon, _ in drive(path, speeds, t0):
            if t == at:  # where the car truly was: on the opened trace within 20 m
                assert verify.check_sighting(opening.record, at, lat, lon, 20000) < 20000
        for i in range(count):  # and every other segment would open as well
            rb, salt, blind, c, t = w.acc.entry(MARCH, i)
            rec = messages.SegmentRecord.decode(rb)
            op = messages.Opening(b"c" * 16, OBU, seq, i, rec, salt, blind)
            verify.check_commitments(op, st)
            verify.check_record(rec, policy, pid, 1, st)
    finally:
        rmtree(root)
