"""Firmware in the loop: one OBU driven by the simulator, on CPython or under MicroPython.

This module is dual-interpreter (the MicroPython unix port and CPython run the same code), so
both firmware modes go through one sequence of ``firmware.app.App`` calls and consume the
deterministic RNG in the same order: for the same seed and NMEA bytes they seal byte-identical
statements (tests/simulator/test_obu_modes.py). Keep it free of typing, dataclasses and
CPython-only modules.

:class:`SimObu` boots the App with the unit's key (``<root>/obu.key``), a SHA-256 counter RNG
(:class:`DetRng`, in place of os.urandom) and, when a network is wanted, the firmware's own
``socket_connect`` wrapped by :class:`RequestLog` (which counts what the unit sends and keeps
the Openings: the location data it reveals). Per trip the simulator calls :meth:`SimObu.feed`
(the UART bytes, then ``end_of_input``: ignition off) and :meth:`SimObu.sync` (seal due
periods, upload statements, answer challenges).

Under MicroPython it runs as a command loop (cwd = the repository)::

    micropython -m simulator.obu_driver --config C --root R --seed HEX [--network] [--no-unload]

reading one command per line on stdin and answering one JSON object per line on stdout:

    feed <path>   feed the file's NMEA bytes, then end_of_input
    feednoend <path>  the same without end_of_input
    sync          App.sync()
    reboot        drop the App without flushing anything (a power cut) and boot a new one
    quit
"""

import binascii
import json
import sys

from protocol.hashing import sha256

# Dynamic imports (MicroPython has __import__ too): firmware/ is outside the type check, and a
# static import would pull its modules into mypy's analysis of the simulator.
fw_config = __import__("firmware.config", None, None, ["load"])
App = __import__("firmware.app", None, None, ["App"]).App
software_signer = __import__("firmware.board.host", None, None, ["software_signer"]).software_signer

CHUNK = 4096  # UART read size; both modes feed the same chunks
PATH_OPENINGS = "/api/v1/obu/openings"
_KEEP_BODY_MAX = 65536  # Openings are kept (a 512-point record is ~8 KB); statements only counted


class DetRng:
    """Deterministic stand-in for os.urandom: SHA-256(seed ‖ counter as 8 bytes) blocks.

    ``counter`` is the next block number; a block's unused tail is discarded, so the stream
    depends only on the sequence of request sizes, which is the same on both interpreters.
    """

    def __init__(self, seed, counter=0):
        self.seed = bytes(seed)
        self.counter = counter

    def __call__(self, n):
        out = b""
        while len(out) < n:
            out += sha256(self.seed + self.counter.to_bytes(8, "big"))
            self.counter += 1
        return out[:n]


class _CountingStream:
    """A transport stream that counts bytes and keeps the request head (and Opening bodies)."""

    def __init__(self, stream, log):
        self._s = stream
        self._log = log
        self._buf = bytearray()
        self.sent = 0
        self.received = 0

    def write(self, buf):
        n = self._s.write(buf)
        k = len(buf) if n is None else n
        self.sent += k
        if len(self._buf) < _KEEP_BODY_MAX:
            self._buf.extend(bytes(buf[:k]))
        return n

    def readinto(self, buf):
        n = self._s.readinto(buf)
        if n:
            self.received += n
        return n

    def close(self):
        try:
            self._s.close()
        finally:
            self._log.record(self)


class RequestLog:
    """``connect`` wrapper for HttpClient: one entry per request,
    ``[method, path, bytes sent, bytes received, opening body or None]``."""

    def __init__(self, connect):
        self._connect = connect
        self.entries = []

    def __call__(self, host, port, timeout_ms):
        return _CountingStream(self._connect(host, port, timeout_ms), self)

    def record(self, stream):
        data = bytes(stream._buf)
        end = data.find(b"\r\n")
        parts = data[: end if end >= 0 else 200].split(b" ")
        method = parts[0].decode() if parts else ""
        path = parts[1].decode() if len(parts) > 1 else ""
        body = None
        if path.endswith(PATH_OPENINGS):
            sep = data.find(b"\r\n\r\n")
            if sep >= 0:
                body = data[sep + 4 :]
        self.entries.append([method, path, stream.sent, stream.received, body])


