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
N_SINGLE = 200  # queries timed one at a time for latency
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


def build_ivf(x: np.ndarray, nlist: int, pq_m: int | None) -> faiss.Index:
    d = x.shape[1]
    quantizer = faiss.IndexFlatIP(d)
    if pq_m is None:
        index = faiss.IndexIVFFlat(quantizer, d, nlist, faiss.METRIC_INNER_PRODUCT)
    else:
        index = faiss.IndexIVFPQ(quantizer, d, nlist, pq_m, 8, faiss.METRIC_INNER_PRODUCT)
    index.own_fields = True
    quantizer.this.disown()
    rng = np.random.default_rng(1)
    n_train = min(len(x), 50 * nlist)
    train = x[rng.choice(len(x), n_train, replace=False)] if n_train < len(x) else x
    index.train(train)
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


def run_size(n: int, quick: bool, ef_construction: int, log: Callable[[str], None]) -> list[dict]:
    mix = Mixture()
    t0 = time.perf_counter()
    xb = mix.sample(n, seed=10)
    xq = mix.sample(N_QUERIES, seed=20)
    log(f"n={n}: generated data in {time.perf_counter() - t0:.1f}s")
    rows: list[dict[str, Any]] = []

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
    record("flat", {}, flat, build_s)
    del flat

    hnsw_builds = (
        [(16, ef_construction)] if quick else [(16, ef_construction), (32, ef_construction)]
    )
    if not quick and n <= 200_000 and ef_construction != 200:
        hnsw_builds.append((32, 200))  # what a higher efConstruction buys, where it is cheap
    efs = [32, 128] if quick else [32, 64, 128, 256]
    for m, efc in hnsw_builds:
        t0 = time.perf_counter()
        index = build_hnsw(xb, m, efc)
        build_s = time.perf_counter() - t0
        for ef in efs:
            record("hnsw", {"M": m, "efConstruction": efc}, index, build_s, efSearch=ef)
        del index

    nlist = default_nlist(n)
    t0 = time.perf_counter()
    index = build_ivf(xb, nlist, None)
    build_s = time.perf_counter() - t0
    for nprobe in [1, 16] if quick else [1, 4, 16, 64]:
        record("ivf", {"nlist": nlist}, index, build_s, nprobe=nprobe)
    del index

    for pq_m in [48] if quick else [48, 96]:
        t0 = time.perf_counter()
        index = build_ivf(xb, nlist, pq_m)
        build_s = time.perf_counter() - t0
        for nprobe in [16, 64]:
            record("ivfpq", {"nlist": nlist, "pq_m": pq_m}, index, build_s, nprobe=nprobe)
        del index
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
    ap.add_argument("--ef-construction", type=int, default=40, help="HNSW efConstruction")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--fresh", action="store_true", help="do not merge with existing results")
    args = ap.parse_args(argv)
    sizes = [20_000] if args.quick else [int(s) for s in args.sizes.split(",") if s]

    def log(msg: str) -> None:
        print(msg, flush=True)

    results: dict[str, Any] = {"runs": {}}
    if args.out.exists() and not args.fresh and not args.quick:
        results = json.loads(args.out.read_text())
    for n in sizes:
        rows = run_size(n, args.quick, args.ef_construction, log)
        results["runs"][str(n)] = {"machine": machine_info(), "rows": rows}
        results["params"] = {"dim": DIM, "queries": N_QUERIES, "k": K, "single": N_SINGLE}
        if not args.quick:  # write after every size so a long run keeps what it finished
            args.out.parent.mkdir(parents=True, exist_ok=True)
            tmp = args.out.with_suffix(".json.tmp")
            tmp.write_text(json.dumps(results, indent=2) + "\n")
            os.replace(tmp, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
