"""The OBU application: wires injected board objects to the pipeline (DESIGN §3, §5).

    UART bytes ─► gnss.NmeaParser ─► odometry.Odometer ─► segments.Segmenter ─► accounting
      (commit + encrypted ledger) ─► at period end statement.seal_period ─► uplink.Outbox
      (receipt) ; uplink polls challenges ─► challenges.ChallengeResponder (one opening each)
      ; uplink polls disputes ─► disputes.DisputeHandler (the driver confirms on the unit, then
      every opening of the period, in batches)

Everything with a side effect is injected (STYLE: micropython-lib drivers): the filesystem
root, the signer (software or ATECC608), the RNG, the socket connector and the status
outputs, the driver's confirmation input for disputes (firmware/board/confirm.py), and on the
device the network link (``net``: ``network_up``/``network_down`` around each sync's network
phase, firmware/board/net.py) and the sense lines (``sense``: ignition, power fail, the lid;
firmware/board/sense.py). The host passes neither: its sockets need no bring-up, and it has no
ignition (always on), no hold-up stage and no lid.

Power (``sense``): the ignition off for ``power.ignition_off_s`` → :meth:`App.park` closes the
open segment, syncs once and hands over to the board's deep sleep, which wakes on the ignition
(a wake boots the unit as usual). A power-fail edge → the open segment is closed and the ledger
checkpointed at once, the radio is switched off (a sync in progress stops at its next step, as
if the power had been cut there), then the unit waits for power or the end of the hold-up. An
opened lid is recorded (firmware/tamper.py) and shown as the fault ``tamper``.
``firmware/board/esp32.py`` and ``firmware/board/host.py`` build them; ``main.py``
(device) and ``firmware/host_main.py`` (unix port) run :meth:`App.run`.

Time is GNSS time only (the last accepted fix), never the RTC: until the receiver has given a
dated fix the unit neither seals nor signs requests.

Heap (DESIGN §8; firmware/README.md "Memory"): on the device, imported code lives on the heap,
and the driving path (parser, odometer, segmenter, commit), the policy verifier (boot, policy
installs) and the network path (sealing, uplink, challenges) are never needed at the same
instant. So the App imports each phase's modules when the phase starts and — with ``unload``,
the default under MicroPython — removes them from ``sys.modules`` when it ends, so that their
code leaves the heap: at boot the policies are verified before the driving modules are even
imported, and :meth:`App.sync` unloads the sealing code before the uplink's and everything of
the network phase before driving resumes. Only modules that no resident module refers to may be
listed in ``_NETWORK_MODULES`` (a module reloaded while an old copy lives on would have two
copies of its classes); the signer must not hold one either (firmware.board.host).
"""

import gc
import os
import sys

# Modules the driving loop never needs: the config file's checks and the policy verifier's (boot,
# installs) and the network phase's (sealing, uplink, challenges). Unloaded after boot and after
# every sync on the device.
_NETWORK_MODULES = (
    "firmware.config_check",
    "firmware.policy_install",
    "firmware.statement",
    "firmware.challenges",
    "firmware.disputes",
    "firmware.opening",
    "firmware.uplink.outbox",
    "firmware.uplink.http",
    "firmware.uplink.sealed",
    "firmware.uplink.signed",
    "firmware.uplink",
    "protocol.envelopes",
    "protocol.cose",
    "protocol.p256",
    "protocol.messages",
    "protocol.exchange",
    "protocol.fields",
    "protocol.tariff_rules",
    "protocol.cbor_decode",
)
# The commit path (firmware.accounting imports it with the first segment): out of the way while
# a sync runs, back with the next segment.
_COMMIT_MODULES = (
    "firmware.commit",
    "protocol.pedersen",
    "protocol.ristretto",
)

# Modules whose names are interned at boot (intern_names): every sync loads them again.
_INTERNED_AT_BOOT = (
    "firmware.commit",
    "firmware.statement",
    "firmware.uplink.outbox",
    "firmware.uplink.http",
    "firmware.challenges",
)


# Look for the next tariff policy when the current one ends within this many seconds.
POLICY_REFRESH_S = 7 * 86400


class PowerLost(Exception):
    """The input power failed during a sync: the sync stops at its next step (its steps are
    crash-safe, so stopping between them is no worse than a power cut there)."""


class _Clock:
    """GNSS time as the uplink expects it: ``now()`` → Unix seconds or None."""

    def __init__(self, app):
        self.app = app

    def now(self):
        return self.app.gnss_time


