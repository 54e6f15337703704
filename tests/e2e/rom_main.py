"""Run ``firmware.host_main`` with protocol/ and firmware/ executing in place from a ROMFS image,
as on an ESP32 whose code is deployed to a ROMFS partition (hardware/FLASHING.md, option B).

    QMROM0=<pad> QMROM1=<pad> … micropython -X heapsize=… rom_main.py IMAGE [host_main args]

On the device the ROMFS partition is memory-mapped flash: the bytecode and constant data of an
imported .mpy are used where they lie and only the run-time objects (functions, classes,
module dicts, qstr entries, data) take heap. The unix port has no flash, and every buffer made
in Python lives in the GC heap that ``-X heapsize`` limits; so the image is written (through
/proc/self/mem, Linux only) over padding environment strings that the parent passed, which lie
in the process's stack area, outside the GC heap — an emulated flash partition. The image is
then mounted read-only with ``vfs.VfsRom`` at /rom, first on sys.path (tests/e2e/rom_mount.py).
"""

import sys

import rom_mount  # the emulation's code (tests/e2e/rom_mount.py), dropped once mounted

rom_mount.mount(sys.argv[1], int(sys.argv[2]))
del sys.modules["rom_mount"], rom_mount
import gc  # noqa: E402

gc.collect()
from firmware import host_main  # noqa: E402

print("code from", host_main.__file__)
sys.exit(host_main.main(sys.argv[3:]))
