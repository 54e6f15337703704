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
