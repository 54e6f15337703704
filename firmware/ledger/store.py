"""The OBU's ledger folder: per-period logs and their keys, retention and flash accounting.

Layout under ``root``: ``keys/k<period>.key`` (KeyStore) and ``ledger/p<period>.log`` (Ledger).
A period exists while its key exists; deleting a period destroys the key first (that is the
cryptographic deletion), then removes the log. A reset between the two leaves a log without a
key, which :meth:`Store.recover` removes at boot.
"""

import os

from . import atomic
from .keys import KeyStore, period_of
from .log import PREFIX, SUFFIX, Ledger, ledger_path


class Store:
    """Ledgers of all periods under ``root``; opening it runs the boot-time cleanup."""

    def __init__(self, root, rng=None, cipher=None):
        self.keys = KeyStore(root + "/keys", rng)
        self.dir = root + "/ledger"
        self._rng = rng
        self._cipher = cipher
        atomic.ensure_dir(self.dir)
        self.recover()

    def recover(self):
        """Discard leftover temp files and logs whose key is gone; return the periods removed."""
        atomic.discard_tmp(self.dir)
        removed = []
        for period_id in self._log_periods():
            if not self.keys.has(period_id):
                atomic.remove(ledger_path(self.dir, period_id))
                removed.append(period_id)
        return removed

    def open(self, period_id, salvage=False):
        """The period's Ledger (created with its key on first use; torn tail repaired)."""
        return Ledger(
            self.dir, period_id, self.keys, cipher=self._cipher, rng=self._rng, salvage=salvage
        )

    def periods(self):
        """Ids of the stored periods, ascending."""
        return self.keys.periods()

    def size_bytes(self, period_id=None):
        """Flash used by one period's log, or by all logs when ``period_id`` is None."""
        if period_id is not None:
            return atomic.file_size(ledger_path(self.dir, period_id))
        total = 0
        for p in self._log_periods():
            total += atomic.file_size(ledger_path(self.dir, p))
        return total

    def destroy(self, period_id):
        """Cryptographically delete a period: destroy its key, then remove its log."""
        self.keys.destroy(period_id)
        atomic.remove(ledger_path(self.dir, period_id))

    def purge_before(self, period_id_limit):
        """Destroy every period with an id below ``period_id_limit``; return their ids.

        The firmware picks the limit: the oldest period it must keep, i.e. the first whose
        receipt is missing or whose retention window (default 90 days after the receipt,
        DESIGN §2.4) has not passed. Period ids must therefore grow with time.
        """
        gone = []
        for period_id in self.periods():
            if period_id < period_id_limit:
                self.destroy(period_id)
                gone.append(period_id)
        return gone

    def _log_periods(self):
        out = []
        for name in os.listdir(self.dir):
            p = period_of(name, PREFIX, SUFFIX)
            if p is not None:
                out.append(p)
        out.sort()
        return out
