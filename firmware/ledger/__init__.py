"""OBU ledger: encrypted, crash-safe, per-period record logs on flash (README.md in this folder).

Typical use::

    store = Store("/data")           # boot: cleans up interrupted writes and deletions
    log = store.open(period_id)      # repairs a torn tail
    log.append(record_bytes)         # durable when it returns
    for rec in log: ...              # streamed, one record in RAM at a time
    store.purge_before(oldest_kept)  # retention: destroys keys, then logs
"""

from protocol.compat import const, lazy_names

from .errors import LedgerError  # in every caller's except clauses

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
    from .atomic import atomic_write as atomic_write
    from .atomic import read_file as read_file
    from .cipher import AES_CTR as AES_CTR
    from .cipher import SHA256_CTR as SHA256_CTR
    from .faults import CipherUnavailable as CipherUnavailable
    from .faults import InvalidPeriod as InvalidPeriod
    from .faults import InvalidRecord as InvalidRecord
    from .faults import KeyMissing as KeyMissing
    from .faults import LedgerCorrupt as LedgerCorrupt
    from .faults import WriteFailed as WriteFailed
    from .keys import KeyStore as KeyStore
    from .log import FILE_HEADER_LEN as FILE_HEADER_LEN
    from .log import FRAME_OVERHEAD as FRAME_OVERHEAD
    from .log import MAX_PAYLOAD as MAX_PAYLOAD
    from .log import Ledger as Ledger
    from .store import Store as Store


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


# Every name but LedgerError, and the submodules, on first use: the faults (faults.py) when
# one is raised, the rest when the App opens its Store — after boot has verified the policies,
# which need only .atomic, so that the log, cipher and key code are not on the heap beside the
# verifier's (−5 KB at boot's peak at 64 bits).
__getattr__ = lazy_names(
    __name__,
    ("firmware.ledger.faults", _FAULTS),
    ("firmware.ledger.store", ("Store",)),
    ("firmware.ledger.log", ("Ledger", "FILE_HEADER_LEN", "FRAME_OVERHEAD", "MAX_PAYLOAD")),
    ("firmware.ledger.keys", ("KeyStore",)),
    ("firmware.ledger.cipher", ("AES_CTR", "SHA256_CTR")),
    ("firmware.ledger.atomic", ("atomic_write", "read_file")),
    submodules=("atomic", "cipher", "errors", "faults", "keys", "log", "store"),
)


def open(dir_path, period_id, keystore, **options):  # shadows the builtin here only, like gzip.open
    """Open (or create) the Ledger of ``period_id`` in ``dir_path``; see Ledger for options."""
    from .log import Ledger

    return Ledger(dir_path, period_id, keystore, **options)
