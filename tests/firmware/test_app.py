"""The application wiring (firmware/app.py): fixes in, sealed chained statements out, periods
without driving sealed too, retention destroys trace records once receipts are old enough.
Runs under MicroPython and CPython."""

from firmware import config
from firmware.app import App
from firmware.policy import PolicyStore
from protocol import envelopes, p256, verify
from tests.contract.support import raises
from tests.firmware import drive_support as ds

H = 3600


def make_app(root, retention_days=90, watchdog=None):
    auth = ds.authority()
    cfg = config.Config(
        {
            "obu_id": "OBU-APP-1",
            "vehicle_class": 1,
            "backend_url": "http://127.0.0.1:9",
            "authority_public_key": auth.public_key().hex(),
            "period": H,
            "retention_days": retention_days,
        }
    )
    store = PolicyStore(root, auth.public_key(), vehicle_class=1)
    store.install(ds.signed_policy(ds.make_policy()), now=ds.T_DRIVE)
    return App(cfg, root, ds.obu_signer(), rng=ds.Rng(b"app"), unload=False, watchdog=watchdog)


def drive(app, t0, seconds, lat=508200000, lon=43200000):
    """Drive north-east at ~10 m/s, one fix per second, Doppler speed reported."""
    for i in range(seconds):
        app._on_fix(ds.fix(t0 + i, lat + 64 * i, lon + 100 * i, speed=10000))
    return t0 + seconds


def resolve(kid):
    pub = ds.obu_signer().public_key()
    if kid != p256.key_id(pub):
        from protocol.errors import UnknownKeyId

        raise UnknownKeyId(kid.hex())
    return pub


def sealed(app):
    out = []
    for seq in app.state.statement_seqs():
        with open(app.state.envelope_path(seq), "rb") as f:
            out.append(f.read())
    return out


def test_drive_across_periods_seals_a_chain_without_holes():
    root = ds.tmpdir("app")
    try:
        app = make_app(root)
        t = drive(app, ds.T_DRIVE + 600, 1200)  # 10:10–10:30
        t = drive(app, t + 2 * H, 600)  # 12:30–12:40: the 11:00 period has no driving
        app.segmenter.close()
        app.seal_due(ds.T_DRIVE + 3 * H + 5)  # 13:00:05 → 10:00, 11:00, 12:00 sealed
        envs = sealed(app)
        assert len(envs) == 3
        prev_h, prev_seq, prev_end = None, None, None
        counts = []
        for env in envs:
            st, _ = verify.verify_statement(env, resolve)
            verify.check_chain(st, prev_h, prev_seq)
            assert prev_end is None or st.period_start == prev_end
            prev_h, prev_seq, prev_end = envelopes.statement_hash(env), st.seq, st.period_end
            counts.append(st.segment_count)
        assert counts[0] > 0 and counts[1] == 0 and counts[2] > 0
    finally:
        ds.rmtree(root)


def test_sealing_twice_changes_nothing():
    root = ds.tmpdir("app")
    try:
        app = make_app(root)
        drive(app, ds.T_DRIVE + 60, 300)
        app.segmenter.close()
        first = app.seal_due(ds.T_DRIVE + H + 1)
        assert len(first) == 1
        assert app.seal_due(ds.T_DRIVE + H + 2) == []
        assert len(sealed(app)) == 1
    finally:
        ds.rmtree(root)


def test_retention_destroys_trace_records_only_after_receipt_and_window():
    root = ds.tmpdir("app")
    try:
        app = make_app(root, retention_days=90)
        drive(app, ds.T_DRIVE + 60, 300)
        app.segmenter.close()
        [(seq, _h)] = app.seal_due(ds.T_DRIVE + H + 1)
        period = app.state.meta(seq).period_start
        assert period in app.accounting.periods()
        # no receipt yet: kept however old
        assert app.purge_expired(ds.T_DRIVE + 400 * 86400) == []
        received = ds.T_DRIVE + 2 * H
        app.state.mark_receipt(seq, received)
        assert app.purge_expired(received + 90 * 86400) == []  # window not yet over
        assert app.purge_expired(received + 90 * 86400 + 1) == [period]
        assert period not in app.accounting.periods()
        assert not app.store.keys.has(period)  # the key is gone: cryptographic deletion
        # the signed statement (no trace inside) stays: it is the driver's proof
        st, _ = verify.verify_statement(sealed(app)[0], resolve)
        assert st.seq == seq
    finally:
        ds.rmtree(root)


