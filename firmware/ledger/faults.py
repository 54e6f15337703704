"""The ledger's typed faults (firmware/ledger/errors.py): loaded the first time one is raised or
named, then kept; ``firmware.ledger.errors`` and ``firmware.ledger`` offer each by name."""

from .errors import LedgerError


class LedgerCorrupt(LedgerError):
    """Stored bytes fail their checks somewhere a crash cannot explain (tampering or flash rot).

    ``offset`` is the file offset of the first bad byte run, or -1 when not applicable.
    """

    code = "ledger_corrupt"

    def __init__(self, msg, offset=-1):
        super().__init__(msg)
        self.offset = offset


class KeyMissing(LedgerError):
    """The period's key is gone (cryptographically deleted): its ledger can never be read."""

    code = "key_missing"


class CipherUnavailable(LedgerError):
    """The file was written with a cipher this interpreter cannot run (AES without a library)."""

    code = "cipher_unavailable"


class InvalidRecord(LedgerError):
    """A payload that cannot be stored: not bytes, empty, or longer than MAX_PAYLOAD."""

    code = "invalid_record"


class InvalidPeriod(LedgerError):
    """A period id that is not an int in [0, 2**63)."""

    code = "invalid_period"


class WriteFailed(LedgerError):
    """The filesystem accepted fewer bytes than asked (flash full); the ledger repairs itself."""

    code = "write_failed"
