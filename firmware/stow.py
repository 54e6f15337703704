"""The driving pipeline set aside while a sync runs (firmware/app_sync.py).

While driving, the App holds the NMEA parser, the odometer, the segmenter (with the segment
being built), the policy store (with the verified policies) and the accounting: instances of
the driving modules' classes, so those modules' code stays on the heap as long as the
instances live — ~17 KB at 64 bits, ~10 KB at 32, that the network phase (its own ~30 KB)
never calls. :func:`stow` encodes the five objects into a short file (below) and drops the
driving modules — in two steps in a sync: all but the accounting before sealing (sealing and
retention use it; its modules stay), the accounting before the uplink, each step a group of
its own (the accounting shares no object with the others); ``firmware.unstow.unstow``, after
the network phase's modules have left, imports them again and rebuilds the same objects,
attribute for attribute, shared where they were shared (the open segment's policy, zone,
band and rate are the policy store's). Nothing is cut: the segment being built goes on
growing after the sync as if there had been none.

Encoded, the objects weigh a fraction of what they do as objects (the day's drive: ~2.4 KB of
bytes for ~16 KB of instances, lists and tuples at 64 bits — a trace point or a polygon
vertex is a 32-byte tuple but ~9 bytes encoded), and even those bytes leave the heap: they go
to a file, ``<root>/stowed0`` (``stowed1`` for the accounting), written and read back in
pieces of :data:`PIECE` bytes, so the network phase has ~2.5 KB more room and the fragmented
heap of a sync never has to find a large block for them. The open segment's trace is among
them, so the file is encrypted and each piece authenticated (firmware/ledger/cipher.py)
under a key of its own, derived from one that the App draws at boot and holds only in RAM:
the file is removed as soon as the objects are back, and whatever flash keeps of it cannot
be read once the unit has reset. What cannot or need not be encoded is kept as the same object in
RAM: buffers (the parser's line buffer and its memoryview), open ledgers and the other
resident objects, functions and the App's callbacks.

Only the odometer holds callbacks into a stowed object (the segmenter's ``step`` and ``gap``,
bound methods MicroPython cannot look into): they are detached before stowing and attached to
the rebuilt segmenter after. Loaded for a sync, unloaded while stowed and after. The reading
half is firmware/unstow.py, so that neither half is on the heap when the other runs (the stow
comes at a sync's start, the day's tightest moment: −1.5 KB there at 64 bits).
"""

from firmware.app import unload_modules
from firmware.ledger import cipher  # by module: this module's globals stay under 23
from firmware.ledger.atomic import remove
from protocol.compat import const

# The App's attributes that are stowed, and the modules whose classes they are made of (the
# modules are dropped while stowed; no module that stays resident refers to them).
ATTRS = ("parser", "odometer", "segmenter", "policies", "accounting")
MODULES = (
    "firmware.accounting",
    "firmware.accounting_faults",
    "firmware.gnss.nmea",
    "firmware.gnss",
    "firmware.odometry",
    "firmware.segments",
    "firmware.policy",
    "protocol.tariff",
    "protocol.tariff_rules",
    "protocol.geo",
    "protocol.timeutil",  # no class: a copy kept by firmware.status_text is harmless
    "protocol.record",  # the segmenter's (SegmentRecord): the network phase has message_base
    "firmware.commit",  # holds record's and accounting's classes: goes with them (no class)
)
# The accounting first stays (sealing and retention need it): its modules stay with it.
DRIVING = ATTRS[:4]
ACCOUNTING_MODULES = ("firmware.accounting", "firmware.accounting_faults", "protocol.timeutil")


