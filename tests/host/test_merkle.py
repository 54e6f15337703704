"""RFC 9162 Merkle tree, proofs and signed tree heads of the transparency log.

Published vectors are pinned below with their source; the property tests then check every
proof of every index/size of random logs, and that tampering with anything is caught.
"""

from __future__ import annotations

import hashlib

import cbor2
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cwt import COSE, COSEKey
from hypothesis import example, given, settings
from hypothesis import strategies as st

from backend.transparency import merkle, tree_head
from backend.transparency.merkle import (
    EMPTY_ROOT_HASH,
    CompactTree,
    InvalidProofRequest,
    MerkleTree,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_from_leaf_hashes,
    verify_consistency,
    verify_inclusion,
)
from backend.transparency.tree_head import (
    CONTENT_TYPE,
    InvalidTreeHead,
    TreeHead,
    sign_tree_head,
    tree_head_kid,
    verify_tree_head,
)


def h(x: str) -> bytes:
    return bytes.fromhex(x)


# --- published vectors -----------------------------------------------------------------------
#
# From transparency-dev/merkle (successor of google/certificate-transparency-go's merkle
# packages; the same eight inputs and roots are in certificate-transparency-go
# merkletree/merkle_verifier_test.go @ 12f4d24b7136b19ce2b94f9ea50a6b71ef7d4001):
#   testonly/constants.go @ 582a6ad190b6848f1d26f8bf08ddef29955d9db1
#       LeafInputs, NodeHashes, RootHashes, CompactTrees
#   proof/verify_test.go  @ 02194e9afb6c1d95b5381350007963aa70fff472
#       inclusionProofs, consistencyProofs, the corruption probes, edge cases
#   proof/proof_test.go   @ 02a3e2029520f515596d5238c54fb0ac9e19bff4
#       TestInclusion / TestConsistency: which nodes make up each proof (node IDs)

LEAF_INPUTS = [
    h(""),
    h("00"),
    h("10"),
    h("2021"),
    h("3031"),
    h("40414243"),
    h("5051525354555657"),
    h("606162636465666768696a6b6c6d6e6f"),
]

