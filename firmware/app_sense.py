"""The App's answers to the board's sense lines (firmware/app.py): a power fail, waiting for
power, the lid. Imported when one happens (a tamper record at boot, a lid event, a power-fail
edge), never while a unit in good order drives; the tamper code is unloaded after each use."""


def power_lost(app):
    """App.feed_watchdog saw the input power go (the hold-up stage's power-fail line): commit
    the open segment and checkpoint now, and switch the radio off to stretch the hold-up."""
    from firmware.app_network import link_down

    app._holdup = True
    if app._stowed is None:  # else the sync ends first, which closes it (app_sync.sync)
        app.end_of_input()
    link_down(app)


def ride_out(app):
    """Wait for input power (or for the hold-up to run out, which ends the unit here)."""

    def feed():
        if app.watchdog is not None:
            app.watchdog.feed()

    app.sense.wait_power(feed)
    app._holdup = False


def record_lid(app, now_open, opened=False):
    """Record the lid (firmware/tamper.py; ``now_open`` None: only load the record and date
    undated events) and keep the fault ``tamper`` while a record exists."""
    from firmware import tamper

    count, app._tamper_undated = tamper.seen(app.root, now_open, opened, app.gnss_time)
    if now_open is not None:
        app._lid_open = now_open
    if count:
        app.status.set_fault(app.status.FAULT_TAMPER)
    if app.unload:
        from firmware.app import unload_modules

        unload_modules(("firmware.tamper", "firmware.app_sense"))
