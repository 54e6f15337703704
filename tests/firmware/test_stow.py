"""The driving objects set aside during a sync's network phase (firmware/stow.py): stowed and
rebuilt at any instant — mid-sentence, mid-segment — the unit charges exactly what it charges
without; nothing of the driving classes stays referenced while stowed; a power fail while
stowed still commits the open segment. Runs under MicroPython (where the App unloads and
re-imports the driving modules) and CPython (same objects rebuilt, modules kept)."""

import os
import sys

from firmware import stow as stowing
from firmware import unstow as unstowing
from firmware.app import App
from protocol import verify
from protocol.timeutil import civil_from_unix
from tests.contract.support import raises
from tests.firmware import drive_support as ds
from tests.firmware.test_app import (
    WIFI,
    Clock,
    H,
    Line,
    Link,
    Refused,
    _ledger_count,
    make_app,
    make_cfg,
    resolve,
    sealed,
)

MP = sys.implementation.name == "micropython"


def _deg_min(v_e7, width):
    """NMEA ddmm.mmmm (or dddmm.mmmm) of a non-negative coordinate in 1e-7 degrees."""
    deg = v_e7 // 10**7
    m_e4 = (v_e7 % 10**7) * 6 // 1000  # minutes in 1e-4
    return ("%0*d%02d.%04d" % (width, deg, m_e4 // 10000, m_e4 % 10000)).encode()


def _sentence(body):
    x = 0
    for c in body:
        x ^= c
    return b"$" + body + b"*%02X\r\n" % x


def drive_nmea(t0, seconds, lat=508200000, lon=43200000):
    """GGA + RMC at 1 Hz of a drive north-east at ~10 m/s (as test_app.drive, through the
    parser), second by second."""
    for i in range(seconds):
        t = t0 + i
        y, mo, d, hh, mi, ss, _ = civil_from_unix(t)
        hms = b"%02d%02d%02d.00" % (hh, mi, ss)
        la = _deg_min(lat + 64 * i, 2) + b",N"
        lo = _deg_min(lon + 100 * i, 3) + b",E"
        gga = b"GPGGA," + hms + b"," + la + b"," + lo + b",1,09,0.9,50.0,M,47.0,M,,"
        rmc = b"GPRMC," + hms + b",A," + la + b"," + lo + b",19.44,45.0,"
        rmc += b"%02d%02d%02d" % (d, mo, y % 100) + b",,,A"
        yield _sentence(gga) + _sentence(rmc)


def feed(app, t0, seconds, size=97, after_read=None):
    """The drive's NMEA in reads of ``size`` bytes (cut anywhere, mid-sentence too);
    ``after_read(n)`` after the n-th read."""
    pending = b""
    n = 0
    for chunk in drive_nmea(t0, seconds):
        pending += chunk
        while len(pending) >= size:
            app.feed(pending[:size])
            pending = pending[size:]
            n += 1
            if after_read is not None:
                after_read(n)
    if pending:
        app.feed(pending)


def kept(fn, *args):
    """``fn(*args)``, leaving sys.modules as it was: where the App unloads (MicroPython), the
    driving modules it dropped and imported again are put back as they were, since this
    file's helpers (drive_support's policies) and the next tests hold their classes."""
    if not MP:  # CPython's App keeps its modules
        return fn(*args)
    saved = dict(sys.modules)
    try:
        return fn(*args)
    finally:
        for m in [m for m in sys.modules if m not in saved]:
            del sys.modules[m]
            parent, _, child = m.rpartition(".")
            if parent in sys.modules and child in sys.modules[parent].__dict__:
                delattr(sys.modules[parent], child)  # else ``from parent import child`` finds it
        for m, mod in saved.items():
            if sys.modules.get(m) is not mod:
                sys.modules[m] = mod
                parent, _, child = m.rpartition(".")
                if parent in sys.modules:
                    setattr(sys.modules[parent], child, mod)


def modules_kept(test):
    def run():
        kept(test)

    return run


def driving_classes():
    """The classes of the modules stow drops (those loaded now)."""
    out = set()
    for m in stowing.MODULES:
        mod = sys.modules.get(m)
        if mod is not None:
            for v in mod.__dict__.values():
                if type(v) is type and getattr(v, "__module__", None) == m:  # not array
                    out.add(v)
    return out


def reached(v, seen=None):
    """Every object reachable from ``v`` through tuples, lists and dicts."""
    seen = {} if seen is None else seen
    if id(v) in seen:
        return seen
    seen[id(v)] = v
    if type(v) in (tuple, list):
        for x in v:
            reached(x, seen)
    elif type(v) is dict:
        for k in v:
            reached(k, seen)
            reached(v[k], seen)
    return seen


def summary(app, root):
    """What the unit charged: the sealed statements' contents and its counters."""
    out = []
    for env in sealed(app):
        st, _ = verify.verify_statement(env, resolve)
        out.append((st.seq, st.period_start, st.total_price_micro, st.commitments, st.blind_sum))
    p, o, s = app.parser, app.odometer, app.segmenter
    out.append((p.sentences_ok, p.checksum_errors, p.malformed, o.accepted, o.stationary))
    out.append((s.segments, s.gap_events, s.unpriced_steps))
    return out


def new_unit(root, cfg=None, **kw):
    """An App on a unit whose policy is installed (unloading as the interpreter does)."""
    make_app(root)
    return App(cfg or make_cfg(), root, ds.obu_signer(), rng=ds.Rng(b"app"), **kw)


def run_drive(stow_every, check=None, staged=False):
    """The same 25-minute drive fed in 97-byte reads, stowed and rebuilt after every
    ``stow_every``-th read (0: never); the unit's summary after sealing its period.
    ``staged``: stowed as a sync does it, all but the accounting first, then the rest
    (``check(app, partly)`` after each stow)."""
    root = ds.tmpdir("stow")
    try:
        app = new_unit(root)

        def after_read(n):
            if stow_every and n % stow_every == 0:
                if staged:
                    stowing.stow(app, stowing.DRIVING)
                    if check is not None:
                        check(app, True)
                stowing.stow(app)
                if check is not None:
                    check(app, False)
                unstowing.unstow(app)

        feed(app, ds.T_DRIVE + 60, 1500, after_read=after_read)
        app.end_of_input()
        app.seal_due(ds.T_DRIVE + H + 5)
        return summary(app, root)
    finally:
        ds.rmtree(root)


@modules_kept
def test_stowing_at_any_read_charges_exactly_what_never_stowing_does():
    plain = kept(run_drive, 0)
    assert plain[-1][0] > 1 and plain[0][2] > 0  # segments were priced and sealed
    assert kept(run_drive, 7) == plain
    assert kept(run_drive, 50) == plain
    assert kept(run_drive, 13, None, True) == plain  # in two steps, as a sync stows


@modules_kept
def test_while_stowed_nothing_of_the_driving_classes_is_held():
    seen = []

    def check(app, partly):
        for a in stowing.ATTRS:
            assert (getattr(app, a) is None) is not (partly and a == "accounting")
        # a stowed segment in progress and its policy are plain values now
        classes = driving_classes()
        objs = reached(app._stowed)
        assert not [v for v in objs.values() if type(v) in classes]
        if app.unload:  # MicroPython: the modules are gone from sys.modules
            kept = stowing.ACCOUNTING_MODULES if partly else ()
            loaded = [m for m in stowing.MODULES if m in sys.modules]
            assert [m for m in loaded if m not in kept] == []
            assert "firmware.accounting" in loaded if partly else not loaded
        seen.append((app.unload, partly))

    kept(run_drive, 60, check)
    assert seen and seen == [(MP, False)] * len(seen)  # dropped where the App unloads
    seen.clear()
    kept(run_drive, 60, check, True)  # as a sync stows: the accounting (and its modules) last
    assert seen and seen == [(MP, True), (MP, False)] * (len(seen) // 2)


@modules_kept
def test_unstow_rebuilds_shared_objects_once_and_wires_the_odometer_to_the_new_segmenter():
    root = ds.tmpdir("stow")
    try:
        app = new_unit(root)
        feed(app, ds.T_DRIVE + 60, 120)
        assert app.segmenter.cur is not None
        before = app.segmenter.segments
        stowing.stow(app)
        unstowing.unstow(app)
        assert app._stowed is None
        cur = app.segmenter.cur
        policy, pid = app.policies.lookup(cur.t_end)
        assert cur.policy is policy and cur.pid == pid  # the store's own objects, not copies
        assert app.segmenter.policies is app.policies
        # steps reach the rebuilt segmenter: the segment goes on and closes there
        feed(app, ds.T_DRIVE + 180, 60)
        assert app.segmenter.cur is cur and cur.t_end >= ds.T_DRIVE + 230
        app.end_of_input()
        assert app.segmenter.segments == before + 1
    finally:
        ds.rmtree(root)


@modules_kept
def test_a_failed_stow_changes_nothing():
    root = ds.tmpdir("stow")
    try:
        app = new_unit(root)
        feed(app, ds.T_DRIVE + 60, 30)
        parser = app.parser
        app.segmenter.loop = app.segmenter  # a reference back into itself: refused
        raises(ValueError, stowing.stow, app)
        assert app.parser is parser and app._stowed is None
        assert app.odometer.on_step is not None and app.odometer.on_gap is not None
        del app.segmenter.loop
        accepted = app.odometer.accepted
        feed(app, ds.T_DRIVE + 90, 30)
        assert app.odometer.accepted > accepted
    finally:
        ds.rmtree(root)


class _Box:
    pass


def bare_app(parser, root):
    """An App stand-in whose parser is ``parser`` and whose other stowed attributes are empty,
    stowing into ``root``; it does not unload (the modules stay: rebuilt objects are of the
    same classes)."""
    app = _Box()
    app.root = root
    app._stow_key = [b"k" * 32, 0]
    app.unload = False
    app.parser = parser
    app.odometer = _Box()
    app.odometer.on_step = app.odometer.on_gap = None
    app.segmenter = _Box()
    app.segmenter.step = app.segmenter.gap = None
    app.policies = app.accounting = None
    app._stowed = None
    return app


def test_data_that_starts_like_a_stowed_value_comes_back_unchanged():
    odd = (list, 1, 2)
    parts = {"a": odd, "b": [odd, (tuple,)], "c": [dict, 3], "d": [type, "m", "C"]}
    root = ds.tmpdir("stow")
    try:
        app = bare_app(parts, root)
        stowing.stow(app)
        unstowing.unstow(app)
    finally:
        ds.rmtree(root)
    assert app.parser == {
        "a": (list, 1, 2),
        "b": [(list, 1, 2), (tuple,)],
        "c": [dict, 3],
        "d": [type, "m", "C"],
    }
    assert type(app.parser["a"]) is tuple and type(app.parser["c"]) is list


def test_every_kind_of_value_comes_back_equal_and_shared_as_it_was():
    from protocol import tariff

    shared = [1, 2]
    buf = bytearray(b"kept as it is")
    a = tariff.TimeBand(1, 0x7F, 0, 600)
    b = tariff.TimeBand(2, 0x60, 600, 1440)
    c = tariff.TimeBand(3, 1, 0, 10)
    c.note = "\u00e9t\u00e9"  # the same class with one more attribute: another layout
    plain = [None, True, False, 0, 127, 128, -1, -(1 << 70), (1 << 255) + 12345, b""]
    plain += [b"x" * 300, "\u00fcn\u00efcode", (), (1, 2), (1, 2, 3), (1, 2, 3, 4)]
    values = list(plain)
    values += [shared, shared, {"k": shared, 3: (a, b)}, [a, b, c, a], buf, tariff.TimeBand]
    root = ds.tmpdir("stow")
    try:
        app = bare_app(values, root)
        stowing.stow(app)
        ((attrs, path, _key, _kept, _used, _modules),) = (
            app._stowed
        )  # one group: the attributes not None
        assert attrs == ("parser", "odometer", "segmenter")
        with open(path, "rb") as f:
            data = f.read()
        assert len(data) > 300  # the bytes and text above, encoded
        assert b"kept as it is" not in data and b"x" * 32 not in data  # encrypted
        unstowing.unstow(app)
        raises(OSError, os.stat, path)  # removed once the objects are back
    finally:
        ds.rmtree(root)
    out = app.parser
    assert out[:16] == plain and [type(v) for v in out[:16]] == [type(v) for v in plain]
    assert out[16] == [1, 2] and out[16] is out[17] and out[16] is not shared  # rebuilt once
    assert out[18]["k"] is out[16] and out[18][3][0] is out[19][0] is out[19][3]
    a2, b2, c2 = out[19][:3]
    assert [type(x) for x in (a2, b2, c2)] == [tariff.TimeBand] * 3 and a2 is not a
    assert a2.__dict__ == a.__dict__ and b2.__dict__ == b.__dict__ and c2.__dict__ == c.__dict__
    assert out[20] is buf and out[21] is tariff.TimeBand  # a buffer kept; a class by name


@modules_kept
def test_the_commit_path_leaves_with_every_segment_where_the_app_unloads():
    """App._on_segment drops the commit path once the segment is in the ledger, so the drive
    between segments does not hold it; the next segment imports it again and commits as
    before (the charging test above runs this way under MicroPython)."""
    from firmware.app import _COMMIT_MODULES, _KEPT

    root = ds.tmpdir("commit")
    try:
        app = new_unit(root)
        seen = []

        def after_read(n):
            loaded = [m for m in _COMMIT_MODULES if m in sys.modules]
            seen.append((app.segmenter.segments, loaded))

        feed(app, ds.T_DRIVE + 60, 3000, after_read=after_read)
        committed = [loaded for segments, loaded in seen if segments]
        assert len(committed) > 100 and seen[-1][0] > 1  # segments, and many reads after
        # CPython keeps its modules; MicroPython running this source keeps the tables, whose
        # data is on the heap (app.keep_tables_if_on_heap), and drops the rest.
        expected = [m for m in _COMMIT_MODULES if m in _KEPT or not app.unload]
        assert not app.unload or "protocol.tables_ristretto" in expected
        assert committed == [expected] * len(committed)
    finally:
        ds.rmtree(root)


@modules_kept
def test_a_power_fail_while_stowed_still_commits_the_open_segment():
    from firmware.board.sense import Sense

    root = ds.tmpdir("stow")
    try:
        pf = Line(1)
        sense = Sense(Clock(), power_fail=pf)
        events = []

        class CutOnConnect(Refused):
            def __call__(self, host, port, timeout_ms):
                pf.level = 0  # the power goes while the uploads are being tried
                sense.on_power_fail(pf)
                return Refused.__call__(self, host, port, timeout_ms)

        app = new_unit(
            root, make_cfg(WIFI), net=Link(events), sense=sense, connect=CutOnConnect(events)
        )
        feed(app, ds.T_DRIVE + 60, 300)
        assert app.segmenter.cur is not None
        result = app.sync()
        assert [type(e).__name__ for e in result["errors"]][-1:] == ["PowerLost"]
        assert ("connect", "127.0.0.1", 9) in events and events[-1] == ("down",)
        assert app._stowed is None and app.segmenter.cur is None
        assert _ledger_count(root, ds.T_DRIVE) == 1
    finally:
        ds.rmtree(root)


@modules_kept
def test_a_sync_whose_stow_fails_runs_with_the_objects_in_place():
    root = ds.tmpdir("stow")
    try:
        events = []
        app = new_unit(root, make_cfg(WIFI), net=Link(events), connect=Refused(events))
        feed(app, ds.T_DRIVE + 60, 120)
        seg = app.segmenter
        seg.loop = seg  # a reference back into itself: stow refuses it, changing nothing
        result = app.sync()
        assert ("connect", "127.0.0.1", 9) in events  # the network phase ran
        assert not [e for e in result["errors"] if type(e).__name__ == "ValueError"]
        assert app._stowed is None and app.segmenter is seg and seg.cur is not None
        del seg.loop
        feed(app, ds.T_DRIVE + 180, 60)
        assert seg.cur.t_end >= ds.T_DRIVE + 230  # driving goes on with the same objects
    finally:
        ds.rmtree(root)


@modules_kept
def test_where_the_app_unloads_it_also_collects_every_16_kb():
    import gc

    if not MP:  # CPython's collector works otherwise; the App leaves it alone
        return
    before = gc.threshold()
    root = ds.tmpdir("stow")
    try:
        gc.threshold(-1)
        App(make_cfg(), root, ds.obu_signer(), rng=ds.Rng(b"app"), unload=False)
        assert gc.threshold() == -1  # an App that keeps its modules keeps the collector too
        new_unit(root)
        assert gc.threshold() == 16384
    finally:
        gc.threshold(before)
        ds.rmtree(root)


def test_the_driving_objects_go_aside_before_the_uplink_code_unless_a_policy_is_due():
    """A sync stows the driving objects before its HTTP client is made (the uplink's code
    imported) and keeps them aside for every request; when the policy is due (it ends
    within POLICY_REFRESH_S and no successor is held), the fetch comes first, with the
    objects in place for the store to install the new one, and they are stowed after it."""
    for due in (False, True):
        kept(_sync_with_policy_due, due)


def _sync_with_policy_due(due):
    from firmware.app_sync import POLICY_REFRESH_S
    from firmware.policy import PolicyStore
    from tests.firmware.uplink_fixtures import FakeStream, response

    root = ds.tmpdir("stow")
    try:
        until = ds.T_DRIVE + 60 + POLICY_REFRESH_S if due else ds.T2027
        store = PolicyStore(root, ds.authority().public_key(), vehicle_class=1)
        store.install(ds.signed_policy(ds.make_policy(valid_until=until)), now=ds.T_DRIVE)
        newer = ds.signed_policy(ds.make_policy(version=2))
        seen = []  # at each connection: were the driving objects stowed?
        app = None

        def connect(host, port, timeout_ms):
            seen.append(app._stowed is not None)
            if due and len(seen) == 1:
                return FakeStream(response(200, newer))
            raise OSError(111)  # nobody else answers: challenges are retried next time

        app = App(make_cfg(), root, ds.obu_signer(), rng=ds.Rng(b"app"), connect=connect)
        make_client = app.client
        made = []  # at each client made: were they stowed?

        def client():
            made.append(app._stowed is not None)
            return make_client()

        app.client = client
        feed(app, ds.T_DRIVE + 60, 120)
        result = app.sync()
        assert len(seen) >= 2 and len(made) == 1, (seen, made, result)
        if due:
            assert result.get("policy") == 1, result["errors"]
            assert app.policies.lookup(app.gnss_time)[0].version == 2
        else:
            assert "policy" not in result
        if app.unload:  # MicroPython: stowed for every request after the fetch
            assert made == [not due] and seen == [not due] + [True] * (len(seen) - 1)
        else:
            assert True not in seen + made
        assert app._stowed is None and app.segmenter.cur is not None  # all back
    finally:
        ds.rmtree(root)


def test_a_sync_seals_with_the_driving_code_aside_and_charges_what_keeping_it_does():
    """Where the App unloads, a sync closes the open segment of a period it seals and stows
    all but the accounting before sealing: sealing and retention run without the driving
    code, and the statement and the counters are those of a unit that keeps everything."""
    plain = kept(_sync_sealing, False)
    assert plain[0][2] > 0 and plain[-1][0] > 1  # the open segment was committed and sealed
    assert kept(_sync_sealing, True) == plain


def _sync_sealing(unload):
    root = ds.tmpdir("stow")
    try:
        app = new_unit(root, unload=unload)
        loaded = []  # at sealing: the driving modules loaded, and the accounting in place?
        seal_due = app.seal_due

        def sealing(now=None):
            loaded.append(([m for m in stowing.MODULES if m in sys.modules], app.accounting))
            return seal_due(now)

        app.seal_due = sealing
        feed(app, ds.T_DRIVE + 60, 1500)
        assert app.segmenter.cur is not None
        app.gnss_time = ds.T_DRIVE + H + 5  # the drive's period has ended: the sync seals it
        result = app.sync()
        assert result["sealed"] == 1 and not result["errors"], result
        ((mods, accounting),) = loaded
        assert accounting is not None
        if app.unload:
            assert mods and set(mods) <= set(stowing.ACCOUNTING_MODULES)
        assert app._stowed is None and app.segmenter.cur is None
        return summary(app, root)
    finally:
        ds.rmtree(root)
