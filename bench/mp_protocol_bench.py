"""MicroPython side of bench/protocol_bench.py: times device operations, prints key=value lines.

Run from a directory whose sys.path holds protocol/ (source or precompiled .mpy).
"""

import gc
import sys
import time

import micropython

sys.path.insert(0, ".")
from protocol import cose, labels, p256, pedersen

N = int(sys.argv[1]) if len(sys.argv) > 1 else 20


def rng(n):
    import os

    return os.urandom(n)


def per_op_us(fn, n):
    t0 = time.ticks_us()
    for _ in range(n):
        fn()
    return time.ticks_diff(time.ticks_us(), t0) // n


def main():
    gc.collect()
    base_alloc = gc.mem_alloc()
    signer = p256.SoftwareSigner(p256.generate_private_key(rng))
    blind = pedersen.random_blind(rng)
    msg = bytes(200)

    commit_us = per_op_us(lambda: pedersen.commit(123456, blind), N)
    sign_us = per_op_us(lambda: signer.sign(msg), N)
    pub = signer.public_key()
    sig = signer.sign(msg)
    verify_us = per_op_us(lambda: p256.verify(pub, msg, sig), max(1, N // 4))
    cycle_us = per_op_us(
        lambda: cose.sign1(
            pedersen.commit(7, pedersen.random_blind(rng)), signer, labels.CTY_OPENING
        ),
        N,
    )
    gc.collect()
    print("commit_us=%d" % commit_us)
    print("sign_us=%d" % sign_us)
    print("verify_us=%d" % verify_us)
    print("commit_sign_cycle_us=%d" % cycle_us)
    print("heap_alloc_after_cycle=%d" % (gc.mem_alloc() - base_alloc))
    if hasattr(micropython, "mem_peak"):
        print("heap_peak=%d" % micropython.mem_peak())


main()
