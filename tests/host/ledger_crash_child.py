"""Crash-test driver: append numbered records forever, acknowledging each one after it returns.

Run from the repository root, normally under the MicroPython unix port:

    micropython tests/host/ledger_crash_child.py <root> <ack_fd> <whole|split>

Record i goes to period ``i // PER_PERIOD``, payload :func:`payload` (i), so a reader can check
every record by its index. Opening the newest period's ledger runs the boot-time repair; then
the driver writes ``open <records stored> <repaired bytes>`` to the acknowledgement pipe
``ack_fd``, and ``<i>`` after ``append`` of record i has returned. Mode ``split`` writes each
frame in three pieces with 1 ms pauses, as a slow flash would, so that kills land inside frames
and leave torn tails to repair.
"""

import sys
import time

PER_PERIOD = 1000  # records per period: several periods, each scanned at every start


def payload(i):
    """Record i: its index, then 140..239 bytes that depend on i."""
    n = 140 + (i * 37) % 100
    return i.to_bytes(4, "big") + bytes((i * 13 + j) & 0xFF for j in range(n))


def _pause():
    if hasattr(time, "sleep_ms"):
        time.sleep_ms(1)
    else:  # CPython
        time.sleep(0.001)


class _SlowFile:
    """Writes a frame in three system calls with pauses between them."""

    def __init__(self, f):
        self._f = f

    def write(self, data):
        n = len(data)
        a = n // 3
        b = 2 * n // 3
        self._f.write(data[:a])
        _pause()
        self._f.write(data[a:b])
        _pause()
        self._f.write(data[b:])
        return n

    def flush(self):
        self._f.flush()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._f.close()


def _slow_opener(path, mode):
    f = open(path, mode)
    return _SlowFile(f) if mode == "ab" else f


def main(argv):
    sys.path.insert(0, ".")
    from firmware.ledger import Ledger, Store

    root, ack_fd, mode = argv[0], int(argv[1]), argv[2]
    ack = open(ack_fd, "wb", 0)  # unbuffered: an acknowledgement is out once written
    store = Store(root)
    opener = _slow_opener if mode == "split" else None
    periods = store.periods()
    period = periods[-1] if periods else 0
    lg = Ledger(store.dir, period, store.keys, opener=opener)
    i = period * PER_PERIOD + lg.count
    ack.write(("open %d %d\n" % (i, lg.repaired_bytes)).encode())
    while True:
        if lg.count == PER_PERIOD:
            period += 1
            lg = Ledger(store.dir, period, store.keys, opener=opener)
        if lg.append(payload(i)) != i - period * PER_PERIOD:
            raise AssertionError("append returned the wrong index")
        ack.write(("%d\n" % i).encode())
        i += 1


if __name__ == "__main__":
    main(sys.argv[1:])