def test_no_gnss_time_means_nothing_is_sealed():
    root = ds.tmpdir("app")
    try:
        app = make_app(root)
        assert app.periods_to_seal() == [] and app.seal_due() == []
        raises(ValueError, config.Config, {})
    finally:
        ds.rmtree(root)


class CountingWatchdog:
    def __init__(self):
        self.feeds = 0

    def feed(self):
        self.feeds += 1


class QuietUart:
    """A receiver that says nothing: every read is empty."""

    def __init__(self):
        self.reads = 0

    def read(self):
        self.reads += 1
        return b""


def test_the_run_loop_and_each_sync_feed_the_watchdog():
    root = ds.tmpdir("app")
    try:
        wdt = CountingWatchdog()
        app = make_app(root, watchdog=wdt)
        drive(app, ds.T_DRIVE + 600, 120)
        uart = QuietUart()
        app.run(uart, max_idle_reads=5)
        # once per loop turn (five reads); the first turn syncs (GNSS time is known): once
        # after its sealing and once after the sync; the final sync once after its sealing
        assert uart.reads == 5
        assert wdt.feeds == 5 + 2 + 1
        before = wdt.feeds
        app.sync()
        assert wdt.feeds == before + 1
        # without a watchdog (host runs) nothing is fed and nothing fails
        make_app(root).run(QuietUart(), max_idle_reads=2)
    finally:
        ds.rmtree(root)


class TickedOutput:
    """A status output that animates (like firmware.status.LedStatus)."""

    def __init__(self):
        self.shown = []
        self.ticks = []

    def show(self, status):
        self.shown.append(status.state())

    def tick(self, ms):
        self.ticks.append(ms)


def test_the_run_loop_ticks_animated_status_outputs():
    root = ds.tmpdir("app")
    try:
        make_app(root)  # installs the policy
        auth = ds.authority()
        cfg = config.Config(
            {
                "obu_id": "OBU-APP-1",
                "vehicle_class": 1,
                "backend_url": "http://127.0.0.1:9",
                "authority_public_key": auth.public_key().hex(),
                "period": H,
            }
        )
        out = TickedOutput()
        app = App(
            cfg, root, ds.obu_signer(), rng=ds.Rng(b"app"), unload=False, status_outputs=(out,)
        )
        app.run(QuietUart(), max_idle_reads=4)
        assert len(out.ticks) == 4
        assert all(out.ticks[i + 1] >= out.ticks[i] for i in range(len(out.ticks) - 1))
    finally:
        ds.rmtree(root)


def test_retention_waits_for_a_dispute_in_progress():
    from firmware import disputes as dm
    from firmware.ledger import atomic

    root = ds.tmpdir("app")
    try:
        app = make_app(root, retention_days=90)
        drive(app, ds.T_DRIVE + 60, 300)
        app.segmenter.close()
        [(seq, _h)] = app.seal_due(ds.T_DRIVE + H + 1)
        period = app.state.meta(seq).period_start
        received = ds.T_DRIVE + 2 * H
        app.state.mark_receipt(seq, received)
        late = received + 90 * 86400 + 1
        did = bytes(range(16))
        atomic.ensure_dir(root + "/disputes")
        for state, purged in ((dm.WAITING, []), (dm.CONFIRMED, []), (dm.DECLINED, [period])):
            d = dm.Dispute(did, state, seq, 1, period, period + H)
            atomic.atomic_write(root + "/disputes/" + did.hex() + ".st", d.to_bytes())
            assert app.purge_expired(late) == purged, state
    finally:
        ds.rmtree(root)


