"""Host board: the App's injected objects from files, pipes and sockets, for the MicroPython
unix port (and CPython). Used by firmware/host_main.py, the tests and the simulator."""

import os


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


class FileConfirm:
    """The driver's answer to a dispute, from a file (firmware/board/confirm.py has the
    contract): ``<root>/confirm`` holding a line ``yes <id>`` to open the period, or
    ``no <id>`` to decline, where ``<id>`` is the dispute id in hex or at least its first 8
    digits (the unit prints it when it asks). Naming the dispute keeps a file left over from
    an earlier question from answering a new one. The line is removed once it answered.
    """

    MIN_PREFIX = 8

    def __init__(self, path, write=print):
        self.path = path
        self.write = write
        self.asked = None

    def ask(self, dispute):
        if self.asked != dispute.dispute_id:
            self.asked = dispute.dispute_id
            self.write(
                "[dispute] %s waits for confirmation: open statement %d (%d segments)? "
                "write 'yes %s' or 'no %s' to %s"
                % (
                    dispute.id_hex,
                    dispute.statement_seq,
                    dispute.segment_count,
                    dispute.id_hex[: self.MIN_PREFIX],
                    dispute.id_hex[: self.MIN_PREFIX],
                    self.path,
                )
            )

    def answer(self, dispute):
        try:
            with open(self.path) as f:
                lines = f.read().split("\n")
        except OSError:
            return None
        for i, line in enumerate(lines):
            words = line.strip().lower().split()
            if len(words) != 2 or words[0] not in ("yes", "no"):
                continue
            prefix = words[1]
            if len(prefix) < self.MIN_PREFIX or not dispute.id_hex.startswith(prefix):
                continue
            rest = lines[:i] + lines[i + 1 :]
            if any(x.strip() for x in rest):
                with open(self.path + ".tmp", "w") as f:
                    f.write("\n".join(rest))
                os.rename(self.path + ".tmp", self.path)
            else:
                os.remove(self.path)
            return words[0] == "yes"
        return None


class ConfirmAll:
    """Answers yes to every dispute asked about (``host_main --confirm-disputes``): a driver
    who has said in advance that the unit may open any period they dispute. For scripted host
    runs and demos."""

    def ask(self, dispute):
        pass

    def answer(self, dispute):
        return True
