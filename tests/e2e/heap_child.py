"""One phase of the OBU's life under MicroPython, for the heap budget (bench/heap_bench.py).

    micropython heap_child.py PHASE CONFIG ROOT ARG [IMAGE:ROOM]

run from a folder holding protocol/ and firmware/ (as .mpy), or with IMAGE:ROOM from one
holding only this file and rom_mount.py, the code then in place from that ROMFS image
(tests/e2e/rom_mount.py, mounted and dropped first): the App is built as
firmware/host_main.py builds it, then PHASE runs and one JSON line reports the live heap:

    boot       nothing more (ARG ignored)
    drive      the NMEA file ARG replayed, the open segment closed; nothing sealed or sent
    seal       the periods ended by GNSS time ARG sealed (no network)
    upload     the sealed statements submitted (GNSS time ARG)
    challenge  the backend's challenges answered (GNSS time ARG)
"""

import gc
import sys

sys.path.insert(0, ".")


def main(phase, cfg_path, root, arg):
    from firmware import config
    from firmware.app import App, unload_modules
    from firmware.board.host import FileUart, software_signer
    from firmware.host_main import _connect

    app = App(config.load(cfg_path), root, software_signer(root + "/obu.key"), connect=_connect)
    summary = {"sealed": 0, "uploaded": 0, "answered": 0, "errors": []}
    if phase == "drive":
        uart = FileUart(arg, 256)
        while True:
            data = uart.read()
            if not data:
                break
            app.feed(data)
        app.end_of_input()
    elif phase != "boot":
        app.gnss_time = int(arg)
        if phase == "seal":
            summary["sealed"] = len(app.seal_due())
        elif phase == "upload":
            app.upload(summary)
        elif phase == "challenge":
            app.answer_challenges(summary)
        else:
            raise SystemExit("unknown phase " + phase)
        unload_modules(())
    gc.collect()
    print(
        '{"phase": "%s", "alloc": %d, "sealed": %d, "uploaded": %d, "answered": %d, '
        '"errors": %d, "segments": %d}'
        % (
            phase,
            gc.mem_alloc(),
            summary["sealed"],
            summary["uploaded"],
            summary["answered"],
            len(summary["errors"]),
            app.segmenter.segments,
        )
    )


if len(sys.argv) > 5:
    import rom_mount

    _image, _room = sys.argv[5].rsplit(":", 1)
    rom_mount.mount(_image, int(_room))
    del sys.modules["rom_mount"], rom_mount, _image, _room
    gc.collect()
main(*sys.argv[1:5])
