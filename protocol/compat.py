"""Shims for names that differ between MicroPython and CPython.

MicroPython quirks that the protocol code must respect (checked on the 1.29 unix port):
- ``isinstance(True, int)`` is False, so bools and ints are told apart explicitly;
- ints have no ``bit_length()``; use :func:`bit_length` below;
- ``int.to_bytes`` takes no ``signed`` argument; dicts are not insertion-ordered.

:func:`lazy_names` serves names defined in another module, imported on first use.
"""

import sys

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


def lazy_names(owner, *table, submodules=()):
    """A module ``__getattr__`` (PEP 562; MicroPython has it too) for the module named
    ``owner``, serving names that another module defines: ``table`` holds (module, names)
    pairs, names None for every public name of that module, which is imported the first time
    one of them is asked for (and then kept). For what a unit in good order rarely or never
    needs — the rarer error classes, the outputs a board does not have — so that their objects
    stay off the heap while ``from owner import X`` still gives the very same object::

        __getattr__ = lazy_names(__name__, ("firmware.ledger.faults", None))

    For a package, ``submodules`` names its modules that it does not import itself: under
    MicroPython ``from package import submodule`` asks the package for the name first and takes
    the AttributeError of a module ``__getattr__`` as final, so these are imported here.
    """

    def __getattr__(name):
        if name in submodules:
            full = owner + "." + name
            __import__(full)
            return sys.modules[full]
        if name[:1] != "_":
            for module, names in table:
                if names is None or name in names:
                    __import__(module)
                    found = sys.modules[module]
                    if hasattr(found, name):
                        return getattr(found, name)
        raise AttributeError("module '%s' has no attribute '%s'" % (owner, name))

    return __getattr__