# The encoding: one tag byte per value, then its fields; counts, lengths and indexes as
# unsigned varints (7 bits a byte, low first). Lists, dicts and instances are numbered in the
# order they begin and meet again as a reference (the same object rebuilt once; tuples, which
# have no identity to keep, are copied). An instance's class and attribute names are written
# with the first instance of that layout and referred to by number after (the policy's zones,
# bands and rates share a few). Private to this module: the bytes one stow makes are read by
# the next unstow of the same firmware (firmware/unstow.py repeats them), never stored.
_NONE = const(0)
_FALSE = const(1)
_TRUE = const(2)
_INT = const(3)  # varint
_NEG = const(4)  # varint of -1 - v
_BYTES = const(5)  # length, bytes
_STR = const(6)  # length, UTF-8
_LIST = const(7)  # n, items (numbered)
_TUPLE = const(8)  # n, items
_DICT = const(9)  # n, key and value n times (numbered)
_OBJ = const(10)  # layout (below), its attributes' values (numbered)
_AGAIN = const(11)  # number of a list, dict or instance met before
_KEPT = const(12)  # index in the list of objects kept as they are
_CLASS = const(13)  # module index in MODULES, class name: a driving class itself
# a layout: 0 and the module index, class name, n, n attribute names — or its number + 1

PIECE = const(127)  # bytes per piece of the encoding (with its NUL, 4 GC blocks at 64 bits)
_FILE = const("stowed")  # <root>/stowed0, stowed1: a sync's two groups
_NONCE = const(b"stow")  # (the key is new for every file)
_CHUNK = const(16)  # items per list in the chunked lists below


# The stow runs at the start of a sync, on the most fragmented heap of the day: nothing it
# allocates may need a large block, so its growing lists (the objects met, the objects kept)
# are lists of lists of at most _CHUNK items.
def _add(chunks, v):
    """Append ``v`` to the chunked list ``chunks``; its index."""
    last = chunks[-1]
    if len(last) == _CHUNK:
        last = []
        chunks.append(last)
    last.append(v)
    return (len(chunks) - 1) * _CHUNK + len(last) - 1


def _find(chunks, v):
    """The index of the first item equal to ``v`` in the chunked list, -1 if none."""
    for c in range(len(chunks)):
        if v in chunks[c]:
            return c * _CHUNK + chunks[c].index(v)
    return -1


def _module(cls):
    """The index in MODULES of the module that defines ``cls``, -1 for another."""
    m = getattr(cls, "__module__", None)
    for j in range(len(MODULES)):
        if MODULES[j] == m:
            return j
    return -1


class _Writer:
    """Encodes values into pieces of PIECE bytes (``pieces``); ``kept`` the objects kept as
    they are; ``used`` bit j set when a class of MODULES[j] was met."""

    def __init__(self, f, crypto):
        self.f = f
        self.crypto = crypto
        self.pieces = 0  # written so far
        self.buf = bytearray(PIECE)
        self.n = 0
        self.kept = [[]]  # chunked
        # ids of the lists, dicts and instances met, by number (chunked), and of those being
        # encoded: scanned in C (a few dozen objects), not a dict, whose growing table would
        # need ever larger blocks
        self.ids = [[]]
        self.open = []
        self.layouts = []  # (class, attribute names) in the order first written
        self.used = 0

    def byte(self, b):
        self.buf[self.n] = b
        self.n += 1
        if self.n == PIECE:
            self.flush()

    def flush(self):
        """The buffer out as the next piece of the file: encrypted, then its tag."""
        ct = self.crypto.xor(
            self.pieces, _NONCE, self.buf if self.n == PIECE else self.buf[: self.n]
        )
        h = self.crypto.mac_start(self.pieces, _NONCE)
        h.update(ct)
        for data in (ct, self.crypto.mac_finish(h)):
            if self.f.write(data) != len(data):
                raise OSError(28)  # ENOSPC: the stow fails and nothing changes
        self.pieces += 1
        self.n = 0

    def uint(self, v):
        while v >= 0x80:
            self.byte(v & 0x7F | 0x80)
            v >>= 7
        self.byte(v)

    def raw(self, data):
        self.uint(len(data))
        for b in data:
            self.byte(b)

    def value(self, v):
        t = type(v)
        if v is None:
            self.byte(_NONE)
        elif t is bool:
            self.byte(_TRUE if v else _FALSE)
        elif t is int:
            if v < 0:
                self.byte(_NEG)
                self.uint(-1 - v)
            else:
                self.byte(_INT)
                self.uint(v)
        elif t is bytes:
            self.byte(_BYTES)
            self.raw(v)
        elif t is str:
            self.byte(_STR)
            self.raw(v.encode())
        elif t is tuple:  # immutable: no identity to keep, and no cycle without a list
            self.byte(_TUPLE)
            self.uint(len(v))
            for x in v:
                self.value(x)
        elif t is list or t is dict or _module(t) >= 0:
            self.shared(v, t)
        elif t is type and _module(v) >= 0:
            self.byte(_CLASS)
            self.cls(v)
        else:
            self.byte(_KEPT)
            self.uint(_add(self.kept, v))

    def cls(self, c):
        j = _module(c)
        self.used |= 1 << j
        self.uint(j)
        self.raw(c.__name__.encode())

    def layout(self, t, attrs):
        for j in range(len(self.layouts)):
            c, names = self.layouts[j]
            if c is t and len(names) == len(attrs):
                same = True
                i = 0
                for k in attrs:
                    if k != names[i]:
                        same = False
                        break
                    i += 1
                if same:
                    self.uint(j + 1)
                    return
        self.layouts.append((t, tuple(attrs)))
        self.uint(0)
        self.cls(t)
        self.uint(len(attrs))
        for k in attrs:
            self.raw(k.encode())

    def shared(self, v, t):
        i = id(v)
        n = _find(self.ids, i)
        if n >= 0:
            if i in self.open:  # a reference back into an object being encoded
                raise ValueError("stow: cycle through a " + t.__name__)
            self.byte(_AGAIN)
            self.uint(n)
            return
        _add(self.ids, i)
        self.open.append(i)
        if t is list:
            self.byte(_LIST)
            self.uint(len(v))
            for x in v:
                self.value(x)
        elif t is dict:
            self.byte(_DICT)
            self.uint(len(v))
            for k, x in v.items():
                self.value(k)
                self.value(x)
        else:
            attrs = v.__dict__
            self.byte(_OBJ)
            self.layout(t, attrs)
            for x in attrs.values():
                self.value(x)
        self.open.pop()

    def end(self):
        if self.n:
            self.flush()
        self.buf = self.ids = self.open = self.layouts = None


