"""The host board's console objects (firmware/board/host.py offers each by name): the status
line, the driver's yes to every dispute, and a UART over bytes in memory. Loaded when one is
first named: a unit without them never holds their classes. (The dispute confirmations from
a file, which a host unit holds for its whole run, are in firmware/board/host_confirm.py: the
unit holds that one class, not these.)"""


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


class ConfirmAll:
    """Answers yes to every dispute asked about (``host_main --confirm-disputes``): a driver
    who has said in advance that the unit may open any period they dispute. For scripted host
    runs and demos."""

    def ask(self, dispute):
        pass

    def answer(self, dispute):
        return True