class App:
    """One OBU. ``cfg`` a firmware.config.Config; ``root`` its flash directory."""

    def __init__(
        self,
        cfg,
        root,
        signer,
        rng=None,
        connect=None,
        status_outputs=(),
        segment_config=None,
        odometer_config=None,
        unload=None,
        confirm=None,
        watchdog=None,
        net=None,
        sense=None,
    ):
        self.cfg = cfg
        self.root = root
        self.signer = signer
        self.rng = rng if rng is not None else os.urandom
        self.connect = connect
        self.confirm = confirm  # the driver's answer to disputes (board); None: never asked
        # The board's hardware watchdog (an object with feed()), fed by the main loop and
        # between the steps of a sync: a hung unit resets and its ledger repair runs at boot.
        self.watchdog = watchdog
        self.net = net  # network_up/network_down around a sync's network phase (None: host)
        self.sense = sense  # ignition, power fail, lid (None: the host has none of them)
        self._holdup = False  # the input power failed: running from the hold-up capacitors
        self._in_sync = False
        self._lid_open = None  # the lid as last recorded (None: not looked at yet)
        self._tamper_undated = False
        # Unloading is for MicroPython's heap (default on); CPython has no budget and keeps its
        # modules whatever ``unload`` says (other code in the process holds the same modules).
        self.unload = unload is not False and sys.implementation.name == "micropython"
        self.gnss_time = None
        self.clock = _Clock(self)
        # Each phase's imports happen here, in order, so that boot's peak is one phase's code.
        from firmware.status import Status

        self.status = Status(status_outputs)
        from firmware.ledger.atomic import exists

        if exists(root + "/tamper"):  # a tamper record stays a fault until provisioning
            self._tamper(None)
        # Outputs that animate (LED blink patterns) get a millisecond tick from the run loop.
        self._tickers = [o for o in status_outputs if hasattr(o, "tick")]
        # Policies first: verifying them loads the P-256, COSE and policy-decoding code, which
        # leaves the heap again before the driving modules come in.
        from firmware.policy import PolicyStore

        self.policies = PolicyStore(
            root, cfg.authority_public_key, clock=self.clock.now, vehicle_class=cfg.vehicle_class
        )
        if self.unload:
            unload_modules(_NETWORK_MODULES)
            intern_names(_INTERNED_AT_BOOT)
        from firmware.accounting import Accounting
        from firmware.ledger import Store
        from firmware.state import ChainState

        self.store = Store(root, self.rng)
        self.accounting = Accounting(self.store, self.rng, period_of=cfg.period_of, root=root)
        self.state = ChainState(root, cfg.chain_next_seq, cfg.chain_prev_hash)
        self.state.recover()
        from firmware.gnss.nmea import NmeaParser
        from firmware.odometry import Odometer
        from firmware.segments import SegmentConfig, Segmenter

        self.segmenter = Segmenter(
            self.policies,
            cfg.vehicle_class,
            self._on_segment,
            segment_config if segment_config is not None else SegmentConfig(),
            period_of=cfg.period_of,
        )
        self.odometer = Odometer(self.segmenter.step, self.segmenter.gap, odometer_config)
        self.parser = NmeaParser(self._on_fix, min_unix=cfg.gnss_min_unix)
        self.sealed = []  # (seq, statement_hash) sealed during this run
        self.sync_errors = []

    # --- driving path -------------------------------------------------------------------

    def feed(self, data):
        """Bytes from the GNSS UART."""
        self.parser.feed(data)

    def _on_fix(self, fix):
        self.status.set_fix(bool(fix.valid))
        if fix.t is None:
            return
        if self.gnss_time is None or fix.t > self.gnss_time:
            self.gnss_time = fix.t
            self.status.set_time(fix.t)
            if self._tamper_undated:
                self._tamper(None)
        self.odometer.update(fix)
        self.segmenter.tick(fix.t)
        self.status.set_charging(self.segmenter.cur is not None)
        self.status.set_fault(
            self.status.FAULT_POLICY_MISSING, self.policies.lookup(self.gnss_time) is None
        )

    def _on_segment(self, record):
        self.accounting.add(record)

    def end_of_input(self):
        """The receiver went quiet (end of a replay, ignition off): finish what is open."""
        self.parser.flush()
        self.segmenter.close()
        self.accounting.checkpoint()

    # --- periods ------------------------------------------------------------------------

    def periods_to_seal(self, now=None):
        """Period starts that have ended by GNSS time ``now`` and are not sealed yet, in order
        (including periods without driving: the chain has no holes, SPEC §5.3)."""
        now = self.gnss_time if now is None else now
        if now is None:
            return []
        current = self.cfg.period_of(now)
        start = self.state.last_period_end
        if start is None:
            periods = [p for p in self.accounting.periods() if p < current]
            if not periods:
                return []
            start = min(periods)
        out = []
        while start < current:
            out.append(start)
            start = self.cfg.period_end(start)
        return out

    def seal_due(self, now=None):
        """Seal every ended period; returns the new (seq, statement_hash) pairs."""
        from firmware.statement import seal_period

        done = []
        for start in self.periods_to_seal(now):
            if self.segmenter.cur is not None and self.segmenter.cur.key[0] == start:
                self.segmenter.close()
            seq, _path, h = seal_period(
                self.accounting,
                self.state,
                start,
                self.cfg.period_end(start),
                self.cfg.obu_id,
                self.signer,
            )
            done.append((seq, h))
        self.sealed.extend(done)
        return done

    # --- retention ----------------------------------------------------------------------

    def purge_expired(self, now=None):
        """Destroy the trace records of every statement whose receipt has been held for
        longer than the retention window (DESIGN §2.4): the period's ledger key is destroyed
        first (cryptographic deletion), then its file. The signed statement and receipt stay:
        they are the driver's proof of payment and hold no trace. Returns the purged periods.
        """
        now = self.gnss_time if now is None else now
        if now is None:
            return []
        window = self.cfg.retention_days * 86400
        held = set(self.accounting.periods())
        disputed = self._disputed_periods()
        purged = []
        for seq in self.state.statement_seqs():
            m = self.state.meta(seq)
            if m is None or not m.receipt_held or m.received_at is None:
                continue
            if m.period_start in disputed:
                continue  # the driver is being asked, or its openings are going up: keep it
            if m.period_start in held and now - m.received_at > window:
                self.accounting.destroy(m.period_start)
                purged.append(m.period_start)
        return purged

    def _disputed_periods(self):
        """Periods that a dispute still needs: waiting for the driver, or confirmed and
        uploading (firmware.disputes). Retention waits for them to finish."""
        try:
            os.stat(self.root + "/disputes")
        except OSError:
            return ()  # no dispute ever: the disputes code stays out of the heap
        from firmware.disputes import CONFIRMED, WAITING, records

        return [d.period_start for d in records(self.root) if d.state in (WAITING, CONFIRMED)]

    # --- network path -------------------------------------------------------------------

    def client(self):
        from firmware.uplink.http import HttpClient

        _scheme, host, port, base = self.cfg.url
        kw = {}
        if self.connect is not None:
            kw["connect"] = self.connect
        return HttpClient(host, port, base_path=base, **kw)

    def sync(self):
        """Seal what is due, upload statements, answer challenges. Returns a summary dict."""
        summary = {"sealed": 0, "uploaded": 0, "answered": 0, "purged": 0, "errors": []}
        summary["opened"] = 0  # dispute openings accepted (firmware.disputes)
        summary["disputes"] = []  # (dispute id hex, state, next index, segment count)
        self._in_sync = True
        try:
            if self.unload:
                unload_modules(_COMMIT_MODULES)
            summary["sealed"] = len(self.seal_due())
            self.feed_watchdog()
            if self.unload:  # the sealing code (and a last segment's commit) out: uplink next
                unload_modules(_NETWORK_MODULES + _COMMIT_MODULES)
            if self.connect is not None or self.cfg.network_kind != "none":
                if self._link_up(summary):
                    try:
                        self._network(summary)
                    finally:
                        self._link_down()
            summary["purged"] = len(self.purge_expired())
        except PowerLost as e:
            summary["errors"].append(e)
        finally:
            self._in_sync = False
            if self.unload:
                unload_modules(_NETWORK_MODULES)
        return summary

    def _link_up(self, summary):
        """The board's network bring-up (Wi-Fi join, modem + PPP); False, with the reason in
        the summary's errors, when it failed: the next sync tries again, and everything to
        upload stays on flash until then."""
        net = self.net
        if net is None or self.cfg.network_kind == "none":
            return True
        ok = net.network_up(getattr(self.cfg, "network_timeout_s", 30) * 1000)
        self.status.set_fault(self.status.FAULT_NETWORK, not ok and net.service)
        if not ok:
            err = net.error if net.error is not None else OSError("network down")
            summary["errors"].append(err)
            self.status.upload_attempt(self.gnss_time, False, getattr(err, "code", "network"))
        return ok

    def _link_down(self):
        if self.net is not None and self.cfg.network_kind != "none":
            try:
                self.net.network_down()
            except OSError:
                pass  # the radio's state is the board's; the next bring-up starts over

    def _network(self, summary):
        client = self.client()
        self._fetch_policy(client, summary)
        self.feed_watchdog()
        self.upload(summary, client)
        if self.unload:  # the outbox's code out before the challenge responder's comes in
            unload_modules(("firmware.uplink.outbox",))
        self.feed_watchdog()
        self.answer_challenges(summary, client)
        self.feed_watchdog()
        self.handle_disputes(summary, client)

    def feed_watchdog(self):
        """Feed the hardware watchdog, and look at the power-fail line: called by the loop and
        between the steps of a sync (a sync stops at a power fail: PowerLost)."""
        if self.watchdog is not None:
            self.watchdog.feed()
        if self.sense is not None and not self._holdup and self.sense.power_failed():
            self.power_lost()
            if self._in_sync:
                raise PowerLost("input power failed")

    # --- power and lid (the board's sense lines) ------------------------------------------

    def power_lost(self):
        """The input power is gone (the hold-up stage's power-fail line): commit the open
        segment and checkpoint now, and switch the radio off to stretch the hold-up."""
        self._holdup = True
        self.end_of_input()
        self._link_down()

    def _ride_out(self):
        """Wait for input power (or for the hold-up to run out, which ends the unit here)."""
        self.sense.wait_power(self._feed_only)
        self._holdup = False

    def _feed_only(self):
        if self.watchdog is not None:
            self.watchdog.feed()

    def park(self):
        """Ignition off: close the open segment, sync once (the network permitting), then the
        board's deep sleep, which wakes on the ignition (on the device this does not return)."""
        self.end_of_input()
        summary = self.sync()
        self.sense.park()
        return summary

    def _check_lid(self):
        s = self.sense
        opened = s.lid_opened()
        now_open = s.lid_open()
        if opened or now_open != self._lid_open:
            self._tamper(now_open, opened)

    def _tamper(self, now_open, opened=False):
        """Record the lid (firmware/tamper.py; ``now_open`` None: only load the record and date
        undated events) and keep the fault ``tamper`` while a record exists."""
        from firmware import tamper

        count, self._tamper_undated = tamper.seen(self.root, now_open, opened, self.gnss_time)
        if now_open is not None:
            self._lid_open = now_open
        if count:
            self.status.set_fault(self.status.FAULT_TAMPER)
        if self.unload:
            unload_modules(("firmware.tamper",))

    def upload(self, summary, client=None):
        """Submit the sealed statements that have no receipt yet (firmware.uplink.outbox)."""
        from firmware.uplink.outbox import Outbox
        from firmware.uplink.sealed import StatementFiles

        outbox = Outbox(
            self.root,
            client if client is not None else self.client(),
            self.cfg.authority_public_key,
            self.clock,
            self.rng,
            files=StatementFiles(self.root, chain=self.state),
            status=self.status,
        )
        summary["uploaded"] = outbox.run()
        if outbox.last_error is not None:
            summary["errors"].append(outbox.last_error)

    def answer_challenges(self, summary, client=None):
        """Poll for challenges page by page and answer them (firmware.challenges); counts
        only, no list of results (a sync may handle hundreds)."""
        from firmware.challenges import ChallengeResponder
        from firmware.uplink.sealed import StatementFiles

        responder = ChallengeResponder(
            self.root,
            client if client is not None else self.client(),
            self.signer,
            self.cfg.obu_id,
            self.cfg.authority_public_key,
            self.clock,
            store=self.store,
            rng=self.rng,
            files=StatementFiles(self.root, chain=self.state),
            status=self.status,
        )
        responder.run(collect=False)
        summary["answered"] = responder.handled
        if responder.last_error is not None:
            summary["errors"].append(responder.last_error)

    def handle_disputes(self, summary, client=None):
        """Poll for dispute requests, take the driver's answers, upload confirmed periods
        (firmware.disputes). The challenge responder's code goes first: openings are built
        with firmware.opening alone. A unit that never had a dispute and is sent none — nearly
        every unit at nearly every sync — does not load the dispute handler at all."""
        if self.unload:
            unload_modules(("firmware.challenges",))
        from firmware.ledger.atomic import exists
        from firmware.uplink import UplinkError
        from firmware.uplink.signed import poll_disputes

        client = client if client is not None else self.client()
        listed = error = None
        try:
            listed = poll_disputes(client, self.signer, self.clock.now(), self.rng)
        except UplinkError as e:
            error = e
        if not listed and not exists(self.root + "/disputes"):
            summary["disputes"] = []
            if error is not None:
                summary["errors"].append(error)
            return
        from firmware.disputes import DisputeHandler
        from firmware.uplink.sealed import StatementFiles

        cfg = self.cfg
        handler = DisputeHandler(
            self.root,
            client,
            self.signer,
            cfg.obu_id,
            cfg.authority_public_key,
            self.clock,
            store=self.store,
            rng=self.rng,
            files=StatementFiles(self.root, chain=self.state),
            confirm=self.confirm,
            policy=getattr(cfg, "dispute_confirm", "ask"),
            status=self.status,
            batch_bytes=getattr(cfg, "dispute_batch_bytes", 16384),
            batches_per_sync=getattr(cfg, "dispute_batches_per_sync", 4),
            feed=self.feed_watchdog,
        )
        known = handler.run(listed, error)
        summary["opened"] = summary.get("opened", 0) + handler.opened
        summary["disputes"] = [(d.id_hex, d.state, d.next_index, d.segment_count) for d in known]
        if handler.last_error is not None:
            summary["errors"].append(handler.last_error)

    def _fetch_policy(self, client, summary):
        """Fetch the authority's current signed policy when the unit holds no valid one, or
        the current one ends within POLICY_REFRESH_S and no successor is held. The policy
        store verifies it; a bad one is refused and the old one kept."""
        now = self.gnss_time
        if now is None:
            return
        held = self.policies.lookup(now)
        if held is not None and (
            self.policies.next is not None or held[0].valid_until - now > POLICY_REFRESH_S
        ):
            return
        from firmware.uplink import PATH_POLICY

        try:
            resp = client.get(PATH_POLICY)
        except Exception as e:  # noqa: BLE001 - a failed fetch is retried at the next sync
            summary["errors"].append(e)
            return
        if resp.status != 200 or not resp.body:
            return
        from firmware.policy import PolicyRefused

        try:
            self.policies.install(resp.body, now)
            summary["policy"] = 1
        except (ValueError, PolicyRefused) as e:  # the protocol's and the store's refusals
            summary["errors"].append(e)

    # --- main loop ----------------------------------------------------------------------

    def run(self, uart, sync_every_s=300, sleep_ms=None, max_idle_reads=None):
        """Read the GNSS UART forever (or until ``max_idle_reads`` empty reads in a row: the end
        of a replay; or until the ignition goes off: :meth:`park`), syncing every
        ``sync_every_s`` seconds of GNSS time. Returns the last sync's summary."""
        last_sync = None
        idle = 0
        while True:
            self.feed_watchdog()
            if self.sense is not None:
                if self._holdup:
                    self._ride_out()
                self._check_lid()
                if self.sense.ignition_off():
                    return self.park()
            if self._tickers:
                ms = _ticks_ms()
                for out in self._tickers:
                    out.tick(ms)
            data = uart.read()
            if data:
                idle = 0
                self.feed(data)
            else:
                idle += 1
                if max_idle_reads is not None and idle >= max_idle_reads:
                    break
                if sleep_ms:
                    _sleep_ms(sleep_ms)
            t = self.gnss_time
            if t is not None and (last_sync is None or t - last_sync >= sync_every_s):
                last_sync = t
                self.sync()
                self.feed_watchdog()
                gc.collect()
        self.end_of_input()
        return self.sync()


