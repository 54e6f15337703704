"""The driving objects back after a sync (firmware/app_sync.py): the other half of
firmware/stow.py, which sets them aside, encoded, in a file.

A module of its own so that neither half is on the heap when the other runs: the stow comes at
a sync's start, the day's tightest moment, and this at its end (firmware/README.md "Memory").
The encoding is stow.py's (its tags and numbering are repeated here as constants, which
mpy-cross folds away); the stowed group names the modules of the classes it met
(``stow.MODULES``), so this module loads nothing of stow.py's.
"""

import gc
import sys

from firmware.ledger import cipher
from firmware.ledger.atomic import remove
from protocol.compat import const

# stow.py's encoding (see there)
_NONE = const(0)
_FALSE = const(1)
_TRUE = const(2)
_INT = const(3)
_NEG = const(4)
_BYTES = const(5)
_STR = const(6)
_LIST = const(7)
_TUPLE = const(8)
_DICT = const(9)
_OBJ = const(10)
_AGAIN = const(11)
_KEPT = const(12)
_CLASS = const(13)
_PIECE = const(127)
_NONCE = const(b"stow")
_CHUNK = const(16)


class _Reader:
    """Decodes what a _Writer encoded (``pieces``, ``kept``); the driving modules are
    imported already (unstow)."""

    def __init__(self, f, crypto, kept, modules):
        self.f = f
        self.crypto = crypto
        self.kept = kept
        self.modules = modules  # stow.MODULES: the classes' modules, by the index written
        self.p = 0  # pieces read
        self.piece = b""
        self.i = 0  # next byte in it
        self.objs = [[]]  # number -> rebuilt list, dict or instance (chunked)
        self.layouts = []  # (class, attribute names)
        self.next()

    def next(self):
        """Read, check and decrypt the next piece of the file."""
        tag_len = cipher.TAG_LEN
        data = self.f.read(_PIECE + tag_len)
        if len(data) <= tag_len:
            raise ValueError("stow: the file ends early")
        ct = data[:-tag_len]
        h = self.crypto.mac_start(self.p, _NONCE)
        h.update(ct)
        if self.crypto.mac_finish(h) != data[-tag_len:]:
            raise ValueError("stow: the file was altered")
        self.piece = self.crypto.xor(self.p, _NONCE, ct)
        self.p += 1
        self.i = 0

    def byte(self):
        if self.i == len(self.piece):
            self.next()
        b = self.piece[self.i]
        self.i += 1
        return b

    def uint(self):
        v = shift = 0
        while True:
            b = self.byte()
            v |= (b & 0x7F) << shift
            if b < 0x80:
                return v
            shift += 7

    def raw(self):
        n = self.uint()
        piece = self.piece
        i = self.i
        if i + n <= len(piece):  # within this piece: one slice, no other object
            self.i = i + n
            return piece[i : i + n]
        out = bytearray(n)
        for j in range(n):
            out[j] = self.byte()
        return bytes(out)

    def number(self):
        """The next number of a list, dict or instance (chunked, as stow numbers them)."""
        last = self.objs[-1]
        if len(last) == _CHUNK:
            last = []
            self.objs.append(last)
        last.append(None)
        return (len(self.objs) - 1) * _CHUNK + len(last) - 1

    def cls(self):
        mod = sys.modules[self.modules[self.uint()]]
        return getattr(mod, self.raw().decode())

    def layout(self):
        j = self.uint()
        if j:
            return self.layouts[j - 1]
        cls = self.cls()
        names = [None] * self.uint()
        for i in range(len(names)):
            names[i] = self.raw().decode()
        lay = (cls, names)
        self.layouts.append(lay)
        return lay

    def value(self):
        tag = self.byte()
        if tag == _INT:
            return self.uint()
        if tag == _AGAIN:
            n = self.uint()
            return self.objs[n // _CHUNK][n % _CHUNK]
        if tag == _TUPLE:
            n = self.uint()
            # trace points and vertices: built in one go, no list to collect afterwards
            if n == 3:
                return (self.value(), self.value(), self.value())
            if n == 2:
                return (self.value(), self.value())
            out = [None] * n
            for j in range(n):
                out[j] = self.value()
            return tuple(out)
        if tag == _NONE:
            return None
        if tag == _FALSE or tag == _TRUE:
            return tag == _TRUE
        if tag == _NEG:
            return -1 - self.uint()
        if tag == _BYTES:
            return self.raw()
        if tag == _STR:
            return self.raw().decode()
        if tag == _KEPT:
            n = self.uint()
            return self.kept[n // _CHUNK][n % _CHUNK]
        if tag == _CLASS:
            return self.cls()
        n = self.number()  # numbered when it begins, set when it is made
        if tag == _LIST:
            o = [None] * self.uint()
            self.objs[n // _CHUNK][n % _CHUNK] = o
            for j in range(len(o)):
                o[j] = self.value()
            return o
        # A dict's or an instance's items first, then its table: the table's growth (a copy
        # per step) then leaves one run of freed tables, not holes between the items.
        if tag == _DICT:
            items = [None] * (2 * self.uint())
            for j in range(len(items)):
                items[j] = self.value()
            o = {}
            for j in range(0, len(items), 2):
                o[items[j]] = items[j + 1]
        elif tag == _OBJ:
            cls, names = self.layout()
            items = [None] * len(names)
            for j in range(len(items)):
                items[j] = self.value()
            o = object.__new__(cls)
            for j in range(len(items)):
                setattr(o, names[j], items[j])
        else:
            raise ValueError("stow: bad tag %d" % tag)
        self.objs[n // _CHUNK][n % _CHUNK] = o
        return o


def unstow(app):
    """Rebuild the objects :func:`stow` set aside (importing the driving modules again) and
    put them back on the App; nothing to do when nothing is stowed."""
    stowed = app._stowed
    if stowed is None:
        return
    # The code first, then the data: the modules' long-lived objects are not interleaved
    # with the decoding's short-lived ones (holes a fragmented heap cannot spare).
    used = 0
    for group in stowed:
        used |= group[4]
    modules = stowed[0][5]
    for j in range(len(modules)):
        if used >> j & 1:
            __import__(modules[j])
    gc.collect()
    for attrs, path, key, kept, _used, modules in stowed:
        with open(path, "rb") as f:
            r = _Reader(f, cipher.FileCrypto(key[0], key[1], cipher.SHA256_CTR), kept, modules)
            objs = [r.value() for _ in attrs]
        for i in range(len(attrs)):
            setattr(app, attrs[i], objs[i])
        del r, objs
    for group in stowed:
        remove(group[1])
    seg = app.segmenter
    app.odometer.on_step = seg.step
    app.odometer.on_gap = seg.gap
    app._stowed = None
