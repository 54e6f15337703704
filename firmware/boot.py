"""Device boot (/boot.py): runs before main.py on every reset.

Keeps boot minimal: a watchdog so a hung unit resets (and the ledger's boot-time repair runs),
and the CPU at full speed for the commitments.
"""

import machine  # type: ignore[import-not-found]

machine.freq(240000000)
machine.WDT(timeout=120000)