# --- network bring-up, power, ignition and lid (the board's net and sense objects) ---------


def make_cfg(network=None):
    d = {
        "obu_id": "OBU-APP-1",
        "vehicle_class": 1,
        "backend_url": "http://127.0.0.1:9",
        "authority_public_key": ds.authority().public_key().hex(),
        "period": H,
    }
    if network is not None:
        d["network"] = network
    return config.Config(d)


WIFI = {"kind": "wifi", "ssid": "car-hotspot", "password": "secret", "timeout_s": 20}


def board_app(root, cfg=None, **kw):
    make_app(root)  # installs the policy
    if cfg is None:
        cfg = make_cfg()
    return App(cfg, root, ds.obu_signer(), rng=ds.Rng(b"app"), unload=False, **kw)


class Link:
    """The board's network link: network_up/network_down, with a scripted outcome."""

    def __init__(self, events, ok=True, code="no-registration", service=False, on_up=None):
        self.events = events
        self.ok = ok
        self.code = code
        self.service_fault = service
        self.on_up = on_up
        self.error = None
        self.service = False

    def network_up(self, timeout_ms):
        self.events.append(("up", timeout_ms))
        if self.on_up is not None:
            self.on_up()
        if self.ok:
            self.error = None
            self.service = False
            return True
        from firmware.board.net import LinkError

        self.error = LinkError(self.code)
        self.service = self.service_fault
        return False

    def network_down(self):
        self.events.append(("down",))


class Refused:
    """A connect that records the attempt and finds nobody listening."""

    def __init__(self, events):
        self.events = events

    def __call__(self, host, port, timeout_ms):
        self.events.append(("connect", host, port))
        raise OSError(111)


def seal_one(app):
    """Drive in the 10:00 period, close it, and move GNSS time past its end."""
    drive(app, ds.T_DRIVE + 60, 300)
    app.segmenter.close()
    app.gnss_time = ds.T_DRIVE + H + 5


def outbox(root):
    import os

    return sorted(n for n in os.listdir(root + "/outbox") if n.endswith(".cose"))


def test_the_network_phase_runs_between_the_boards_bring_up_and_take_down():
    root = ds.tmpdir("app")
    try:
        events = []
        app = board_app(root, make_cfg(WIFI), net=Link(events), connect=Refused(events))
        seal_one(app)
        summary = app.sync()
        assert summary["sealed"] == 1
        assert events[0] == ("up", 20000) and events[-1] == ("down",)
        assert ("connect", "127.0.0.1", 9) in events[1:-1]
        # network kind "none": the board's link is left alone (host runs)
        events2 = []
        host = board_app(root, make_cfg(), net=Link(events2), connect=Refused(events2))
        host.sync()
        assert ("up", 20000) not in events2 and ("down",) not in events2
    finally:
        ds.rmtree(root)


def test_a_network_that_does_not_come_up_is_retried_at_the_next_sync_losing_nothing():
    root = ds.tmpdir("app")
    try:
        events = []
        link = Link(events, ok=False, code="sim-missing", service=True)
        app = board_app(root, make_cfg(WIFI), net=link, connect=Refused(events))
        seal_one(app)
        summary = app.sync()
        assert summary["sealed"] == 1 and summary["uploaded"] == 0
        assert [getattr(e, "code", None) for e in summary["errors"]] == ["sim-missing"]
        assert not [e for e in events if e[0] == "connect"]  # no socket without a link
        assert outbox(root) == ["0.cose"]  # sealed and kept for the next sync
        st = app.status
        assert st.faults & st.FAULT_NETWORK and st.last_upload_code == "sim-missing"
        # the next sync: the link comes up, the statement is offered again, the fault clears
        link.ok = True
        app.sync()
        assert [e for e in events if e[0] == "connect"] and outbox(root) == ["0.cose"]
        assert not st.faults & st.FAULT_NETWORK
        # a failure a person need not act on (no coverage) is no fault
        link.ok, link.service_fault, link.code = False, False, "no-registration"
        app.sync()
        assert not st.faults & st.FAULT_NETWORK and st.last_upload_code == "no-registration"
    finally:
        ds.rmtree(root)


