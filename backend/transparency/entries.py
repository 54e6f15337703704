"""Transparency-log entries: what one leaf of the log says, as deterministic CBOR.

An entry is the map::

    {1: version (1), 2: kind (tstr), 3: timestamp (Unix s), 4: actor role (tstr),
     5: actor ref (uint: the staff API token id; null for a driver, an OBU or the system),
     6: subject (bstr 16: the vehicle's opaque log reference, or null),
     7: details {tstr: uint / tstr / bstr / bool / null}}

and its leaf hash is ``merkle.leaf_hash(cbor)``. Entries carry kinds, ids, outcomes and error
codes — never positions, times of driving, prices of single segments or plates: the log is
readable by every role, and a driver's entries must not tell anyone else where they drove.
The subject is a random per-vehicle reference (not the vehicle id), so the log alone does not
say whose entry it is; a driver learns their own references and can find their entries.

Pure encoding and decoding (no storage), shared by the server and ``client.py``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

VERSION = 1
SUBJECT_LEN = 16

# Every kind of entry the backend appends (README "Transparency log").
KINDS = (
    "challenge_issued",
    "challenge_expired",
    "opening_received",
    "explanation_judged",
    "opened_data_accessed",
    "audit_requested",
    "dispute_opened",
    "dispute_openings_received",
    "dispute_verified",
    "dispute_resolved",
    "retention_purge",
)
ACTOR_ROLES = ("operator", "auditor", "driver", "dpo", "obu", "system")

DetailValue = int | str | bytes | bool | None

_cbor: Any = importlib.import_module("protocol.cbor")
_errors: Any = importlib.import_module("protocol.errors")
_encode: Callable[[object], bytes] = _cbor.encode
_decode: Callable[[bytes], object] = _cbor.decode


class InvalidEntry(ValueError):
    """Bytes that are not a well-formed log entry in its one deterministic encoding."""


@dataclass(frozen=True)
class LogEntryData:
    kind: str
    timestamp: int
    actor_role: str
    actor_ref: int | None
    subject: bytes | None
    details: Mapping[str, DetailValue]

    def encode(self) -> bytes:
        if self.kind not in KINDS:
            raise ValueError(f"unknown log entry kind {self.kind!r}")
        if self.actor_role not in ACTOR_ROLES:
            raise ValueError(f"unknown actor role {self.actor_role!r}")
        if self.subject is not None and len(self.subject) != SUBJECT_LEN:
            raise ValueError("a subject reference is %d bytes" % SUBJECT_LEN)
        for k, v in self.details.items():
            if not isinstance(k, str) or not (v is None or isinstance(v, int | str | bytes)):
                raise ValueError(f"detail {k!r} must map text to int, text, bytes, bool or null")
        return _encode(
            {
                1: VERSION,
                2: self.kind,
                3: self.timestamp,
                4: self.actor_role,
                5: self.actor_ref,
                6: self.subject,
                7: dict(self.details),
            }
        )


def decode_entry(data: bytes) -> LogEntryData:
    """Parse an entry's canonical CBOR; InvalidEntry for anything else."""
    try:
        m = _decode(data)
    except _errors.DecodeError as e:
        raise InvalidEntry(f"malformed CBOR: {e}") from None
    if not isinstance(m, dict) or set(m) != {1, 2, 3, 4, 5, 6, 7}:
        raise InvalidEntry("an entry is a map with the keys 1..7")
    version, kind, ts, role, ref, subject, details = (m[k] for k in range(1, 8))
    if version != VERSION or type(version) is not int:
        raise InvalidEntry(f"unknown entry version {version!r}")
    if not isinstance(kind, str) or not isinstance(role, str):
        raise InvalidEntry("kind and actor role are text")
    if type(ts) is not int or ts < 0:
        raise InvalidEntry("timestamp is an unsigned integer")
    if ref is not None and (type(ref) is not int or ref < 0):
        raise InvalidEntry("actor ref is an unsigned integer or null")
    if subject is not None and not (isinstance(subject, bytes) and len(subject) == SUBJECT_LEN):
        raise InvalidEntry("subject is %d bytes or null" % SUBJECT_LEN)
    if not isinstance(details, dict) or not all(isinstance(k, str) for k in details):
        raise InvalidEntry("details is a map with text keys")
    return LogEntryData(kind, ts, role, ref, subject, details)
