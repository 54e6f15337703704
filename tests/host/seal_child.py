"""Seal one prepared period under the real MicroPython binary: the heap measurement's child.

    micropython seal_child.py <root> <period_start> <period_end>

Run from a folder holding protocol/ and firmware/ as .mpy (as deployed). Kept tiny on purpose:
this script's own bytecode is on the heap being measured. Prints ``key=value`` lines.
"""

import gc
import sys
import time

sys.path.insert(0, ".")


def boot_import(names):
    """Import modules the way a small-heap boot should: collect after each one.

    Loading a module leaves garbage (file buffers, the loader's tables) between the objects it
    keeps; collecting before the next import lets the next module's objects fill those holes.
    Without it, fragmentation alone costs ~16 KB of a 96 KB heap here.
    """
    for name in names:
        __import__(name)
        gc.collect()


def main(root, start, end):
    gc.collect()
    base = gc.mem_alloc()
    # p256 first: its 4 KB comb table wants a clean heap
    boot_import(("protocol.p256", "firmware.ledger", "firmware.state", "firmware.accounting",
                 "firmware.statement", "protocol.timeutil"))  # fmt: skip
    from firmware.accounting import Accounting
    from firmware.ledger import Store
    from firmware.state import ChainState
    from firmware.statement import seal_period
    from protocol import p256
    from protocol.hashing import sha256

    signer = p256.SoftwareSigner(p256.private_key_from_bytes(sha256(b"test obu")))
    gc.collect()
    code = gc.mem_alloc() - base
    t0 = time.ticks_ms()
    acc = Accounting(Store(root))
    state = ChainState(root)
    gc.collect()
    t1 = time.ticks_ms()
    seq, path, h = seal_period(acc, state, start, end, "OBU-0001", signer)
    t2 = time.ticks_ms()
    print("boot_ms=%d" % time.ticks_diff(t1, t0))
    print("seal_ms=%d" % time.ticks_diff(t2, t1))
    print("segments=%d" % acc.count(start))
    print("imports_bytes=%d" % code)
    print("envelope=%s" % path)


main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
