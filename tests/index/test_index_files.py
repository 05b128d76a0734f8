"""Saving and loading index directories: round trips, mismatches, corruption, crash windows."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from index_data import CONFIGS, DIM, clustered

from ragkit.config import IndexConfig
from ragkit.errors import IndexMismatchError
from ragkit.index import MANIFEST_NAME, FaissIndex, IndexMissingError, read_manifest


def _load(directory: Path, kind: str = "flat", **kw: object) -> FaissIndex:
    args = {"expect_embedder_id": "test-embedder", "expect_dim": DIM, "expect_type": kind}
    args.update(kw)
    return FaissIndex.load(directory, use_gpu="never", config=CONFIGS[kind], **args)[0]


def _small(tmp_path: Path, n: int = 200, seed: int = 0, kb_version: int = 1) -> FaissIndex:
    index = FaissIndex(DIM, use_gpu="never")
    index.add(np.arange(n), clustered(n, seed=seed))
    index.save(tmp_path, index.manifest("test-embedder", kb_version=kb_version))
    return index


def test_round_trip_preserves_search(built: FaissIndex, tmp_path: Path) -> None:
    kind = built.config.type
    ids = built.ids()
    built.remove(ids[::20])  # HNSW: tombstones must survive the round trip
    built.save(tmp_path, built.manifest("test-embedder", kb_version=7))
    loaded = _load(tmp_path, kind)
    q = clustered(100, seed=11)
    s1, i1 = built.search(q, 10)
    s2, i2 = loaded.search(q, 10)
    assert i1.tolist() == i2.tolist()
    np.testing.assert_allclose(s1, s2, rtol=1e-5)
    assert len(loaded) == len(built) and loaded.trained == built.trained
    assert not np.isin(i2, ids[::20]).any()
    m = read_manifest(tmp_path)
    assert (m.kb_version, m.count, m.index_type, m.dim) == (7, len(built), kind, DIM)


@pytest.mark.parametrize(
    ("kw", "needle"),
    [
        ({"expect_embedder_id": "other-model"}, "embedder test-embedder (dim 16)"),
        ({"expect_dim": 32}, "you asked for test-embedder (dim 32)"),
        ({"expect_type": "hnsw"}, "set index.type to 'flat'"),
    ],
)
def test_mismatch_names_the_fix(tmp_path: Path, kw: dict, needle: str) -> None:
    _small(tmp_path)
    with pytest.raises(IndexMismatchError) as err:
        _load(tmp_path, **kw)
    assert type(err.value) is IndexMismatchError  # not "missing": rebuilding is the user's call
    assert needle in str(err.value) and "--rebuild" in str(err.value)


def test_corrupt_index_file_detected(tmp_path: Path) -> None:
    _small(tmp_path)
    path = tmp_path / read_manifest(tmp_path).index_file
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(IndexMissingError, match="does not match its manifest"):
        _load(tmp_path)
    path.unlink()
    with pytest.raises(IndexMissingError, match="missing"):
        _load(tmp_path)


def test_corrupt_or_missing_manifest_detected(tmp_path: Path) -> None:
    with pytest.raises(IndexMissingError, match="no index manifest"):
        _load(tmp_path)
    _small(tmp_path)
    (tmp_path / MANIFEST_NAME).write_text('{"embedder_id": "x", "dim": ')
    with pytest.raises(IndexMissingError, match="corrupt"):
        _load(tmp_path)


def test_pair_from_different_saves_detected(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    _small(a, seed=1, kb_version=1)
    _small(b, seed=2, kb_version=2)
    # b's index bytes under a's file name: the checksum catches it
    shutil.copy(b / read_manifest(b).index_file, a / read_manifest(a).index_file)
    with pytest.raises(IndexMissingError, match="another save"):
        _load(a)
    # b's manifest next to a's index: it names a file that is not there
    shutil.copy(b / MANIFEST_NAME, a / MANIFEST_NAME)
    with pytest.raises(IndexMissingError, match="missing"):
        _load(a)


def test_save_replaces_and_cleans_up(tmp_path: Path) -> None:
    index = _small(tmp_path)
    index.add(np.array([999]), clustered(1, seed=99))
    index.save(tmp_path, index.manifest("test-embedder", kb_version=2))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [MANIFEST_NAME, read_manifest(tmp_path).index_file]
    )
    assert len(_load(tmp_path)) == 201


def test_crash_before_manifest_rename_keeps_old_pair(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fault injection: the process dies right before the manifest is renamed into place."""
    old = _small(tmp_path)
    new = FaissIndex(DIM, use_gpu="never")
    new.add(np.arange(50), clustered(50, seed=5))
    real_replace = os.replace

    def dying_replace(src: object, dst: object) -> None:
        if Path(str(dst)).name == MANIFEST_NAME:
            raise KeyboardInterrupt("simulated crash")
        real_replace(src, dst)

    monkeypatch.setattr("ragkit.index.os.replace", dying_replace)
    with pytest.raises(KeyboardInterrupt):
        new.save(tmp_path, new.manifest("test-embedder", kb_version=2))
    monkeypatch.undo()
    loaded = _load(tmp_path)  # the old manifest still names the old, intact index
    assert len(loaded) == len(old) == 200
    assert read_manifest(tmp_path).kb_version == 1
    new.save(tmp_path, new.manifest("test-embedder", kb_version=2))  # next save cleans up
    assert len(list(tmp_path.iterdir())) == 2 and len(_load(tmp_path)) == 50


def test_manifest_is_plain_json(tmp_path: Path) -> None:
    _small(tmp_path)
    data = json.loads((tmp_path / MANIFEST_NAME).read_text())
    assert data["metric"] == "ip" and data["schema_version"] == 1 and data["faiss_version"]
    assert data["created_at"].endswith("+00:00")


def test_save_rejects_manifest_for_another_index(tmp_path: Path) -> None:
    index = FaissIndex(DIM, IndexConfig(type="flat"), use_gpu="never")
    wrong = FaissIndex(32, use_gpu="never").manifest("e", kb_version=1)
    with pytest.raises(ValueError, match="do not match"):
        index.save(tmp_path, wrong)


def test_load_with_auto_placement_searches(tmp_path: Path) -> None:
    """``auto`` uses the GPU when FAISS sees one and the CPU otherwise; results are the same."""
    saved = _small(tmp_path)
    loaded, _ = FaissIndex.load(
        tmp_path,
        expect_embedder_id="test-embedder",
        expect_dim=DIM,
        expect_type="flat",
        use_gpu="auto",
    )
    q = clustered(10, seed=12)
    assert loaded.search(q, 5)[1].tolist() == saved.search(q, 5)[1].tolist()
