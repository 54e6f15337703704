"""A sync's steps (firmware/app.py): the driving objects aside, sealing, and the driving objects
back at the end; retention and the network phase are firmware/app_network.py's.

Imported when a sync starts (App.sync) and unloaded with the network phase's modules when it
ends: none of this runs while driving, so it need not stay on the heap. What runs before the
stow, at a sync's start — the day's tightest moment — is this module alone: the later steps
come in once the driving code has gone aside (−0.9 KB there at 64 bits). ``firmware.app``
offers PowerLost and POLICY_REFRESH_S by name as before.
"""

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
        from firmware import app_network as later  # (the stow has made room for it)

        summary["purged"] = len(later.purge_expired(app))
        if app.unload:
            drop_sealing_code(("firmware.app_network",))
        if network and later.link_up(app, summary):
            try:
                later.network_phase(app, summary, fetch)
            finally:
                later.link_down(app)
                later = None  # its code goes before the driving code comes back
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


def drop_sealing_code(keep=()):
    """The sealing code (and a last segment's commit) out before the uplink's comes in. Not
    this module: App.feed_watchdog raises this module's PowerLost, which the running sync's
    ``except`` must still recognise; nor those in ``keep``."""
    unload_modules(
        [m for m in _NETWORK_MODULES + _COMMIT_MODULES if m != __name__ and m not in keep]
    )


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
