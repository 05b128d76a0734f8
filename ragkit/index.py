"""The vector index: FAISS structures behind one small protocol, their files, and placement.

Owns: ``VectorIndex`` (the protocol the retriever uses), ``FaissIndex`` (flat, HNSW, IVF and
IVF-PQ over inner product on L2-normalised vectors, with chunk ids that can be removed and
re-added), ``IndexManifest`` and the crash-safe save/load of an index directory, and CPU/GPU
placement. It does not own embedding, chunk storage or when to re-index: the knowledge base
writes ``kb_version`` into the manifest and compares it on load.

Per type, how remove/update works (re-adding an id removes the old vector first):

* flat: ``IndexIDMap(IndexFlatIP)``; ``remove_ids`` compacts both. Exact.
* hnsw: ``IndexIDMap(IndexHNSWFlat)``. HNSW cannot delete nodes, so a removed row becomes a
  tombstone (its id set to -1 in the id map) and searches pass an ``IDSelectorRange(0, 2**63-1)``:
  FAISS still walks through dead nodes but never returns them, so no over-fetch is needed and k
  live results come back whenever k live vectors exist. Measured (bench/faiss_bench.py
  ``--tombstones``, 20k clustered 384-d vectors, M=32, efSearch=128): recall@10 stays 1.000 up
  to 50% dead rows and 0.9999 at 75%, with no visible speed loss. So tombstones cost memory, not
  answers, and the graph is rebuilt from the stored vectors (a full build) only once
  ``HNSW_REBUILD_FRACTION`` (half) of the rows are dead. Tombstones are saved as -1 ids.
* ivf / ivfpq: until ``39 * nlist`` vectors exist (and, for PQ, ``39 * 256`` for its codebooks)
  the index is exact (``IndexIDMap(IndexFlatIP)``); the ``add`` that crosses the threshold runs
  k-means on a seeded sample of ``50 * nlist`` of everything present and moves it all into
  ``IndexIVFFlat``/``IndexIVFPQ`` with the IVF's own ids (``IndexIDMap`` over IVF mis-maps ids
  after ``remove_ids``), so a rebuild that adds all vectors in one call picks nlist for the full
  size. ``nlist`` is ``ivf_nlist`` or about
  ``4*sqrt(n)`` at training time, a power of two in [16, 65536], and then stays fixed: rebuild
  the index (``ragkit index --rebuild``) after the collection grows tenfold.

Searching returns ``(scores, ids)`` of shape ``(nq, k)``; missing results are id -1, score -inf,
so an empty index returns only those. Ids must be >= 0. Not thread-safe: the knowledge base
serialises writers. GPU: with ``use_gpu`` ``auto``/``always`` and a GPU present, searches run on a
GPU copy made on first search (``index_cpu_to_gpu``); mutations go to the CPU master and drop the
copy. HNSW has no GPU implementation in FAISS and always stays on the CPU.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import logging
import math
import os
import uuid
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import faiss
import numpy as np

from ragkit.config import IndexConfig
from ragkit.errors import ConfigError, IndexMismatchError

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
MANIFEST_NAME = "manifest.json"
HNSW_REBUILD_FRACTION = 0.5
MIN_POINTS_PER_CENTROID = 39  # FAISS k-means warns below this
TRAIN_POINTS_PER_LIST = 50  # k-means sample size; k-means costs O(sample * nlist * dim)
_PQ_CENTROIDS = 256  # 8-bit PQ codes
_LIVE = faiss.IDSelectorRange(0, np.iinfo(np.int64).max)  # selects every id except -1
REBUILD_HINT = "ragkit index --kb DIR --rebuild"


class IndexMissingError(IndexMismatchError):
    """The index file or manifest is missing or corrupt. Catch it to rebuild from stored vectors."""


@runtime_checkable
class VectorIndex(Protocol):
    dim: int

    def __len__(self) -> int: ...
    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None: ...
    def remove(self, ids: np.ndarray) -> int: ...
    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]: ...
    def ids(self) -> np.ndarray: ...
    def save(self, directory: Path, manifest: IndexManifest) -> None: ...


@dataclasses.dataclass(frozen=True)
class IndexManifest:
    """What an index file holds. ``save`` fills ``count``, ``index_file`` and ``index_sha256``."""

    embedder_id: str
    dim: int
    metric: str
    index_type: str
    kb_version: int
    count: int = 0
    schema_version: int = SCHEMA_VERSION
    faiss_version: str = faiss.__version__
    created_at: str = ""
    index_file: str = ""
    index_sha256: str = ""


def default_nlist(n: int) -> int:
    """About ``4*sqrt(n)`` inverted lists, rounded to a power of two in [16, 65536]."""
    raw = 4.0 * math.sqrt(max(n, 1))
    return int(min(65536, max(16, 2 ** round(math.log2(raw)))))


class FaissIndex:
    """A FAISS index keyed by int64 chunk ids. See the module docstring for per-type behaviour."""

    def __init__(
        self,
        dim: int,
        config: IndexConfig | None = None,
        *,
        use_gpu: Literal["auto", "never", "always"] | None = None,
    ) -> None:
        self.config = config or IndexConfig()
        self.dim = int(dim)
        if self.config.type == "ivfpq" and self.dim % self.config.pq_m:
            ok = [m for m in range(1, self.dim + 1) if self.dim % m == 0 and m <= 96]
            raise ConfigError(
                f"index.pq_m={self.config.pq_m} does not divide the embedding dimension "
                f"{self.dim}; set index.pq_m to one of {ok[-8:]} (48 is a good default for 384)"
            )
        self.use_gpu = use_gpu or self.config.use_gpu
        self._index: Any = _flat(self.dim) if self.config.type != "hnsw" else self._new_hnsw()
        self._ndead = 0  # HNSW tombstones: rows whose id is -1
        self._gpu: Any = None  # search replica, dropped on every mutation
        self._gpu_res: Any = None
        if self.use_gpu == "always" and faiss.get_num_gpus() == 0:
            raise ConfigError(
                "index.use_gpu is 'always' but FAISS sees no GPU; install faiss-gpu and check "
                "the CUDA driver, or set index.use_gpu to 'auto'"
            )

    # ------------------------------------------------------------------ protocol

    def __len__(self) -> int:
        return int(self._index.ntotal) - self._ndead

    @property
    def trained(self) -> bool:
        """True once an IVF type has left its exact flat stage (always False for flat/hnsw)."""
        return isinstance(self._index, faiss.IndexIVF)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        ids, x = self._check_ids(ids), self._check_vectors(vectors, "add")
        if len(ids) != len(x):
            raise ValueError(f"add: {len(ids)} ids for {len(x)} vectors")
        self._gpu = None
        _, last = np.unique(ids[::-1], return_index=True)  # duplicate ids: the last one wins
        keep = np.sort(len(ids) - 1 - last)
        ids, x = ids[keep], x[keep]
        if not len(ids):
            return
        self.remove(ids)
        total = len(self) + len(ids)
        nlist = self.config.ivf_nlist or default_nlist(total)
        ivf_stage = self.config.type in ("ivf", "ivfpq") and not self.trained
        if ivf_stage and total >= self._train_threshold(nlist):
            old_ids, old_x = self._export_flat()
            all_ids, all_x = np.concatenate([old_ids, ids]), np.concatenate([old_x, x])
            self._index = self._train(all_x, nlist)
            self._index.add_with_ids(all_x, all_ids)
            log.info("trained IVF index: %d vectors, nlist=%d", len(all_ids), nlist)
            return
        self._index.add_with_ids(x, ids)
        self._maybe_compact()

    def remove(self, ids: np.ndarray) -> int:
        ids = np.unique(self._check_ids(ids))
        if not len(ids) or not self._index.ntotal:
            return 0
        self._gpu = None
        if self.config.type == "hnsw":
            id_map = self._id_map_view()
            hit = np.isin(id_map, ids)
            id_map[hit] = -1
            self._ndead += int(hit.sum())
            self._maybe_compact()
            return int(hit.sum())
        return int(self._index.remove_ids(faiss.IDSelectorBatch(ids)))

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        if k < 1:
            raise ValueError(f"search: k must be >= 1, got {k}")
        q = self._check_vectors(queries, "search")
        if not len(self):
            return np.full((len(q), k), -np.inf, np.float32), np.full((len(q), k), -1, np.int64)
        if self.config.type == "hnsw":
            ef = max(self.config.hnsw_ef_search, k)
            sel = _LIVE if self._ndead else None
            params = faiss.SearchParametersHNSW(efSearch=ef, sel=sel)
            scores, ids = self._index.search(q, k, params=params)
        else:
            if self.trained:
                self._index.nprobe = self.config.ivf_nprobe
            scores, ids = self._searcher().search(q, k)
        scores[ids < 0] = -np.inf
        return scores, ids

    def ids(self) -> np.ndarray:
        if not self.trained:
            found = faiss.vector_to_array(self._index.id_map)
            return found[found >= 0]
        lists = self._index.invlists
        parts = [
            faiss.rev_swig_ptr(lists.get_ids(i), lists.list_size(i)).copy()
            for i in range(lists.nlist)
            if lists.list_size(i)
        ]
        return np.concatenate(parts) if parts else np.empty(0, np.int64)

    def manifest(self, embedder_id: str, kb_version: int) -> IndexManifest:
        """A manifest describing this index, to pass to :meth:`save`."""
        return IndexManifest(
            embedder_id=embedder_id,
            dim=self.dim,
            metric=self.config.metric,
            index_type=self.config.type,
            kb_version=kb_version,
            count=len(self),
        )

    # ------------------------------------------------------------------ files

    def save(self, directory: Path, manifest: IndexManifest) -> None:
        """Write the index, then the manifest, each to a temp name, fsynced, then renamed.

        The index file is named after its SHA-256 (``index-<hash>.faiss``), so it never
        overwrites the file the current manifest points at. Crash windows: before the index
        rename, only a ``.tmp`` file is left (removed by the next save); between the two renames,
        the old manifest still names the old, intact index and the new file is an orphan; after
        the manifest rename, the new pair is complete and the old file is deleted last. A reader
        that finds a file missing or with a different hash gets :class:`IndexMissingError`.
        """
        if (manifest.dim, manifest.index_type) != (self.dim, self.config.type):
            raise ValueError("save: manifest dim/index_type do not match this index")
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        tmp = directory / f".index-{uuid.uuid4().hex}.tmp"
        try:
            # Written through Python so a failed write (ENOSPC) raises OSError; FAISS's own
            # file writer only prints close errors to stderr and leaves a short file.
            with open(tmp, "wb") as f:
                faiss.write_index(self._index, faiss.PyCallbackIOWriter(f.write))
            _fsync(tmp)
            digest = _sha256(tmp)
            name = f"index-{digest[:16]}.faiss"
            os.replace(tmp, directory / name)
        finally:
            tmp.unlink(missing_ok=True)
        now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        final = dataclasses.replace(
            manifest,
            count=len(self),
            index_file=name,
            index_sha256=digest,
            created_at=manifest.created_at or now,
            schema_version=SCHEMA_VERSION,
            faiss_version=faiss.__version__,
        )
        mtmp = directory / f".manifest-{uuid.uuid4().hex}.tmp"
        mtmp.write_text(json.dumps(dataclasses.asdict(final), indent=2) + "\n")
        _fsync(mtmp)
        os.replace(mtmp, directory / MANIFEST_NAME)
        _fsync(directory)
        for stale in [*directory.glob("index-*.faiss"), *directory.glob(".*.tmp")]:
            if stale.name != name:
                stale.unlink(missing_ok=True)

    @classmethod
    def load(
        cls,
        directory: Path,
        *,
        expect_embedder_id: str,
        expect_dim: int,
        expect_type: str,
        use_gpu: Literal["auto", "never", "always"] = "auto",
        config: IndexConfig | None = None,
    ) -> tuple[FaissIndex, IndexManifest]:
        """Open a saved index, checking it matches what the caller expects.

        Raises :class:`IndexMismatchError` when settings differ (the message names the fix) and
        :class:`IndexMissingError` (a subclass) when the manifest or index file is missing,
        corrupt, or from a different save: catch it to rebuild from stored vectors.
        """
        directory = Path(directory)
        m = read_manifest(directory)
        want = (expect_embedder_id, expect_dim)
        if (m.embedder_id, m.dim) != want:
            raise IndexMismatchError(
                f"the index in {directory} was built with embedder {m.embedder_id} (dim {m.dim}); "
                f"you asked for {expect_embedder_id} (dim {expect_dim}). Re-index with "
                f"`{REBUILD_HINT}` or open it with --embedder {m.embedder_id}"
            )
        if m.index_type != expect_type:
            raise IndexMismatchError(
                f"the index in {directory} is of type {m.index_type!r} but index.type is "
                f"{expect_type!r}. Re-index with `{REBUILD_HINT}` or set index.type to "
                f"{m.index_type!r}"
            )
        if m.schema_version != SCHEMA_VERSION or m.metric != "ip":
            raise IndexMismatchError(
                f"the index in {directory} has schema {m.schema_version}, metric {m.metric!r}; "
                f"this ragkit reads schema {SCHEMA_VERSION}, 'ip'. Re-index with `{REBUILD_HINT}`"
            )
        path = directory / m.index_file
        if not m.index_file or not path.is_file():
            raise IndexMissingError(
                f"index file {path} is missing; rebuild it with `{REBUILD_HINT}`"
            )
        if _sha256(path) != m.index_sha256:
            raise IndexMissingError(
                f"index file {path} does not match its manifest (corrupt, or from another save); "
                f"rebuild it with `{REBUILD_HINT}`"
            )
        try:
            raw = faiss.read_index(str(path))
        except RuntimeError as e:
            raise IndexMissingError(
                f"cannot read {path} ({e}); rebuild with `{REBUILD_HINT}`"
            ) from e
        cfg = (config or IndexConfig()).model_copy(update={"type": m.index_type})
        self = cls(m.dim, cfg, use_gpu=use_gpu)
        self._index = raw  # read_index returns the concrete class and owns it
        if m.index_type == "hnsw":
            self._ndead = int((self._id_map_view() < 0).sum())
        if self._index.d != m.dim or len(self) != m.count:
            raise IndexMissingError(
                f"index file {path} holds {len(self)} vectors of dim {self._index.d}, but its "
                f"manifest says {m.count} of dim {m.dim}; rebuild it with `{REBUILD_HINT}`"
            )
        if self.use_gpu != "never" and faiss.get_num_gpus() > 0:
            self._searcher()  # place on the GPU now rather than on the first query
        return self, m

    # ------------------------------------------------------------------ internals

    def _check_ids(self, ids: np.ndarray) -> np.ndarray:
        ids = np.ascontiguousarray(np.asarray(ids).reshape(-1), dtype=np.int64)
        if len(ids) and ids.min() < 0:
            raise ValueError("chunk ids must be >= 0 (-1 marks a missing result)")
        return ids

    def _check_vectors(self, vectors: np.ndarray, what: str) -> np.ndarray:
        x = np.asarray(vectors, dtype=np.float32)
        if x.size == 0 and x.ndim <= 2 and (x.ndim == 1 or x.shape[0] == 0):
            return np.empty((0, self.dim), np.float32)  # no vectors (a document with no chunks)
        x = x.reshape(1, -1) if x.ndim == 1 else x
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise IndexMismatchError(
                f"{what}: vectors have shape {x.shape} but this index holds {self.dim}-d vectors; "
                f"embed with the embedder the index was built with, or re-index with "
                f"`{REBUILD_HINT}`"
            )
        return np.ascontiguousarray(x)

    def _new_hnsw(self) -> Any:
        inner = faiss.IndexHNSWFlat(self.dim, self.config.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        inner.hnsw.efConstruction = self.config.hnsw_ef_construction
        return _wrap(inner)

    def _id_map_view(self) -> np.ndarray:
        id_map = self._index.id_map
        return faiss.rev_swig_ptr(id_map.data(), id_map.size())

    def _maybe_compact(self) -> None:
        """HNSW only: rebuild the graph from live vectors when tombstones pile up."""
        dead = self._ndead
        if not dead or dead <= HNSW_REBUILD_FRACTION * self._index.ntotal:
            return
        id_map = self._id_map_view().copy()
        live = id_map >= 0
        x = faiss.downcast_index(self._index.index).storage.reconstruct_n(0, len(id_map))
        self._index, self._ndead = self._new_hnsw(), 0
        if live.any():
            self._index.add_with_ids(np.ascontiguousarray(x[live]), id_map[live])
        log.info("rebuilt HNSW graph: dropped %d tombstones, kept %d", dead, int(live.sum()))

    def _export_flat(self) -> tuple[np.ndarray, np.ndarray]:
        n = self._index.ntotal
        x = self._index.index.reconstruct_n(0, n) if n else np.empty((0, self.dim), np.float32)
        return faiss.vector_to_array(self._index.id_map), x

    def _train_threshold(self, nlist: int) -> int:
        need = MIN_POINTS_PER_CENTROID * nlist
        if self.config.type == "ivfpq":
            need = max(need, MIN_POINTS_PER_CENTROID * _PQ_CENTROIDS)
        return need

    def _train(self, x: np.ndarray, nlist: int) -> Any:
        quantizer = faiss.IndexFlatIP(self.dim)
        if self.config.type == "ivf":
            ivf = faiss.IndexIVFFlat(quantizer, self.dim, nlist, faiss.METRIC_INNER_PRODUCT)
        else:
            ivf = faiss.IndexIVFPQ(
                quantizer, self.dim, nlist, self.config.pq_m, 8, faiss.METRIC_INNER_PRODUCT
            )
        ivf.own_fields = True
        quantizer.this.disown()  # the IVF now frees its quantizer
        n_train = min(len(x), TRAIN_POINTS_PER_LIST * nlist)
        rng = np.random.default_rng(0)  # seeded: the same vectors give the same index
        ivf.train(x[np.sort(rng.choice(len(x), n_train, replace=False))])
        ivf.nprobe = self.config.ivf_nprobe
        return ivf

    def _searcher(self) -> Any:
        """The index to search: a GPU replica when placement allows, else the CPU master."""
        if self.use_gpu == "never" or self.config.type == "hnsw" or faiss.get_num_gpus() == 0:
            if self.config.type == "hnsw" and self.use_gpu == "always":
                log.warning("HNSW has no FAISS GPU implementation; searching on the CPU")
            return self._index
        if self._gpu is None:
            try:
                self._gpu_res = self._gpu_res or faiss.StandardGpuResources()
                self._gpu = faiss.index_cpu_to_gpu(self._gpu_res, 0, self._index)
            except (RuntimeError, AttributeError) as e:
                if self.use_gpu == "always":
                    raise ConfigError(
                        f"cannot move the index to the GPU ({e}); "
                        "set index.use_gpu to 'auto' or 'never'"
                    ) from e
                log.warning("index stays on the CPU: moving it to the GPU failed (%s)", e)
                self.use_gpu = "never"
                return self._index
        return self._gpu


def read_manifest(directory: Path) -> IndexManifest:
    """Parse ``directory/manifest.json``; a missing or malformed one is IndexMissingError."""
    path = Path(directory) / MANIFEST_NAME
    try:
        data = json.loads(path.read_text())
        names = {f.name for f in dataclasses.fields(IndexManifest)}
        return IndexManifest(**{k: v for k, v in data.items() if k in names})
    except FileNotFoundError:
        raise IndexMissingError(
            f"no index manifest at {path}; build it with `{REBUILD_HINT}`"
        ) from None
    except (ValueError, TypeError) as e:
        raise IndexMissingError(
            f"index manifest {path} is corrupt ({e}); rebuild with `{REBUILD_HINT}`"
        ) from e


def _flat(dim: int) -> Any:
    return _wrap(faiss.IndexFlatIP(dim))


def _wrap(inner: Any) -> Any:
    outer = faiss.IndexIDMap(inner)
    outer.own_fields = True
    inner.this.disown()  # the id map now frees the inner index
    return outer


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()
