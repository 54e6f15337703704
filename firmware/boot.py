"""Device boot (/boot.py): runs before main.py on every reset.

Keeps boot minimal: the CPU at full speed for the commitments. The hardware watchdog is started
by main.py once the configuration has loaded (firmware.board.esp32.watchdog) and fed by the
App's loop and between the steps of a sync, so a hung unit resets and the ledger's boot-time
repair runs. It is not started here: an ESP32 watchdog cannot be stopped, and a unit whose
configuration is refused must stay stopped with its red LED on rather than reset every two
minutes.
"""

import machine  # type: ignore[import-not-found]

machine.freq(240000000)
