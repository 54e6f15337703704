"""Strict deterministic-CBOR decoder (RFC 8949 §4.2.1), split from protocol.cbor so that
code which only encodes does not carry it on the heap. Use it through cbor.decode."""

from protocol import errors
from protocol.cbor import Tag
from protocol.compat import const, is_int

# Major types (RFC 8949 §3.1), as protocol.cbor has them (compile-time constants: no names
# on the heap, so each module states its own).
_UINT = const(0)
_NINT = const(1)
_BYTES = const(2)
_TEXT = const(3)
_ARRAY = const(4)
_TAG = const(6)
_SIMPLE = const(7)
_BREAK = const(0xFF)


def _check_utf8(b):
    """Raise DecodeError unless ``b`` is well-formed UTF-8 (RFC 3629).

    Written out because MicroPython's decoder accepts overlong forms, surrogates and code
    points above U+10FFFF; doing it by hand gives the same answer on both interpreters.
    """
    if not b or max(b) < 0x80:
        return  # ASCII: the common case, checked in C
    i = 0
    n = len(b)
    while i < n:
        c = b[i]
        if c < 0x80:
            i += 1
            continue
        if 0xC2 <= c <= 0xDF:
            need = 1
            lo = 0x80
            hi = 0xBF
        elif 0xE0 <= c <= 0xEF:
            need = 2
            # Exclude overlong forms (E0 80..9F) and UTF-16 surrogates (ED A0..BF).
            lo = 0xA0 if c == 0xE0 else 0x80
            hi = 0x9F if c == 0xED else 0xBF
        elif 0xF0 <= c <= 0xF4:
            need = 3
            # Exclude overlong forms (F0 80..8F) and code points above U+10FFFF (F4 90..).
            lo = 0x90 if c == 0xF0 else 0x80
            hi = 0x8F if c == 0xF4 else 0xBF
        else:
            raise errors.DecodeError("invalid UTF-8 lead byte")
        if i + need >= n:
            raise errors.DecodeError("truncated UTF-8 sequence")
        c1 = b[i + 1]
        if c1 < lo or c1 > hi:
            raise errors.DecodeError("invalid UTF-8 continuation")
        for j in range(i + 2, i + need + 1):
            if b[j] & 0xC0 != 0x80:
                raise errors.DecodeError("invalid UTF-8 continuation")
        i += need + 1


