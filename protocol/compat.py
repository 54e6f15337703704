"""Shims for names that differ between MicroPython and CPython.

MicroPython quirks that the protocol code must respect (checked on the 1.29 unix port):
- ``isinstance(True, int)`` is False, so bools and ints are told apart explicitly;
- ints have no ``bit_length()``; use :func:`bit_length` below;
- ``int.to_bytes`` takes no ``signed`` argument; dicts are not insertion-ordered.
"""

try:
    from micropython import const  # type: ignore[import-not-found]
except ImportError:  # CPython

    def const(x):  # type: ignore[no-redef]
        return x


def is_int(x):
    """True for int but not bool, on both implementations."""
    return isinstance(x, int) and not isinstance(x, bool)


def bit_length(n):
    """Number of bits needed to represent the non-negative int ``n``."""
    n_bits = 0
    while n >= 0x100000000:
        n >>= 32
        n_bits += 32
    while n:
        n >>= 1
        n_bits += 1
    return n_bits
