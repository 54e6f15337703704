"""A day of the OBU's life in steps, for comparing live heaps across MicroPython ports.

Loaded by tests/e2e/heap_steps_unix.py (the 64-bit unix port) and tests/e2e/wasm_heap.mjs (the
32-bit WebAssembly port): both call the same functions in the same order, and each reports
``gc.mem_alloc()`` between steps. The WebAssembly port collects garbage only between top-level
calls (its C stack cannot be scanned), so the harness makes every step its own call and the
live heap is read at the start of the next one; the unix port collects where it is asked.

    boot(cfg, root, nmea, end_t)  the App as firmware/host_main.py builds it, the NMEA opened
    drive(n)                n reads of 256 bytes fed to the App; 0 when the file has ended
    then AFTER_DRIVE, (label, function) in order, the steps of App.sync (firmware/app.py) with
    the same imports and unloads, so that each reading is what the device holds there:
    seal()                  the drive closed; the commit path unloaded; the driving objects
                            but the accounting stowed (firmware/stow.py); the periods ended
                            by GNSS time end_t sealed; retention; the sealing code (and
                            commit path) unloaded
    upload()                the accounting stowed too, the client made, the sealed
                            statements submitted, receipts verified (network code loaded)
    challenge()             the outbox unloaded, the backend's challenges answered
    disputes()              the challenge responder unloaded, dispute requests polled
    unload()                the network phase's modules dropped, the driving objects
                            rebuilt, the statement chain dropped, as the sync ends

``connect`` is the socket factory: host_main's on the unix port, a relay through the host
(qm_relay, registered by the harness) on WebAssembly, which has no sockets.
"""

import gc
import random

app = None
fetch = False  # the sync fetches the tariff policy (app_sync._policy_due)
client = None  # the sync's HttpClient, shared by its network steps (app_network.network_phase)
uart = None
end_t = None
summary = {"sealed": 0, "uploaded": 0, "answered": 0, "errors": []}


def rng(n):
    """Deterministic bytes (both ports get the same; WebAssembly has no os.urandom)."""
    return bytes([random.getrandbits(8) for _ in range(n)])


class RelayConn:
    """One HTTP exchange through ``qm_relay.exchange(host, port, hex) -> hex``: the request is
    collected until the first read, then sent and the whole response returned."""

    def __init__(self, host, port):
        self.host = host
        self.port = port
        self.out = bytearray()
        self.resp = None
        self.pos = 0

    def write(self, buf):
        self.out.extend(buf)
        return len(buf)

    def readinto(self, buf):
        if self.resp is None:
            import binascii

            import qm_relay  # type: ignore[import-not-found]

            req = binascii.hexlify(self.out).decode()
            self.out = None
            self.resp = binascii.unhexlify(qm_relay.exchange(self.host, self.port, req))
        n = min(len(buf), len(self.resp) - self.pos)
        buf[:n] = self.resp[self.pos : self.pos + n]
        self.pos += n
        return n

    def close(self):
        self.resp = None


def relay_connect(host, port, timeout_ms):
    return RelayConn(host, port)


def boot(cfg_path, root, nmea, t_end, connect=None):
    global app, uart, end_t
    from firmware import config
    from firmware.app import App
    from firmware.board.host import FileUart, software_signer

    if connect is None:
        from firmware.host_main import _connect as connect
    random.seed(3)
    cfg = config.load(cfg_path)
    app = App(cfg, root, software_signer(root + "/obu.key"), rng=rng, connect=connect)
    uart = FileUart(nmea, 256)
    end_t = t_end


def drive(n):
    for _ in range(n):
        data = uart.read()
        if not data:
            return 0
        app.feed(data)
    return 1


def seal():
    """App.sync (firmware/app_sync.py) up to the network phase (the drive ended first, as at
    the end of a replay): all but the accounting stowed, sealing, retention."""
    global fetch
    from firmware.app import _COMMIT_MODULES, unload_modules

    app.end_of_input()
    app.gnss_time = end_t
    unload_modules(_COMMIT_MODULES)
    from firmware import app_sync  # loaded while a sync runs

    fetch = app_sync._policy_due(app)
    if not fetch:
        app_sync._close_ended_segment(app)
        app_sync._stow(app, True)
    summary["sealed"] = len(app.seal_due())
    from firmware import app_network  # the later steps, once the stow has made room

    app_network.purge_expired(app)
    app_sync.drop_sealing_code(("firmware.app_network",))


def upload():
    """app_network.network_phase up to the upload: the accounting stowed too (after the policy fetch
    when one is due), one client for the sync, the outbox."""
    global client
    from firmware.app_network import _fetch_policy
    from firmware.app_sync import _stow

    if not fetch:
        _stow(app)
    client = app.client()
    if fetch:
        _fetch_policy(app, client, summary)
        _stow(app)
    app.upload(summary, client)


def challenge():
    from firmware.app import unload_modules

    unload_modules(("firmware.uplink.outbox",))
    app.answer_challenges(summary, client)


def disputes():
    from firmware.app_network import handle_disputes

    handle_disputes(app, summary, client)


def unload():
    """The network phase's code out of sys.modules, as App.sync leaves it for driving."""
    global client
    from firmware.app import _NETWORK_MODULES, release_state, unload_modules
    from firmware.unstow import unstow

    client = None
    unload_modules(_NETWORK_MODULES)
    unstow(app)
    release_state(app)


# The steps after the drive, each followed by a reading of the live heap under its label.
AFTER_DRIVE = (
    ("seal", "seal"),
    ("upload", "upload"),
    ("challenge", "challenge"),
    ("disputes polled", "disputes"),
    ("sync ended, unloaded", "unload"),
)


def live():
    """The live heap; on the unix port after a collection (WebAssembly collected already)."""
    gc.collect()
    return gc.mem_alloc()


def report():
    return "%d %d %d %d %d" % (
        summary["sealed"],
        summary["uploaded"],
        summary["answered"],
        len(summary["errors"]),
        app.segmenter.segments,
    )