class _Decoder:
    def __init__(self, data, canonical, max_depth, max_items):
        self.data = data
        self.pos = 0
        self.canonical = canonical
        self.max_depth = max_depth
        self.max_items = max_items
        # The last head's major type and additional information (_head returns its argument):
        # no tuple per item, whose garbage between the decoded containers would fragment the
        # heap of a small device.
        self.major = 0
        self.ai = 0

    def _take(self, n):
        """Next ``n`` bytes; Truncated if the input ends first."""
        pos = self.pos
        end = pos + n
        if end > len(self.data):
            raise errors.Truncated("input ends inside an item")
        self.pos = end
        return self.data[pos:end]

    def _head(self):
        """Read a head into ``major`` and ``ai``; return its argument (None if indefinite)."""
        data = self.data
        pos = self.pos
        if pos >= len(data):
            raise errors.Truncated("input ends before an item")
        ib = data[pos]
        self.pos = pos + 1
        major = self.major = ib >> 5
        ai = self.ai = ib & 0x1F
        if ai < 24:
            return ai
        if 24 <= ai <= 26:
            # 1, 2 or 4 argument bytes, read in place (no slice per item).
            n = 1 << (ai - 24)
            if pos + 1 + n > len(data):
                raise errors.Truncated("input ends inside an item")
            arg = 0
            for i in range(pos + 1, pos + 1 + n):
                arg = (arg << 8) | data[i]
            self.pos = pos + 1 + n
            floor = 24 if ai == 24 else 0x100 if ai == 25 else 0x10000
        elif ai == 27:
            arg = int.from_bytes(self._take(8), "big")
            floor = 0x100000000
        elif ai == 31:
            return None
        else:
            raise errors.DecodeError("reserved additional information %d" % ai)
        # Major 7 uses the argument for floats and simple values, not as a length.
        if self.canonical and major != _SIMPLE and arg < floor:
            raise errors.NonCanonical("integer or length not in shortest form")
        return arg

    def _room(self, nbytes):
        """Reject a declared length the remaining input cannot hold, before allocating."""
        if nbytes > len(self.data) - self.pos:
            raise errors.TooLarge("declared length exceeds the remaining input")

    def _count(self, n):
        if n > self.max_items:
            raise errors.TooLarge("container has more than max_items elements")

    def _at_break(self):
        data = self.data
        if self.pos >= len(data):
            raise errors.Truncated("input ends inside an indefinite-length item")
        if data[self.pos] == _BREAK:
            self.pos += 1
            return True
        return False

    def _string(self, major, n):
        if n is None:
            if self.canonical:
                raise errors.NonCanonical("indefinite-length string")
            chunks = []
            while not self._at_break():
                cn = self._head()
                if self.major != major or cn is None:
                    raise errors.DecodeError("bad chunk in indefinite-length string")
                chunks.append(self._string(major, cn))
            return (b"" if major == _BYTES else "").join(chunks)
        self._room(n)
        b = self._take(n)
        if major == _BYTES:
            return b
        _check_utf8(b)
        try:
            return b.decode("utf-8")
        except UnicodeError:  # pragma: no cover - _check_utf8 already rejected it
            raise errors.DecodeError("invalid UTF-8 in text string") from None

    def item(self, depth):
        arg = self._head()
        major = self.major
        ai = self.ai
        if major == _UINT:
            if arg is None:
                raise errors.DecodeError("indefinite length on an integer")
            return arg
        if major == _NINT:
            if arg is None:
                raise errors.DecodeError("indefinite length on an integer")
            return -1 - arg
        if major == _BYTES or major == _TEXT:
            return self._string(major, arg)
        if major == _SIMPLE:
            if ai == 20:
                return False
            if ai == 21:
                return True
            if ai == 22:
                return None
            if ai == 31:
                raise errors.DecodeError("break outside an indefinite-length item")
            if ai >= 25:
                raise errors.UnsupportedType("floating-point values are not supported")
            raise errors.UnsupportedType("unsupported simple value")
        # Containers and tags: one more level of nesting.
        depth += 1
        if depth > self.max_depth:
            raise errors.TooDeep("nesting deeper than max_depth")
        if major == _TAG:
            if arg is None:
                raise errors.DecodeError("indefinite length on a tag")
            return Tag(arg, self.item(depth))
        if arg is None and self.canonical:
            raise errors.NonCanonical("indefinite-length container")
        if major == _ARRAY:
            return self._array(arg, depth)
        return self._map(arg, depth)

    def _array(self, n, depth):
        out = []  # type: list
        if n is None:
            while not self._at_break():
                if len(out) >= self.max_items:
                    raise errors.TooLarge("container has more than max_items elements")
                out.append(self.item(depth))
            return out
        self._count(n)
        self._room(n)  # every element takes at least one byte
        for _ in range(n):
            out.append(self.item(depth))
        return out

    def _map(self, n, depth):
        out = {}  # type: dict
        if n is None:
            count = 0
            while not self._at_break():
                count += 1
                if count > self.max_items:
                    raise errors.TooLarge("container has more than max_items elements")
                self._pair(out, depth, None)
            return out
        self._count(n)
        self._room(2 * n)  # every pair takes at least two bytes
        prev = None
        for _ in range(n):
            prev = self._pair(out, depth, prev)
        return out

    def _pair(self, out, depth, prev):
        """Decode one key/value pair into ``out``; return the key's encoded bytes."""
        start = self.pos
        key = self.item(depth)
        if not (is_int(key) or isinstance(key, str)):
            raise errors.UnsupportedType("map key must be int or text")
        kb = self.data[start : self.pos]
        if key in out:
            raise errors.NonCanonical("duplicate map key")
        if self.canonical and prev is not None and kb <= prev:
            raise errors.NonCanonical("map keys not in deterministic order")
        out[key] = self.item(depth)
        return kb


def decode(data, max_depth=16, max_items=100000, canonical=True):
    """Decode exactly one CBOR item from ``data``; raise an errors.DecodeError subclass.

    ``max_depth`` bounds the nesting of arrays, maps and tags; ``max_items`` bounds the
    element count of any single array or map. ``canonical=False`` accepts valid but
    non-deterministic encodings (see the module docstring).
    """
    if isinstance(data, (bytearray, memoryview)):
        data = bytes(data)
    elif not isinstance(data, bytes):
        raise errors.UnsupportedType("decode() needs bytes")
    dec = _Decoder(data, canonical, max_depth, max_items)
    obj = dec.item(0)
    if dec.pos != len(data):
        raise errors.TrailingBytes("%d bytes after the item" % (len(data) - dec.pos))
    return obj


def decode_prefix(data, offset=0, max_depth=16, max_items=100000, canonical=True):
    """Decode one item starting at ``offset``; return (item, offset just past it)."""
    if isinstance(data, (bytearray, memoryview)):
        data = bytes(data)
    elif not isinstance(data, bytes):
        raise errors.UnsupportedType("decode_prefix() needs bytes")
    if not is_int(offset) or offset < 0:
        raise errors.DecodeError("offset must be a non-negative int")
    dec = _Decoder(data, canonical, max_depth, max_items)
    dec.pos = offset
    obj = dec.item(0)
    return obj, dec.pos
