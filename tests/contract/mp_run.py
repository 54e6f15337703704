"""Run contract test modules under MicroPython.

Usage (from the repository root):
    micropython tests/contract/mp_run.py [--dir tests/firmware] [module ...]

Without module names runs every test_*.py of the directory (default tests/contract).
Prints one line per test and a closing
"N passed, N failed" line; exits 1 on any failure.
"""

import os
import sys

try:
    import gc
except ImportError:  # pragma: no cover
    gc = None

sys.path.insert(0, ".")


def _modules(d):
    names = []
    for n in os.listdir(d):
        if n.startswith("test_") and n.endswith(".py"):
            names.append(n[:-3])
    names.sort()
    return names


def main(argv):
    d = "tests/contract"
    if argv and argv[0] == "--dir":
        d = argv[1].rstrip("/")
        argv = argv[2:]
    names = argv if argv else _modules(d)
    pkg = d.replace("/", ".")
    passed = 0
    failed = 0
    for name in names:
        mod = __import__(pkg + "." + name, None, None, ["x"])
        tests = [k for k in dir(mod) if k.startswith("test_")]
        tests.sort()
        for t in tests:
            fn = getattr(mod, t)
            try:
                fn()
            except Exception as e:  # noqa: BLE001 - report every failure, keep going
                failed += 1
                print("FAIL %s.%s: %s: %s" % (name, t, type(e).__name__, e))
                sys.print_exception(e)
            else:
                passed += 1
                print("ok   %s.%s" % (name, t))
            if gc:
                gc.collect()
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


sys.exit(main(sys.argv[1:]))
