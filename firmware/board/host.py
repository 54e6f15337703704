"""Host board: the App's injected objects from files, pipes and sockets, for the MicroPython
unix port (and CPython). Used by firmware/host_main.py, the tests and the simulator.

What a running unit holds (the UART, the signer) is here; the console status line, the yes to
every dispute and the in-memory UART (PrintStatus, ConfirmAll, BytesUart) are in
firmware/board/host_console.py, and the dispute confirmations from a file (FileConfirm) in
firmware/board/host_confirm.py, each loaded when one of its names is first asked for and
offered here by name, so that a unit keeps only the classes it has objects of on its heap.
"""

import os

from protocol.compat import lazy_names

TYPE_CHECKING = False
if TYPE_CHECKING:  # for mypy; at run time __getattr__ below provides them
    from firmware.board.host_confirm import FileConfirm as FileConfirm
    from firmware.board.host_console import BytesUart as BytesUart
    from firmware.board.host_console import ConfirmAll as ConfirmAll
    from firmware.board.host_console import PrintStatus as PrintStatus


# The console objects, on first use.
__getattr__ = lazy_names(
    __name__,
    ("firmware.board.host_console", ("BytesUart", "ConfirmAll", "PrintStatus")),
    ("firmware.board.host_confirm", ("FileConfirm",)),
)


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


def software_signer(path, rng=None):
    """The OBU key from ``path`` (32 raw bytes), created on first use: a :class:`KeyFileSigner`.

    Development only: on a real unit the key is generated inside the ATECC608 and never
    leaves it (hardware/README.md).
    """
    from protocol import p256  # at boot only: KeyFileSigner keeps no reference to it

    try:
        with open(path, "rb") as f:
            p256.private_key_from_bytes(f.read())  # a damaged key file is an error at boot
    except OSError:
        d = p256.generate_private_key(rng if rng is not None else os.urandom)
        with open(path + ".tmp", "wb") as f:
            f.write(d.to_bytes(32, "big"))
        os.rename(path + ".tmp", path)
    return KeyFileSigner(path)


class KeyFileSigner:
    """A protocol.p256.Signer (``kid``, ``public_key()``, ``sign_digest()``, ``sign()``) over
    a key file, that loads the P-256 code only while it signs.

    Holding a p256.SoftwareSigner would pin protocol.p256 and its comb table on the heap for
    the unit's whole life (its class refers to the module); this one refers to no module, so
    the App can unload the signing code after a sync (DESIGN §8: the heap budget). ``kid`` and
    the public key are computed once, on first use, and kept as bytes.
    """

    def __init__(self, path):
        self.path = path
        self._pub = None
        self._kid = None

    def _key(self):
        with open(self.path, "rb") as f:
            return f.read()

    def _load_ids(self):
        from protocol import p256

        s = p256.SoftwareSigner(self._key())
        self._pub = s.public_key()
        self._kid = s.kid

    @property
    def kid(self):
        if self._kid is None:
            self._load_ids()
        return self._kid

    def public_key(self):
        if self._pub is None:
            self._load_ids()
        return self._pub

    def sign_digest(self, digest32):
        from protocol import p256

        return p256.sign_digest(p256.private_key_from_bytes(self._key()), digest32)

    def sign(self, msg):
        from protocol.hashing import sha256

        return self.sign_digest(sha256(msg))

    def __repr__(self):
        return "KeyFileSigner(%s)" % self.path
