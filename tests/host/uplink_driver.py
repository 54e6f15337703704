"""Drive the firmware's uplink against a real HTTP server, as the device would (MicroPython).

Usage (from the repository root; the same under CPython)::

    micropython tests/host/uplink_driver.py ROOT HOST PORT NOW OBU_KEY AUTHORITY_PUB CMD [CA]

``NOW`` is the GNSS time to pretend (Unix s; "-" for unknown); CMD is ``submit`` (one
Outbox.run) or ``challenges`` (one ChallengeResponder.run). Sockets come from
firmware.uplink.http.socket_connect, as on the ESP32; with CA (a DER certificate file) the
connection is TLS and trusts only that CA. Prints one JSON line with the outcome.
"""

import json
import sys

sys.path.insert(0, ".")

OBU_ID = "OBU-0001"


class _Clock:
    def __init__(self, t):
        self.t = t

    def now(self):
        return self.t


def _heap():
    try:
        import gc

        gc.collect()
        return gc.mem_alloc()
    except (ImportError, AttributeError):
        return -1


def main(argv):
    root, host, port, now, key_hex, auth_hex, cmd = argv[:7]
    # Import only what the command needs, as the device would: modules cost heap.
    from firmware.uplink import http
    from protocol import cbor_decode, p256  # noqa: F401  (the decoder loads lazily otherwise)

    clock = _Clock(None if now == "-" else int(now))
    connect = None
    if len(argv) > 7:
        with open(argv[7], "rb") as f:
            ctx = http.tls_context(f.read())

        def connect(h, p, t):
            return http.socket_connect(h, p, t, tls=ctx)

    client = http.HttpClient(host, int(port), connect=connect, timeout_ms=20000)
    signer = p256.SoftwareSigner(bytes.fromhex(key_hex))
    authority = bytes.fromhex(auth_hex)
    out = {"cmd": cmd}
    if cmd == "submit":
        from firmware.uplink.outbox import Outbox

        ob = Outbox(root, client, authority, clock)
        out["modules_alloc"] = _heap()
        out["done"] = ob.run()
        out["error"] = ob.last_error.code if ob.last_error is not None else None
        out["failures"] = ob.failures
        out["next_at"] = ob.next_at
        out["rejected"] = list(ob.rejected) if ob.rejected else None
        out["pending"] = ob.pending()
    elif cmd == "challenges":
        from firmware import ledger
        from firmware.challenges import ChallengeResponder

        r = ChallengeResponder(
            root, client, signer, OBU_ID, authority, clock, store=ledger.Store(root)
        )
        out["modules_alloc"] = _heap()
        res = r.run()
        out["results"] = [[c.hex() if c else None, o] for c, o in res]
        out["error"] = r.last_error.code if r.last_error is not None else None
    else:
        raise SystemExit("unknown command " + cmd)
    out["sent_bytes"] = client.sent_bytes
    out["received_bytes"] = client.received_bytes
    out["heap_alloc"] = _heap()
    print(json.dumps(out))


main(sys.argv[1:])
