"""FaissIndex against real FAISS: exactness, update/remove per type, IVF training, empties."""

from __future__ import annotations

import numpy as np
import pytest
from index_data import CONFIGS, DIM, clustered, exact_top

from ragkit.config import IndexConfig
from ragkit.errors import ConfigError, IndexMismatchError
from ragkit.index import FaissIndex, VectorIndex, default_nlist


def test_flat_search_is_exact() -> None:
    x = clustered(500, seed=3)
    ids = np.random.default_rng(0).permutation(10_000)[:500].astype(np.int64)
    index = FaissIndex(DIM, IndexConfig(type="flat"), use_gpu="never")
    index.add(ids, x)
    q = clustered(20, seed=4)
    scores, found = index.search(q, 10)
    assert found.tolist() == exact_top(x, ids, q, 10).tolist()
    np.testing.assert_allclose(scores, -np.sort(-(q @ x.T), axis=1)[:, :10], atol=1e-5)
    assert isinstance(index, VectorIndex)
    assert sorted(index.ids().tolist()) == sorted(ids.tolist())


def test_update_replaces_vector(built: FaissIndex, base: tuple[np.ndarray, np.ndarray]) -> None:
    ids, x = base
    target = int(ids[123])
    moved = x[9000]  # id 123 now holds the vector of row 9000
    built.add(np.array([target]), moved[None])
    assert len(built) == len(ids)
    _, found = built.search(moved[None], 10)
    assert target in found[0]
    _, found_old = built.search(x[123][None], 10)
    if built.config.type != "ivfpq":  # PQ scores are approximate; exact types must drop it
        assert found_old[0][0] != target
    assert np.sum(built.ids() == target) == 1


def test_remove_never_returns_removed(built: FaissIndex, base: tuple[np.ndarray, np.ndarray]):
    ids, x = base
    gone = ids[::10]  # 10%: below the HNSW rebuild fraction, so tombstones are searched
    unknown = np.array([1, 2, 4])  # not ids (ids are 5 mod 3): ignored
    assert built.remove(np.concatenate([gone, unknown, gone[:5]])) == len(gone)
    if built.config.type == "hnsw":
        assert built._ndead == len(gone)  # the tombstone path, not a rebuild
    assert len(built) == len(ids) - len(gone)
    _, found = built.search(x[::10][:200], 20)
    assert not np.isin(found, gone).any()
    assert (found >= 0).all()  # k live results still come back
    assert set(built.ids().tolist()) == set(ids.tolist()) - set(gone.tolist())
    more = ids[1::2]  # now past the HNSW rebuild fraction
    built.remove(more)
    if built.config.type == "hnsw":
        assert built._ndead == 0
    _, found = built.search(x[:300], 20)
    assert not np.isin(found, np.concatenate([gone, more])).any()
    left = len(built)
    assert built.remove(ids) == left  # already-removed ids are not counted again
    assert len(built) == 0 and built.search(x[:3], 5)[1].tolist() == [[-1] * 5] * 3


def test_readding_removed_id_works(built: FaissIndex, base: tuple[np.ndarray, np.ndarray]):
    ids, x = base
    built.remove(ids[:50])
    built.add(ids[:50], x[:50])
    assert len(built) == len(ids)
    _, found = built.search(x[:50], 10)
    hit = np.mean([i in row for i, row in zip(ids[:50], found, strict=True)])
    assert hit >= (0.8 if built.config.type == "ivfpq" else 1.0), hit  # PQ scores are lossy


def test_ivf_exact_below_threshold_then_trained_recall() -> None:
    cfg = IndexConfig(type="ivf", ivf_nlist=32, ivf_nprobe=8)
    x = clustered(2500, dim=32, seed=7)
    ids = np.arange(2500, dtype=np.int64)
    q = clustered(100, dim=32, seed=8)
    index = FaissIndex(32, cfg, use_gpu="never")
    index.add(ids[:1000], x[:1000])  # below 39 * 32 = 1248
    assert not index.trained
    assert index.search(q, 10)[1].tolist() == exact_top(x[:1000], ids[:1000], q, 10).tolist()
    index.add(ids[1000:], x[1000:])
    assert index.trained and index._index.nlist == 32
    assert len(index) == 2500
    found = index.search(q, 10)[1]
    truth = exact_top(x, ids, q, 10)
    recall = np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth, strict=True)])
    assert recall >= 0.9, recall


