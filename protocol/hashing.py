"""SHA-256 helpers: plain, domain-separated (tagged) and HMAC (RFC 2104).

MicroPython has hashlib.sha256 (hardware-backed on the ESP32) but no ``hmac`` module, so
HMAC is written out here; RFC 6979 nonces need it.
"""

import hashlib

from protocol.compat import const

_BLOCK = const(64)


def sha256(data):
    """SHA-256 digest of ``data`` (bytes)."""
    return hashlib.sha256(data).digest()


def tagged_hash(label, *parts):
    """SHA-256 over a domain label and length-prefixed parts.

    Encoding: for the label and then every part, a 4-byte big-endian length followed by the
    bytes. Length prefixes make the split between parts unambiguous. A part may also be a list
    or tuple of byte strings, hashed as their concatenation without joining them (the OBU
    commits to a record it holds in pieces: a fragmented heap may have no record-long block).
    """
    h = hashlib.sha256()
    for p in (label,) + parts:
        if isinstance(p, (list, tuple)):
            n = 0
            for q in p:
                n += len(q)
            h.update(n.to_bytes(4, "big"))
            for q in p:
                h.update(q)
        else:
            h.update(len(p).to_bytes(4, "big"))
            h.update(p)
    return h.digest()


def hmac_sha256(key, msg):
    """HMAC-SHA-256 (RFC 2104) of ``msg`` under ``key``."""
    if len(key) > _BLOCK:
        key = sha256(key)
    key = key + bytes(_BLOCK - len(key))
    ipad = bytes(b ^ 0x36 for b in key)
    opad = bytes(b ^ 0x5C for b in key)
    inner = hashlib.sha256(ipad)
    inner.update(msg)
    outer = hashlib.sha256(opad)
    outer.update(inner.digest())
    return outer.digest()
