"""Typed ledger errors.

Each carries a stable ``code`` string, like the protocol errors, so the firmware can log an
event without parsing messages. Filesystem failures (no space, I/O error) stay ``OSError``.

Only the base class lives here. The others (LedgerCorrupt, KeyMissing, CipherUnavailable,
InvalidRecord, InvalidPeriod, WriteFailed) are in firmware/ledger/faults.py, loaded the first
time one is raised or named (and then kept): a ledger in good order never raises one, so their
class objects stay off the heap. This module and ``firmware.ledger`` offer each by name, the
very same classes.
"""

from protocol.compat import lazy_names


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


__getattr__ = lazy_names(__name__, ("firmware.ledger.faults", None))