class SimObu:
    """One OBU under the simulator's control (module docstring).

    ``app_class`` lets the simulator run a modified firmware (simulator.cheats) in-process;
    ``app_kwargs`` are passed to it. ``records`` holds the SegmentRecords the segmenter
    emitted since the last feed (which hands them over and clears them) as ``[index, t_start,
    t_end, zone, band, dist_m, rate, price, flags, action]`` where
    ``action`` is the App's ``last_action`` after committing it (None for the real firmware).
    """

    def __init__(
        self,
        cfg_path,
        root,
        rng_seed,
        connect=None,
        unload=True,
        app_class=App,
        app_kwargs=None,
        rng_counter=0,
    ):
        self.cfg = fw_config.load(cfg_path)
        self.root = root
        self.rng = DetRng(rng_seed, rng_counter)
        self.signer = software_signer(root + "/obu.key")
        self.requests = RequestLog(connect) if connect is not None else None
        self.unload = unload
        self.app_class = app_class
        self.app_kwargs = app_kwargs if app_kwargs is not None else {}
        self.records = []
        self.boots = 0
        self.app = self._new_app()

    def boot(self):
        """Power on: a new App recovers its state from flash (the old one is dropped as is:
        nothing of it is flushed, as in a power cut)."""
        self.app = self._new_app()

    def _new_app(self):
        app = self.app_class(
            self.cfg,
            self.root,
            self.signer,
            rng=self.rng,
            connect=self.requests,
            unload=self.unload,
            **self.app_kwargs,
        )
        app.segmenter.on_segment = self._capture
        self.boots += 1
        return app

    def _capture(self, rec):
        self.app._on_segment(rec)
        self.records.append(
            [
                rec.index,
                rec.t_start,
                rec.t_end,
                rec.zone_id,
                rec.band_id,
                rec.dist_m,
                rec.rate_micro_per_km,
                rec.price_micro,
                rec.flags,
                getattr(self.app, "last_action", None),
            ]
        )

    def feed(self, data, end=True):
        """The UART bytes of one trip, then (``end``) ignition off: the open segment closes.
        Returns the records it produced. ``end=False`` leaves the App as it is (a power cut
        may follow: see :meth:`boot`)."""
        mark = len(self.records)
        n = len(data)
        off = 0
        while off < n:
            self.app.feed(data[off : off + CHUNK])
            off += CHUNK
        return self._fed(mark, end)

    def feed_file(self, path, end=True):
        """:meth:`feed` from a file, streamed in the same CHUNK reads (the heap never holds
        a whole trip: a long drive's NMEA is far larger than a device heap)."""
        mark = len(self.records)
        with open(path, "rb") as f:
            while True:
                chunk = f.read(CHUNK)
                if not chunk:
                    break
                self.app.feed(chunk)
        return self._fed(mark, end)

    def _fed(self, mark, end):
        if end:
            self.app.end_of_input()
        # Hand the records over and forget them: a long run (months of trips) must not grow
        # the driver's heap, which under MicroPython is the unit's heap (-X heapsize).
        fresh = self.records[mark:]
        del self.records[:]
        return {
            "records": fresh,
            "gnss_time": self.app.gnss_time,
            "rng": self.rng.counter,
        }

    def sync(self):
        """App.sync(): seal, upload, answer. Returns its summary with the requests made."""
        mark = len(self.requests.entries) if self.requests is not None else 0
        s = self.app.sync()
        reqs = []
        if self.requests is not None:
            reqs = self.requests.entries[mark:]
            del self.requests.entries[:]  # handed over (see _fed)
        return {
            "sealed": s["sealed"],
            "uploaded": s["uploaded"],
            "answered": s["answered"],
            "errors": [repr(e) for e in s["errors"]],
            "requests": reqs,
            "gnss_time": self.app.gnss_time,
            "rng": self.rng.counter,
        }


# --- MicroPython command loop ------------------------------------------------------------------


def _write_result(out, result):
    """One JSON line, written in pieces: a sync's request log (every opening's body, hex) can
    be tens of KB, and one string that size needs that much contiguous heap, which a unit
    months into a run may no longer have (a 63-day campaign chunk died on a 68 KB line)."""
    reqs = result.get("requests")
    if not reqs:
        out.write(json.dumps(result) + "\n")
        return
    out.write("{")
    for k, v in result.items():
        if k != "requests":
            out.write(json.dumps(k) + ": " + json.dumps(v) + ", ")
    out.write('"requests": [')
    for i, r in enumerate(reqs):
        if i:
            out.write(", ")
        out.write(json.dumps(r[:4])[:-1] + ", ")  # [method, path, sent, received, body]
        body = r[4]
        out.write('"' + binascii.hexlify(body).decode() + '"]' if body is not None else "null]")
    out.write("]}\n")


def _args(argv):
    opts = {}
    flags = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("--network", "--no-unload"):
            flags.append(a)
            i += 1
        elif a.startswith("--") and i + 1 < len(argv):
            opts[a] = argv[i + 1]
            i += 2
        else:
            raise SystemExit("usage: obu_driver --config C --root R --seed HEX [--network]")
    for need in ("--config", "--root", "--seed"):
        if need not in opts:
            raise SystemExit("missing " + need)
    return opts, flags


def main(argv):
    opts, flags = _args(argv)
    connect = None
    if "--network" in flags:
        connect = __import__("firmware.uplink.http", None, None, ["x"]).socket_connect
    obu = SimObu(
        opts["--config"],
        opts["--root"],
        binascii.unhexlify(opts["--seed"]),
        connect=connect,
        unload="--no-unload" not in flags,
        rng_counter=int(opts.get("--rng-counter", "0")),
    )
    out = sys.stdout
    out.write(json.dumps({"ready": True, "rng": obu.rng.counter}) + "\n")
    while True:
        line = sys.stdin.readline()
        if not line:
            break
        cmd = line.strip().split(" ", 1)
        try:
            if cmd[0] in ("feed", "feednoend"):
                res = obu.feed_file(cmd[1], cmd[0] == "feed")
            elif cmd[0] == "sync":
                _write_result(out, obu.sync())
                res = None
            elif cmd[0] == "reboot":
                obu.boot()
                res = {"boots": obu.boots}
            elif cmd[0] == "quit":
                out.write(json.dumps({"bye": True}) + "\n")
                break
            else:
                res = {"error": "unknown command " + cmd[0]}
        except Exception as e:  # noqa: BLE001 - reported to the host, which raises it there
            if hasattr(sys, "print_exception"):
                sys.print_exception(e)
            res = {"error": repr(e)}
        if res is not None:
            out.write(json.dumps(res) + "\n")
        if hasattr(out, "flush"):
            out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
