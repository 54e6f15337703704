"""Field checks for decoding messages from CBOR maps.

Every message decoder reads its map through these helpers, so that a missing field, an
unknown field, a wrong type or an out-of-bounds value always raises errors.InvalidMessage with
a message naming the message type and the field.
"""

from protocol.compat import is_int
from protocol.errors import InvalidMessage

U32 = 0xFFFFFFFF
U64 = 0xFFFFFFFFFFFFFFFF
LAT_E7_MAX = 900000000
LON_E7_MAX = 1800000000


def fail(msg_type, field, why):
    raise InvalidMessage("%s.%s: %s" % (msg_type, field, why))


def check_map(msg_type, m, required, optional=()):
    """Check that ``m`` is a map with int keys, all of ``required``, and nothing unknown."""
    if not isinstance(m, dict):
        raise InvalidMessage("%s: expected a map" % msg_type)
    for k in m:
        if not is_int(k):
            fail(msg_type, str(k), "keys must be unsigned integers")
        if k not in required and k not in optional:
            fail(msg_type, str(k), "unknown field")
    for k in required:
        if k not in m:
            fail(msg_type, str(k), "missing field")


def uint(msg_type, name, v, max_value=U64, min_value=0):
    if not is_int(v):
        fail(msg_type, name, "expected an unsigned integer")
    if v < min_value or v > max_value:
        fail(msg_type, name, "out of range [%d, %d]" % (min_value, max_value))
    return v


def sint(msg_type, name, v, min_value, max_value):
    if not is_int(v):
        fail(msg_type, name, "expected an integer")
    if v < min_value or v > max_value:
        fail(msg_type, name, "out of range [%d, %d]" % (min_value, max_value))
    return v


def bstr(msg_type, name, v, length=None, max_len=None):
    if not isinstance(v, bytes):
        fail(msg_type, name, "expected a byte string")
    if length is not None and len(v) != length:
        fail(msg_type, name, "expected %d bytes, got %d" % (length, len(v)))
    if max_len is not None and len(v) > max_len:
        fail(msg_type, name, "longer than %d bytes" % max_len)
    return v


def tstr(msg_type, name, v, max_len=64):
    if not isinstance(v, str):
        fail(msg_type, name, "expected a text string")
    if len(v) == 0 or len(v) > max_len:
        fail(msg_type, name, "length must be 1..%d" % max_len)
    return v


def array(msg_type, name, v, max_len, length=None):
    if not isinstance(v, list):
        fail(msg_type, name, "expected an array")
    if len(v) > max_len:
        fail(msg_type, name, "more than %d elements" % max_len)
    if length is not None and len(v) != length:
        fail(msg_type, name, "expected %d elements" % length)
    return v


def lat_e7(msg_type, name, v):
    return sint(msg_type, name, v, -LAT_E7_MAX, LAT_E7_MAX)


def lon_e7(msg_type, name, v):
    return sint(msg_type, name, v, -LON_E7_MAX, LON_E7_MAX)
