"""Embedding runtimes side by side: speed, retrieval quality and a fresh process's search.

Owns: for the default embedder, comparing the runtimes ragkit can run it on, in one run on
one machine:

- ``torch``: sentence-transformers in PyTorch (the runtime every release before this one
  used), batches of 32 sorted by length;
- ``onnx`` (the default now): ONNX Runtime, the float32 graph for everything, one unpadded
  text per run;
- ``onnx-int8``: the same, with the per-channel INT8 graph for the vectors a knowledge base
  stores (queries and query-time passages stay float32).

For each: model load (after imports), cold indexing of ``knowledge/store`` (median of
``--repeats``, runtimes interleaved), passage throughput in tokens/s on the store's chunks,
and hit@1/hit@5/MRR of dense and hybrid search on the labelled questions, with the check the
issue asks for (hit@5 and MRR within 0.01 of ``torch``). Then, unless ``--no-fresh``, a fresh
``ragkit search`` process end to end on an indexed copy of the store, this checkout against
``--baseline-rev`` (a git worktree of an earlier commit, run with the same interpreter),
interleaved, median of ``--fresh-repeats``.

Does not own the runtimes (``ragkit.embedder``) or the metrics (``ragkit.evals.retrieval``).

Run::

    python bench/embed_bench.py                     # everything (~5 min on 2 cores)
    python bench/embed_bench.py --no-fresh --repeats 1

Writes ``bench/results/embed.json`` and prints tables.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from retrieval_bench import (
    QUESTIONS,
    ROOT,
    STORE,
    copy_store,
    machine_info,
    mode_row,
    print_table,
    set_threads,
    timed_sync,
    write_json,
)

from ragkit.config import KnowledgeBaseConfig
from ragkit.embedder import OnnxEmbedder, load_embedder
from ragkit.evals.retrieval import evaluate_kb, load_questions
from ragkit.kb import KnowledgeBase

RESULTS = ROOT / "bench" / "results" / "embed.json"
RUNTIMES = ("torch", "onnx", "onnx-int8")
TOLERANCE = 0.01


def make(runtime: str, name: str) -> Any:
    emb = load_embedder(name, runtime=runtime)
    assert (runtime == "torch") != isinstance(emb, OnnxEmbedder)
    return emb


def export_once(name: str) -> float:
    """Seconds to export (and quantize) the ONNX graphs: once per model, not per load."""
    from ragkit import models

    folder = models.resolve(name, "embedder")
    t0 = time.perf_counter()
    models.encoder_onnx_int8(folder)
    return time.perf_counter() - t0


def loaded(runtime: str, name: str, threads: int) -> tuple[Any, float]:
    import sentence_transformers  # noqa: F401  (imports are not model load)

    t0 = time.perf_counter()
    emb = make(runtime, name)
    emb.embed_queries(["warm-up"])
    emb.embed_passages(["warm-up"])
    getattr(emb, "embed_for_index", emb.embed_passages)(["warm-up"])
    elapsed = time.perf_counter() - t0
    set_threads(threads)
    return emb, elapsed


def cold_index(emb: Any, name: str, store: Path) -> tuple[dict[str, Any], KnowledgeBase, Any]:
    tmp = tempfile.TemporaryDirectory(prefix="ragkit-embed-bench-")
    folder = copy_store(store, Path(tmp.name))
    kb = KnowledgeBase.open(Path(tmp.name) / "kb", create=True,
                            config=KnowledgeBaseConfig(embedder=name), embedder=emb)
    _, row = timed_sync(kb, folder)
    return row, kb, tmp


def throughput(emb: Any, kb: KnowledgeBase) -> dict[str, Any]:
    texts = [r["text"] for r in kb.store.db.query("select text from chunks")]
    tokens = sum(emb.count_tokens(t) for t in texts)
    store = getattr(emb, "embed_for_index", emb.embed_passages)
    t0 = time.perf_counter()
    store(texts)
    s = time.perf_counter() - t0
    return {"texts": len(texts), "tokens": tokens, "s": round(s, 3),
            "tokens_per_s": round(tokens / s, 1), "texts_per_s": round(len(texts) / s, 1)}


def fresh_search(python: Path, cwd: Path, kb: Path, query: str) -> float:
    env = {**os.environ, "RAGKIT_SERVER": "off", "PYTHONPATH": str(cwd)}
    t0 = time.perf_counter()
    subprocess.run([str(python), "-m", "ragkit", "search", query, "--kb", str(kb)], cwd=cwd,
                   env=env, check=True, capture_output=True)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--embedder", default="multilingual-e5-small")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-fresh", action="store_true", help="skip the fresh-process searches")
    ap.add_argument("--baseline-rev", default="2044552",
                    help="earlier commit whose `ragkit search` is the fresh-process peer")
    ap.add_argument("--fresh-repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    set_threads(args.threads)
    questions = load_questions(QUESTIONS)
    result: dict[str, Any] = {"benchmark": "embed", "machine": machine_info(args.threads),
                              "settings": {"embedder": args.embedder, "repeats": args.repeats,
                                           "questions": len(questions)}, "runtimes": {}}
    result["settings"]["onnx_export_s"] = round(export_once(args.embedder), 2)
    embs = {}
    for rt in RUNTIMES:
        print(f"[{rt}] loading", file=sys.stderr)
        embs[rt], load_s = loaded(rt, args.embedder, args.threads)
        result["runtimes"][rt] = {"model_load_s": round(load_s, 3), "cold_index": []}
    for i in range(args.repeats):
        for rt in (RUNTIMES if i % 2 == 0 else RUNTIMES[::-1]):
            print(f"[{rt}] cold index {i + 1}/{args.repeats}", file=sys.stderr)
            row, kb, tmp = cold_index(embs[rt], args.embedder, STORE)
            entry = result["runtimes"][rt]
            entry["cold_index"].append(row)
            try:
                if "modes" not in entry:
                    print(f"[{rt}] throughput and {len(questions)} questions", file=sys.stderr)
                    entry["throughput"] = throughput(embs[rt], kb)
                    entry["modes"] = {r.mode: mode_row(r) for r in evaluate_kb(kb, questions)}
            finally:
                kb.close()
                tmp.cleanup()
    base = result["runtimes"]["torch"]
    for entry in result["runtimes"].values():
        entry["cold_index_median_s"] = round(statistics.median(
            r["elapsed_s"] for r in entry["cold_index"]), 3)
        entry["speedup_vs_torch"] = {
            "cold_index": round(base["cold_index_median_s"] / entry["cold_index_median_s"], 2),
            "tokens_per_s": round(entry["throughput"]["tokens_per_s"]
                                  / base["throughput"]["tokens_per_s"], 2)}
        entry["quality_vs_torch"] = {
            mode: {m: round(entry["modes"][mode][m] - base["modes"][mode][m], 4)
                   for m in ("hit1", "hit5", "mrr")} for mode in ("dense", "hybrid")}
        entry["quality_kept"] = all(abs(d[m]) <= TOLERANCE for d in
                                    entry["quality_vs_torch"].values() for m in ("hit5", "mrr"))
    if not args.no_fresh:
        result["fresh_search"] = fresh(args, result)
    result["machine"]["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    write_json(args.out, result)
    report(result)
    print(f"wrote {args.out.relative_to(ROOT)}")
    return 0


def fresh(args: argparse.Namespace, result: dict[str, Any]) -> dict[str, Any]:
    """A fresh `ragkit search` here and at the baseline commit, on one indexed store."""
    queries = ["How long does delivery to Germany take?", "电水壶怎么除垢？",
               "Can I return opened headphones?"]
    with tempfile.TemporaryDirectory(prefix="ragkit-embed-fresh-") as tmp:
        wt = Path(tmp) / "baseline"
        subprocess.run(["git", "worktree", "add", "--detach", str(wt), args.baseline_rev],
                       cwd=ROOT, check=True, capture_output=True)
        try:
            kb_dir = Path(tmp) / "kb"
            print("[fresh] indexing the store once", file=sys.stderr)
            with KnowledgeBase.open(kb_dir, create=True,
                                    config=KnowledgeBaseConfig(embedder=args.embedder)) as kb:
                kb.sync([copy_store(STORE, Path(tmp))])
            sides = {"this": ROOT, "baseline": wt}
            times: dict[str, list[float]] = {k: [] for k in sides}
            fresh_search(Path(sys.executable), ROOT, kb_dir, "warm the file cache")
            for i in range(args.fresh_repeats):
                for side in (("this", "baseline") if i % 2 == 0 else ("baseline", "this")):
                    for q in queries:
                        times[side].append(fresh_search(Path(sys.executable), sides[side],
                                                        kb_dir, q))
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(wt)], cwd=ROOT,
                           capture_output=True)
    return {"baseline_rev": args.baseline_rev, "queries": queries,
            "runs": times, "median_s": {k: round(statistics.median(v), 2)
                                        for k, v in times.items()}}


def report(result: dict[str, Any]) -> None:
    rows = []
    for rt, e in result["runtimes"].items():
        d, h = e["modes"]["dense"], e["modes"]["hybrid"]
        rows.append([rt, e["model_load_s"], e["cold_index_median_s"],
                     e["throughput"]["tokens_per_s"], e["speedup_vs_torch"]["cold_index"],
                     d["hit5"], d["mrr"], h["hit5"], h["mrr"], e["quality_kept"]])
    print_table("Embedding runtimes (cold index of the bundled store; labelled questions)",
                ["runtime", "load s", "index s", "tok/s", "x torch", "dense hit@5",
                 "dense MRR", "hybrid hit@5", "hybrid MRR", "within 0.01"], rows)
    if "fresh_search" in result:
        f = result["fresh_search"]
        print_table("Fresh `ragkit search` process, end to end (median s)",
                    ["this checkout", f"baseline {f['baseline_rev']}"],
                    [[f["median_s"]["this"], f["median_s"]["baseline"]]])


if __name__ == "__main__":
    raise SystemExit(main())
