"""Device entry point (copied to the ESP32's root as /main.py; boot.py runs first).

Loads /config.json, builds the board objects and runs the OBU until the ignition goes off
(then the App parks the unit in deep sleep, and the next ignition boots it again through
here). A config error is shown on the red LED and printed to the USB console, and the unit
stops: an OBU that charges under a wrong configuration is worse than one that visibly does not
work.

Order at boot: config; watchdog; the GNSS receiver configured (UBX-CFG-VALSET, RAM layer: it
forgot everything with V_BCKP, firmware/gnss/ubx.py); the network link built but not brought
up (the App does that around each sync); the sense lines (ignition, power fail, lid) wired.
"""

import sys

from firmware import config
from firmware.app import App
from firmware.board import esp32


def main():
    try:
        cfg = config.load("/config.json")
    except config.ConfigError as e:
        print("quietmile: " + str(e))
        esp32.Led(esp32.pins.LED_RED).on()
        return
    wdt = esp32.watchdog()  # from here on a hung unit resets (fed by the App)
    print("quietmile: start (%s)" % esp32.wake_reason())
    root = esp32.ensure_root()
    uart = esp32.Esp32Uart(cfg.gnss_baud)
    if cfg.gnss_configure:
        print("quietmile: gnss config " + esp32.configure_gnss(uart, cfg, wdt.feed))
    wdt.feed()
    outputs = esp32.status_outputs()
    net = esp32.network_link(cfg, wdt.feed)
    app = App(
        cfg,
        root,
        esp32.make_signer(root),
        status_outputs=outputs,
        confirm=esp32.confirm_input(),
        watchdog=wdt,
        net=net,
        sense=esp32.sense_lines(cfg, uart, outputs),
    )
    if net is not None:
        net.feed = app.feed_watchdog  # bring-up waits also watch the power-fail line
    try:
        app.run(uart, sync_every_s=300, sleep_ms=50)
    except Exception as e:
        sys.print_exception(e)
        raise


main()
