"""The accounting's faults (firmware/accounting.py) that a unit in good order never raises:
loaded the first time one is raised or named, then kept; ``firmware.accounting`` offers each by
name, so ``from firmware.accounting import PeriodFull`` gives these very classes."""

from firmware.accounting import AccountingError


class PeriodClosed(AccountingError):
    """The record's period was closed for sealing; nothing more can be added to it."""

    code = "period_closed"


class PeriodFull(AccountingError):
    """The period already holds the most segments or policy ids a statement can carry."""

    code = "period_full"


class EntryCorrupt(AccountingError):
    """A ledger entry that authenticates but is not an accounting entry (a firmware bug)."""

    code = "entry_corrupt"
