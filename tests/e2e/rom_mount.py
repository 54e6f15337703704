"""The emulated ROMFS partition of tests/e2e/rom_main.py (see there): ``mount(image, room)``
writes a ROMFS image over the padding environment strings and mounts it at /rom. A module of
its own so that the emulation's code leaves the heap once the image is mounted (the device has
no such code), and so that tests/e2e/heap_steps_unix.py can mount the same way."""

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
