"""Transparency log core: RFC 9162 Merkle trees, proofs and signed tree heads.

Every access to a driver's opened location data is appended to this log; drivers and DPOs
check inclusion and consistency proofs against signed tree heads (DESIGN.md §2.3, §6).
"""

from backend.transparency.merkle import (
    EMPTY_ROOT_HASH,
    HASH_SIZE,
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
    sign_tree_head_with,
    tree_head_kid,
    verify_tree_head,
)

__all__ = [
    "CONTENT_TYPE",
    "EMPTY_ROOT_HASH",
    "HASH_SIZE",
    "CompactTree",
    "InvalidProofRequest",
    "InvalidTreeHead",
    "MerkleTree",
    "TreeHead",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root_from_leaf_hashes",
    "sign_tree_head",
    "sign_tree_head_with",
    "tree_head_kid",
    "verify_consistency",
    "verify_inclusion",
    "verify_tree_head",
]
