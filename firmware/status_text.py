"""The status as one line of text (firmware/status.py), for a console or a two-line display.
A module of its own so that a unit without a console does not keep it on its heap;
``firmware.status`` offers every name here."""

from firmware.status import (
    FAULT_LEDGER,
    FAULT_NETWORK,
    FAULT_POLICY_EXPIRED,
    FAULT_POLICY_MISSING,
    FAULT_RECEIPT_INVALID,
    FAULT_TAMPER,
    FAULT_TIME_UNKNOWN,
    FAULT_UPLINK_REJECTED,
)
from protocol.timeutil import civil_from_unix

FAULT_NAMES = (
    (FAULT_POLICY_MISSING, "policy-missing"),
    (FAULT_POLICY_EXPIRED, "policy-expired"),
    (FAULT_LEDGER, "ledger"),
    (FAULT_UPLINK_REJECTED, "uplink-rejected"),
    (FAULT_TIME_UNKNOWN, "time-unknown"),
    (FAULT_RECEIPT_INVALID, "receipt-invalid"),
    (FAULT_NETWORK, "network"),
    (FAULT_TAMPER, "tamper"),
)


def fault_names(bits):
    """Names of the set fault bits, in table order."""
    return [name for bit, name in FAULT_NAMES if bits & bit]


def _when(t):
    if t is None:
        return "never"
    y, mo, d, h, mi, _, _ = civil_from_unix(t)
    return "%04d-%02d-%02dT%02d:%02dZ" % (y, mo, d, h, mi)


def render(status):
    """One line (no newline) describing ``status`` for a console or a two-line display."""
    upload = "never"
    if status.last_upload_code is not None:
        upload = "%s %s" % (_when(status.last_upload_at), status.last_upload_code)
    names = fault_names(status.faults)
    line = "%s fix=%s charging=%s upload=%s pending=%d faults=%s" % (
        status.state(),
        "yes" if status.fix else "no",
        "yes" if status.charging else "no",
        upload,
        status.pending,
        ",".join(names) if names else "-",
    )
    n = status.disputes_waiting
    if n == 1:
        line += " | dispute waiting for confirmation"
    elif n > 1:
        line += " | %d disputes waiting for confirmation" % n
    return line


class TextStatus:
    """Writes ``render(status)`` and a newline to ``stream`` whenever the line changes."""

    def __init__(self, stream):
        self.stream = stream
        self.last = None

    def show(self, status):
        line = render(status)
        if line != self.last:
            self.last = line
            self.stream.write(line + "\n")
