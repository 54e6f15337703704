"""Host board: the App's injected objects from files, pipes and sockets, for the MicroPython
unix port (and CPython). Used by firmware/host_main.py, the tests and the simulator."""

import os

from protocol import p256


class FileUart:
    """A UART that yields a file's (or pipe's) bytes in ``chunk``-sized reads, then None."""

    def __init__(self, path, chunk=256):
        self.f = open(path, "rb")
        self.chunk = chunk

    def read(self, n=-1):
        data = self.f.read(self.chunk if n is None or n < 0 else n)
        return data if data else None

    def close(self):
        self.f.close()


class BytesUart:
    """A UART over bytes already in memory (tests)."""

    def __init__(self, data, chunk=256):
        self.data = data
        self.pos = 0
        self.chunk = chunk

    def read(self, n=-1):
        if self.pos >= len(self.data):
            return None
        k = self.chunk if n is None or n < 0 else n
        out = self.data[self.pos : self.pos + k]
        self.pos += len(out)
        return out


def software_signer(path, rng=None):
    """The OBU key from ``path`` (32 raw bytes), created on first use.

    Development only: on a real unit the key is generated inside the ATECC608 and never
    leaves it (hardware/README.md).
    """
    try:
        with open(path, "rb") as f:
            d = p256.private_key_from_bytes(f.read())
    except OSError:
        d = p256.generate_private_key(rng if rng is not None else os.urandom)
        with open(path + ".tmp", "wb") as f:
            f.write(d.to_bytes(32, "big"))
        os.rename(path + ".tmp", path)
    return p256.SoftwareSigner(d)


class PrintStatus:
    """Status output for a console: one line per change."""

    def __init__(self, write=print):
        self.write = write
        self.last = None

    def show(self, status):
        from firmware.status import render

        line = render(status)
        if line != self.last:
            self.last = line
            self.write("[status] " + line)