def intern_names(modules):
    """Import each of ``modules`` (and what it imports) once and unload it again, for its
    names: MicroPython interns every name of a module in qstr pools that are never freed, and
    when a pool is full the next is twice its size, one contiguous block (1,280 entries, 9 KB
    on the ESP32, after the first 1,270 names). Met for the first time late in the day, in a
    heap that long-lived objects have spread across, such a block may not be found even with
    plenty free; met here, at boot, the heap is nearly empty. The names are interned at the
    first sync anyway, so this costs no memory, only the import time."""
    for name in modules:
        before = set(sys.modules)
        __import__(name)
        unload_modules([m for m in sys.modules if m not in before])


def unload_modules(names):
    """Drop modules from sys.modules so their code can be collected (MicroPython heap)."""
    for name in names:
        if name in sys.modules:
            del sys.modules[name]
            parent, _, child = name.rpartition(".")
            mod = sys.modules.get(parent)
            if mod is not None and hasattr(mod, child):
                try:
                    delattr(mod, child)
                except (AttributeError, TypeError):
                    pass
    gc.collect()


def _ticks_ms():
    import time

    if hasattr(time, "ticks_ms"):
        return time.ticks_ms()
    return int(time.monotonic() * 1000)


def _sleep_ms(ms):
    import time

    if hasattr(time, "sleep_ms"):
        time.sleep_ms(ms)
    else:
        time.sleep(ms / 1000)
