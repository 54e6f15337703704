"""Typed ledger errors.

Each carries a stable ``code`` string, like the protocol errors, so the firmware can log an
event without parsing messages. Filesystem failures (no space, I/O error) stay ``OSError``.

Only the base class lives here. The others (LedgerCorrupt, KeyMissing, CipherUnavailable,
InvalidRecord, InvalidPeriod, WriteFailed) are in firmware/ledger/faults.py, loaded the first
time one is raised or named (and then kept): a ledger in good order never raises one, so their
class objects stay off the heap. This module and ``firmware.ledger`` offer each by name, the
very same classes.
"""


class LedgerError(Exception):
    code = "ledger_error"


TYPE_CHECKING = False
if TYPE_CHECKING:  # for mypy; at run time __getattr__ below provides them
    from .faults import CipherUnavailable as CipherUnavailable
    from .faults import InvalidPeriod as InvalidPeriod
    from .faults import InvalidRecord as InvalidRecord
    from .faults import KeyMissing as KeyMissing
    from .faults import LedgerCorrupt as LedgerCorrupt
    from .faults import WriteFailed as WriteFailed


def __getattr__(name):
    # Module __getattr__ (PEP 562; MicroPython has it too): the faults, loaded on first use.
    if name[:1] != "_":
        # Not ``from . import faults``: the package's own __getattr__ would answer for it.
        import firmware.ledger.faults as faults

        if hasattr(faults, name):
            return getattr(faults, name)
    raise AttributeError("module 'firmware.ledger.errors' has no attribute '%s'" % name)