def _crypto(key):
    # (key, file number): FileCrypto derives the file's own keys from both. The SHA-256
    # keystream, not AES: no cipher object (~300 bytes in one block) to find on a sync's
    # fragmented heap for ~2.5 KB of data.
    return cipher.FileCrypto(key[0], key[1], cipher.SHA256_CTR)


def stow(app, attrs=ATTRS):
    """Set the App's driving objects ``attrs`` (those of them not stowed already) aside,
    encoded, in ``app._stowed`` and drop the driving modules — all but the accounting's
    (:data:`ACCOUNTING_MODULES`) while the accounting is still in place: a sync seals and
    purges with it and sets it aside after (firmware/app_sync.py). Nothing changes if this
    fails (the objects are replaced only at the end)."""
    attrs = tuple(a for a in attrs if getattr(app, a) is not None)
    odo = app.odometer if "odometer" in attrs else None
    if odo is not None:
        on_step, on_gap = odo.on_step, odo.on_gap
        odo.on_step = odo.on_gap = None  # bound to the segmenter: attached again by unstow
    path = "%s/%s%d" % (app.root, _FILE, len(app._stowed or ()))
    # The App's stow key (in RAM only: the file is unreadable once it is gone, after a reset
    # at the latest) and the number of this file under it: a key of its own for every file.
    key = app._stow_key
    key[1] += 1
    key = (key[0], key[1])
    try:
        with open(path, "wb") as f:
            w = _Writer(f, _crypto(key))
            for a in attrs:
                w.value(getattr(app, a))
            w.end()
        group = (attrs, path, key, w.kept, w.used, MODULES)
    except BaseException:
        if odo is not None:
            odo.on_step, odo.on_gap = on_step, on_gap
        remove(path)
        raise
    for a in attrs:
        setattr(app, a, None)
    app._stowed = (app._stowed or ()) + (group,)
    del odo, w, group
    if app.unload:  # CPython keeps its modules (App.unload)
        if app.accounting is None:
            unload_modules(MODULES)
        else:
            unload_modules([m for m in MODULES if m not in ACCOUNTING_MODULES])
