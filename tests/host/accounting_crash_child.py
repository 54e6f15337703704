"""Crash-test driver: commit numbered segments and seal hourly periods, acknowledging each step.

Run from the repository root under the MicroPython unix port:

    micropython tests/host/accounting_crash_child.py <root> <ack_fd> <fast|slow>

Segment k starts at T0 + k·STEP (record(k)); periods are hours, PER_PERIOD segments each.
Before the first segment of an hour the previous hour is sealed. At start the driver resumes
from what the ledger holds and writes ``open <next k> <next seq> <rolled forward>`` to the
acknowledgement pipe ``ack_fd``; then ``a <k>`` once add(record(k)) has returned and
``s <seq> <statement hash hex>`` once a seal has returned. Mode ``slow`` pauses in the RNG,
the signer and around the envelope's rename so that kills land inside adds and seals.
"""

import sys
import time

sys.path.insert(0, ".")

T0 = 1772323200  # 2026-03-01T00:00:00Z
PER_PERIOD = 24
STEP = 3600 // PER_PERIOD
OBU = "OBU-CRASH"
PID = b"\x42" * 16


def period_of(t):
    return t - t % 3600


def record(k):
    """Segment k: 50 s of driving, priced by the tariff rule, two trace points."""
    from protocol import messages

    dist = 100 + k % 50
    rate = 60000
    t = T0 + k * STEP
    trace = [(0, 508500000 + k, 43500000), (50, 508500000 + k, 43500100 + k)]
    return messages.SegmentRecord(
        -1, t, t + 50, 1, 0, 1, dist, rate, dist * rate // 1000, PID, 0, trace
    )


def _pause(ms=1):
    if hasattr(time, "sleep_ms"):
        time.sleep_ms(ms)
    else:  # CPython
        time.sleep(ms / 1000)


class _SlowRng:
    def __init__(self, rng):
        self.rng = rng

    def __call__(self, n):
        _pause()
        return self.rng(n)


class _SlowSigner:
    def __init__(self, signer):
        self.signer = signer
        self.kid = signer.kid

    def sign_digest(self, digest):
        _pause(5)
        return self.signer.sign_digest(digest)


def _slow_state(cls):
    """ChainState pausing before its registry write and its chain write (around the rename)."""

    class SlowState(cls):
        def begin(self, meta):
            _pause(5)
            super().begin(meta)

        def commit(self, meta):
            _pause(5)
            super().commit(meta)

    return SlowState


def main(argv):
    import os

    from firmware.accounting import Accounting
    from firmware.ledger import Store
    from firmware.state import ChainState
    from firmware.statement import seal_period
    from protocol import p256
    from protocol.hashing import sha256

    root, ack_fd, mode = argv[0], int(argv[1]), argv[2]
    ack = open(ack_fd, "wb", 0)  # unbuffered: an acknowledgement is out once written
    rng = os.urandom if mode == "fast" else _SlowRng(os.urandom)
    signer = p256.SoftwareSigner(p256.private_key_from_bytes(sha256(b"crash obu")))
    if mode != "fast":
        signer = _SlowSigner(signer)
    acc = Accounting(Store(root, rng), rng, period_of=period_of, checkpoint_every=4)
    state = (ChainState if mode == "fast" else _slow_state(ChainState))(root)
    periods = acc.periods()
    k = 0
    if periods:
        p = periods[-1]
        k = (p - T0) // STEP + acc.count(p)
    ack.write(("open %d %d %d\n" % (k, state.next_seq, state.rolled_forward)).encode())
    while True:
        if k and k % PER_PERIOD == 0:
            start = period_of(T0 + (k - 1) * STEP)
            seq, _, h = seal_period(acc, state, start, start + 3600, OBU, signer)
            ack.write(("s %d %s\n" % (seq, h.hex())).encode())
        if acc.add(record(k)) != k % PER_PERIOD:
            raise AssertionError("add returned the wrong index")
        ack.write(("a %d\n" % k).encode())
        k += 1


if __name__ == "__main__":
    main(sys.argv[1:])
