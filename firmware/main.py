"""Device entry point (copied to the ESP32's root as /main.py; boot.py runs first).

Loads /config.json, builds the board objects and runs the OBU forever. A config error is shown
on the red LED and printed to the USB console, and the unit stops: an OBU that charges under
a wrong configuration is worse than one that visibly does not work.
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
    root = esp32.ensure_root()
    esp32.connect_network(cfg)
    wdt.feed()
    app = App(
        cfg,
        root,
        esp32.make_signer(root),
        status_outputs=esp32.status_outputs(),
        confirm=esp32.confirm_input(),
        watchdog=wdt,
    )
    try:
        app.run(esp32.Esp32Uart(cfg.gnss_baud), sync_every_s=300, sleep_ms=50)
    except Exception as e:
        sys.print_exception(e)
        raise


main()
