"""PostgreSQL + pgvector against the directory backend (SQLite + FAISS), in one run.

Owns two comparisons, each against its peer on the same machine in the same run:

* ``kb``: the bundled store (``knowledge/store``, copied so citations read ``store/...``)
  indexed cold into a directory and into Postgres with the same loaded default embedder
  (wall time, the ratio, and the unchanged re-sync), then hit@1 / hit@5 / MRR of dense,
  keyword and hybrid search on the labelled questions (``knowledge/eval/retrieval.jsonl``)
  on both. The backends take turns (directory, Postgres, directory, Postgres) and the
  faster of each pair is kept.
* ``vectors``: N synthetic vectors (``faiss_bench.Mixture``: clustered, L2-normalised,
  384-d) in a pgvector HNSW index and a FAISS HNSW index with the same M and
  efConstruction; exact ground truth from a flat FAISS index; for each ef_search:
  recall@10, single-query p50/p95 latency and sequential queries/s (Postgres over its Unix
  socket through psycopg, the way ragkit queries it; FAISS in process), plus build times.

Does not own the backends: it drives ``KnowledgeBase`` and raw FAISS / SQL with the settings
ragkit uses. A Postgres server comes from the ``pgserver`` wheel in a temporary folder.

Run::

    python bench/pg_bench.py kb
    python bench/pg_bench.py vectors --n 1000000      # the 1M build takes tens of minutes
    python bench/pg_bench.py vectors --n 20000        # a smoke run

Writes ``bench/results/pg_kb.json`` or ``bench/results/pg_vectors_N.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from faiss_bench import Mixture, build_flat, build_hnsw, recall_at_k  # noqa: E402
from retrieval_bench import machine_info  # noqa: E402

RESULTS = ROOT / "bench" / "results"
QUESTIONS = ROOT / "knowledge" / "eval" / "retrieval.jsonl"
K = 10


def _server(folder: Path):
    import pgserver

    return pgserver.get_server(folder, cleanup_mode="stop")


def _url(server, schema: str) -> str:
    uri = server.get_uri()
    return f"{uri}{'&' if '?' in uri else '?'}schema={schema}"


# --------------------------------------------------------------------------- kb


def bench_kb(args: argparse.Namespace) -> dict[str, Any]:
    from ragkit.config import DEFAULT_EMBEDDER, KnowledgeBaseConfig
    from ragkit.embedder import load_embedder
    from ragkit.evals.retrieval import evaluate_kb, load_questions
    from ragkit.kb import KnowledgeBase

    tmp = Path(tempfile.mkdtemp(prefix="ragkit-pg-bench-"))
    server = _server(tmp / "pg")
    try:
        store = tmp / "store"
        shutil.copytree(ROOT / "knowledge" / "store", store)
        emb = load_embedder(DEFAULT_EMBEDDER)
        emb.load()
        emb.embed_passages(["warm up"])
        config = KnowledgeBaseConfig(embedder=DEFAULT_EMBEDDER)
        questions = load_questions(QUESTIONS)
        runs: dict[str, list[dict]] = {"directory": [], "postgres": []}
        quality: dict[str, Any] = {}
        for rep in range(args.repeats):
            for backend in ("directory", "postgres"):
                where = (str(tmp / f"kb-{rep}") if backend == "directory"
                         else _url(server, f"bench_{rep}"))
                with KnowledgeBase.open(where, create=True, config=config, embedder=emb) as kb:
                    t0 = time.perf_counter()
                    first = kb.sync([store])
                    cold = time.perf_counter() - t0
                    t0 = time.perf_counter()
                    again = kb.sync([store])
                    warm = time.perf_counter() - t0
                    kb.search("warm up the index", k=5)
                    runs[backend].append({
                        "cold_index_s": round(cold, 2), "unchanged_resync_s": round(warm, 3),
                        "documents": first.added, "chunks": first.chunks_total,
                        "embedded": first.chunks_embedded,
                        "resync_embedded": again.chunks_embedded,
                        "index_type": kb.config.index.type})
                    print(backend, runs[backend][-1], flush=True)
                    if rep == 0:
                        quality[backend] = {
                            r.mode: {"hit1": round(r.hit1, 4), "hit5": round(r.hit5, 4),
                                     "mrr": round(r.mrr, 4),
                                     "ms_per_query": round(r.ms_per_query, 2)}
                            for r in evaluate_kb(kb, questions, k=K)}
                        print(backend, quality[backend], flush=True)
        best = {b: min(r["cold_index_s"] for r in rs) for b, rs in runs.items()}
        return {
            "what": "bundled store indexed cold with the default embedder, both backends",
            "date": dt.date.today().isoformat(), "machine": machine_info(2),
            "embedder": DEFAULT_EMBEDDER, "questions": len(questions), "runs": runs,
            "best_cold_index_s": best,
            "postgres_over_directory": round(best["postgres"] / best["directory"], 3),
            "quality": quality,
            "hit5_gap": {m: round(quality["postgres"][m]["hit5"]
                                  - quality["directory"][m]["hit5"], 4)
                         for m in quality["directory"]},
        }
    finally:
        server.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


# --------------------------------------------------------------------------- vectors


def _pg_load(conn, x: np.ndarray) -> float:
    """COPY the vectors into a fresh table; returns seconds."""
    t0 = time.perf_counter()
    conn.execute("DROP TABLE IF EXISTS vecs")
    conn.execute(f"CREATE TABLE vecs (id BIGINT PRIMARY KEY, embedding vector({x.shape[1]}))")
    with conn.cursor() as cur, cur.copy(
            "COPY vecs (id, embedding) FROM STDIN WITH (FORMAT BINARY)") as copy:
        copy.set_types(["int8", "vector"])
        for i, v in enumerate(x):
            copy.write_row((i, v))
    conn.execute("ANALYZE vecs")
    return time.perf_counter() - t0


def _pg_query(conn, q: np.ndarray, ef: int, n_single: int) -> tuple[np.ndarray, list[float]]:
    conn.execute(f"SET hnsw.ef_search = {ef}")
    found = np.full((len(q), K), -1, dtype=np.int64)
    lat = []
    for i, v in enumerate(q):
        t0 = time.perf_counter()
        rows = conn.execute("SELECT id FROM vecs ORDER BY embedding <#> %s LIMIT %s",
                            (v, K)).fetchall()
        if i < n_single:
            lat.append(time.perf_counter() - t0)
        found[i, : len(rows)] = [r[0] for r in rows]
    return found, lat


def _faiss_query(index, q: np.ndarray, ef: int, n_single: int) -> tuple[np.ndarray, list[float]]:
    index.hnsw.efSearch = ef
    found = np.full((len(q), K), -1, dtype=np.int64)
    lat = []
    for i in range(len(q)):
        t0 = time.perf_counter()
        _, ids = index.search(q[i : i + 1], K)
        if i < n_single:
            lat.append(time.perf_counter() - t0)
        found[i] = ids[0]
    return found, lat


def _row(found: np.ndarray, truth: np.ndarray, lat: list[float]) -> dict[str, float]:
    ms = np.array(lat) * 1000
    return {"recall_at_10": round(recall_at_k(found, truth), 4),
            "single_ms_p50": round(float(np.percentile(ms, 50)), 3),
            "single_ms_p95": round(float(np.percentile(ms, 95)), 3),
            "sequential_qps": round(1000.0 / float(np.mean(ms)), 1)}


def bench_vectors(args: argparse.Namespace) -> dict[str, Any]:
    import psycopg
    from pgvector.psycopg import register_vector

    mix = Mixture()
    x = mix.sample(args.n, seed=1)
    q = mix.sample(args.queries, seed=2)
    t0 = time.perf_counter()
    _, truth = build_flat(x).search(q, K)
    print(f"ground truth {time.perf_counter() - t0:.1f}s", flush=True)
    out: dict[str, Any] = {
        "what": "pgvector HNSW vs FAISS HNSW, same vectors, same M and efConstruction",
        "date": dt.date.today().isoformat(), "machine": machine_info(2), "n": args.n,
        "dim": int(x.shape[1]), "queries": args.queries, "m": args.m,
        "ef_construction": args.ef_construction, "rows": []}

    t0 = time.perf_counter()
    index = build_hnsw(x, args.m, args.ef_construction)
    out["faiss_build_s"] = round(time.perf_counter() - t0, 1)
    print(f"faiss build {out['faiss_build_s']}s", flush=True)
    for ef in args.ef:
        found, lat = _faiss_query(index, q, ef, args.single)
        out["rows"].append({"engine": "faiss_hnsw", "ef_search": ef, **_row(found, truth, lat)})
        print(out["rows"][-1], flush=True)
    del index

    tmp = Path(tempfile.mkdtemp(prefix="ragkit-pgvec-"))
    server = _server(tmp / "pg")
    try:
        with psycopg.connect(server.get_uri(), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            register_vector(conn)
            out["pg_load_s"] = round(_pg_load(conn, x), 1)
            print(f"pg load {out['pg_load_s']}s", flush=True)
            conn.execute(f"SET maintenance_work_mem = '{args.maintenance_work_mem}'")
            conn.execute(f"SET max_parallel_maintenance_workers = {args.workers}")
            t0 = time.perf_counter()
            conn.execute(f"CREATE INDEX ON vecs USING hnsw (embedding vector_ip_ops) WITH "
                         f"(m = {args.m}, ef_construction = {args.ef_construction})")
            out["pg_build_s"] = round(time.perf_counter() - t0, 1)
            out["pg_index_mb"] = round(conn.execute(
                "SELECT pg_relation_size(indexrelid) FROM pg_index WHERE indrelid = "
                "'vecs'::regclass AND NOT indisprimary").fetchone()[0] / 2**20, 1)
            print(f"pg build {out['pg_build_s']}s", flush=True)
            _pg_query(conn, q[:20], args.ef[0], 0)  # warm the buffer cache
            for ef in args.ef:
                found, lat = _pg_query(conn, q, ef, args.single)
                out["rows"].append({"engine": "pgvector_hnsw", "ef_search": ef,
                                    **_row(found, truth, lat)})
                print(out["rows"][-1], flush=True)
    finally:
        server.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)
    for engine in ("faiss_hnsw", "pgvector_hnsw"):
        ok = [r for r in out["rows"] if r["engine"] == engine and r["recall_at_10"] >= 0.95]
        out[f"{engine}_first_ef_at_0.95"] = min(ok, key=lambda r: r["ef_search"]) if ok else None
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="what", required=True)
    kb = sub.add_parser("kb", help="index the bundled store into both backends")
    kb.add_argument("--repeats", type=int, default=2)
    vec = sub.add_parser("vectors", help="pgvector HNSW vs FAISS HNSW on N vectors")
    vec.add_argument("--n", type=int, default=1_000_000)
    vec.add_argument("--queries", type=int, default=1000)
    vec.add_argument("--single", type=int, default=200, help="queries timed for latency")
    vec.add_argument("--m", type=int, default=16)
    vec.add_argument("--ef-construction", type=int, default=64)
    vec.add_argument("--ef", type=lambda s: [int(v) for v in s.split(",")],
                     default=[40, 80, 160, 320])
    vec.add_argument("--workers", type=int, default=2)
    vec.add_argument("--maintenance-work-mem", default="6GB")
    args = ap.parse_args(argv)
    if args.what == "kb":
        result, name = bench_kb(args), "pg_kb.json"
    else:
        result, name = bench_vectors(args), f"pg_vectors_{args.n}.json"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / name).write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {RESULTS / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