class Clock:
    def __init__(self):
        self.ms = 0

    def ticks_ms(self):
        return self.ms

    def ticks_diff(self, a, b):
        return a - b

    def sleep_ms(self, ms):
        self.ms += ms


class Line:
    def __init__(self, level):
        self.level = level

    def value(self, v=None):
        if v is None:
            return self.level
        self.level = v
        return None


class DriveUart:
    """A receiver whose every read hands the App one fix of a drive (as the parser would),
    a second apart; ``events[i]`` runs before the i-th read."""

    def __init__(self, app, t0, n, clock=None, events=None):
        self.app = app
        self.t0 = t0
        self.n = n
        self.i = 0
        self.clock = clock
        self.events = events or {}

    def read(self):
        i = self.i
        self.i += 1
        if self.clock is not None:
            self.clock.ms += 1000
        ev = self.events.get(i)
        if ev is not None:
            ev()
        if i >= self.n:
            return b""  # the end of the drive: idle reads end the run
        self.app._on_fix(ds.fix(self.t0 + i, 508200000 + 64 * i, 43200000 + 100 * i, speed=10000))
        return b"\n"  # (an empty line: the parser ignores it)


class Died(Exception):
    """The hold-up ran out: the unit stops where it is."""


def _ledger_count(root, period):
    from firmware.accounting import Accounting
    from firmware.ledger import Store

    acc = Accounting(Store(root, ds.Rng(b"boot")))
    return acc.ledger(period).count if period in acc.periods() else 0


def test_a_power_fail_mid_drive_commits_the_open_segment_before_the_hold_up_ends():
    from firmware.board.sense import Sense

    root = ds.tmpdir("app")
    try:
        clock = Clock()
        pf = Line(1)
        sense = Sense(clock, power_fail=pf)
        events = []
        app = board_app(root, make_cfg(WIFI), net=Link(events), sense=sense)

        def cut():
            pf.level = 0
            sense.on_power_fail(pf)

        def hold_up_runs_out(ms):
            raise Died()

        uart = DriveUart(app, ds.T_DRIVE + 60, 300, clock, {200: cut})
        clock.sleep_ms = hold_up_runs_out
        raises(Died, app.run, uart, 10**6, None, 1000)
        assert app.segmenter.cur is None and app.segmenter.segments == 1
        assert ("down",) in events  # the radio off at once
        # after the "cut": a reboot finds the segment in the ledger
        assert _ledger_count(root, ds.T_DRIVE) == 1
    finally:
        ds.rmtree(root)


def test_without_the_power_fail_line_a_cut_loses_the_open_segment():
    root = ds.tmpdir("app")
    try:
        app = board_app(root)

        def cut():
            raise Died()

        raises(Died, app.run, DriveUart(app, ds.T_DRIVE + 60, 300, None, {200: cut}), 10**6)
        assert _ledger_count(root, ds.T_DRIVE) == 0  # what the power-fail handling prevents
    finally:
        ds.rmtree(root)


def test_power_back_before_the_hold_up_ends_resumes_driving():
    from firmware.board.sense import Sense

    root = ds.tmpdir("app")
    try:
        clock = Clock()
        pf = Line(1)
        sense = Sense(clock, power_fail=pf, back_ms=1000)

        def cut():
            pf.level = 0
            sense.on_power_fail(pf)

        def sleep(ms):
            clock.ms += ms
            if clock.ms > 250000:
                pf.level = 1

        clock.sleep_ms = sleep
        app = board_app(root, sense=sense)
        app.run(DriveUart(app, ds.T_DRIVE + 60, 300, clock, {100: cut}), 10**6, None, 5)
        # the segment before the cut, and the one driven after it
        assert app.segmenter.segments == 2 and _ledger_count(root, ds.T_DRIVE) == 2
    finally:
        ds.rmtree(root)


