"""Transparency-log proof costs (CPython): a proof over 10^5 and 10^6 leaves, cached tree vs
the plain list functions. Figures from one run; compare ratios.

Run: .venv/bin/python bench/merkle_bench.py
"""

from __future__ import annotations

import hashlib
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from backend.transparency.merkle import (
    MerkleTree,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
)


def generated_leaves(n: int) -> list[bytes]:
    return [leaf_hash(hashlib.sha256(i.to_bytes(8, "big")).digest()) for i in range(n)]


def best_ms(fn: object, repeat: int = 5) -> float:
    assert callable(fn)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times) * 1e3


def proof_timings(n: int, with_lists: bool) -> dict[str, float]:
    leaves = generated_leaves(n)
    t0 = time.perf_counter()
    tree = MerkleTree(leaves)
    figures = {"build MerkleTree": (time.perf_counter() - t0) * 1e3}
    index, m = n // 3, n // 3 - 7
    figures["MerkleTree.inclusion_proof"] = best_ms(lambda: tree.inclusion_proof(index))
    figures["MerkleTree.consistency_proof"] = best_ms(lambda: tree.consistency_proof(m))
    figures["MerkleTree.root(n - 3)"] = best_ms(lambda: tree.root(n - 3))
    figures["1,000 x MerkleTree.append"] = best_ms(lambda: tree.extend(leaves[:1000]), 1)
    if with_lists:
        figures["inclusion_proof(list)"] = best_ms(lambda: inclusion_proof(index, n, leaves), 3)
        figures["consistency_proof(list)"] = best_ms(lambda: consistency_proof(m, n, leaves), 3)
    print(f"\n{n:,} leaves:")
    for name, ms in figures.items():
        print(f"  {name:32s} {ms:10.3f} ms")
    return figures


def main() -> int:
    proof_timings(100_000, with_lists=True)
    proof_timings(1_000_000, with_lists=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
