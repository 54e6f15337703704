"""Per-period ledger keys: one random 32-byte key per period, each in its own small file.

Destroying a period's key is what deletes its trace records (DESIGN §2.4): without the key
the ledger file is ciphertext nobody can read or authenticate. The file is overwritten with
zeros, flushed and removed. On a filesystem that writes in place this also erases the bytes;
LittleFS is copy-on-write, so the old key block stays on flash until reused — against a raw
flash dump, enable ESP32 flash encryption or keep keys in the secure element (README.md).
"""

import os

from protocol.compat import const, is_int

from . import atomic, errors  # errors: the faults load when one is raised

KEY_LEN = const(32)
_PREFIX = const("k")
_SUFFIX = const(".key")


def check_period(period_id):
    """Period ids are ints in [0, 2**63): a statement sequence number or a start time."""
    if not is_int(period_id) or period_id < 0 or period_id >= 1 << 63:
        raise errors.InvalidPeriod("period id must be an int in [0, 2**63): %r" % (period_id,))
    return period_id


def period_of(name, prefix, suffix):
    """The period id in a file name like ``k42.key``, or None for any other name."""
    if not (name.startswith(prefix) and name.endswith(suffix)):
        return None
    digits = name[len(prefix) : len(name) - len(suffix)]
    if not digits or not digits.isdigit() or (digits[0] == "0" and len(digits) > 1):
        return None
    return int(digits)


class KeyStore:
    """Random per-period keys under ``dir_path``; ``rng(n)`` returns n random bytes."""

    def __init__(self, dir_path, rng=None):
        self.dir = dir_path
        self._rng = rng if rng is not None else os.urandom
        atomic.ensure_dir(dir_path)
        atomic.discard_tmp(dir_path)
        for period_id in self.periods():
            if self.get(period_id) is None:  # zeroed: finish a destroy cut short by a reset
                os.remove(self._path(period_id))

    def _path(self, period_id):
        return "%s/%s%d%s" % (self.dir, _PREFIX, check_period(period_id), _SUFFIX)

    def has(self, period_id):
        return self.get(period_id) is not None

    def get(self, period_id):
        """The period's key, or None if it never existed or was destroyed."""
        key = atomic.read_file(self._path(period_id))
        if key is None or key == bytes(KEY_LEN):
            # All zeros: a destroy was cut short between the overwrite and the remove.
            return None
        if len(key) != KEY_LEN:
            raise errors.LedgerCorrupt("key file of period %d is damaged" % period_id)
        return key

    def key(self, period_id):
        """The period's key, created on first use."""
        key = self.get(period_id)
        if key is None:
            key = self._rng(KEY_LEN)
            if len(key) != KEY_LEN or key == bytes(KEY_LEN):
                raise ValueError("rng returned a bad key")
            atomic.atomic_write(self._path(period_id), key)
        return key

    def destroy(self, period_id):
        """Overwrite the key file with zeros, flush, remove. True if a key existed."""
        path = self._path(period_id)
        try:
            f = open(path, "r+b")
        except OSError:
            return False
        with f:
            f.write(bytes(KEY_LEN))
            f.flush()
        os.remove(path)
        return True

    def periods(self):
        """Ids of the periods that have a key, ascending."""
        out = []
        for name in os.listdir(self.dir):
            p = period_of(name, _PREFIX, _SUFFIX)
            if p is not None:
                out.append(p)
        out.sort()
        return out