def test_a_power_fail_during_a_sync_stops_it_at_the_next_step():
    from firmware.board.sense import Sense

    root = ds.tmpdir("app")
    try:
        pf = Line(1)
        sense = Sense(Clock(), power_fail=pf)
        events = []

        def cut():
            pf.level = 0
            sense.on_power_fail(pf)

        link = Link(events, on_up=cut)
        app = board_app(root, make_cfg(WIFI), net=link, sense=sense, connect=Refused(events))
        drive(app, ds.T_DRIVE + 60, 300)
        assert app.segmenter.cur is not None
        summary = app.sync()
        assert [type(e).__name__ for e in summary["errors"]] == ["PowerLost"]
        assert not [e for e in events if e[0] == "connect"]  # stopped before the uploads
        assert events[-1] == ("down",) and app.segmenter.cur is None
        assert _ledger_count(root, ds.T_DRIVE) == 1
    finally:
        ds.rmtree(root)


def test_ignition_off_closes_the_segment_syncs_once_and_parks():
    from firmware.board.sense import Sense

    root = ds.tmpdir("app")
    try:
        clock = Clock()
        ign = Line(0)  # on (Q4 pulls the pin low)
        parked = []
        sense = Sense(clock, ignition=ign, off_ms=5000, park=parked.append)
        events = []
        app = board_app(root, make_cfg(WIFI), net=Link(events), sense=sense)

        def key_off():
            ign.level = 1

        uart = DriveUart(app, ds.T_DRIVE + 60, 120, clock, {100: key_off})
        summary = app.run(uart, 10**6, None, 1000)
        assert parked == [sense]
        assert uart.i == 106  # parked after 5 s of "off", not at the end of the input
        assert app.segmenter.cur is None and _ledger_count(root, ds.T_DRIVE) == 1
        assert events[-2:] == [("up", 20000), ("down",)] and "sealed" in summary
        # a dip shorter than the hold time does not park
        parked2 = []
        ign2 = Line(0)
        clock2 = Clock()
        sense2 = Sense(clock2, ignition=ign2, off_ms=5000, park=parked2.append)
        app2 = board_app(root, sense=sense2)

        def dip():
            ign2.level = 1

        def back():
            ign2.level = 0

        app2.run(DriveUart(app2, ds.T_DRIVE + 600, 20, clock2, {5: dip, 8: back}), 10**6, None, 3)
        assert parked2 == []
    finally:
        ds.rmtree(root)


def test_an_opened_lid_is_a_tamper_fault_that_survives_a_reboot():
    from firmware import tamper
    from firmware.board.sense import Sense

    root = ds.tmpdir("app")
    try:
        lid = Line(0)
        sense = Sense(Clock(), lid=lid)
        app = board_app(root, sense=sense)

        def open_and_shut():  # between two looks of the App: only the IRQ saw it
            lid.level = 1
            sense.on_lid(lid)
            lid.level = 0

        app.run(DriveUart(app, ds.T_DRIVE + 60, 30, None, {10: open_and_shut}), 10**6, None, 3)
        st = app.status
        assert st.faults & st.FAULT_TAMPER and st.state() == "fault"
        log = tamper.TamperLog(root)
        assert (log.count, log.first, log.open) == (1, ds.T_DRIVE + 60 + 10, False)
        # a reboot (a host unit: no lid line at all) still shows it, until provisioning
        again = board_app(root)
        assert again.status.faults & again.status.FAULT_TAMPER
        tamper.clear(root)
        assert not board_app(root).status.faults & again.status.FAULT_TAMPER
    finally:
        ds.rmtree(root)


