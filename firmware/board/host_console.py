"""The host board's console objects (firmware/board/host.py offers each by name): the status
line, the driver's dispute confirmations from a file or for every dispute, and a UART over
bytes in memory. Loaded when one is first named: a unit without them never holds their
classes."""

import os


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
