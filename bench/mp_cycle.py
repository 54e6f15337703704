"""One OBU commit+sign cycle, for the heap measurement of bench/protocol_bench.py.

  micropython mp_cycle.py bare   # Pedersen commitment + trace commitment + ECDSA sign
  micropython mp_cycle.py cose   # the same, signed as a COSE_Sign1 envelope (an Opening)
Runs from a folder holding protocol/ as precompiled .mpy. Prints heap figures on success.
"""

import gc
import os
import sys

sys.path.insert(0, ".")
mode = sys.argv[1] if len(sys.argv) > 1 else "bare"

from protocol import hashing, p256, pedersen  # noqa: E402

if mode == "cose":
    from protocol import cose, labels

gc.collect()
after_import = gc.mem_alloc()
d = p256.private_key_from_bytes(hashing.sha256(b"bench-key"))
signer = p256.SoftwareSigner(d)
for i in range(3):
    blind = pedersen.random_blind(os.urandom)
    c = pedersen.commit(12345 + i, blind)
    t = hashing.tagged_hash(b"quietmile/v1/trace-commitment", os.urandom(16), bytes(180))
    if mode == "cose":
        env = cose.sign1(c + t, signer, labels.CTY_OPENING)
    else:
        sig = signer.sign(c + t)
gc.collect()
print("after_import=%d" % after_import)
print("after_cycle=%d" % gc.mem_alloc())
print("heap_total=%d" % (gc.mem_alloc() + gc.mem_free()))
