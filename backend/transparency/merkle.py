"""Merkle tree algorithms of RFC 9162 §2.1 over SHA-256.

The transparency log is a list of entries D[0:n]; its tree hash MTH(D[0:n]) is what a signed
tree head commits to. Every function here works on *leaf hashes* (``leaf_hash(entry)``): the log
stores those, and proofs never need the entries themselves.

Three ways in, by cost:

* the pure functions ``root_from_leaf_hashes``, ``inclusion_proof`` and ``consistency_proof``
  take a plain sequence of leaf hashes and hash about n nodes per call (fine for tests, tools
  and small logs: ~30 ms for 100,000 leaves on CPython);
* ``MerkleTree`` keeps every complete subtree hash, so appends cost O(1) hashes amortised and a
  root or proof for any size up to the current one costs O(log n) (microseconds for 10^6);
* ``CompactTree`` keeps only the O(log n) frontier: enough to append and to know the root, for
  a writer or a monitor that does not serve proofs.

``verify_inclusion`` and ``verify_consistency`` are the verification algorithms of
RFC 9162 §2.1.3.2 and §2.1.4.2, step for step; they return a bool and never raise.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

HASH_SIZE = 32

# RFC 9162 §2.1.1: domain separation between leaves and interior nodes (second-preimage defence).
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"

# MTH({}) = SHA-256 of the empty string.
EMPTY_ROOT_HASH = hashlib.sha256(b"").digest()

_sha256 = hashlib.sha256


class InvalidProofRequest(ValueError):
    """A proof or root was asked for an index or tree size the log cannot answer."""


def leaf_hash(data: bytes) -> bytes:
    """MTH({d}) = SHA-256(0x00 || d): the hash of one log entry."""
    return _sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right): the hash of an interior node."""
    return _sha256(NODE_PREFIX + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (n ≥ 2): RFC 9162's k."""
    return 1 << ((n - 1).bit_length() - 1)


def _is_count(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and x >= 0


def _is_hash(x: object) -> bool:
    return isinstance(x, bytes) and len(x) == HASH_SIZE


def _check_leaf_hashes(hashes: Iterable[bytes]) -> list[bytes]:
    out = list(hashes)
    for h in out:
        if not _is_hash(h):
            raise ValueError("a leaf hash must be %d bytes" % HASH_SIZE)
    return out


def root_from_leaf_hashes(hashes: Sequence[bytes]) -> bytes:
    """MTH(D[0:n]) from the n leaf hashes (RFC 9162 §2.1.1); EMPTY_ROOT_HASH for n = 0.

    Built bottom-up, carrying an odd last node up a level unchanged: the same tree as RFC 9162's
    recursive split at the largest power of two below n, without the recursion.
    """
    if not hashes:
        return EMPTY_ROOT_HASH
    level = list(hashes)
    while len(level) > 1:
        odd = level[-1] if len(level) & 1 else None
        level = [
            _sha256(NODE_PREFIX + level[i] + level[i + 1]).digest()
            for i in range(0, len(level) - 1, 2)
        ]
        if odd is not None:
            level.append(odd)
    return level[0]


# --- proof construction, shared by the list functions and MerkleTree -------------------------
#
# Both algorithms only ever need MTH(D[a:b]) for the subtrees that RFC 9162's recursion visits;
# ``subtree(a, b)`` supplies it (by hashing the leaves, or from MerkleTree's cache).

_Subtree = Callable[[int, int], bytes]


def _path(index: int, size: int, subtree: _Subtree) -> list[bytes]:
    """PATH(index, D[0:size]) of RFC 9162 §2.1.3.1, unrolled; leaf-side first."""
    top_down: list[bytes] = []
    a, b = 0, size
    while b - a > 1:
        k = _split(b - a)
        if index < a + k:
            top_down.append(subtree(a + k, b))
            b = a + k
        else:
            top_down.append(subtree(a, a + k))
            a += k
    top_down.reverse()
    return top_down


def _proof(m: int, n: int, subtree: _Subtree) -> list[bytes]:
    """PROOF(m, D[0:n]) = SUBPROOF(m, D[0:n], true) of RFC 9162 §2.1.4.1, unrolled (0 < m ≤ n)."""
    top_down: list[bytes] = []
    a, b = 0, n
    whole = True  # SUBPROOF's flag b: is D[a:b]'s left part still the whole old tree?
    while m != b:
        k = _split(b - a)
        if m <= a + k:
            top_down.append(subtree(a + k, b))
            b = a + k
        else:
            top_down.append(subtree(a, a + k))
            a += k
            whole = False
    if not whole:
        # SUBPROOF(m, D[m], false) = {MTH(D[m])}: the old tree's last subtree, which the
        # verifier cannot get from first_hash alone.
        top_down.append(subtree(a, b))
    top_down.reverse()
    return top_down


def _list_subtree(leaf_hashes: Sequence[bytes]) -> _Subtree:
    def subtree(a: int, b: int) -> bytes:
        return root_from_leaf_hashes(leaf_hashes[a:b])

    return subtree


def inclusion_proof(index: int, size: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """The audit path for leaf ``index`` in the tree of the first ``size`` leaf hashes.

    RFC 9162 §2.1.3.1 PATH(index, D[0:size]), nearest sibling first. Hashes about ``size``
    nodes; use MerkleTree to serve proofs from a large log. Raises InvalidProofRequest unless
    0 ≤ index < size ≤ len(leaf_hashes).
    """
    if not (_is_count(index) and _is_count(size) and index < size <= len(leaf_hashes)):
        raise InvalidProofRequest("need 0 <= index < size <= number of leaves")
    return _path(index, size, _list_subtree(leaf_hashes))


def consistency_proof(m: int, n: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """The proof that the tree of size ``m`` is a prefix of the tree of size ``n``.

    RFC 9162 §2.1.4.1 PROOF(m, D[0:n]); empty when m = n, and for m = 0 (every log extends the
    empty one). Hashes about ``n`` nodes. Raises InvalidProofRequest unless
    0 ≤ m ≤ n ≤ len(leaf_hashes).
    """
    if not (_is_count(m) and _is_count(n) and m <= n <= len(leaf_hashes)):
        raise InvalidProofRequest("need 0 <= m <= n <= number of leaves")
    if m == 0:
        return []
    return _proof(m, n, _list_subtree(leaf_hashes))


# --- verification ---------------------------------------------------------------------------


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """True iff ``proof`` shows ``leaf_hash`` at ``index`` in the tree of ``size`` with ``root``.

    RFC 9162 §2.1.3.2 verbatim (the step numbers below are the RFC's). Inputs of the wrong type
    or hash length are rejected up front rather than hashed.
    """
    if not (_is_count(index) and _is_count(size) and _is_hash(leaf_hash) and _is_hash(root)):
        return False
    if not all(_is_hash(p) for p in proof):
        return False
    # 1. leaf_index >= tree_size fails.
    if index >= size:
        return False
    # 2.-3.
    fn, sn = index, size - 1
    r = leaf_hash
    # 4.
    for p in proof:
        # 4a. A proof longer than the path is rejected, not ignored.
        if sn == 0:
            return False
        # 4b.
        if fn & 1 or fn == sn:
            r = _sha256(NODE_PREFIX + p + r).digest()
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = _sha256(NODE_PREFIX + r + p).digest()
        # 4c.
        fn >>= 1
        sn >>= 1
    # 5.
    return sn == 0 and r == root


def verify_consistency(
    m: int, n: int, root_m: bytes, root_n: bytes, proof: Sequence[bytes]
) -> bool:
    """True iff ``proof`` shows the tree (m, ``root_m``) is a prefix of the tree (n, ``root_n``).

    For 0 < m < n this is RFC 9162 §2.1.4.2 verbatim (step numbers are the RFC's). The RFC only
    defines 0 < m < n; at the edges we accept exactly what consistency_proof produces: m = n
    with an empty proof and equal roots, and m = 0 with an empty proof and ``root_m`` the empty
    tree's hash. Everything else, including m > n, is False.
    """
    if not (_is_count(m) and _is_count(n) and _is_hash(root_m) and _is_hash(root_n)):
        return False
    if not all(_is_hash(c) for c in proof):
        return False
    if m > n:
        return False
    if m == 0:
        return not proof and root_m == EMPTY_ROOT_HASH
    if m == n:
        return not proof and root_m == root_n
    # 1.
    if not proof:
        return False
    path = list(proof)
    # 2.
    if m & (m - 1) == 0:
        path.insert(0, root_m)
    # 3.
    fn, sn = m - 1, n - 1
    # 4.
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # 5.
    fr = sr = path[0]
    # 6.
    for c in path[1:]:
        # 6a.
        if sn == 0:
            return False
        # 6b.
        if fn & 1 or fn == sn:
            fr = _sha256(NODE_PREFIX + c + fr).digest()
            sr = _sha256(NODE_PREFIX + c + sr).digest()
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = _sha256(NODE_PREFIX + sr + c).digest()
        # 6c.
        fn >>= 1
        sn >>= 1
    # 7.
    return fr == root_m and sr == root_n and sn == 0


# --- incremental trees ----------------------------------------------------------------------


class CompactTree:
    """The frontier of a growing log: enough to append leaves and compute the root.

    ``frontier`` holds the roots of the perfect subtrees that make up the tree, largest (leftmost)
    first: one per set bit of ``size``. An append costs O(1) hashes amortised, ``root()``
    O(log n). Persist ``(size, frontier)`` and rebuild with ``CompactTree(size, frontier)``.
    """

    __slots__ = ("_frontier", "_size")

    def __init__(self, size: int = 0, frontier: Iterable[bytes] = ()) -> None:
        nodes = list(frontier)
        if not _is_count(size):
            raise ValueError("size must be a non-negative int")
        if len(nodes) != size.bit_count() or not all(_is_hash(h) for h in nodes):
            raise ValueError("frontier must hold one %d-byte hash per set bit of size" % HASH_SIZE)
        self._size = size
        self._frontier = nodes

    @classmethod
    def from_leaf_hashes(cls, hashes: Iterable[bytes]) -> CompactTree:
        """The compact tree of a whole list of leaf hashes."""
        tree = cls()
        for h in hashes:
            tree.append(h)
        return tree

    @property
    def size(self) -> int:
        """Number of leaves appended so far."""
        return self._size

    @property
    def frontier(self) -> tuple[bytes, ...]:
        """Perfect-subtree roots, largest first (a copy)."""
        return tuple(self._frontier)

    def append(self, leaf_hash: bytes) -> int:
        """Append one leaf hash; return its index."""
        if not _is_hash(leaf_hash):
            raise ValueError("a leaf hash must be %d bytes" % HASH_SIZE)
        index = self._size
        h = leaf_hash
        s = index
        # Each trailing 1 bit of the old size is a perfect subtree the new leaf now completes.
        while s & 1:
            h = _sha256(NODE_PREFIX + self._frontier.pop() + h).digest()
            s >>= 1
        self._frontier.append(h)
        self._size = index + 1
        return index

    def root(self) -> bytes:
        """MTH of the leaves appended so far (O(log n))."""
        if not self._frontier:
            return EMPTY_ROOT_HASH
        r = self._frontier[-1]
        for h in reversed(self._frontier[:-1]):
            r = _sha256(NODE_PREFIX + h + r).digest()
        return r


class MerkleTree:
    """An append-only log of leaf hashes that serves roots and proofs in O(log n).

    Level k caches the hash of every complete, aligned subtree of 2^k leaves, packed 32 bytes
    per node in one ``bytearray`` per level (about 64 bytes per leaf in all, instead of ~150 as
    a list of ``bytes`` objects). Every subtree RFC 9162's recursion visits is aligned, so any
    of its hashes is either one lookup or, on the right edge of a tree, a fold of at most log n
    lookups. Building from n leaves hashes n - 1 nodes once.

    Not thread-safe: serialise appends with reads (the log writer holds the lock).
    """

    __slots__ = ("_levels",)

    def __init__(self, leaf_hashes: Iterable[bytes] = ()) -> None:
        leaves = _check_leaf_hashes(leaf_hashes)
        self._levels: list[bytearray] = [bytearray(b"".join(leaves))]
        below = bytes(self._levels[0])
        while len(below) >= 2 * HASH_SIZE:
            # Two siblings sit side by side, so one slice is the whole 0x01 || left || right input.
            above = b"".join(
                [
                    _sha256(NODE_PREFIX + below[i : i + 2 * HASH_SIZE]).digest()
                    for i in range(0, len(below) - 2 * HASH_SIZE + 1, 2 * HASH_SIZE)
                ]
            )
            self._levels.append(bytearray(above))
            below = above

    @property
    def size(self) -> int:
        """Number of leaves in the log."""
        return len(self._levels[0]) // HASH_SIZE

    def __len__(self) -> int:
        return self.size

    def append(self, leaf_hash: bytes) -> int:
        """Append one leaf hash; return its index (O(1) hashes amortised)."""
        if not _is_hash(leaf_hash):
            raise ValueError("a leaf hash must be %d bytes" % HASH_SIZE)
        levels = self._levels
        index = self.size
        levels[0] += leaf_hash
        k = 0
        # The new node closes a pair at level k whenever that level now has an even count.
        while (len(levels[k]) // HASH_SIZE) % 2 == 0:
            parent = _sha256(NODE_PREFIX + levels[k][-2 * HASH_SIZE :]).digest()
            if k + 1 == len(levels):
                levels.append(bytearray())
            levels[k + 1] += parent
            k += 1
        return index

    def extend(self, leaf_hashes: Iterable[bytes]) -> None:
        """Append several leaf hashes in order."""
        for h in leaf_hashes:
            self.append(h)

    def leaf_hash(self, index: int) -> bytes:
        """The leaf hash at ``index``."""
        if not (_is_count(index) and index < self.size):
            raise InvalidProofRequest("no leaf %r in a log of %d" % (index, self.size))
        return self._node(0, index)

    def _node(self, level: int, i: int) -> bytes:
        return bytes(self._levels[level][i * HASH_SIZE : (i + 1) * HASH_SIZE])

    def _subtree(self, a: int, b: int) -> bytes:
        """MTH(D[a:b]) for a subtree of RFC 9162's recursion (a is aligned to its left part)."""
        width = b - a
        if width & (width - 1) == 0:
            level = width.bit_length() - 1
            return self._node(level, a >> level)
        k = _split(width)
        return _sha256(NODE_PREFIX + self._subtree(a, a + k) + self._subtree(a + k, b)).digest()

    def _size_arg(self, size: int | None) -> int:
        if size is None:
            return self.size
        if not (_is_count(size) and size <= self.size):
            raise InvalidProofRequest("tree size %r beyond the log's %d" % (size, self.size))
        return size

    def root(self, size: int | None = None) -> bytes:
        """MTH of the first ``size`` leaves (default: all of them)."""
        n = self._size_arg(size)
        return EMPTY_ROOT_HASH if n == 0 else self._subtree(0, n)

    def compact(self, size: int | None = None) -> CompactTree:
        """The CompactTree of the first ``size`` leaves (default: all of them)."""
        n = self._size_arg(size)
        frontier: list[bytes] = []
        start = 0
        for level in range(n.bit_length() - 1, -1, -1):
            if n >> level & 1:
                frontier.append(self._node(level, start >> level))
                start += 1 << level
        return CompactTree(n, frontier)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """RFC 9162 PATH(index, D[0:size]) (default size: the whole log), nearest sibling first."""
        n = self._size_arg(size)
        if not (_is_count(index) and index < n):
            raise InvalidProofRequest("need 0 <= index < size")
        return _path(index, n, self._subtree)

    def consistency_proof(self, m: int, n: int | None = None) -> list[bytes]:
        """RFC 9162 PROOF(m, D[0:n]) (default n: the whole log); empty for m = 0 or m = n."""
        n = self._size_arg(n)
        if not (_is_count(m) and m <= n):
            raise InvalidProofRequest("need 0 <= m <= n")
        if m == 0:
            return []
        return _proof(m, n, self._subtree)
