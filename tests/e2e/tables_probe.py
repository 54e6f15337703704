"""Where the precomputed tables' data lies, as the App tells it at boot
(firmware.app.keep_tables_if_on_heap), for tests/e2e/test_heap_budget.py.

    micropython tables_probe.py [IMAGE ROOM]

from a folder holding protocol/ and firmware/ as .mpy, or with the code in place from a ROMFS
image (rom_mount.py's emulated partition). Prints the bytes the P-256 table's module held and
whether it is loaded afterwards (kept: its data is on the heap).
"""

import sys

if len(sys.argv) > 2:
    import rom_mount

    rom_mount.mount(sys.argv[1], int(sys.argv[2]))
else:
    sys.path.insert(0, ".")
import protocol.p256  # boot's policy check loads P-256 and its table
from firmware import app

del protocol
app.unload_modules(("protocol.p256",))  # as after that check: only the table is left
print(app.keep_tables_if_on_heap(), "protocol.tables_p256" in sys.modules)
