"""FAISS index benchmark that chooses ragkit's ``IndexConfig`` defaults.

Owns: synthetic data (a seeded, clustered Gaussian mixture of L2-normalised 384-d vectors, the
shape of multilingual-e5-small embeddings), exact ground truth from a flat index, and for each
index setting: recall@10, batch queries/s, single-query latency, build time and index bytes.
Does not own ragkit's index wrapper: it times raw FAISS structures with the same parameters
``ragkit.index.FaissIndex`` uses, so the numbers carry over without the wrapper's overhead.

Run::

    python bench/faiss_bench.py --sizes 100000            # about 5 minutes on 2 cores
    python bench/faiss_bench.py --sizes 100000,1000000    # the 1M set adds tens of minutes
    python bench/faiss_bench.py --quick                   # 20k vectors, few settings: a smoke run

Writes ``bench/results/faiss.json`` (merging with sizes already there unless ``--fresh``) and
prints a table. Queries are drawn from the same mixture as the base set, never from it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import faiss
import numpy as np

DIM = 384
N_QUERIES = 1000
K = 10
N_SINGLE = 100  # queries timed one at a time for latency
RESULTS = Path(__file__).parent / "results" / "faiss.json"


# --------------------------------------------------------------------------- data


class Mixture:
    """A fixed Gaussian mixture: cluster centres on the sphere, structured within-cluster noise.

    Centres are themselves grouped around a few "topics" (real corpora have topics and
    sub-topics); cluster weights follow a Zipf-like law; each point is its centre plus noise in a
    shared 48-d subspace plus small isotropic noise, so the intrinsic dimension is far below 384,
    as with sentence embeddings.
    """

    def __init__(self, dim: int = DIM, n_centres: int = 2048, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        topics = _unit(rng.standard_normal((64, dim)))
        parent = rng.integers(0, len(topics), n_centres)
        self.centres = _unit(topics[parent] + 0.9 * _unit(rng.standard_normal((n_centres, dim))))
        w = 1.0 / np.arange(1, n_centres + 1) ** 0.7
        self.weights = rng.permutation(w / w.sum())
        self.basis = np.linalg.qr(rng.standard_normal((dim, 48)))[0].T.astype(np.float32)
        self.dim = dim

    def sample(self, n: int, seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        out = np.empty((n, self.dim), dtype=np.float32)
        step = 100_000
        for lo in range(0, n, step):
            m = min(step, n - lo)
            which = rng.choice(len(self.centres), size=m, p=self.weights)
            low = rng.standard_normal((m, 48), dtype=np.float32) @ self.basis
            iso = rng.standard_normal((m, self.dim), dtype=np.float32)
            x = self.centres[which] + 0.11 * low + 0.025 * iso
            out[lo : lo + m] = _unit(x)
        return out


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


# --------------------------------------------------------------------------- indexes


def default_nlist(n: int) -> int:
    """The rule ragkit.index uses: about 4*sqrt(n), rounded to a power of two, 16..65536."""
    raw = 4.0 * math.sqrt(max(n, 1))
    return int(min(65536, max(16, 2 ** round(math.log2(raw)))))


def build_flat(x: np.ndarray) -> faiss.Index:
    index = faiss.IndexFlatIP(x.shape[1])
    index.add(x)
    return index


def build_hnsw(x: np.ndarray, m: int, ef_construction: int) -> faiss.Index:
    index = faiss.IndexHNSWFlat(x.shape[1], m, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = ef_construction
    index.add(x)
    return index


def train_coarse(x: np.ndarray, nlist: int) -> faiss.Index:
    """k-means centroids on a seeded sample of 50*nlist vectors (what ragkit.index trains on)."""
    rng = np.random.default_rng(1)
    n_train = min(len(x), 50 * nlist)
    sample = x[rng.choice(len(x), n_train, replace=False)] if n_train < len(x) else x
    quantizer = faiss.IndexFlatIP(x.shape[1])
    ivf = faiss.IndexIVFFlat(quantizer, x.shape[1], nlist, faiss.METRIC_INNER_PRODUCT)
    ivf.train(sample)
    centroids = faiss.IndexFlatIP(x.shape[1])
    centroids.add(quantizer.reconstruct_n(0, nlist))
    return centroids


def build_ivf(x: np.ndarray, coarse: faiss.Index, pq_m: int | None) -> faiss.Index:
    """IVF-Flat or IVF-PQ over an already trained coarse quantizer (shared to save a k-means)."""
    d, nlist = x.shape[1], coarse.ntotal
    quantizer = faiss.IndexFlatIP(d)
    quantizer.add(coarse.reconstruct_n(0, nlist))
    if pq_m is None:
        index = faiss.IndexIVFFlat(quantizer, d, nlist, faiss.METRIC_INNER_PRODUCT)
    else:
        index = faiss.IndexIVFPQ(quantizer, d, nlist, pq_m, 8, faiss.METRIC_INNER_PRODUCT)
        rng = np.random.default_rng(2)
        n_train = min(len(x), 50 * nlist)
        index.train(x[rng.choice(len(x), n_train, replace=False)])  # PQ only: coarse is trained
    index.own_fields = True
    quantizer.this.disown()
    index.is_trained = True
    index.add(x)
    return index


# --------------------------------------------------------------------------- measuring


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    hits = sum(len(set(f[f >= 0]) & set(t)) for f, t in zip(found, truth, strict=True))
    return hits / truth.size


def measure(index: faiss.Index, q: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    index.search(q[:10], K)  # warm caches
    t0 = time.perf_counter()
    _, ids = index.search(q, K)
    batch_s = time.perf_counter() - t0
    lat = []
    for i in range(N_SINGLE):
        t0 = time.perf_counter()
        index.search(q[i : i + 1], K)
        lat.append(time.perf_counter() - t0)
    lat_ms = np.array(lat) * 1000
    return {
        "recall_at_10": round(recall_at_k(ids, truth), 4),
        "batch_qps": round(len(q) / batch_s, 1),
        "single_ms_p50": round(float(np.percentile(lat_ms, 50)), 3),
        "single_ms_p95": round(float(np.percentile(lat_ms, 95)), 3),
    }


def run_size(
    n: int, quick: bool, log: Callable[[str], None], save: Callable[[list[dict]], None],
    only: frozenset[str] = frozenset({"flat", "ivf", "ivfpq", "hnsw"}),
    kept: list[dict] | None = None,
) -> list[dict]:
    mix = Mixture()
    t0 = time.perf_counter()
    xb = mix.sample(n, seed=10)
    xq = mix.sample(N_QUERIES, seed=20)
    log(f"n={n}: generated data in {time.perf_counter() - t0:.1f}s")
    rows: list[dict[str, Any]] = [r for r in kept or [] if r["type"] not in only]

    def record(kind: str, params: dict, index: faiss.Index, build_s: float, **knobs: Any) -> None:
        for name, value in knobs.items():
            setattr(_knob_target(index, name), name, value)
        row = {"n": n, "type": kind, **params, **knobs, "build_s": round(build_s, 2)}
        row["index_bytes"] = int(faiss.serialize_index(index).size)
        row.update(measure(index, xq, truth))
        rows.append(row)
        log(_fmt(row))

    t0 = time.perf_counter()
    flat = build_flat(xb)
    build_s = time.perf_counter() - t0
    _, truth = flat.search(xq, K)
    d_top, _ = flat.search(xq, K)
    log(f"n={n}: query->top1 cos mean {d_top[:, 0].mean():.3f}, top10 {d_top[:, -1].mean():.3f}")
    if "flat" in only:
        record("flat", {}, flat, build_s)
    del flat
    save(rows)

    nlist = default_nlist(n)
    if not only & {"ivf", "ivfpq"}:
        nlist = 0
    if nlist:
        t0 = time.perf_counter()
        coarse = train_coarse(xb, nlist)
        coarse_s = time.perf_counter() - t0
        log(f"n={n}: coarse k-means nlist={nlist} in {coarse_s:.1f}s")
    if "ivf" in only:
        t0 = time.perf_counter()
        index = build_ivf(xb, coarse, None)
        build_s = coarse_s + time.perf_counter() - t0
        for nprobe in [1, 16] if quick else [1, 4, 16, 64]:
            record("ivf", {"nlist": nlist}, index, build_s, nprobe=nprobe)
        del index
        save(rows)

    for pq_m in ([48] if quick else [48, 96]) if "ivfpq" in only else []:
        t0 = time.perf_counter()
        index = build_ivf(xb, coarse, pq_m)
        build_s = coarse_s + time.perf_counter() - t0
        for nprobe in [16, 64]:
            record("ivfpq", {"nlist": nlist, "pq_m": pq_m}, index, build_s, nprobe=nprobe)
        del index
        save(rows)

    # efConstruction 40 is FAISS's default; 200 is what the 100k run showed recall needs.
    if quick:
        hnsw_builds = [(16, 40)]
    elif n <= 200_000:
        hnsw_builds = [(16, 40), (32, 40), (32, 200)]
    else:  # a 1M build costs ~10 minutes on 2 cores: measure the candidate default only
        hnsw_builds = [(32, 200)]
    efs = [32, 128] if quick else [32, 64, 128, 256]
    for m, efc in hnsw_builds if "hnsw" in only else []:
        t0 = time.perf_counter()
        index = build_hnsw(xb, m, efc)
        build_s = time.perf_counter() - t0
        for ef in efs:
            record("hnsw", {"M": m, "efConstruction": efc}, index, build_s, efSearch=ef)
        del index
        save(rows)
    return rows


def tombstone_sweep(n: int, log: Callable[[str], None]) -> list[dict]:
    """How ragkit's HNSW tombstones behave: recall and speed as removed rows pile up.

    Uses ``ragkit.index.FaissIndex`` itself (M=32, efConstruction=200, efSearch=128) with the
    automatic rebuild switched off, and compares against exact search over the live rows.
    """
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from ragkit import index as rindex
    from ragkit.config import IndexConfig

    mix = Mixture()
    xb, xq = mix.sample(n, seed=10), mix.sample(N_QUERIES, seed=20)
    ids = np.arange(n, dtype=np.int64)
    cfg = IndexConfig(type="hnsw", hnsw_m=32, hnsw_ef_construction=200, hnsw_ef_search=128)
    saved, rindex.HNSW_REBUILD_FRACTION = rindex.HNSW_REBUILD_FRACTION, 1.0
    try:
        t0 = time.perf_counter()
        index = rindex.FaissIndex(DIM, cfg, use_gpu="never")
        index.add(ids, xb)
        build_s = time.perf_counter() - t0
        order = np.random.default_rng(3).permutation(n)
        rows, dead = [], 0
        for frac in (0.0, 0.1, 0.25, 0.5, 0.75):
            index.remove(order[dead : int(frac * n)])
            dead = int(frac * n)
            live = np.sort(order[dead:])
            _, truth = build_flat(xb[live]).search(xq, K)
            t0 = time.perf_counter()
            _, found = index.search(xq, K)
            qps = len(xq) / (time.perf_counter() - t0)
            row = {"n": n, "dead_fraction": frac, "build_s": round(build_s, 2)}
            row["recall_at_10"] = round(recall_at_k(found, live[truth]), 4)
            row["batch_qps"] = round(qps, 1)
            rows.append(row)
            log(f"tombstones {frac:.2f}: recall={row['recall_at_10']:.4f} qps={qps:.0f}")
    finally:
        rindex.HNSW_REBUILD_FRACTION = saved
    return rows


def _knob_target(index: faiss.Index, name: str) -> Any:
    return index.hnsw if name == "efSearch" else index


def _fmt(row: dict) -> str:
    params = " ".join(
        f"{k}={row[k]}"
        for k in ("M", "efConstruction", "efSearch", "nlist", "nprobe", "pq_m")
        if k in row
    )
    return (
        f"{row['n']:>8} {row['type']:<6} {params:<28} recall={row['recall_at_10']:.4f} "
        f"qps={row['batch_qps']:>9.1f} p50={row['single_ms_p50']:>7.3f}ms "
        f"build={row['build_s']:>7.1f}s bytes={row['index_bytes'] / 2**20:>8.1f}MiB"
    )


def machine_info() -> dict[str, Any]:
    return {
        "cpu_count": os.cpu_count(),
        "faiss_threads": faiss.omp_get_max_threads(),
        "faiss_version": faiss.__version__,
        "numpy_version": np.__version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "note": "shared 2-core machine: other jobs ran concurrently, so QPS/latency are noisy",
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="100000", help="comma-separated base-set sizes")
    ap.add_argument("--quick", action="store_true", help="20k vectors, a few settings")
    ap.add_argument("--tombstones", type=int, default=0, help="only the HNSW tombstone sweep, N")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--fresh", action="store_true", help="do not merge with existing results")
    ap.add_argument("--only", default="flat,ivf,ivfpq,hnsw",
                    help="index types to (re)measure; rows of other types already in --out "
                    "are kept (e.g. --sizes 1000000 --only hnsw finishes a partial 1M run)")
    args = ap.parse_args(argv)
    sizes = [20_000] if args.quick else [int(s) for s in args.sizes.split(",") if s]

    def log(msg: str) -> None:
        print(msg, flush=True)

    results: dict[str, Any] = {"runs": {}}
    if args.out.exists() and not args.fresh and not args.quick:
        results = json.loads(args.out.read_text())
    if args.tombstones:
        results["hnsw_tombstones"] = {
            "machine": machine_info(),
            "rows": tombstone_sweep(args.tombstones, log),
        }
        sizes = []
        args.out.write_text(json.dumps(results, indent=2) + "\n")
    for n in sizes:

        def save(rows: list[dict], n: int = n) -> None:
            """Write after every index so a long run keeps what it finished."""
            params = {"dim": DIM, "queries": N_QUERIES, "k": K, "single_queries": N_SINGLE}
            results["runs"][str(n)] = {"machine": machine_info(), "params": params, "rows": rows}
            if args.quick:
                return
            args.out.parent.mkdir(parents=True, exist_ok=True)
            tmp = args.out.with_suffix(".json.tmp")
            tmp.write_text(json.dumps(results, indent=2) + "\n")
            os.replace(tmp, args.out)

        kept = results["runs"].get(str(n), {}).get("rows", [])
        save(run_size(n, args.quick, log, save, frozenset(args.only.split(",")), kept))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