# NodeHashes()[level][index]: every complete subtree of the 8-leaf tree.
NODE_HASHES = [
    [
        h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
        h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
        h("0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7"),
        h("07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7"),
        h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        h("4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658"),
        h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
        h("46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1"),
    ],
    [
        h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
        h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
        h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
        h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
    ],
    [
        h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
    ],
    [h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")],
]

# RootHashes()[size], size 0..8.
ROOT_HASHES = [
    h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
    h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
    h("aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"),
    h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
    h("4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4"),
    h("76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef"),
    h("ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c"),
    h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
]

# CompactTrees()[size] as (level, index) into NODE_HASHES, largest subtree first.
COMPACT_TREES = [
    [],
    [(0, 0)],
    [(1, 0)],
    [(1, 0), (0, 2)],
    [(2, 0)],
    [(2, 0), (0, 4)],
    [(2, 0), (1, 2)],
    [(2, 0), (1, 2), (0, 6)],
    [(3, 0)],
]

# inclusionProofs: (leaf index, tree size, audit path). The Go table numbers leaves from 1
# ({1, 8, ...} is index 0); the indexes here are 0-based.
INCLUSION_PROOFS = [
    (
        0,
        8,
        [
            h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        5,
        8,
        [
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
    (2, 3, [h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")]),
    (
        1,
        5,
        [
            h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
]

# consistencyProofs: (size1, size2, proof).
CONSISTENCY_PROOFS = [
    (1, 1, []),
    (
        1,
        8,
        [
            h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        6,
        8,
        [
            h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
    (
        2,
        5,
        [
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
    (
        6,
        7,
        [
            h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
]

SOME_HASH = h("abacaba000000000000000000000000000000000000000000060061e00123456")

# proof_test.go: each proof as compact.NodeID(level, index) — node (l, i) covers leaves
# [i·2^l, (i+1)·2^l) — and rehash(begin, end): nodes begin..end-1 are one ephemeral node on the
# right edge of the tree, i.e. the MTH of the union of their ranges.
Span = tuple[int, int] | None
PROOF_NODES_INCLUSION: list[tuple[int, int, list[tuple[int, int]], Span]] = [
    # (size, index, nodes, rehash span)
    (1, 0, [], None),
    (2, 0, [(0, 1)], None),
    (2, 1, [(0, 0)], None),
    (3, 1, [(0, 0), (0, 2)], None),
    (7, 0, [(0, 1), (1, 1), (0, 6), (1, 2)], (2, 4)),
    (7, 1, [(0, 0), (1, 1), (0, 6), (1, 2)], (2, 4)),
    (7, 2, [(0, 3), (1, 0), (0, 6), (1, 2)], (2, 4)),
    (7, 3, [(0, 2), (1, 0), (0, 6), (1, 2)], (2, 4)),
    (7, 4, [(0, 5), (0, 6), (2, 0)], None),
    (7, 5, [(0, 4), (0, 6), (2, 0)], None),
    (7, 6, [(1, 2), (2, 0)], None),
    (4, 2, [(0, 3), (1, 0)], None),
    (5, 3, [(0, 2), (1, 0), (0, 4)], None),
    (6, 3, [(0, 2), (1, 0), (1, 2)], None),
    (6, 4, [(0, 5), (2, 0)], None),
    (15, 10, [(0, 11), (1, 4), (0, 14), (1, 6), (3, 0)], (2, 4)),
    (31, 24, [(0, 25), (1, 13), (0, 30), (1, 14), (3, 2), (4, 0)], (2, 4)),
    (95, 81, [(0, 80), (1, 41), (2, 21), (0, 94), (1, 46), (2, 22), (4, 4), (6, 0)], (3, 6)),
]
PROOF_NODES_CONSISTENCY: list[tuple[int, int, list[tuple[int, int]], Span]] = [
    # (size1, size2, nodes, rehash span)
    (1, 2, [(0, 1)], None),
    (1, 4, [(0, 1), (1, 1)], None),
    (1, 6, [(0, 1), (1, 1), (1, 2)], None),
    (2, 3, [(0, 2)], None),
    (2, 8, [(1, 1), (2, 1)], None),
    (3, 7, [(0, 2), (0, 3), (1, 0), (0, 6), (1, 2)], (3, 5)),
    (4, 7, [(0, 6), (1, 2)], (0, 2)),
    (5, 7, [(0, 4), (0, 5), (0, 6), (2, 0)], None),
    (6, 7, [(1, 2), (0, 6), (2, 0)], None),
    (7, 8, [(0, 6), (0, 7), (1, 2), (2, 0)], None),
    (1, 1, [], None),
    (2, 2, [], None),
    (3, 3, [], None),
    (4, 4, [], None),
    (5, 5, [], None),
    (7, 7, [], None),
    (8, 8, [], None),
    (2, 4, [(1, 1)], None),
    (3, 5, [(0, 2), (0, 3), (1, 0), (0, 4)], None),
    (3, 6, [(0, 2), (0, 3), (1, 0), (1, 2)], None),
    (4, 6, [(1, 2)], None),
    (1, 7, [(0, 1), (1, 1), (0, 6), (1, 2)], (2, 4)),
    (10, 15, [(1, 4), (1, 5), (0, 14), (1, 6), (3, 0)], (2, 4)),
    (24, 31, [(3, 2), (0, 30), (1, 14), (2, 6), (4, 0)], (1, 4)),
    (
        81,
        95,
        [(0, 80), (0, 81), (1, 41), (2, 21), (0, 94), (1, 46), (2, 22), (4, 4), (6, 0)],
        (4, 7),
    ),
]


# --- helpers ---------------------------------------------------------------------------------

LEAF_HASHES = [leaf_hash(d) for d in LEAF_INPUTS]


def generated_leaves(n: int) -> list[bytes]:
    return [leaf_hash(b"entry-%d" % i) for i in range(n)]


def node_ranges(nodes: list[tuple[int, int]], span: Span) -> list[tuple[int, int]]:
    ranges = [(i << level, (i + 1) << level) for level, i in nodes]
    if span is not None:
        begin, end = span
        merged = (min(a for a, _ in ranges[begin:end]), max(b for _, b in ranges[begin:end]))
        ranges = [*ranges[:begin], merged, *ranges[end:]]
    return ranges


def flip(b: bytes, bit: int = 3) -> bytes:
    return bytes([b[0] ^ (1 << bit)]) + b[1:]


def inclusion_probes(
    index: int, size: int, proof: list[bytes], root: bytes, leaf: bytes
) -> list[tuple[str, int, int, list[bytes], bytes, bytes]]:
    """corruptInclusionProof of verify_test.go, plus a well-formed wrong leaf."""
    probes = [
        ("index - 1", index - 1, size, proof, root, leaf),
        ("index + 1", index + 1, size, proof, root, leaf),
        ("index ^ 2", index ^ 2, size, proof, root, leaf),
        ("size * 2", index, size * 2, proof, root, leaf),
        ("size // 2", index, size // 2, proof, root, leaf),
        ("wrong leaf", index, size, proof, root, b"WrongLeaf"),
        ("other leaf", index, size, proof, root, leaf_hash(b"WrongLeaf")),
        ("empty root", index, size, proof, EMPTY_ROOT_HASH, leaf),
        ("random root", index, size, proof, SOME_HASH, leaf),
        ("trailing garbage", index, size, [*proof, b""], root, leaf),
        ("trailing root", index, size, [*proof, root], root, leaf),
        ("preceding garbage", index, size, [b"", *proof], root, leaf),
        ("preceding root", index, size, [root, *proof], root, leaf),
    ]
    for i in range(len(proof)):
        bad = list(proof)
        bad[i] = flip(bad[i])
        probes.append((f"modified proof[{i}] bit 3", index, size, bad, root, leaf))
    if proof:
        probes.append(("removed component", index, size, proof[:-1], root, leaf))
    if len(proof) > 1:
        probes.append(
            ("inserted component", index, size, [proof[0], SOME_HASH, *proof[1:]], root, leaf)
        )
    return probes


def consistency_probes(
    m: int, n: int, root_m: bytes, root_n: bytes, proof: list[bytes]
) -> list[tuple[str, int, int, bytes, bytes, list[bytes]]]:
    """corruptConsistencyProof of verify_test.go."""
    probes = [
        ("m - 1", m - 1, n, root_m, root_n, proof),
        ("m + 1", m + 1, n, root_m, root_n, proof),
        ("m ^ 2", m ^ 2, n, root_m, root_n, proof),
        ("n * 2", m, n * 2, root_m, root_n, proof),
        ("n // 2", m, n // 2, root_m, root_n, proof),
        ("wrong root_m", m, n, b"WrongRoot", root_n, proof),
        ("wrong root_n", m, n, root_m, b"WrongRoot", proof),
        ("other root_m", m, n, SOME_HASH, root_n, proof),
        ("other root_n", m, n, root_m, SOME_HASH, proof),
        ("swapped roots", m, n, root_n, root_m, proof),
        ("empty proof", m, n, root_m, root_n, []),
        ("trailing garbage", m, n, root_m, root_n, [*proof, b""]),
        ("trailing root_m", m, n, root_m, root_n, [*proof, root_m]),
        ("trailing root_n", m, n, root_m, root_n, [*proof, root_n]),
        ("preceding garbage", m, n, root_m, root_n, [b"", *proof]),
        ("preceding root_m", m, n, root_m, root_n, [root_m, *proof]),
        ("preceding root_n", m, n, root_m, root_n, [root_n, *proof]),
        ("preceding proof[0]", m, n, root_m, root_n, [proof[0], *proof]),
        ("truncated proof", m, n, root_m, root_n, proof[:-1]),
    ]
    for i in range(len(proof)):
        bad = list(proof)
        bad[i] = flip(bad[i], 4)
        probes.append((f"modified proof[{i}] bit 4", m, n, root_m, root_n, bad))
    return probes


# --- hashing and roots against the published vectors ------------------------------------------


def test_leaf_and_node_hashes_are_domain_separated_sha256() -> None:
    assert leaf_hash(b"abc") == hashlib.sha256(b"\x00abc").digest()
    assert (
        node_hash(b"L" * 32, b"R" * 32) == hashlib.sha256(b"\x01" + b"L" * 32 + b"R" * 32).digest()
    )
    assert EMPTY_ROOT_HASH == hashlib.sha256(b"").digest()
    assert LEAF_HASHES == NODE_HASHES[0]


@pytest.mark.parametrize("size", range(len(ROOT_HASHES)))
def test_root_of_every_prefix_matches_published(size: int) -> None:
    want = ROOT_HASHES[size]
    assert root_from_leaf_hashes(LEAF_HASHES[:size]) == want
    assert MerkleTree(LEAF_HASHES[:size]).root() == want
    assert MerkleTree(LEAF_HASHES).root(size) == want
    assert CompactTree.from_leaf_hashes(LEAF_HASHES[:size]).root() == want


def test_complete_subtrees_match_published_node_hashes() -> None:
    for level, row in enumerate(NODE_HASHES):
        for i, want in enumerate(row):
            assert root_from_leaf_hashes(LEAF_HASHES[i << level : (i + 1) << level]) == want


def test_growing_trees_match_published_roots_after_each_append() -> None:
    tree, compact = MerkleTree(), CompactTree()
    assert tree.root() == compact.root() == ROOT_HASHES[0]
    for i, lh in enumerate(LEAF_HASHES):
        assert tree.append(lh) == i
        assert compact.append(lh) == i
        assert tree.root() == compact.root() == ROOT_HASHES[i + 1]
        assert tree.size == compact.size == len(tree) == i + 1


@pytest.mark.parametrize("size", range(len(COMPACT_TREES)))
def test_compact_frontier_matches_published(size: int) -> None:
    want = tuple(NODE_HASHES[level][i] for level, i in COMPACT_TREES[size])
    assert CompactTree.from_leaf_hashes(LEAF_HASHES[:size]).frontier == want
    assert MerkleTree(LEAF_HASHES).compact(size).frontier == want
    # A persisted frontier resumes where it left off.
    resumed = CompactTree(size, want)
    for lh in LEAF_HASHES[size:]:
        resumed.append(lh)
    assert resumed.root() == ROOT_HASHES[-1]


# --- proofs against the published vectors ----------------------------------------------------


@pytest.mark.parametrize(("index", "size", "want"), INCLUSION_PROOFS)
def test_inclusion_proof_matches_published(index: int, size: int, want: list[bytes]) -> None:
    assert inclusion_proof(index, size, LEAF_HASHES) == want
    assert MerkleTree(LEAF_HASHES).inclusion_proof(index, size) == want
    assert MerkleTree(LEAF_HASHES[:size]).inclusion_proof(index) == want
    assert verify_inclusion(LEAF_HASHES[index], index, size, want, ROOT_HASHES[size])


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION_PROOFS)
def test_corrupted_published_inclusion_proof_is_rejected(
    index: int, size: int, proof: list[bytes]
) -> None:
    probes = inclusion_probes(index, size, proof, ROOT_HASHES[size], LEAF_HASHES[index])
    accepted = [p[0] for p in probes if verify_inclusion(p[5], p[1], p[2], p[3], p[4])]
    assert accepted == []


@pytest.mark.parametrize(("m", "n", "want"), CONSISTENCY_PROOFS)
def test_consistency_proof_matches_published(m: int, n: int, want: list[bytes]) -> None:
    assert consistency_proof(m, n, LEAF_HASHES) == want
    assert MerkleTree(LEAF_HASHES).consistency_proof(m, n) == want
    assert MerkleTree(LEAF_HASHES[:n]).consistency_proof(m) == want
    assert verify_consistency(m, n, ROOT_HASHES[m], ROOT_HASHES[n], want)


@pytest.mark.parametrize(("m", "n", "proof"), [v for v in CONSISTENCY_PROOFS if v[2]])
def test_corrupted_published_consistency_proof_is_rejected(
    m: int, n: int, proof: list[bytes]
) -> None:
    probes = consistency_probes(m, n, ROOT_HASHES[m], ROOT_HASHES[n], proof)
    accepted = [p[0] for p in probes if verify_consistency(p[1], p[2], p[3], p[4], p[5])]
    assert accepted == []


@pytest.mark.parametrize(("size", "index", "nodes", "span"), PROOF_NODES_INCLUSION)
def test_inclusion_proof_is_made_of_the_published_nodes(
    size: int, index: int, nodes: list[tuple[int, int]], span: Span
) -> None:
    leaves = generated_leaves(size)
    want = [root_from_leaf_hashes(leaves[a:b]) for a, b in node_ranges(nodes, span)]
    assert inclusion_proof(index, size, leaves) == want
    assert MerkleTree(leaves).inclusion_proof(index) == want


@pytest.mark.parametrize(("m", "n", "nodes", "span"), PROOF_NODES_CONSISTENCY)
def test_consistency_proof_is_made_of_the_published_nodes(
    m: int, n: int, nodes: list[tuple[int, int]], span: Span
) -> None:
    leaves = generated_leaves(n)
    want = [root_from_leaf_hashes(leaves[a:b]) for a, b in node_ranges(nodes, span)]
    assert consistency_proof(m, n, leaves) == want
    assert MerkleTree(leaves).consistency_proof(m) == want


# --- edge cases (verify_test.go TestVerifyInclusion / TestVerifyConsistency) -----------------


@pytest.mark.parametrize(("index", "size"), [(0, 0), (0, 1), (1, 0), (2, 1)])
def test_inclusion_with_empty_proof_and_mismatched_hashes_is_rejected(
    index: int, size: int
) -> None:
    assert not verify_inclusion(SOME_HASH, index, size, [], b"")
    assert not verify_inclusion(b"", index, size, [], EMPTY_ROOT_HASH)
    assert not verify_inclusion(SOME_HASH, index, size, [], EMPTY_ROOT_HASH)


def test_single_entry_tree_has_an_empty_proof_and_the_leaf_as_root() -> None:
    lh = leaf_hash(b"data")
    assert inclusion_proof(0, 1, [lh]) == []
    assert verify_inclusion(lh, 0, 1, [], lh)
    assert not verify_inclusion(lh, 0, 1, [], b"")
    assert not verify_inclusion(b"", 0, 1, [], lh)
    assert not verify_inclusion(lh, 0, 1, [], SOME_HASH)


def test_consistency_edge_sizes() -> None:
    a, b = ROOT_HASHES[3], ROOT_HASHES[5]
    # Equal sizes: consistent iff the roots are equal and the proof is empty.
    assert verify_consistency(3, 3, a, a, [])
    assert not verify_consistency(3, 3, a, b, [])
    assert not verify_consistency(3, 3, a, a, [EMPTY_ROOT_HASH])
    # The empty tree is a prefix of every tree; its root must be the empty hash, proof empty.
    # (verify_test.go accepts any root_m for size 0; we insist on MTH({}).)
    assert verify_consistency(0, 5, EMPTY_ROOT_HASH, b, [])
    assert verify_consistency(0, 0, EMPTY_ROOT_HASH, EMPTY_ROOT_HASH, [])
    assert not verify_consistency(0, 5, a, b, [])
    assert not verify_consistency(0, 5, EMPTY_ROOT_HASH, b, [EMPTY_ROOT_HASH])
    assert consistency_proof(0, 5, LEAF_HASHES) == []
    # Time travel to the past, and an empty proof between different sizes.
    assert not verify_consistency(5, 3, b, a, consistency_proof(3, 5, LEAF_HASHES))
    assert not verify_consistency(1, 2, ROOT_HASHES[1], ROOT_HASHES[2], [])


# --- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("index", "size"), [(0, 0), (3, 3), (4, 3), (-1, 3), (0, 9), (0, -1), (True, 3), (0.0, 3)]
)
def test_inclusion_proof_request_out_of_range_is_refused(index: object, size: object) -> None:
    with pytest.raises(InvalidProofRequest):
        inclusion_proof(index, size, LEAF_HASHES)  # type: ignore[arg-type]
    with pytest.raises(InvalidProofRequest):
        MerkleTree(LEAF_HASHES).inclusion_proof(index, size)  # type: ignore[arg-type]


@pytest.mark.parametrize(("m", "n"), [(4, 3), (-1, 3), (0, 9), (9, 9), (1, -1), (1.0, 3)])
def test_consistency_proof_request_out_of_range_is_refused(m: object, n: object) -> None:
    with pytest.raises(InvalidProofRequest):
        consistency_proof(m, n, LEAF_HASHES)  # type: ignore[arg-type]
    with pytest.raises(InvalidProofRequest):
        MerkleTree(LEAF_HASHES).consistency_proof(m, n)  # type: ignore[arg-type]


def test_merkle_tree_refuses_sizes_and_leaves_it_does_not_have() -> None:
    tree = MerkleTree(LEAF_HASHES)
    for bad in (9, -1):
        with pytest.raises(InvalidProofRequest):
            tree.root(bad)
        with pytest.raises(InvalidProofRequest):
            tree.compact(bad)
    with pytest.raises(InvalidProofRequest):
        tree.leaf_hash(8)
    assert tree.leaf_hash(7) == LEAF_HASHES[7]


@pytest.mark.parametrize("bad", [b"", b"\x00" * 31, b"\x00" * 33, bytearray(32), "0" * 32])
def test_leaf_hashes_of_wrong_length_or_type_are_refused(bad: object) -> None:
    with pytest.raises(ValueError):
        MerkleTree([LEAF_HASHES[0], bad])  # type: ignore[list-item]
    with pytest.raises(ValueError):
        MerkleTree().append(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        CompactTree().append(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        CompactTree(1, [bad])  # type: ignore[list-item]
    # Verification never raises: it answers False.
    assert not verify_inclusion(bad, 0, 1, [], bad)  # type: ignore[arg-type]
    assert not verify_inclusion(LEAF_HASHES[0], 0, 2, [bad], ROOT_HASHES[2])  # type: ignore[list-item]
    assert not verify_consistency(1, 2, ROOT_HASHES[1], ROOT_HASHES[2], [bad])  # type: ignore[list-item]


def test_compact_tree_frontier_must_match_size() -> None:
    with pytest.raises(ValueError):
        CompactTree(3, [NODE_HASHES[1][0]])  # size 3 needs two subtree roots
    with pytest.raises(ValueError):
        CompactTree(-1, [])


# --- properties over random logs ----------------------------------------------------------------

sizes = st.integers(min_value=1, max_value=300)
proof_settings = settings(max_examples=40, deadline=None)


def log_of(size: int, salt: int) -> tuple[list[bytes], MerkleTree]:
    leaves = [leaf_hash(b"%d/%d" % (salt, i)) for i in range(size)]
    return leaves, MerkleTree(leaves)


def max_path(n: int) -> int:
    return (n - 1).bit_length()  # ceil(log2 n)


@proof_settings
@example(size=256, salt=0)
@example(size=257, salt=1)
@example(size=300, salt=2)
@given(size=sizes, salt=st.integers(0, 2**32))
def test_every_inclusion_proof_verifies_and_nothing_else_does(size: int, salt: int) -> None:
    leaves, tree = log_of(size, salt)
    root = tree.root()
    assert root == root_from_leaf_hashes(leaves) == CompactTree.from_leaf_hashes(leaves).root()
    other = leaf_hash(b"not in the log")
    for index in range(size):
        proof = tree.inclusion_proof(index)
        assert len(proof) <= max_path(size)
        assert verify_inclusion(leaves[index], index, size, proof, root)
        assert not verify_inclusion(other, index, size, proof, root)
        assert not verify_inclusion(leaves[index], index, size, proof, SOME_HASH)
        for wrong in {index - 1, index + 1, index ^ 2, size} - {index}:
            assert not verify_inclusion(leaves[index], wrong, size, proof, root)
        # The size is bound to the root by the signed tree head, not by the proof: a proof
        # may still verify against the same root for a size with the same path shape, but
        # never for a tree of a different height.
        for wrong in (size * 2, size // 2):
            assert not verify_inclusion(leaves[index], index, wrong, proof, root)
        if proof:
            assert not verify_inclusion(leaves[index], index, size, proof[:-1], root)
            assert not verify_inclusion(leaves[index], index, size, [*proof, root], root)
            bad = list(proof)
            bad[index % len(bad)] = flip(bad[index % len(bad)], index % 8)
            assert not verify_inclusion(leaves[index], index, size, bad, root)


@proof_settings
@given(size=sizes, salt=st.integers(0, 2**32), data=st.data())
def test_list_functions_agree_with_the_cached_tree(
    size: int, salt: int, data: st.DataObject
) -> None:
    leaves, tree = log_of(size, salt)
    n = data.draw(st.integers(1, size), label="n")
    index = data.draw(st.integers(0, n - 1), label="index")
    m = data.draw(st.integers(0, n), label="m")
    assert inclusion_proof(index, n, leaves) == tree.inclusion_proof(index, n)
    assert consistency_proof(m, n, leaves) == tree.consistency_proof(m, n)
    assert root_from_leaf_hashes(leaves[:n]) == tree.root(n) == tree.compact(n).root()


@proof_settings
@example(size=256, salt=0)
@example(size=257, salt=1)
@example(size=300, salt=2)
@given(size=sizes, salt=st.integers(0, 2**32))
def test_every_consistency_proof_verifies_and_tampering_fails(size: int, salt: int) -> None:
    _, tree = log_of(size, salt)
    n = size
    root_n = tree.root()
    for m in range(1, n + 1):
        root_m = tree.root(m)
        proof = tree.consistency_proof(m)
        assert len(proof) <= max_path(n) + 1
        assert verify_consistency(m, n, root_m, root_n, proof)
        if m == n:
            assert proof == []
            continue
        assert not verify_consistency(m, n, SOME_HASH, root_n, proof)
        assert not verify_consistency(m, n, root_m, SOME_HASH, proof)
        assert not verify_consistency(m, n, root_n, root_m, proof)
        assert not verify_consistency(m, n, root_m, root_n, proof[:-1])
        assert not verify_consistency(m, n, root_m, root_n, [*proof, root_n])
        assert not verify_consistency(m, n, root_m, root_n, [proof[0], *proof])
        for i in range(len(proof)):
            bad = list(proof)
            bad[i] = flip(bad[i], i % 8)
            assert not verify_consistency(m, n, root_m, root_n, bad)
        for wrong_m in {m - 1, m + 1, m ^ 2} - {m}:
            if 1 <= wrong_m <= n:
                assert not verify_consistency(wrong_m, n, root_m, root_n, proof)
        assert not verify_consistency(m, n * 2, root_m, root_n, proof)


@proof_settings
@example(size=256, salt=0)
@example(size=257, salt=1)
@example(size=300, salt=2)
@given(size=sizes, salt=st.integers(0, 2**32))
def test_a_rewritten_history_is_never_consistent(size: int, salt: int) -> None:
    leaves, tree = log_of(size, salt)
    for m in range(1, size + 1):
        # The log forks: entry m-1 is replaced after the head of size m was published.
        forked = MerkleTree([*leaves[: m - 1], leaf_hash(b"rewritten"), *leaves[m:]])
        assert not verify_consistency(
            m, size, tree.root(m), forked.root(), forked.consistency_proof(m)
        )


# --- cost -------------------------------------------------------------------------------------


def count_hashes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls = [0]
    real = hashlib.sha256

    def counting(data: bytes = b"") -> hashlib._Hash:
        calls[0] += 1
        return real(data)

    monkeypatch.setattr(merkle, "_sha256", counting)
    return calls


def test_cached_proofs_cost_polylog_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    n = 100_003
    leaves = generated_leaves(n)
    tree = MerkleTree(leaves)
    calls = count_hashes(monkeypatch)
    bound = n.bit_length() ** 2
    for index in (0, n // 3, n - 2, n - 1):
        calls[0] = 0
        tree.inclusion_proof(index)
        assert calls[0] <= bound
    calls[0] = 0
    tree.consistency_proof(n // 3)
    assert calls[0] <= bound
    calls[0] = 0
    tree.append(leaves[0])
    tree.root()
    assert calls[0] <= 2 * n.bit_length()
    # Without the cache a proof hashes each node of the tree at most once.
    calls[0] = 0
    inclusion_proof(n // 3, n, leaves)
    assert calls[0] < n


# --- signed tree heads ------------------------------------------------------------------------

KID = b"log-key-2025-01\x00"


@pytest.fixture(scope="module")
def log_key() -> ec.EllipticCurvePrivateKey:
    return ec.derive_private_key(0x5EED_0F_7EE_1065, ec.SECP256R1())


@pytest.fixture(scope="module")
def head() -> TreeHead:
    return TreeHead(size=8, root_hash=ROOT_HASHES[8], timestamp=1_767_225_600)


def test_tree_head_encodes_as_deterministic_cbor_map(head: TreeHead) -> None:
    enc = head.encode()
    assert enc == cbor2.dumps({1: 8, 2: ROOT_HASHES[8], 3: 1_767_225_600}, canonical=True)
    assert enc[:3] == bytes([0xA3, 0x01, 0x08])  # map(3), 1: 8
    assert TreeHead.decode(enc) == head


def test_signed_tree_head_round_trips(log_key: ec.EllipticCurvePrivateKey, head: TreeHead) -> None:
    env = sign_tree_head(head, log_key, KID)
    assert verify_tree_head(env, log_key.public_key()) == head
    assert tree_head_kid(env) == KID
    assert env[0] == 0xD2  # tag 18


def test_empty_log_head_round_trips(log_key: ec.EllipticCurvePrivateKey) -> None:
    empty = TreeHead(0, EMPTY_ROOT_HASH, 0)
    assert verify_tree_head(sign_tree_head(empty, log_key, KID), log_key.public_key()) == empty


def test_envelope_layout_is_the_protocol_cose_sign1(
    log_key: ec.EllipticCurvePrivateKey, head: TreeHead
) -> None:
    env = sign_tree_head(head, log_key, KID)
    tagged = cbor2.loads(env)
    assert tagged.tag == 18
    protected, unprotected, payload, signature = tagged.value
    assert cbor2.loads(protected) == {1: -7, 3: CONTENT_TYPE, 4: KID}
    assert protected == cbor2.dumps({1: -7, 3: CONTENT_TYPE, 4: KID}, canonical=True)
    assert unprotected == {}
    assert payload == head.encode()
    assert len(signature) == 64
    assert cbor2.dumps(tagged, canonical=True) == env


def test_an_independent_cose_library_verifies_our_tree_head(
    log_key: ec.EllipticCurvePrivateKey, head: TreeHead
) -> None:
    nums = log_key.public_key().public_numbers()
    key = COSEKey.new(
        {1: 2, -1: 1, -2: nums.x.to_bytes(32, "big"), -3: nums.y.to_bytes(32, "big"), 3: -7, 2: KID}
    )
    protected, unprotected, payload = COSE.new().decode_with_headers(
        sign_tree_head(head, log_key, KID), key
    )
    assert payload == head.encode()
    assert protected == {1: -7, 3: CONTENT_TYPE, 4: KID}
    assert unprotected == {}


def test_wrong_key_is_rejected(log_key: ec.EllipticCurvePrivateKey, head: TreeHead) -> None:
    env = sign_tree_head(head, log_key, KID)
    other = ec.derive_private_key(12345, ec.SECP256R1()).public_key()
    with pytest.raises(InvalidTreeHead, match="signature"):
        verify_tree_head(env, other)
    p384 = ec.derive_private_key(12345, ec.SECP384R1()).public_key()
    with pytest.raises(InvalidTreeHead):
        verify_tree_head(env, p384)


def reseal(env: bytes, **changes: object) -> bytes:
    """The envelope with some of its four parts replaced (signature left as it was)."""
    tagged = cbor2.loads(env)
    parts = dict(
        zip(("protected", "unprotected", "payload", "signature"), tagged.value, strict=True)
    )
    parts.update(changes)
    return cbor2.dumps(cbor2.CBORTag(tagged.tag, list(parts.values())), canonical=True)


def test_every_tampered_field_is_caught(
    log_key: ec.EllipticCurvePrivateKey, head: TreeHead
) -> None:
    env = sign_tree_head(head, log_key, KID)
    pub = log_key.public_key()
    sig = cbor2.loads(env).value[3]
    tampered = {
        "bigger size": reseal(env, payload=TreeHead(9, head.root_hash, head.timestamp).encode()),
        "other root": reseal(env, payload=TreeHead(8, SOME_HASH, head.timestamp).encode()),
        "later time": reseal(env, payload=TreeHead(8, head.root_hash, head.timestamp + 1).encode()),
        "other kid": reseal(
            env, protected=cbor2.dumps({1: -7, 3: CONTENT_TYPE, 4: b"k2"}, canonical=True)
        ),
        "other content type": reseal(
            env,
            protected=cbor2.dumps(
                {1: -7, 3: "application/quietmile.receipt+cbor", 4: KID}, canonical=True
            ),
        ),
        "alg ES384": reseal(
            env, protected=cbor2.dumps({1: -35, 3: CONTENT_TYPE, 4: KID}, canonical=True)
        ),
        "extra header": reseal(
            env, protected=cbor2.dumps({1: -7, 2: [], 3: CONTENT_TYPE, 4: KID}, canonical=True)
        ),
        "unprotected kid": reseal(env, unprotected={4: KID}),
        "flipped signature bit": reseal(env, signature=flip(sig, 0)),
        "short signature": reseal(env, signature=sig[:63]),
        "zero r": reseal(env, signature=bytes(32) + sig[32:]),
        "untagged": cbor2.dumps(cbor2.loads(env).value, canonical=True),
        "other tag": cbor2.dumps(cbor2.CBORTag(17, cbor2.loads(env).value), canonical=True),
        "trailing byte": env + b"\x00",
        "truncated": env[:-1],
        "not canonical": bytes([0xD8, 18]) + env[1:],  # tag 18 in a 2-byte head
        "not cbor": b"\xff",
        "three items": cbor2.dumps(cbor2.CBORTag(18, cbor2.loads(env).value[:3]), canonical=True),
    }
    survived = []
    for name, bad in tampered.items():
        assert bad != env, name
        try:
            verify_tree_head(bad, pub)
        except InvalidTreeHead:
            continue
        survived.append(name)
    assert survived == []


@pytest.mark.parametrize(
    "payload",
    [
        {1: 8, 2: ROOT_HASHES[8]},
        {1: 8, 2: ROOT_HASHES[8], 3: 0, 4: 0},
        {1: -1, 2: ROOT_HASHES[8], 3: 0},
        {1: 8, 2: ROOT_HASHES[8][:31], 3: 0},
        {1: 8, 2: "root", 3: 0},
        {1: 8, 2: ROOT_HASHES[8], 3: 1 << 40},
        {1: True, 2: ROOT_HASHES[8], 3: 0},
        {"1": 8, 2: ROOT_HASHES[8], 3: 0},
        [8, ROOT_HASHES[8], 0],
    ],
)
def test_correctly_signed_but_malformed_payload_is_rejected(
    log_key: ec.EllipticCurvePrivateKey, payload: object
) -> None:
    # Sign the bad payload properly, so only the payload check can catch it.
    protected = cbor2.dumps({1: -7, 3: CONTENT_TYPE, 4: KID}, canonical=True)
    body = cbor2.dumps(payload, canonical=True)
    tbs = cbor2.dumps(["Signature1", protected, b"", body], canonical=True)
    r, s = decode_dss_signature(log_key.sign(tbs, ec.ECDSA(hashes.SHA256())))
    sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    env = cbor2.dumps(cbor2.CBORTag(18, [protected, {}, body, sig]), canonical=True)
    with pytest.raises(InvalidTreeHead):
        verify_tree_head(env, log_key.public_key())


@pytest.mark.parametrize(
    ("size", "root", "timestamp"),
    [
        (-1, ROOT_HASHES[0], 0),
        (0, b"\x00" * 31, 0),
        (0, ROOT_HASHES[0], -1),
        (1 << 64, ROOT_HASHES[0], 0),
    ],
)
def test_tree_head_fields_are_checked(size: int, root: bytes, timestamp: int) -> None:
    with pytest.raises(ValueError):
        TreeHead(size, root, timestamp)


def test_signing_needs_a_p256_key_and_a_kid(
    log_key: ec.EllipticCurvePrivateKey, head: TreeHead
) -> None:
    with pytest.raises(ValueError):
        sign_tree_head(head, ec.derive_private_key(7, ec.SECP384R1()), KID)
    with pytest.raises(ValueError):
        sign_tree_head(head, log_key, b"")


def test_cbor2_fallback_encodes_and_decodes_like_protocol_cbor(
    log_key: ec.EllipticCurvePrivateKey, head: TreeHead, monkeypatch: pytest.MonkeyPatch
) -> None:
    primary = tree_head._CODEC
    env = sign_tree_head(head, log_key, KID)
    monkeypatch.setattr(tree_head, "_CODEC", tree_head._cbor2_codec())
    assert sign_tree_head(head, log_key, KID)[:-64] == env[:-64]  # ECDSA nonces are random
    assert verify_tree_head(env, log_key.public_key()) == head
    with pytest.raises(InvalidTreeHead):
        verify_tree_head(bytes([0xD8, 18]) + env[1:], log_key.public_key())
    with pytest.raises(InvalidTreeHead):
        verify_tree_head(env + b"\x00", log_key.public_key())
    print(f"\nCBOR backend in use: {primary.name}")


def test_a_signed_head_and_proofs_let_a_driver_check_the_log(
    log_key: ec.EllipticCurvePrivateKey,
) -> None:
    """End to end: the log grows, signs heads; a driver checks inclusion and consistency."""
    tree = MerkleTree()
    tree.extend(generated_leaves(1000))
    old_env = sign_tree_head(TreeHead(tree.size, tree.root(), 1_767_225_600), log_key, KID)
    my_entry = leaf_hash(b"access: auditor 7 opened segment 12 of statement 99")
    my_index = tree.append(my_entry)
    tree.extend(generated_leaves(500))
    new_env = sign_tree_head(TreeHead(tree.size, tree.root(), 1_767_229_200), log_key, KID)

    pub = log_key.public_key()
    old, new = verify_tree_head(old_env, pub), verify_tree_head(new_env, pub)
    assert verify_inclusion(
        my_entry, my_index, new.size, tree.inclusion_proof(my_index, new.size), new.root_hash
    )
    assert verify_consistency(
        old.size, new.size, old.root_hash, new.root_hash, tree.consistency_proof(old.size, new.size)
    )
