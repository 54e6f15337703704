"""The OBU's day on the unix port, step by step (heap_steps.py), printing the live heap after
every step: the 64-bit counterpart of tests/e2e/wasm_heap.mjs.

    micropython heap_steps_unix.py ROM CONFIG ROOT NMEA END_T

run from a folder holding protocol/ and firmware/ as .mpy (ROM ``-``), or with ROM an image
mounted in place by rom_mount.py's emulated partition (ROM then is ``IMAGE:ROOM``). One JSON
line per step, the same as the WebAssembly harness prints.
"""

import sys

sys.path.insert(0, ".")


def main(rom, cfg, root, nmea, end_t):
    if rom != "-":
        import rom_mount

        image, room = rom.rsplit(":", 1)
        rom_mount.mount(image, int(room))
        del sys.modules["rom_mount"], rom_mount
    import heap_steps as hs

    def live(step):
        print('{"step": "%s", "live": %d}' % (step, hs.live()))

    live("start")
    hs.boot(cfg, root, nmea, int(end_t))
    live("boot")
    while hs.drive(64):
        pass
    live("drive")
    for label, step in hs.AFTER_DRIVE:
        getattr(hs, step)()
        live(label)
    print('{"report": "%s"}' % hs.report())


main(*sys.argv[1:6])
