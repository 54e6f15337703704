"""A sync's steps (firmware/app.py): seal, retention, the network phase.

Imported when a sync starts (App.sync, App.purge_expired, App.handle_disputes) and unloaded with
the network phase's modules when it ends: none of this runs while driving, so it need not stay
on the heap. ``firmware.app`` offers PowerLost and POLICY_REFRESH_S by name as before.
"""

import os

from firmware.app import _COMMIT_MODULES, _NETWORK_MODULES, release_state, unload_modules

# Look for the next tariff policy when the current one ends within this many seconds.
POLICY_REFRESH_S = 7 * 86400


class PowerLost(Exception):
    """The input power failed during a sync: the sync stops at its next step (its steps are
    crash-safe, so stopping between them is no worse than a power cut there)."""


def sync(app):
    """App.sync: seal what is due, purge what retention allows, upload statements, answer
    challenges; a summary dict.

    Where the App unloads, the driving objects go aside (firmware/stow.py) in two steps, so
    that the driving code and a sync's code are never on the heap together: the parser,
    odometer, segmenter and policy store before sealing (the open segment closed first when
    its period is sealed), the accounting, which sealing and retention use, before the
    uplink's code comes in. When the tariff policy is to be fetched, the store installs it:
    then everything stays in place until the fetch is done."""
    summary = {"sealed": 0, "uploaded": 0, "answered": 0, "purged": 0, "errors": []}
    summary["opened"] = 0  # dispute openings accepted (firmware.disputes)
    summary["disputes"] = []  # (dispute id hex, state, next index, segment count)
    app._in_sync = True
    try:  # (App.sync dropped the commit path before this module came in)
        network = app.connect is not None or app.cfg.network_kind != "none"
        fetch = network and _policy_due(app)
        # (the chain state, which periods_to_seal loads, only where no uplink follows: the
        # stow comes in before it)
        if app.unload and not fetch and (network or app.periods_to_seal()):
            _close_ended_segment(app)
            _stow(app, True)
        summary["sealed"] = len(app.seal_due())
        app.feed_watchdog()
        summary["purged"] = len(purge_expired(app))
        if app.unload:
            drop_sealing_code()
        if network and link_up(app, summary):
            try:
                _network(app, summary, fetch)
            finally:
                link_down(app)
                _unstow(app)
    except PowerLost as e:
        summary["errors"].append(e)
    finally:
        app._in_sync = False
        _unstow(app)
        if app.unload:
            unload_modules(_NETWORK_MODULES)
        release_state(app)  # after the network code, which holds the chain's classes
    return summary


def _close_ended_segment(app):
    """Close the open segment when its period has ended (App.seal_due would, sealing that
    period), before the segmenter goes aside; its commit code out again after."""
    cur = app.segmenter.cur
    now = app.gnss_time
    if cur is not None and now is not None and cur.key[0] < app.cfg.period_of(now):
        app.segmenter.close()
        unload_modules(_COMMIT_MODULES)


def _stow(app, driving=False):
    """The driving objects aside (stow.py): with ``driving`` all but the accounting, else
    all that are still in place; the stow code out again after."""
    from firmware.stow import ATTRS, DRIVING, stow

    try:
        stow(app, DRIVING if driving else ATTRS)
    except Exception:  # noqa: BLE001 - nothing changed: the sync runs with the objects in place
        pass
    unload_modules(("firmware.stow",))  # imported again by unstow: nothing of it is kept


def _unstow(app):
    """The driving objects back (firmware/stow.py), once the network phase's code has gone."""
    if app._stowed is None:
        return
    if app.unload:  # first: a module more in sys.modules could regrow its table (752 B)
        drop_sealing_code()
    from firmware.unstow import unstow  # (the sync's end drops it again)

    unstow(app)
    if app._holdup:  # the power failed while they were stowed (app_sense.power_lost)
        app.end_of_input()


def drop_sealing_code():
    """The sealing code (and a last segment's commit) out before the uplink's comes in. Not
    this module: App.feed_watchdog raises this module's PowerLost, which the running sync's
    ``except`` must still recognise."""
    unload_modules([m for m in _NETWORK_MODULES + _COMMIT_MODULES if m != __name__])


def link_up(app, summary):
    """The board's network bring-up (Wi-Fi join, modem + PPP); False, with the reason in
    the summary's errors, when it failed: the next sync tries again, and everything to
    upload stays on flash until then."""
    net = app.net
    if net is None or app.cfg.network_kind == "none":
        return True
    ok = net.network_up(getattr(app.cfg, "network_timeout_s", 30) * 1000)
    app.status.set_fault(app.status.FAULT_NETWORK, not ok and net.service)
    if not ok:
        err = net.error if net.error is not None else OSError("network down")
        summary["errors"].append(err)
        app.status.upload_attempt(app.gnss_time, False, getattr(err, "code", "network"))
    return ok


