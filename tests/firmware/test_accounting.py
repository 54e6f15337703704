"""Accounting (firmware/accounting.py): commitments, ledger entries, running totals, checkpoints.

Runs under CPython (pytest) and the MicroPython unix port (tests/contract/mp_run.py).
"""

from firmware import accounting as acc_mod
from firmware import commit
from firmware.accounting import (
    Accounting,
    InvalidSegment,
    PeriodClosed,
    PeriodFull,
    entry_pieces,
    price_and_policy,
    split_entry,
)
from firmware.ledger import Ledger, Store, WriteFailed, atomic
from protocol import cbor, messages, pedersen, ristretto
from protocol.tariff import price_micro
from protocol.timeutil import month_start, unix_from_civil
from tests.contract.support import raises
from tests.firmware.drive_support import Rng, rmtree, tmpdir

MARCH = unix_from_civil(2026, 3, 1, 0, 0, 0)
APRIL = unix_from_civil(2026, 4, 1, 0, 0, 0)
PID_A = b"A" * 16
PID_B = b"B" * 16


def seg(t_start, dist_m=1234, rate=60000, pid=PID_A, n_points=3, flags=0, dur=100):
    trace = [
        (i * dur // max(1, n_points - 1), 508500000 + i, 43500000 + i) for i in range(n_points)
    ]
    return messages.SegmentRecord(
        -1,
        t_start,
        t_start + dur,
        1,
        0,
        1,
        dist_m,
        rate,
        price_micro(dist_m, rate),
        pid,
        flags,
        trace,
    )


def _world(checkpoint_every=16, seed=b"acc"):
    root = tmpdir("acc")
    store = Store(root, Rng(seed + b"-store"))
    return root, store, Accounting(store, Rng(seed), checkpoint_every=checkpoint_every)


def _reboot(root, checkpoint_every=16, seed=b"acc2"):
    store = Store(root, Rng(seed + b"-store"))
    return Accounting(store, Rng(seed), checkpoint_every=checkpoint_every)


def _truth(a, period):
    """Totals recomputed from the ledger entries themselves."""
    count = 0
    total = 0
    blind = 0
    pids = []
    for i, rb, _salt, b, _c, _t in a.records(period):
        assert i == count
        rec = messages.SegmentRecord.decode(rb)
        total += rec.price_micro
        blind = (blind + pedersen.blind_from_bytes(b)) % ristretto.L
        if rec.policy_id not in pids:
            pids.append(rec.policy_id)
        count += 1
    pids.sort()
    return (count, total, blind, pids)


class _Killed(Exception):
    pass


class _AtomicKilledOnWrite:
    """Stands in for firmware.ledger.atomic: the next atomic_write is a kill."""

    def __getattr__(self, name):
        return getattr(atomic, name)

    def atomic_write(self, path, data):
        raise _Killed(path)


# --- entries ------------------------------------------------------------------------------------
def test_add_numbers_segments_per_period_and_sets_record_index():
    root, store, a = _world()
    try:
        recs = [seg(MARCH + 100), seg(MARCH + 300), seg(APRIL + 5), seg(MARCH + 900)]
        assert [a.add(r) for r in recs] == [0, 1, 0, 2]
        assert [r.index for r in recs] == [0, 1, 0, 2]
        assert a.periods() == [MARCH, APRIL]
        assert a.count(MARCH) == 3 and a.count(APRIL) == 1
    finally:
        rmtree(root)


def test_an_entry_holds_the_record_its_salt_blind_and_both_commitments():
    root, store, a = _world()
    try:
        r = seg(MARCH + 100, n_points=20)
        a.add(r)
        payload = a.ledger(MARCH).read(0)
        rb, salt, blind, c, t = split_entry(payload)
        assert payload == cbor.encode([rb, salt, blind, c, t])
        assert payload == b"".join(entry_pieces(rb, salt, blind, c, t))
        assert rb == r.encode() and messages.SegmentRecord.decode(rb).index == 0
        assert len(salt) == 16 and len(blind) == 32 and len(c) == 32 and len(t) == 32
        assert c == pedersen.commit(r.price_micro, pedersen.blind_from_bytes(blind))
        assert t == messages.trace_commitment(rb, salt)
        assert price_and_policy(rb) == (r.price_micro, PID_A)
        assert a.entry(MARCH, 0) == (rb, salt, blind, c, t)
    finally:
        rmtree(root)


def test_split_entry_handles_every_record_length_head_and_refuses_other_payloads():
    for n in (1, 23, 24, 255, 256, 3000):
        rb = bytes(n)
        e = b"".join(entry_pieces(rb, b"s" * 16, b"b" * 32, b"c" * 32, b"t" * 32))
        assert split_entry(e) == (rb, b"s" * 16, b"b" * 32, b"c" * 32, b"t" * 32)
    good = b"".join(entry_pieces(bytes(50), b"s" * 16, b"b" * 32, b"c" * 32, b"t" * 32))
    for bad in (good[:-1], good + b"x", b"\x84" + good[1:], cbor.encode([1, 2, 3, 4, 5]), b""):
        raises(acc_mod.EntryCorrupt, split_entry, bad)


def test_the_fast_record_encoder_gives_the_canonical_encoding_in_small_pieces():
    # every head size of every field, negative coordinates, trace lengths across head sizes
    lcg_values = (0, 1, 23, 24, 255, 256, 65535, 65536, (1 << 32) - 1)
    for n in (1, 23, 24, 255, 256, 512):
        for v in lcg_values:
            r = seg(MARCH, dist_m=v, rate=v % 1000 + 1, n_points=n, dur=max(n, v % 100000))
            r.index = v % messages.MAX_SEGMENTS
            r.zone_id = v
            r.band_id = (v * 7) % (1 << 32)
            r.flags = v % 8
            r.trace = [
                (min(i, r.t_end - r.t_start), (-1) ** i * ((v * 13 + i) % 900000001),
                 -((v * 31 + i * 977) % 1800000001))
                for i in range(n)
            ]  # fmt: skip
            pieces = commit.record_pieces(r)
            assert b"".join(pieces) == r.encode(), (n, v)
            assert max(len(p) for p in pieces) < 100, (n, v)


def test_record_pieces_stay_small_at_the_largest_fields_and_points():
    # every field at its largest head, every point too: the fixed part (84 bytes) is a piece
    # of its own, and pieces of points stay under 100 bytes
    r = seg(MARCH, n_points=messages.MAX_TRACE_POINTS)
    r.index = messages.MAX_SEGMENTS - 1
    r.t_start, r.t_end = 1 << 32, messages.MAX_TIME
    r.zone_id = r.band_id = r.dist_m = r.rate_micro_per_km = r.price_micro = (1 << 32) - 1
    r.vehicle_class, r.flags = 255, 7
    span = r.t_end - r.t_start
    r.trace = [(span, -900000000, -1800000000)] * messages.MAX_TRACE_POINTS
    pieces = commit.record_pieces(r)
    assert b"".join(pieces) == r.encode()
    assert len(pieces[0]) == 84 and len(pieces[1]) == 80  # four points of 20 bytes
    assert max(len(p) for p in pieces) < 100
    # a fixed part under the threshold takes points until it reaches it
    r.t_start = r.t_end = 1000
    r.trace = [(0, -900000000, -1800000000)] * 9
    pieces = commit.record_pieces(r)
    assert b"".join(pieces) == r.encode() and max(len(p) for p in pieces) < 100


def test_a_committed_entry_in_pieces_is_the_encoded_entry_and_its_commitments():
    r = seg(MARCH + 100, n_points=90)
    r.index = 7
    rng = Rng(b"pieces")
    entry, blind, t = commit.commit_segment(r, rng)
    assert isinstance(entry, list) and max(len(p) for p in entry) < 100
    joined = b"".join(entry)
    rb, salt, blind_b, c, t2 = split_entry(joined)
    assert rb == r.encode() and t2 == t == messages.trace_commitment(rb, salt)
    assert joined == cbor.encode([rb, salt, blind_b, c, t])
    assert c == pedersen.commit(r.price_micro, blind)
    assert blind_b == pedersen.blind_to_bytes(blind)
    assert entry_pieces(commit.record_pieces(r), salt, blind_b, c, t) == entry
    assert b"".join(entry_pieces(rb, salt, blind_b, c, t)) == joined
    assert entry_pieces(tuple(commit.record_pieces(r)), salt, blind_b, c, t) == entry
    raises(acc_mod.EntryCorrupt, entry_pieces, rb, salt[:15], blind_b, c, t)
    raises(acc_mod.EntryCorrupt, entry_pieces, commit.record_pieces(r), salt, blind_b, c, t[:31])


def test_the_group_order_is_ristretto255s():
    assert acc_mod.L == ristretto.L


def test_blinds_and_salts_are_fresh_for_every_segment():
    root, store, a = _world()
    try:
        for i in range(4):
            a.add(seg(MARCH + 100 * i))
        seen = {}
        for _i, _rb, salt, blind, c, _t in a.records(MARCH):
            assert salt not in seen and blind not in seen and c not in seen
            seen[salt] = seen[blind] = seen[c] = True
    finally:
        rmtree(root)


# --- totals ---------------------------------------------------------------------------------------
def test_totals_add_up_and_the_commitments_sum_to_them():
    root, store, a = _world()
    try:
        for i in range(7):
            a.add(seg(MARCH + 1000 * i, dist_m=100 * i + 7, pid=PID_B if i % 3 else PID_A))
        a.add(seg(MARCH + 9000, dist_m=0, rate=0, flags=messages.FLAG_GAP_EVENT))
        count, total, blind_sum, pids = a.totals(MARCH)
        assert (count, total, blind_sum, pids) == _truth(a, MARCH)
        assert count == 8 and pids == [PID_A, PID_B]
        pedersen.verify_sum((c for c, t in a.commitments(MARCH)), total, blind_sum)
    finally:
        rmtree(root)


def test_a_kill_between_append_and_checkpoint_loses_nothing():
    root, store, a = _world(checkpoint_every=4)
    try:
        for i in range(10):  # checkpoints after 4 and 8; entries 9 and 10 only in the ledger
            a.add(seg(MARCH + 100 * i, dist_m=10 + i))
        a.add(seg(MARCH + 2000, dist_m=99))
        expected = a.totals(MARCH)
        # the 12th append is durable, then the process dies writing its checkpoint
        acc_mod.atomic = _AtomicKilledOnWrite()
        try:
            raises(_Killed, a.add, seg(MARCH + 2100, dist_m=98))
        finally:
            acc_mod.atomic = atomic
        b = _reboot(root, checkpoint_every=4)
        got = b.totals(MARCH)
        assert got[0] == 12 and got[1] == expected[1] + price_micro(98, 60000)
        assert got == _truth(b, MARCH)
        assert b.rescans == 0  # the checkpoint after 8 was good: only 4 entries were read
        # and it goes on numbering where the ledger is
        assert b.add(seg(MARCH + 3000)) == 12
    finally:
        acc_mod.atomic = atomic
        rmtree(root)


class _CountingStore:
    """A Store whose ledgers report the first record each scan starts from."""

    def __init__(self, store):
        self.store = store
        self.dir = store.dir
        self.starts = []

    def open(self, period):
        lg = self.store.open(period)
        real = lg.records
        starts = self.starts

        def records(start=0):
            starts.append(start)
            return real(start)

        lg.records = records
        return lg

    def periods(self):
        return self.store.periods()


def test_boot_reads_only_the_entries_after_the_checkpoint():
    root, store, a = _world(checkpoint_every=8)
    try:
        for i in range(21):
            a.add(seg(MARCH + 100 * i))
        expected = a.totals(MARCH)
        cs = _CountingStore(Store(root, Rng(b"x")))
        b = Accounting(cs, Rng(b"y"), checkpoint_every=8)
        assert b.totals(MARCH) == expected and cs.starts == [16]
    finally:
        rmtree(root)


def test_a_stale_or_damaged_checkpoint_is_ignored_and_totals_rebuilt_from_the_ledger():
    root, store, a = _world(checkpoint_every=2)
    try:
        for i in range(6):
            a.add(seg(MARCH + 100 * i, dist_m=50 + i))
        expected = a.totals(MARCH)
        path = root + "/accounting/c%d.ckpt" % MARCH
        good = atomic.read_file(path)
        # damaged: a flipped byte fails the checksum
        atomic.atomic_write(path, good[:20] + bytes((good[20] ^ 1,)) + good[21:])
        b = _reboot(root)
        assert b.totals(MARCH) == expected and b.rescans == 1
        # stale: a checkpoint of another ledger (count beyond this one)
        other = acc_mod.Totals(MARCH)
        other.count = 50
        atomic.atomic_write(path, other.to_bytes())
        b = _reboot(root)
        assert b.totals(MARCH) == expected and b.rescans == 1
        # same count but another last trace commitment (the ledger was replaced)
        other.count = 6
        atomic.atomic_write(path, other.to_bytes())
        b = _reboot(root)
        assert b.totals(MARCH) == expected and b.rescans == 1
        # and the rebuilt checkpoint is good again
        assert _reboot(root).rescans == 0
    finally:
        rmtree(root)


def test_checkpoint_round_trips_and_refuses_foreign_bytes():
    t = acc_mod.Totals(MARCH)
    t.fold(123, 456, PID_B, b"t" * 32)
    t.fold(7, ristretto.L - 1, PID_A, b"u" * 32)
    t.closed = True
    u = acc_mod.Totals.from_bytes(t.to_bytes(), MARCH)
    assert u.as_tuple() == (2, 130, 455, [PID_A, PID_B]) and u.closed and u.last_t == b"u" * 32
    assert acc_mod.Totals.from_bytes(t.to_bytes(), APRIL) is None
    assert acc_mod.Totals.from_bytes(t.to_bytes()[:-1], MARCH) is None
    assert acc_mod.Totals.from_bytes(None, MARCH) is None
    assert acc_mod.Totals.from_bytes(b"QMCK" + bytes(200), MARCH) is None


# --- refusals -----------------------------------------------------------------------------------
def test_records_that_could_not_be_opened_are_refused():
    root, store, a = _world()
    try:
        bad = []
        r = seg(MARCH + 10)
        r.price_micro += 1
        bad.append(r)
        bad.append(seg(APRIL - 50))  # spans two periods
        r = seg(MARCH + 10)
        r.flags = 8
        bad.append(r)
        r = seg(MARCH + 10)
        r.policy_id = b"short"
        bad.append(r)
        bad.append(seg(MARCH + 10, n_points=0))
        r = seg(MARCH + 10)
        r.trace = [(5, 1, 1), (4, 1, 1)]
        bad.append(r)
        r = seg(MARCH + 10)
        r.trace = [(101, 1, 1)]
        bad.append(r)
        r = seg(MARCH + 10, dist_m=1 << 32, rate=0)
        bad.append(r)
        r = seg(MARCH + 10)
        r.vehicle_class = 256
        bad.append(r)
        r = seg(MARCH + 10)
        r.t_end = r.t_start - 1
        bad.append(r)
        for point in ((1, 900000001, 0), (1, 0, -1800000001), (1, 0), (1, 0, True), (1.0, 0, 0)):
            r = seg(MARCH + 10)
            r.trace = [point]
            bad.append(r)
        bad.append("not a record")
        for r in bad:
            raises(InvalidSegment, a.add, r)
        assert a.count(MARCH) == 0 and not a.has_ledger(APRIL)
    finally:
        rmtree(root)


def test_a_closed_period_refuses_segments_also_after_a_reboot():
    root, store, a = _world()
    try:
        a.add(seg(MARCH + 10))
        t = a.close_period(MARCH)
        assert a.close_period(MARCH) == t  # idempotent
        raises(PeriodClosed, a.add, seg(MARCH + 500))
        assert a.add(seg(APRIL + 10)) == 0  # the next period is open
        b = _reboot(root)
        assert b.is_closed(MARCH) and not b.is_closed(APRIL)
        raises(PeriodClosed, b.add, seg(MARCH + 600))
        assert b.totals(MARCH) == t
    finally:
        rmtree(root)


def test_a_period_uses_at_most_sixteen_policies():
    root, store, a = _world()
    try:
        for i in range(16):
            a.add(seg(MARCH + 200 * i, pid=bytes((i,)) * 16))
        raises(PeriodFull, a.add, seg(MARCH + 5000, pid=b"\xff" * 16))
        assert a.add(seg(MARCH + 5000, pid=bytes((3,)) * 16)) == 16
    finally:
        rmtree(root)


# --- periods without driving, retention, failures ---------------------------------------------
def test_a_period_without_driving_has_zero_totals_and_no_ledger():
    root, store, a = _world()
    try:
        assert a.totals(MARCH) == (0, 0, 0, [])
        assert list(a.commitments(MARCH)) == [] and list(a.records(MARCH)) == []
        assert a.close_period(MARCH) == (0, 0, 0, [])
        assert a.periods() == [] and not a.has_ledger(MARCH)
        assert _reboot(root).is_closed(MARCH)
    finally:
        rmtree(root)


def test_destroy_removes_the_ledger_and_its_checkpoint():
    root, store, a = _world(checkpoint_every=1)
    try:
        a.add(seg(MARCH + 10))
        a.add(seg(APRIL + 10))
        a.destroy(MARCH)
        assert a.periods() == [APRIL]
        assert not atomic.exists(root + "/accounting/c%d.ckpt" % MARCH)
        assert a.totals(MARCH) == (0, 0, 0, [])
    finally:
        rmtree(root)


class _TornFile:
    """Writes the first half of a frame, then fails like a full flash."""

    def __init__(self, f):
        self.f = f

    def write(self, data):
        self.f.write(data[: len(data) // 2])
        return len(data) // 2

    def flush(self):
        self.f.flush()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.f.close()


class _FlakyStore:
    """A Store whose next append fails half-way (the first ledger it opens)."""

    def __init__(self, store):
        self.store = store
        self.dir = store.dir
        self.fail = True

    def _opener(self, path, mode):
        f = open(path, mode)
        if mode == "ab" and self.fail:
            self.fail = False
            return _TornFile(f)
        return f

    def open(self, period):
        return Ledger(self.dir, period, self.store.keys, rng=Rng(b"n"), opener=self._opener)

    def periods(self):
        return self.store.periods()


def test_a_failed_append_is_repaired_and_numbering_stays_dense():
    root = tmpdir("acc")
    try:
        fs = _FlakyStore(Store(root, Rng(b"k")))
        a = Accounting(fs, Rng(b"r"), root=root)
        raises(WriteFailed, a.add, seg(MARCH + 10))
        assert a.add(seg(MARCH + 20)) == 0
        assert a.add(seg(MARCH + 30)) == 1
        assert a.totals(MARCH) == _truth(a, MARCH)
        assert [messages.SegmentRecord.decode(e[1]).index for e in a.records(MARCH)] == [0, 1]
    finally:
        rmtree(root)


def test_the_default_period_is_the_calendar_month():
    root, store, a = _world()
    try:
        t = unix_from_civil(2026, 2, 28, 23, 0, 0)
        a.add(seg(t, dur=3599))
        assert a.periods() == [month_start(t)]
    finally:
        rmtree(root)
