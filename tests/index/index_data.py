"""Data and settings shared by the vector index tests (seeded clustered unit vectors)."""

from __future__ import annotations

import numpy as np

from ragkit.config import IndexConfig

DIM = 16
# Settings small enough that every IVF type trains within a few thousand vectors.
CONFIGS = {
    "flat": IndexConfig(type="flat"),
    "hnsw": IndexConfig(type="hnsw", hnsw_m=16, hnsw_ef_search=64),
    "ivf": IndexConfig(type="ivf", ivf_nlist=16, ivf_nprobe=16),
    "ivfpq": IndexConfig(type="ivfpq", ivf_nlist=16, ivf_nprobe=16, pq_m=8),
}
N_TRAINED = 10_000  # above every threshold: 39*16 for IVF, 39*256 for PQ codebooks


def clustered(n: int, dim: int = DIM, centres: int = 40, seed: int = 0) -> np.ndarray:
    """Unit vectors drawn from a seeded Gaussian mixture."""
    rng = np.random.default_rng(seed)
    c = np.random.default_rng(1234).standard_normal((centres, dim))
    x = c[rng.integers(0, centres, n)] + 0.35 * rng.standard_normal((n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def exact_top(base: np.ndarray, ids: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    order = np.argsort(-(queries @ base.T), axis=1, kind="stable")[:, :k]
    return ids[order]