def link_down(app):
    if app.net is not None and app.cfg.network_kind != "none":
        try:
            app.net.network_down()
        except OSError:
            pass  # the radio's state is the board's; the next bring-up starts over


def _network(app, summary, fetch):
    # The driving objects and their code go aside until the sync ends (stow.py) before the
    # uplink's code comes in — after the policy fetch when there is one, which needs them.
    if app.unload and not fetch:
        _stow(app)
    client = app.client()
    if fetch:
        _fetch_policy(app, client, summary)
        if app.unload:
            _stow(app)
    app.feed_watchdog()
    app.upload(summary, client)
    if app.unload:  # the outbox's code out before the challenge responder's comes in
        unload_modules(("firmware.uplink.outbox",))
    app.feed_watchdog()
    app.answer_challenges(summary, client)
    app.feed_watchdog()
    handle_disputes(app, summary, client)


def purge_expired(app, now=None):
    """App.purge_expired: destroy the trace records whose retention window has passed."""
    now = app.gnss_time if now is None else now
    if now is None:
        return []
    window = app.cfg.retention_days * 86400
    held = set(app.accounting.periods())
    disputed = _disputed_periods(app)
    purged = []
    for seq in app.state.statement_seqs():
        m = app.state.meta(seq)
        if m is None or not m.receipt_held or m.received_at is None:
            continue
        if m.period_start in disputed:
            continue  # the driver is being asked, or its openings are going up: keep it
        if m.period_start in held and now - m.received_at > window:
            app.accounting.destroy(m.period_start)
            purged.append(m.period_start)
    return purged


def _disputed_periods(app):
    """Periods that a dispute still needs: waiting for the driver, or confirmed and
    uploading (firmware.disputes). Retention waits for them to finish."""
    try:
        os.stat(app.root + "/disputes")
    except OSError:
        return ()  # no dispute ever: the disputes code stays out of the heap
    from firmware.disputes import CONFIRMED, WAITING, records

    return [d.period_start for d in records(app.root) if d.state in (WAITING, CONFIRMED)]


def handle_disputes(app, summary, client=None):
    """App.handle_disputes: poll for dispute requests, take the driver's answers, upload
    confirmed periods (firmware.disputes)."""
    if app.unload:
        unload_modules(("firmware.challenges",))
    from firmware.ledger.atomic import exists
    from firmware.uplink import UplinkError
    from firmware.uplink.signed import poll_disputes

    client = client if client is not None else app.client()
    listed = error = None
    try:
        listed = poll_disputes(client, app.signer, app.clock.now(), app.rng)
    except UplinkError as e:
        error = e
    if not listed and not exists(app.root + "/disputes"):
        summary["disputes"] = []
        if error is not None:
            summary["errors"].append(error)
        return
    from firmware.disputes import DisputeHandler
    from firmware.uplink.sealed import StatementFiles

    cfg = app.cfg
    handler = DisputeHandler(
        app.root,
        client,
        app.signer,
        cfg.obu_id,
        cfg.authority_public_key,
        app.clock,
        store=app.store,
        rng=app.rng,
        files=StatementFiles(app.root, chain=app.state),
        confirm=app.confirm,
        policy=getattr(cfg, "dispute_confirm", "ask"),
        status=app.status,
        batch_bytes=getattr(cfg, "dispute_batch_bytes", 16384),
        batches_per_sync=getattr(cfg, "dispute_batches_per_sync", 4),
        feed=app.feed_watchdog,
    )
    known = handler.run(listed, error)
    summary["opened"] = summary.get("opened", 0) + handler.opened
    summary["disputes"] = [(d.id_hex, d.state, d.next_index, d.segment_count) for d in known]
    if handler.last_error is not None:
        summary["errors"].append(handler.last_error)


def _policy_due(app):
    """Is the authority's current policy to be fetched? When the unit holds no valid one,
    or the current one ends within POLICY_REFRESH_S and no successor is held (and the
    time is known)."""
    now = app.gnss_time
    if now is None:
        return False
    held = app.policies.lookup(now)
    return held is None or (
        app.policies.next is None and held[0].valid_until - now <= POLICY_REFRESH_S
    )


def _fetch_policy(app, client, summary):
    """Fetch the authority's current signed policy (_policy_due). The policy store
    verifies it; a bad one is refused and the old one kept."""
    now = app.gnss_time
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
        app.policies.install(resp.body, now)
        summary["policy"] = 1
    except (ValueError, PolicyRefused) as e:  # the protocol's and the store's refusals
        summary["errors"].append(e)
