"""Fixtures for the vector index tests: a seeded base set and an index of every type."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from index_data import CONFIGS, DIM, N_TRAINED, clustered

from ragkit.index import FaissIndex


@pytest.fixture(scope="session")
def base() -> tuple[np.ndarray, np.ndarray]:
    x = clustered(N_TRAINED)
    ids = np.arange(N_TRAINED, dtype=np.int64) * 3 + 5  # not 0..n-1, so mix-ups show
    return ids, x


@pytest.fixture(scope="session", params=sorted(CONFIGS))
def saved(
    request: pytest.FixtureRequest,
    base: tuple[np.ndarray, np.ndarray],
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[str, Path]:
    """Each index type built once over the base set (training is slow) and saved."""
    ids, x = base
    index = FaissIndex(DIM, CONFIGS[request.param], use_gpu="never")
    index.add(ids, x)
    directory = tmp_path_factory.mktemp(f"saved-{request.param}")
    index.save(directory, index.manifest("test-embedder", kb_version=1))
    return request.param, directory


@pytest.fixture
def built(saved: tuple[str, Path]) -> FaissIndex:
    """A fresh copy of a saved index, loaded from its files, for a test to mutate."""
    kind, directory = saved
    index, _ = FaissIndex.load(
        directory,
        expect_embedder_id="test-embedder",
        expect_dim=DIM,
        expect_type=kind,
        use_gpu="never",
        config=CONFIGS[kind],
    )
    return index