def test_a_lid_opened_while_parked_is_dated_by_the_first_fix():
    from firmware import tamper
    from firmware.board.sense import Sense

    root = ds.tmpdir("app")
    try:
        lid = Line(1)  # the lid opened while the unit slept: it wakes with the lid open
        app = board_app(root, sense=Sense(Clock(), lid=lid))
        app.run(DriveUart(app, ds.T_DRIVE + 60, 5, None), 10**6, None, 3)
        log = tamper.TamperLog(root)
        assert log.count == 1 and log.first == ds.T_DRIVE + 60 and log.open
        # another boot with the lid still open: the same event, not a new one
        again = board_app(root, sense=Sense(Clock(), lid=lid))
        again.run(DriveUart(again, ds.T_DRIVE + 600, 5, None), 10**6, None, 3)
        assert tamper.TamperLog(root).count == 1
    finally:
        ds.rmtree(root)


class _Loaded(Exception):
    pass


class _NotToBeLoaded:
    """Stands in sys.modules for a module that must not be imported: any use raises."""

    def __getattr__(self, name):
        raise _Loaded("a module that should stay out was used for " + name)


def _tripwired(name, fn):
    """``fn()`` with module ``name`` replaced in sys.modules by a tripwire (_NotToBeLoaded),
    put back as it was after."""
    import sys

    real = sys.modules.get(name)
    sys.modules[name] = _NotToBeLoaded()
    try:
        return fn()
    finally:
        if real is None:
            sys.modules.pop(name, None)
        else:
            sys.modules[name] = real


def test_a_sync_without_disputes_does_not_load_the_dispute_handler():
    from firmware.ledger import atomic
    from firmware.uplink.http import HttpClient
    from protocol import cbor
    from tests.firmware.uplink_fixtures import HOST, PORT, FakeNet, json_error, response

    root = ds.tmpdir("app")
    try:
        app = make_app(root)
        app.gnss_time = ds.T_DRIVE
        net = FakeNet(
            response(200, cbor.encode([]), "application/cbor"),  # nothing listed
            json_error(404, "not_found"),  # a backend without disputes
            json_error(503, "unavailable"),  # the poll fails: kept as the sync's error
            response(200, cbor.encode([]), "application/cbor"),
        )
        client = HttpClient(HOST, PORT, connect=net)

        def polls():
            for _ in range(2):
                summary = {"errors": []}
                app.handle_disputes(summary, client)
                assert summary["disputes"] == [] and summary["errors"] == []
            summary = {"errors": []}
            app.handle_disputes(summary, client)
            assert summary["disputes"] == [] and summary["errors"][0].status == 503
            for raw in net.sent():  # each poll a signed GET
                assert raw.startswith(b"GET /api/v1/obu/disputes ") and b"QM-Signed-Request" in raw
            # A unit that has had a dispute runs the handler at every sync (waiting answers,
            # confirmed uploads, the status): the tripwire goes off.
            atomic.ensure_dir(root + "/disputes")
            raises(_Loaded, app.handle_disputes, {"errors": []}, client)

        _tripwired("firmware.disputes", polls)
    finally:
        ds.rmtree(root)


def test_challenges_are_answered_without_the_chain_code():
    """The responder finds envelopes from the registry's files: the statement chain
    (firmware.state, ~3.4 KB at 64 bits) stays out at a sync's fullest point."""
    from firmware.uplink.http import HttpClient
    from tests.firmware.uplink_fixtures import HOST, PORT, FakeNet, response

    root = ds.tmpdir("app")
    try:
        app = make_app(root)
        app.gnss_time = ds.T_DRIVE
        app._state = None  # as after the upload (release_state)
        net = FakeNet(response(204, b""))  # nothing to answer
        summary = {"errors": []}
        client = HttpClient(HOST, PORT, connect=net)
        _tripwired("firmware.state", lambda: app.answer_challenges(summary, client))
        assert summary["answered"] == 0 and summary["errors"] == [], summary
        assert net.sent()[0].startswith(b"GET /api/v1/obu/challenges")
    finally:
        ds.rmtree(root)
