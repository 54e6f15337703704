"""Checking the transparency log from the outside: what a driver, the DPO or a monitor runs.

Trust starts from the log's public key, obtained out of band (or pinned on first use from
``GET /api/v1/log/public-key``). Everything the API says is then checked, nothing believed:

- a tree head counts only if its COSE signature verifies under that key;
- an entry counts only if the hash of its exact bytes, with its inclusion proof, gives the
  signed root at the signed size (so a changed entry, or one the log never held, fails);
- a newer tree head counts only with a consistency proof from the older one (the log only
  grew: nothing was rewritten or removed between the two);
- ``audit_all`` rebuilds the root from every entry and lists all entries about a set of
  subjects, which shows whether ``/mine`` left any out.

Works over any HTTP client with ``get(url, params=..., headers=...)`` returning an object
with ``status_code`` and ``json()`` (httpx.Client, FastAPI's TestClient).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric import ec

from backend.transparency import merkle
from backend.transparency.entries import InvalidEntry, LogEntryData, decode_entry
from backend.transparency.tree_head import InvalidTreeHead, TreeHead, verify_tree_head

ENTRIES_PAGE = 1000


class LogVerificationError(ValueError):
    """The log's answer does not check out: a forged, altered or inconsistent log."""


@dataclass(frozen=True)
class VerifiedEntry:
    index: int
    leaf_hash: bytes
    data: LogEntryData


@dataclass(frozen=True)
class MyLog:
    head: TreeHead
    subjects: dict[int, bytes]  # vehicle id -> subject reference
    entries: list[VerifiedEntry]


def public_key_from_hex(sec1_hex: str) -> ec.EllipticCurvePublicKey:
    """The log key from its SEC1 uncompressed hex encoding."""
    return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), bytes.fromhex(sec1_hex))


def _hexes(items: Iterable[str]) -> list[bytes]:
    try:
        return [bytes.fromhex(x) for x in items]
    except (TypeError, ValueError):
        raise LogVerificationError("proof hashes must be hex strings") from None


def verify_tree_head_json(obj: Mapping[str, Any], key: ec.EllipticCurvePublicKey) -> TreeHead:
    """The TreeHead signed in ``obj["envelope_b64"]``; the JSON's other fields are ignored
    except that they must agree with it."""
    try:
        head = verify_tree_head(base64.b64decode(obj["envelope_b64"], validate=True), key)
    except (InvalidTreeHead, KeyError, ValueError) as e:
        raise LogVerificationError(f"tree head does not verify: {e}") from None
    if obj.get("size") != head.size or obj.get("root_hash") != head.root_hash.hex():
        raise LogVerificationError("the tree head's JSON fields differ from what was signed")
    return head


def verify_entry(obj: Mapping[str, Any], head: TreeHead, proof: Sequence[bytes]) -> VerifiedEntry:
    """An entry (as the API returns it) included at its index in the tree of ``head``."""
    try:
        raw = base64.b64decode(obj["entry_b64"], validate=True)
        index = int(obj["index"])
    except (KeyError, TypeError, ValueError) as e:
        raise LogVerificationError(f"malformed entry: {e}") from None
    leaf = merkle.leaf_hash(raw)
    if not merkle.verify_inclusion(leaf, index, head.size, list(proof), head.root_hash):
        raise LogVerificationError(f"entry {index} is not in the signed tree of {head.size}")
    try:
        data = decode_entry(raw)
    except InvalidEntry as e:
        raise LogVerificationError(f"entry {index}: {e}") from None
    return VerifiedEntry(index, leaf, data)


def verify_consistency(old: TreeHead, new: TreeHead, proof: Sequence[bytes]) -> None:
    """LogVerificationError unless ``new`` extends ``old`` (RFC 9162 §2.1.4.2)."""
    if not merkle.verify_consistency(old.size, new.size, old.root_hash, new.root_hash, proof):
        raise LogVerificationError(
            f"the log of size {new.size} is not an extension of the one of size {old.size}"
        )


