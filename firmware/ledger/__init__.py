"""OBU ledger: encrypted, crash-safe, per-period record logs on flash (README.md in this folder).

Typical use::

    store = Store("/data")           # boot: cleans up interrupted writes and deletions
    log = store.open(period_id)      # repairs a torn tail
    log.append(record_bytes)         # durable when it returns
    for rec in log: ...              # streamed, one record in RAM at a time
    store.purge_before(oldest_kept)  # retention: destroys keys, then logs
"""

from protocol.compat import const, lazy_names

from .atomic import atomic_write, read_file
from .cipher import AES_CTR, SHA256_CTR
from .errors import LedgerError
from .keys import KeyStore
from .log import FILE_HEADER_LEN, FRAME_OVERHEAD, MAX_PAYLOAD, Ledger
from .store import Store

__all__ = [
    "AES_CTR",
    "FILE_HEADER_LEN",
    "FRAME_OVERHEAD",
    "MAX_PAYLOAD",
    "SHA256_CTR",
    "CipherUnavailable",
    "InvalidPeriod",
    "InvalidRecord",
    "KeyMissing",
    "KeyStore",
    "Ledger",
    "LedgerCorrupt",
    "LedgerError",
    "Store",
    "WriteFailed",
    "atomic_write",
    "open",
    "read_file",
]


TYPE_CHECKING = False
if TYPE_CHECKING:  # for mypy; at run time __getattr__ below provides them
    from .faults import CipherUnavailable as CipherUnavailable
    from .faults import InvalidPeriod as InvalidPeriod
    from .faults import InvalidRecord as InvalidRecord
    from .faults import KeyMissing as KeyMissing
    from .faults import LedgerCorrupt as LedgerCorrupt
    from .faults import WriteFailed as WriteFailed


_FAULTS = const(
    (
        "CipherUnavailable",
        "InvalidPeriod",
        "InvalidRecord",
        "KeyMissing",
        "LedgerCorrupt",
        "WriteFailed",
    )
)


# The faults (errors.py), loaded on first use; for any other name, AttributeError (which
# MicroPython's ``from firmware.ledger import x`` does not take for "import submodule x").
__getattr__ = lazy_names(__name__, ("firmware.ledger.faults", _FAULTS))


def open(dir_path, period_id, keystore, **options):  # shadows the builtin here only, like gzip.open
    """Open (or create) the Ledger of ``period_id`` in ``dir_path``; see Ledger for options."""
    return Ledger(dir_path, period_id, keystore, **options)
