"""quietmile protocol core: wire format, crypto, tariff and geo maths.

Pure code with no I/O. Runs unchanged on MicroPython (the OBU) and CPython (backend,
simulator). See protocol/SPEC.md for the normative specification.
"""

PROTOCOL_VERSION = 1
