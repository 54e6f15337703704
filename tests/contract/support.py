"""Helpers for the protocol contract suite.

The contract suite (tests/contract/test_*.py) runs under CPython (pytest collects it) AND under
the real MicroPython unix port (tests/contract/mp_run.py). So these modules use only what both
implementations have: plain ``def test_*():`` functions, bare ``assert``, and the helpers below.
No pytest imports, no fixtures, no typing at runtime.
"""

import json
import os


def _here():
    f = __file__
    i = f.rfind("/")
    return f[:i] if i >= 0 else "."


def repo_root():
    """Absolute-or-relative path of the repository root."""
    here = _here()
    # tests/contract -> repo root
    return here + "/../.."


def shared_dir():
    """The shared folder beside the repository (../shared), or $QUIETMILE_SHARED."""
    env = os.getenv("QUIETMILE_SHARED") if hasattr(os, "getenv") else None
    return env if env else repo_root() + "/../shared"


def load_json(path):
    with open(path) as f:
        return json.load(f)


def shared_vector(name):
    """Load an external conformance vector file from ../shared/vectors/."""
    return load_json(shared_dir() + "/vectors/" + name)


def pinned_vector(name):
    """Load a vector file pinned in this repository (protocol/vectors/)."""
    return load_json(repo_root() + "/protocol/vectors/" + name)


def raises(exc_type, fn, *args, **kwargs):
    """Assert that ``fn(*args, **kwargs)`` raises ``exc_type``; return the exception."""
    try:
        fn(*args, **kwargs)
    except exc_type as e:
        return e
    raise AssertionError("expected %s from %s" % (exc_type.__name__, fn))


def h(s):
    """bytes from a hex string (spaces ignored)."""
    return bytes.fromhex(s.replace(" ", ""))
