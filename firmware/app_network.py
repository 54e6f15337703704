"""A sync's later steps (firmware/app_sync.py): retention, the network link, the network phase
(uplink, challenges, disputes) and the policy fetch.

Imported by the sync once the driving objects have gone aside (firmware/stow.py), not with
app_sync.py: a sync's start, where the stow runs, is the day's tightest moment, and what runs
there is only app_sync.py's (firmware/README.md "Memory"). Unloaded with the network phase.
"""

import os

from firmware.app import unload_modules
from firmware.app_sync import _stow


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


def network_phase(app, summary, fetch):
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
