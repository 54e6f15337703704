"""The tamper record: how often the enclosure lid was opened, first and last time, on flash.

An event is the lid going from closed to open (SW1 on GPIO36, firmware/board/sense.py). The
record is one short line in ``<root>/tamper``, replaced atomically (firmware/ledger/atomic.py),
so a power cut leaves the old record or the new one. While it exists the status shows the
fault ``tamper`` (red LED, the buzzer), across reboots, until provisioning clears it
(``firmware.provision`` command ``clear-tamper``, which prints the record first).

Times are GNSS time. An event seen before the unit knows the time (the lid opened while parked
wakes the unit, which has no fix yet) is dated by the first GNSS time after it: "at or before".

The record stays on the unit: no signed protocol message carries it (protocol/SPEC.md).
"""

from firmware.ledger import atomic

FILE = "/tamper"
UNKNOWN = -1


def path_of(root):
    return root + FILE


class TamperLog:
    """``count`` events, ``first``/``last`` their times (None: not dated yet), ``open`` the lid
    as last seen. A record that does not parse counts as one undated event: a damaged record
    must not clear the fault."""

    def __init__(self, root):
        self.path = path_of(root)
        self.count = 0
        self.first = None
        self.last = None
        self.open = False
        data = atomic.read_file(self.path)
        if data is None:
            return
        try:
            count, first, last, lid = [int(x) for x in data.split()]
        except ValueError:
            count, first, last, lid = 1, UNKNOWN, UNKNOWN, 1
        self.count = max(count, 1)
        self.first = None if first < 0 else first
        self.last = None if last < 0 else last
        self.open = lid == 1

    def observe(self, open_now, t):
        """The lid seen open (True) or closed at GNSS time ``t`` (None: unknown). Returns True
        when this is a new event (closed → open)."""
        open_now = bool(open_now)
        if open_now == self.open:
            return False
        self.open = open_now
        if open_now:
            self.count += 1
            if self.count == 1:
                self.first = t
            self.last = t
        self._save()
        return open_now

    def undated(self):
        return self.count > 0 and (self.first is None or self.last is None)

    def date(self, t):
        """Give undated events the GNSS time ``t`` (the first known after them)."""
        if not self.undated() or t is None:
            return
        if self.first is None:
            self.first = t
        if self.last is None:
            self.last = t
        self._save()

    def _save(self):
        first = UNKNOWN if self.first is None else self.first
        last = UNKNOWN if self.last is None else self.last
        line = "%d %d %d %d\n" % (self.count, first, last, 1 if self.open else 0)
        atomic.atomic_write(self.path, line.encode())

    def describe(self):
        def when(t):
            return "unknown" if t is None else "%d" % t

        return "tamper count=%d first=%s last=%s lid=%s" % (
            self.count,
            when(self.first),
            when(self.last),
            "open" if self.open else "closed",
        )


def seen(root, now_open, opened, t):
    """The App's one call (firmware/app.py): record the lid as seen at GNSS time ``t`` —
    ``now_open`` its level (None: only date undated events), ``opened`` whether its IRQ fired
    since the last look (an opening shut again in between counts). Returns (count, undated)."""
    log = TamperLog(root)
    if now_open is not None:
        if opened and not now_open:
            log.observe(True, t)
        log.observe(now_open, t)
    log.date(t)
    return log.count, log.undated()


def clear(root):
    """Remove the record (provisioning); returns the record that was there, or None."""
    if not atomic.exists(path_of(root)):
        return None
    log = TamperLog(root)
    atomic.remove(log.path)
    return log
