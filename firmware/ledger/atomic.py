"""Crash-safe small files: write a temporary file, then rename it over the target.

``rename`` replaces the target atomically on LittleFS (the ESP32 filesystem) and on POSIX, so a
reader sees the old content or the new one, never a mix. A kill between the write and the
rename leaves ``<path>.tmp`` behind; :func:`discard_tmp` removes such leftovers at boot (the
target still holds the previous complete version).

``flush`` is the durability point: on LittleFS it is ``lfs_file_sync`` (a commit), on the
MicroPython unix port it is ``fsync``; on CPython it hands the bytes to the kernel, which is
enough to survive a killed process (host simulations do not model power loss).

Also the few filesystem helpers the key store and the ledger share; MicroPython's ``os`` has
no ``path`` module, no ``truncate`` and no ``fsync``.
"""

import os

TMP = ".tmp"


def atomic_write(path, data):
    """Replace the file at ``path`` with ``data`` (bytes, or a list of pieces written one
    after the other) all at once."""
    tmp = path + TMP
    with open(tmp, "wb") as f:
        for piece in data if isinstance(data, list) else (data,):
            if f.write(piece) != len(piece):
                raise OSError(28)  # ENOSPC: never rename a short file over good data
        f.flush()
    os.rename(tmp, path)


def read_file(path, default=None):
    """The bytes of ``path``, or ``default`` if it does not exist."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        if exists(path):
            raise
        return default


def exists(path):
    try:
        os.stat(path)
    except OSError:
        return False
    return True


def file_size(path):
    """Size in bytes, 0 if missing."""
    try:
        return os.stat(path)[6]
    except OSError:
        return 0


def ensure_dir(path):
    """Create ``path`` and its parents if missing."""
    parts = path.split("/")
    cur = ""
    for i, p in enumerate(parts):
        cur = p if i == 0 else cur + "/" + p
        if cur and not exists(cur):
            os.mkdir(cur)


def remove(path):
    """Remove ``path`` if it exists; True if it did."""
    try:
        os.remove(path)
    except OSError:
        if exists(path):
            raise
        return False
    return True


def discard_tmp(dir_path):
    """Boot-time cleanup: remove every leftover ``*.tmp`` of an interrupted write in a folder."""
    n = 0
    for name in os.listdir(dir_path):
        if name.endswith(TMP):
            os.remove(dir_path + "/" + name)
            n += 1
    return n
