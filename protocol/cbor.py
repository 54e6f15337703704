"""Deterministic CBOR (RFC 8949 §4.2.1, core deterministic encoding) for the protocol.

Only the subset the protocol needs: unsigned/negative ints in 64 bits, byte and text strings,
arrays, maps with int or text keys, tags, false/true/null. No floats.

``encode`` always produces the deterministic form. ``decode`` is strict by default so that a
message has exactly one encoding (signatures and hashes are taken over encodings); with
``canonical=False`` it also accepts non-shortest heads, unsorted map keys and indefinite
lengths, for parsing foreign envelopes (e.g. COSE examples). Both modes stay strict on
truncation, trailing bytes, nesting depth, sizes, duplicate keys and UTF-8.

Every decoding failure raises a subclass of ``errors.DecodeError``, never anything else.
"""

from protocol import errors
from protocol.compat import const, is_int

_UINT64_LIMIT = const(0x10000000000000000)

# Major types.
_UINT = const(0)
_NINT = const(1)
_BYTES = const(2)
_TEXT = const(3)
_ARRAY = const(4)
_MAP = const(5)
_TAG = const(6)
_SIMPLE = const(7)

_BREAK = const(0xFF)


class Tag:
    """A CBOR tagged item (major type 6): tag number ``tag`` wrapping ``value``."""

    def __init__(self, tag, value):
        self.tag = tag
        self.value = value

    def __eq__(self, other):
        return isinstance(other, Tag) and self.tag == other.tag and self.value == other.value

    # MicroPython does not derive != from __eq__ for user classes.
    def __ne__(self, other):
        return not self.__eq__(other)

    __hash__ = None  # type: ignore[assignment]  # value may be mutable

    def __repr__(self):
        return "Tag(%d, %r)" % (self.tag, self.value)


# --- encoding ----------------------------------------------------------------------------


def _head(buf, major, n):
    """Append the shortest head for major type ``major`` and argument ``n``."""
    mt = major << 5
    if n < 24:
        buf.append(mt | n)
    elif n < 0x100:
        buf.append(mt | 24)
        buf.append(n)
    elif n < 0x10000:
        buf.append(mt | 25)
        buf.extend(n.to_bytes(2, "big"))
    elif n < 0x100000000:
        buf.append(mt | 26)
        buf.extend(n.to_bytes(4, "big"))
    else:
        buf.append(mt | 27)
        buf.extend(n.to_bytes(8, "big"))


def head(major, n):
    """Shortest-form head bytes for major type ``major`` (0..7) and argument ``n``.

    For streaming encoders that write a container's head before its items.
    """
    if not (is_int(major) and 0 <= major <= 7 and is_int(n) and 0 <= n < _UINT64_LIMIT):
        raise errors.UnsupportedType("head needs major in 0..7 and an unsigned 64-bit argument")
    buf = bytearray()
    _head(buf, major, n)
    return bytes(buf)


def _encode_key(k):
    if not (is_int(k) or isinstance(k, str)):
        raise errors.UnsupportedType("map key must be int or str, not %s" % type(k).__name__)
    buf = bytearray()
    _enc(buf, k)
    return bytes(buf)


def _first(pair):
    return pair[0]


def _enc(buf, obj):
    # bool is tested before int: on CPython bool is an int subclass.
    if obj is False:
        buf.append(0xF4)
    elif obj is True:
        buf.append(0xF5)
    elif obj is None:
        buf.append(0xF6)
    elif is_int(obj):
        if obj >= 0:
            if obj >= _UINT64_LIMIT:
                raise errors.UnsupportedType("integer out of 64-bit range")
            _head(buf, _UINT, obj)
        else:
            n = -1 - obj
            if n >= _UINT64_LIMIT:
                raise errors.UnsupportedType("integer out of 64-bit range")
            _head(buf, _NINT, n)
    elif isinstance(obj, (bytes, bytearray)):
        _head(buf, _BYTES, len(obj))
        buf.extend(obj)
    elif isinstance(obj, str):
        b = obj.encode("utf-8")
        _head(buf, _TEXT, len(b))
        buf.extend(b)
    elif isinstance(obj, (list, tuple)):
        _head(buf, _ARRAY, len(obj))
        for item in obj:
            _enc(buf, item)
    elif isinstance(obj, dict):
        # Deterministic order: bytewise lexicographic order of the encoded keys.
        pairs = [(_encode_key(k), v) for k, v in obj.items()]
        pairs.sort(key=_first)
        _head(buf, _MAP, len(pairs))
        for kb, v in pairs:
            buf.extend(kb)
            _enc(buf, v)
    elif isinstance(obj, Tag):
        if not is_int(obj.tag) or obj.tag < 0 or obj.tag >= _UINT64_LIMIT:
            raise errors.UnsupportedType("tag number must be an unsigned 64-bit int")
        _head(buf, _TAG, obj.tag)
        _enc(buf, obj.value)
    else:
        raise errors.UnsupportedType("cannot encode %s" % type(obj).__name__)


def encode(obj):
    """Deterministic CBOR encoding of ``obj`` (raises errors.UnsupportedType)."""
    buf = bytearray()
    _enc(buf, obj)
    return bytes(buf)


# --- decoding ----------------------------------------------------------------------------


def decode(data, max_depth=16, max_items=100000, canonical=True):
    """Decode one CBOR item (strict by default); see protocol.cbor_decode.decode.

    The decoder lives in its own module, imported on first use: the OBU mostly encodes, and
    keeping the decoder's code off the heap until a message arrives saves ~6 KB there.
    """
    from protocol import cbor_decode

    return cbor_decode.decode(data, max_depth, max_items, canonical)


def decode_prefix(data, offset=0, max_depth=16, max_items=100000, canonical=True):
    """Decode the item at ``offset``; return (item, next_offset). See cbor_decode."""
    from protocol import cbor_decode

    return cbor_decode.decode_prefix(data, offset, max_depth, max_items, canonical)
