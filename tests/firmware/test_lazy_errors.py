"""Rare errors and optional outputs live in modules of their own, loaded on first use
(firmware/uplink/failures.py, firmware/challenge_refusals.py and, through
protocol.compat.lazy_names, the others), and are still offered by name where they always were:
the same objects, whichever way they are named.

Runs under CPython (pytest) and the MicroPython unix port (tests/contract/mp_run.py).
"""

import sys

import firmware.challenges as chm
import firmware.uplink as uplink
from firmware import challenge_refusals
from firmware.uplink import HttpError, ReceiptInvalid, Timeout, failures, outbox
from tests.contract.support import raises

FAILURES = (
    "BadResponse",
    "ClockUnknown",
    "ConnectFailed",
    "ConnectionClosed",
    "HttpError",
    "ReceiptInvalid",
    "Timeout",
    "TlsFailed",
)


def test_the_package_offers_each_failure_as_the_same_class() -> None:
    for name in FAILURES:
        cls = getattr(uplink, name)
        assert cls is getattr(failures, name), name
        assert issubclass(cls, uplink.UplinkError), name
    assert (HttpError, ReceiptInvalid, Timeout) == (
        failures.HttpError,
        failures.ReceiptInvalid,
        failures.Timeout,
    )


def test_the_package_serves_its_submodules_and_refuses_other_names() -> None:
    from firmware.uplink import http, sealed, signed

    assert http is sys.modules["firmware.uplink.http"]
    assert sealed is sys.modules["firmware.uplink.sealed"]
    assert signed is sys.modules["firmware.uplink.signed"]
    raises(AttributeError, getattr, uplink, "NoSuchError")
    raises(AttributeError, getattr, chm, "NoSuchError")


def test_failures_keep_their_codes_and_the_outbox_names_the_receipt_code_without_the_class() -> (
    None
):
    assert failures.TlsFailed.code == "tls_failed"
    assert issubclass(failures.TlsFailed, failures.ConnectFailed)
    err = failures.HttpError(429, retry_after_s=5)
    assert (err.code, err.permanent, err.retry_after_s) == ("http_429", False, 5)
    if sys.implementation.name != "micropython":  # there a const(), folded into the code
        assert outbox._RECEIPT_INVALID == failures.ReceiptInvalid.code


def test_the_challenge_refusals_are_offered_by_the_responder_module() -> None:
    assert chm.ChallengeInvalid is challenge_refusals.ChallengeInvalid
    assert chm.SegmentUnavailable is challenge_refusals.SegmentUnavailable
    assert chm.ChallengeInvalid.code == "challenge_invalid"
    assert chm.SegmentUnavailable.code == "segment_unavailable"
    raises(chm.SegmentUnavailable, chm.split_payload, b"\x80")


def test_a_reimported_package_drops_the_failures_of_its_earlier_copy() -> None:
    """Under MicroPython the App unloads the package after each sync: failures loaded against an
    earlier copy derive from that copy's UplinkError and must not pair with the new one."""
    import firmware

    saved = {}
    for k in list(sys.modules):
        if k.startswith("firmware.uplink"):
            saved[k] = sys.modules[k]
    try:
        del sys.modules["firmware.uplink"]
        __import__("firmware.uplink")
        fresh = sys.modules["firmware.uplink"]
        assert fresh is not saved["firmware.uplink"]
        assert "firmware.uplink.failures" not in sys.modules
        assert issubclass(fresh.Timeout, fresh.UplinkError)
        assert not issubclass(fresh.Timeout, saved["firmware.uplink"].UplinkError)
    finally:
        for k in list(sys.modules):
            if k.startswith("firmware.uplink"):
                del sys.modules[k]
        for k in saved:
            sys.modules[k] = saved[k]
        firmware.uplink = saved["firmware.uplink"]


# (module, name, where it is defined) for every module served by protocol.compat.lazy_names
SERVED = (
    ("protocol.errors", "Truncated", "protocol.input_errors"),
    ("protocol.errors", "ChainBroken", "protocol.verify_errors"),
    ("firmware.ledger", "LedgerCorrupt", "firmware.ledger.faults"),
    ("firmware.ledger.errors", "KeyMissing", "firmware.ledger.faults"),
    ("firmware.accounting", "PeriodFull", "firmware.accounting_faults"),
    ("firmware.state", "StateCorrupt", "firmware.state_faults"),
    ("firmware.policy", "PolicyExpired", "firmware.policy_refusals"),
    ("firmware.app", "PowerLost", "firmware.app_sync"),
    ("firmware.status", "LedStatus", "firmware.status_led"),
    ("firmware.status", "render", "firmware.status_text"),
    ("firmware.board.host", "PrintStatus", "firmware.board.host_console"),
    ("firmware.board.host", "FileConfirm", "firmware.board.host_confirm"),
    ("firmware.challenges", "ChallengeInvalid", "firmware.challenge_refusals"),
)


def test_lazily_served_names_are_the_defining_modules_own_objects() -> None:
    for owner, name, home in SERVED:
        __import__(owner)
        served = getattr(sys.modules[owner], name)
        assert served is getattr(sys.modules[home], name), (owner, name)
        raises(AttributeError, getattr, sys.modules[owner], "NoSuchName")
        raises(AttributeError, getattr, sys.modules[owner], "_private")


def test_lazy_names_imports_a_module_only_when_one_of_its_names_is_asked_for() -> None:
    from protocol.compat import lazy_names

    get = lazy_names("owner", ("protocol.no_such_module", ("Never",)), ("protocol.labels", None))
    # a name not listed for the first module does not import it
    assert get("TRACE_COMMITMENT") == sys.modules["protocol.labels"].TRACE_COMMITMENT
    raises(AttributeError, get, "_TRACE")
    raises(ImportError, get, "Never")
