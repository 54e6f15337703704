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
copies of its classes); the signer must not hold one either (firmware.board.host). The driving
objects themselves — parser, odometer, segmenter, policy store, accounting — are instances that
would keep the driving modules' code on the heap through a sync: the sync stows them as bytes
(firmware/stow.py) — all but the accounting before sealing, the accounting before the uplink —
and rebuilds them after the network code has gone, and the statement chain
(:attr:`App.state`) is loaded only while a sync needs it.
"""

import gc
import os
import sys

from protocol.compat import const, lazy_names

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
    "firmware.uplink.http_tls",
    "firmware.uplink.sealed",
    "firmware.uplink.signed",
    "firmware.uplink.failures",
    "firmware.uplink",
    "firmware.challenge_refusals",
    "protocol.envelopes",
    "protocol.cose",
    "protocol.p256",
    "protocol.messages",
    "protocol.policy_wire",
    "protocol.exchange",
    "protocol.fields",
    "protocol.tariff_rules",
    "protocol.cbor_decode",
    "firmware.app_sync",
    "firmware.app_network",
    "firmware.app_sense",
    "firmware.stow",
    "firmware.unstow",
    "protocol.tables_p256",  # unless kept (keep_tables_if_on_heap)
)
# The commit path (firmware.accounting imports it with each segment): out again as soon as the
# segment is committed (App._on_segment), so that neither the drive between segments nor a
# sync holds it (~4 KB at 64 bits from ROMFS: the live heap at a sync's start went from 82 to
# 78 KB). A segment is committed every few minutes at most, so the import is rare work.
# The most modules loaded at once (a sync's network phase: 38, in tests/e2e's day): the
# module registry is sized for them at boot (size_module_registry).
_MOST_MODULES = const(40)
_COMMIT_MODULES = (
    "firmware.commit",
    "protocol.pedersen",
    "protocol.ristretto",
    "protocol.tables_ristretto",  # unless kept (keep_tables_if_on_heap)
)
# The precomputed tables leave with the code that uses them only where their data stays in
# flash: with the code in place (ROMFS, or frozen into the image) a table's module holds ~0.3-0.7
# KB of heap at 64 bits, and the loop from ROMFS passes 98 KB 10 times in 10 instead of 23 in
# 30. With the .mpy on a filesystem their data is on the heap (4 and 3 KB), and loading them
# again would take blocks of that size from a fragmented heap (measured when they went with
# each sync: the loop then needed 24 KB more): there they stay (keep_tables_if_on_heap).
_TABLES = ("protocol.tables_p256", "protocol.tables_ristretto")
_TABLE_ON_HEAP = const(2048)  # bytes a table's module holds when its data is on the heap
_KEPT = set()  # modules unload_modules leaves loaded


# MicroPython collects garbage only when an allocation finds no room: by then the garbage of
# the whole heap lies between the live objects, and what is allocated next for good (a module
# imported again after a sync, a rebuilt object) lands anywhere among it. Collecting after
# every 16 KB allocated keeps the garbage, and so the long-lived objects, low in the heap: the
# day's loop from ROMFS fits 116 KB instead of 120 at 64 bits, for ~15 % more CPU over the
# day (bench/heap_bench.py; the unit idles between fixes). Set by the App where it unloads.
_GC_EVERY = const(16384)
# The statement chain's code: loaded by App.state when a sync needs it, out again after.
_STATE_MODULES = ("firmware.state", "firmware.state_faults")


# A sync's steps and the answers to the sense lines are in firmware/app_sync.py (with
# firmware/app_network.py) and firmware/app_sense.py, imported when they run (the App keeps
# the public methods, which call them); PowerLost and POLICY_REFRESH_S are offered here by
# name.
TYPE_CHECKING = False
if TYPE_CHECKING:  # for mypy; at run time __getattr__ below provides them
    from firmware.app_sync import POLICY_REFRESH_S as POLICY_REFRESH_S
    from firmware.app_sync import PowerLost as PowerLost


__getattr__ = lazy_names(__name__, ("firmware.app_sync", ("PowerLost", "POLICY_REFRESH_S")))


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
        self._stowed = None  # the driving objects set aside while a sync runs (stow.py)
        # The stow files' key (stow.py): drawn now, so that a sync at any instant leaves the
        # commitments' randomness as it was, and held in RAM only; [key, files so far].
        self._stow_key = [self.rng(32), 0]
        self._lid_open = None  # the lid as last recorded (None: not looked at yet)
        self._tamper_undated = False
        # Unloading is for MicroPython's heap (default on); CPython has no budget and keeps its
        # modules whatever ``unload`` says (other code in the process holds the same modules).
        self.unload = unload is not False and sys.implementation.name == "micropython"
        self.gnss_time = None
        self.clock = _Clock(self)
        # Each phase's imports happen here, in order, so that boot's peak is one phase's code
        # (the config file's checks, loaded by config.load, go first).
        if self.unload:
            gc.threshold(_GC_EVERY)
            unload_modules(_NETWORK_MODULES)
            size_module_registry()
        from firmware.status import Status

        self.status = Status(status_outputs)
        from firmware.ledger.atomic import exists

        if exists(root + "/tamper"):  # a tamper record stays a fault until provisioning
            from firmware.app_sense import record_lid

            record_lid(self, None)
        # Outputs that animate (LED blink patterns) get a millisecond tick from the run loop.
        self._tickers = [o for o in status_outputs if hasattr(o, "tick")]
        # Policies first: verifying them loads the P-256, COSE and policy-decoding code, which
        # leaves the heap again before the driving modules come in.
        from firmware.policy import PolicyStore

        self.policies = PolicyStore(
            root, cfg.authority_public_key, clock=self.clock.now, vehicle_class=cfg.vehicle_class
        )
        if self.unload:
            unload_modules([m for m in _NETWORK_MODULES if m not in _TABLES])
            keep_tables_if_on_heap()
        from firmware.accounting import Accounting
        from firmware.ledger import Store

        self.store = Store(root, self.rng)
        self.accounting = Accounting(self.store, self.rng, period_of=cfg.period_of, root=root)
        self._state = None
        self.state  # noqa: B018 - loading the chain finishes (or forgets) a seal cut by a reset
        release_state(self)  # only syncs need the chain: the first one loads it again
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

    @property
    def state(self):
        """The statement chain (firmware.state.ChainState), loaded from flash when first
        needed; on the device :func:`release_state` drops it (and its code) between syncs."""
        if self._state is None:
            from firmware.state import ChainState

            cfg = self.cfg
            self._state = ChainState(self.root, cfg.chain_next_seq, cfg.chain_prev_hash)
        return self._state

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
                from firmware.app_sense import record_lid

                record_lid(self, None)
        self.odometer.update(fix)
        self.segmenter.tick(fix.t)
        self.status.set_charging(self.segmenter.cur is not None)
        self.status.set_fault(
            self.status.FAULT_POLICY_MISSING, self.policies.lookup(self.gnss_time) is None
        )

    def _on_segment(self, record):
        self.accounting.add(record)
        if self.unload:  # the commit path out until the next segment (_COMMIT_MODULES)
            unload_modules(_COMMIT_MODULES)

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
        seg = self.segmenter  # None when a sync stowed it (it closed the segment first)
        for start in self.periods_to_seal(now):
            if seg is not None and seg.cur is not None and seg.cur.key[0] == start:
                seg.close()
            seq, _path, h = seal_period(
                self.accounting,
                self.state,
                start,
                self.cfg.period_end(start),
                self.cfg.obu_id,
                self.signer,
            )
            done.append((seq, h))
        if done:
            self.accounting.release()
        self.sealed.extend(done)
        return done

    # --- retention ----------------------------------------------------------------------

    def purge_expired(self, now=None):
        """Destroy the trace records of every statement whose receipt has been held for
        longer than the retention window (DESIGN §2.4): the period's ledger key is destroyed
        first (cryptographic deletion), then its file. The signed statement and receipt stay:
        they are the driver's proof of payment and hold no trace. Periods a dispute still
        needs are kept. Returns the purged periods (firmware/app_network.py).
        """
        from firmware.app_network import purge_expired

        return purge_expired(self, now)

    # --- network path -------------------------------------------------------------------

    def client(self):
        from firmware.uplink.http import HttpClient

        _scheme, host, port, base = self.cfg.url
        kw = {}
        if self.connect is not None:
            kw["connect"] = self.connect
        # 256-byte reads and writes: the buffer lives through the sync's fullest moments, where
        # a 512-byte block is the hardest to find (and TCP coalesces the writes anyway).
        return HttpClient(host, port, base_path=base, chunk=256, **kw)

    def sync(self):
        """Seal what is due, upload statements, answer challenges. Returns a summary dict
        (firmware/app_sync.py, loaded for the sync and unloaded with the network phase)."""
        if self.unload:  # the commit path out before the sync's code comes in
            unload_modules(_COMMIT_MODULES)
        from firmware.app_sync import sync

        return sync(self)

    def feed_watchdog(self):
        """Feed the hardware watchdog, and look at the power-fail line: called by the loop and
        between the steps of a sync (a sync stops at a power fail: PowerLost)."""
        if self.watchdog is not None:
            self.watchdog.feed()
        if self.sense is not None and not self._holdup and self.sense.power_failed():
            from firmware.app_sense import power_lost

            power_lost(self)
            if self._in_sync:
                from firmware.app_sync import PowerLost  # the running sync's: not unloaded

                raise PowerLost("input power failed")

    # --- power and lid (the board's sense lines) ------------------------------------------

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
            from firmware.app_sense import record_lid

            record_lid(self, now_open, opened)

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
        # The chain's code out first: the responder finds envelopes from the registry's
        # files (sealed.meta_envelope), and a sync's fullest point is here (README Memory).
        release_state(self)
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
            files=StatementFiles(self.root),
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
        from firmware.app_network import handle_disputes

        handle_disputes(self, summary, client)

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
                    from firmware.app_sense import ride_out

                    ride_out(self)
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
                data = None  # not held through a sync
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


def release_state(app):
    """Drop the App's statement chain object and, on the device, its code (boot, the end of
    a sync): driving never reads it, and flash holds all of it."""
    if app.unload:  # (CPython keeps it, as it keeps its modules)
        app._state = None
        unload_modules(_STATE_MODULES)


def size_module_registry(most=_MOST_MODULES):
    """Grow ``sys.modules`` now, while the heap is whole, to the table that holds ``most``
    modules (the most a sync has loaded at once, measured: 38). A dict only ever grows, each
    time to the next size, and only when a key comes in with every slot in use: without this
    the registry grows from 37 to 47 entries (a 752-byte block at 64 bits) at the first sync
    that holds one module more, its most fragmented moment. The placeholder keys leave again;
    their slots are reused."""
    registry = sys.modules
    added = []
    while len(registry) < most:
        key = "\x00%d" % len(added)  # never a module name
        registry[key] = None
        added.append(key)
    for key in added:
        del registry[key]


def keep_tables_if_on_heap(name="protocol.tables_p256"):
    """Tell where the precomputed tables' data lies, by what dropping the P-256 table's module
    (boot's policy check has just loaded it) frees: in flash, ~0.3 KB; on the heap, its 4 KB
    byte string too. If on the heap, the tables are kept loaded from now on (_TABLES): the
    module is imported again at once, while the heap is whole. Returns the bytes freed."""
    if name not in sys.modules:  # (no policy was verified: a unit not provisioned yet)
        __import__(name)
    gc.collect()
    held = gc.mem_alloc()
    unload_modules((name,))
    held -= gc.mem_alloc()
    if held >= _TABLE_ON_HEAP:
        _KEPT.update(_TABLES)
        __import__(name)
    return held


def unload_modules(names):
    """Drop modules from sys.modules so their code can be collected (MicroPython heap); not
    those kept (_KEPT: the tables, when their data is on the heap)."""
    for name in names:
        if name in sys.modules and name not in _KEPT:
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
