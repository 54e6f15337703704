"""Run ``firmware.host_main`` with protocol/ and firmware/ executing in place from a ROMFS image,
as on an ESP32 whose code is deployed to a ROMFS partition (hardware/FLASHING.md, option B).

    QMROM0=<pad> QMROM1=<pad> … micropython -X heapsize=… rom_main.py IMAGE [host_main args]

On the device the ROMFS partition is memory-mapped flash: the bytecode and constant data of an
imported .mpy are used where they lie and only the run-time objects (functions, classes,
module dicts, qstr entries, data) take heap. The unix port has no flash, and every buffer made
in Python lives in the GC heap that ``-X heapsize`` limits; so the image is written (through
/proc/self/mem, Linux only) over padding environment strings that the parent passed, which lie
in the process's stack area, outside the GC heap — an emulated flash partition. The image is
then mounted read-only with ``vfs.VfsRom`` at /rom, first on sys.path.
"""

import sys

import uctypes
import vfs


def _pad_address():
    """Address of the first padding string (the value of QMROM0) in this process's memory."""
    with open("/proc/self/stat") as f:
        st = f.read()
    env_start = int(st[st.rindex(")") + 2 :].split()[47])  # field 50: env_start
    off = -1
    base = 0
    tail = b""
    with open("/proc/self/environ", "rb") as f:  # read in small pieces: the heap is small
        while off < 0:
            chunk = f.read(512)
            if not chunk:
                raise OSError("QMROM0 is not in the environment")
            i = (tail + chunk).find(b"QMROM0=")
            if i >= 0:
                off = base - len(tail) + i + 7
            base += len(chunk)
            tail = chunk[-8:]
    return env_start + off


def mount(image, room):
    """Copy ``image`` over the padding (``room`` bytes) and mount it at /rom."""
    addr = _pad_address()
    n = 0
    with open(image, "rb") as src, open("/proc/self/mem", "r+b") as mem:
        mem.seek(addr)
        while True:
            chunk = src.read(1024)
            if not chunk:
                break
            n += len(chunk)
            if n > room:
                raise OSError("the image does not fit the padding")
            mem.write(chunk)
    vfs.mount(vfs.VfsRom(uctypes.bytearray_at(addr, n)), "/rom")
    sys.path.insert(0, "/rom")


def main():
    image = sys.argv[1]
    room = int(sys.argv[2])
    mount(image, room)
    import gc

    gc.collect()
    from firmware import host_main

    print("code from", host_main.__file__)
    return host_main.main(sys.argv[3:])


if __name__ == "__main__":
    sys.exit(main())