def test_default_nlist_rule() -> None:
    assert default_nlist(1) == 16
    assert default_nlist(100) == 32  # 4*sqrt(100) = 40 -> nearest power of two
    assert default_nlist(100_000) == 1024
    assert default_nlist(1_000_000) == 4096
    assert default_nlist(10**12) == 65536


def test_bad_pq_m_is_config_error() -> None:
    with pytest.raises(ConfigError, match=r"pq_m=50 does not divide .* 384"):
        FaissIndex(384, IndexConfig(type="ivfpq", pq_m=50))
    FaissIndex(384, IndexConfig(type="ivfpq", pq_m=48))  # fine


@pytest.mark.parametrize("kind", sorted(CONFIGS))
def test_empty_index_search(kind: str) -> None:
    index = FaissIndex(DIM, CONFIGS[kind], use_gpu="never")
    scores, found = index.search(clustered(3), 5)
    assert found.shape == (3, 5) and (found == -1).all() and np.isneginf(scores).all()
    assert len(index) == 0 and index.ids().size == 0 and index.remove(np.array([1])) == 0


@pytest.mark.parametrize("kind", sorted(CONFIGS))
@pytest.mark.parametrize("empty", [np.zeros((0, 0)), np.zeros((0, DIM)), np.zeros(0)])
def test_empty_batches_are_no_ops(kind: str, empty: np.ndarray) -> None:
    """A document with no chunks adds and removes nothing, whatever shape its empty batch has."""
    index = FaissIndex(DIM, CONFIGS[kind], use_gpu="never")
    index.add(np.array([3]), clustered(1))
    index.add(np.zeros(0, np.int64), empty)
    assert index.remove(np.zeros(0, np.int64)) == 0
    assert len(index) == 1 and index.ids().tolist() == [3]
    scores, found = index.search(np.zeros((0, DIM), np.float32), 2)
    assert found.shape == (0, 2) and scores.shape == (0, 2)


def test_fewer_than_k_results_padded() -> None:
    index = FaissIndex(DIM, IndexConfig(type="hnsw"), use_gpu="never")
    index.add(np.array([10, 11]), clustered(2))
    scores, found = index.search(clustered(1, seed=5), 4)
    assert sorted(found[0, :2].tolist()) == [10, 11]
    assert found[0, 2:].tolist() == [-1, -1] and np.isneginf(scores[0, 2:]).all()


def test_dimension_mismatch_is_clear() -> None:
    index = FaissIndex(DIM, use_gpu="never")
    with pytest.raises(IndexMismatchError, match="16-d"):
        index.add(np.array([1]), np.ones((1, 8), np.float32))
    with pytest.raises(IndexMismatchError, match="--rebuild"):
        index.search(np.ones((2, 32), np.float32), 3)


def test_duplicate_ids_in_one_batch_last_wins() -> None:
    x = clustered(3, seed=9)
    index = FaissIndex(DIM, use_gpu="never")
    index.add(np.array([7, 8, 7]), x)
    assert len(index) == 2
    assert index.search(x[2:3], 1)[1][0, 0] == 7
    assert index.search(x[0:1], 1)[1][0, 0] != 7 or np.allclose(x[0], x[2])


def test_negative_ids_rejected() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        FaissIndex(DIM).add(np.array([-1]), clustered(1))


def test_use_gpu_always_without_gpu_is_config_error() -> None:
    import faiss

    if faiss.get_num_gpus() > 0:
        pytest.skip("a GPU is present: 'always' is valid here")
    with pytest.raises(ConfigError, match="use_gpu"):
        FaissIndex(DIM, use_gpu="always")
