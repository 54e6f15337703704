"""Run the OBU application on a host under the MicroPython unix port (or CPython).

    micropython -m firmware.host_main --config obu.json --root /tmp/obu \
        --nmea drive.nmea [--chunk 256] [--sync-every 300] [--quiet] [--net] [--no-unload] \
        [--confirm-disputes]

Reads NMEA from a file or pipe (``--nmea -`` for stdin) as if it came from the receiver's
UART, and talks HTTP to the ``backend_url`` of the config (statements, receipts, tariff policy,
challenges). At the end of the input it closes the open segment, seals ended periods and
syncs once more, then prints a one-line summary: ``summary segments=… sealed=… uploaded=…``.
The OBU key is kept in ``<root>/obu.key`` (development signer). ``--net`` talks to the
backend even when the config's network kind is "none" (on a host the sockets need no
bring-up); ``--no-unload`` keeps network modules loaded between syncs.

Disputes (SPEC §8.1, firmware/disputes.py): the host board's confirmation input is the file
``<root>/confirm``. When the backend asks to open a disputed period, the unit prints
``[dispute] <id> waits for confirmation …`` and the status line says "dispute waiting for
confirmation"; the driver writes ``yes <id>`` (or ``no <id>``; the first 8 hex digits of the id
suffice) to that file, and the next sync opens the period (or records the refusal).
``--confirm-disputes`` answers yes to every verified dispute request, as a driver who agreed
in advance (scripted runs). Every known dispute is listed after the summary:
``dispute <id> <state> <opened>/<segments>``.

The host has no ignition (always on), no power-fail line and no lid switch. A tamper record in
the root (``<root>/tamper``, firmware/tamper.py) still shows as the fault ``tamper`` and as a
line ``tamper count=… first=… last=… lid=…`` after the summary.
"""

import sys

# The App's modules are imported in main(): the heap tests import _connect alone.


def _args(argv):
    opts = {"--chunk": "256", "--sync-every": "300"}
    flags = set()
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("--quiet", "--no-unload", "--net", "--confirm-disputes"):
            flags.add(a)
            i += 1
        elif a.startswith("--") and i + 1 < len(argv):
            opts[a] = argv[i + 1]
            i += 2
        else:
            raise SystemExit("usage: host_main --config F --root D --nmea F [--chunk N]")
    for need in ("--config", "--root", "--nmea"):
        if need not in opts:
            raise SystemExit("missing " + need)
    return opts, flags


def _connect(host, port, timeout_ms):
    # The uplink's code is imported when a sync connects, not at boot (the App unloads it).
    from firmware.uplink.http import socket_connect

    return socket_connect(host, port, timeout_ms)


def main(argv):
    from firmware import config
    from firmware.app import App
    from firmware.board.host import FileUart, software_signer

    opts, flags = _args(argv)
    cfg = config.load(opts["--config"])
    root = opts["--root"]
    import os

    try:
        os.mkdir(root)
    except OSError:
        pass
    if "--quiet" in flags:
        outputs = ()
    else:
        from firmware.board.host import PrintStatus

        outputs = (PrintStatus(),)
    # --net: talk to backend_url even with network kind "none" (host runs)
    connect = _connect if "--net" in flags else None
    if "--confirm-disputes" in flags:
        from firmware.board.host import ConfirmAll

        confirm = ConfirmAll()
    else:
        from firmware.board.host import FileConfirm

        confirm = FileConfirm(root + "/confirm")
    app = App(
        cfg,
        root,
        software_signer(root + "/obu.key"),
        connect=connect,
        status_outputs=outputs,
        unload="--no-unload" not in flags,
        confirm=confirm,
    )
    path = opts["--nmea"]
    uart = FileUart("/dev/stdin" if path == "-" else path, int(opts["--chunk"]))
    summary = app.run(uart, sync_every_s=int(opts["--sync-every"]), max_idle_reads=1)
    print(
        "summary segments=%d gaps=%d sealed=%d uploaded=%d answered=%d opened=%d errors=%d"
        % (
            app.segmenter.segments,
            app.segmenter.gap_events,
            len(app.sealed),
            summary["uploaded"],
            summary["answered"],
            summary.get("opened", 0),
            len(summary["errors"]),
        )
    )
    for e in summary["errors"]:
        print("error", repr(e))
    for id_hex, state, opened, count in summary.get("disputes", ()):
        print("dispute %s %s %d/%d" % (id_hex, state, opened, count))
    if app.status.faults & app.status.FAULT_TAMPER:
        from firmware.tamper import TamperLog  # a record copied from a unit, or a test's

        print(TamperLog(root).describe())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