def verify_mine(obj: Mapping[str, Any], key: ec.EllipticCurvePublicKey) -> MyLog:
    """Check a ``GET /api/v1/log/mine`` answer: the head's signature, each entry's inclusion,
    and that each entry is about one of the driver's subjects."""
    head = verify_tree_head_json(obj["tree_head"], key)
    subjects = {int(s["vehicle_id"]): bytes.fromhex(s["subject_ref"]) for s in obj["subjects"]}
    mine = set(subjects.values())
    entries = []
    for e in obj["entries"]:
        v = verify_entry(e, head, _hexes(e["inclusion_proof"]))
        if v.data.subject not in mine:
            raise LogVerificationError(f"entry {v.index} is not about the driver's vehicles")
        entries.append(v)
    return MyLog(head, subjects, entries)


class HttpGet(Protocol):
    def get(self, url: str, *, params: Any = None, headers: Any = None) -> Any: ...


class LogClient:
    """A verifying client of the log API (module docstring)."""

    def __init__(
        self,
        http: HttpGet,
        key: ec.EllipticCurvePublicKey,
        headers: Mapping[str, str] | None = None,
        base: str = "/api/v1/log",
    ) -> None:
        self.http = http
        self.key = key
        self.headers = dict(headers or {})
        self.base = base

    def _get(self, path: str, **params: int) -> Any:
        r = self.http.get(self.base + path, params=params or None, headers=self.headers)
        if r.status_code != 200:
            raise LogVerificationError(f"GET {path}: HTTP {r.status_code}")
        return r.json()

    def tree_head(self, previous: TreeHead | None = None) -> TreeHead:
        """The current signed head; with ``previous``, also proven to extend it."""
        head = verify_tree_head_json(self._get("/tree-head"), self.key)
        if previous is not None:
            self.check_extends(previous, head)
        return head

    def check_extends(self, old: TreeHead, new: TreeHead) -> None:
        proof = self._get("/proof/consistency", first=old.size, second=new.size)["proof"]
        verify_consistency(old, new, _hexes(proof))

    def mine(self, previous: TreeHead | None = None) -> MyLog:
        """The driver's entries, verified; with ``previous`` (a head kept from an earlier
        visit) the new head must extend it."""
        out = verify_mine(self._get("/mine"), self.key)
        if previous is not None:
            self.check_extends(previous, out.head)
        return out

    def entry(self, index: int, head: TreeHead) -> VerifiedEntry:
        [obj] = self._get("/entries", start=index, end=index + 1)
        proof = self._get("/proof/inclusion", index=index, size=head.size)["proof"]
        return verify_entry(obj, head, _hexes(proof))

    def audit_all(self, head: TreeHead, subjects: Iterable[bytes] = ()) -> list[VerifiedEntry]:
        """Fetch every entry of the tree of ``head``, check that together they give its
        root, and return those about ``subjects`` (all of them if none are given)."""
        wanted = set(subjects)
        leaves: list[bytes] = []
        found: list[VerifiedEntry] = []
        for start in range(0, head.size, ENTRIES_PAGE):
            end = min(head.size, start + ENTRIES_PAGE)
            page = self._get("/entries", start=start, end=end)
            if [int(e["index"]) for e in page] != list(range(start, end)):
                raise LogVerificationError(f"entries {start}..{end} are incomplete")
            for e in page:
                try:
                    raw = base64.b64decode(e["entry_b64"], validate=True)
                    data = decode_entry(raw)
                except (InvalidEntry, KeyError, ValueError) as err:
                    raise LogVerificationError(f"entry {e.get('index')}: {err}") from None
                leaf = merkle.leaf_hash(raw)
                leaves.append(leaf)
                if not wanted or data.subject in wanted:
                    found.append(VerifiedEntry(int(e["index"]), leaf, data))
        if merkle.root_from_leaf_hashes(leaves) != head.root_hash:
            raise LogVerificationError("the entries do not make up the signed tree")
        return found
