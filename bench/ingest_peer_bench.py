"""Ingestion + retrieval, side by side with LlamaIndex on the same folder and the same embedder.

Owns: running ragkit's cold ingestion of ``knowledge/store`` (fresh temp knowledge base) and
the LlamaIndex peer (``bench/peers/llamaindex_run.py`` in its own venv,
``bench/.peer-venv-llamaindex``, made by ``bench/peers/setup_llamaindex.sh``) with the SAME
sentence-transformers folder, the same chunk budget (256 tokens, 32 overlap, counted with the
embedder's tokenizer), the same encode batch size and the same torch thread count; scoring
both rankings with ragkit's relevance rule (:func:`ragkit.evals.retrieval.is_relevant`, via
:func:`~ragkit.evals.retrieval.evaluate`); and reporting time and hit@5 ratios.
Does not own the peer's code path (that script) or ragkit's metrics.

Fairness: both sides are one process each, run one after the other (never at once), with
``--repeats`` alternating ragkit / peer so a busy spell on this shared machine hits both; model
load (plus one warm-up batch) is timed apart from ingestion on both sides. ragkit's cold
ingestion writes SQLite, FTS and a FAISS file; the peer's in-memory ingestion does not persist,
so its ``persist()`` time is reported too and a second ratio includes it.

Run::

    bash bench/peers/setup_llamaindex.sh        # once (a few minutes; CPU torch, no CUDA)
    python bench/ingest_peer_bench.py           # 2 alternating repeats, all questions
    python bench/ingest_peer_bench.py --quick   # 1 repeat, 20 questions

Writes ``bench/results/ingest_peer.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import json
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
    load_embedder_timed,
    machine_info,
    mode_row,
    print_table,
    set_threads,
    timed_sync,
    write_json,
)

from ragkit import models
from ragkit.config import KnowledgeBaseConfig
from ragkit.evals.retrieval import LabelledQuestion, evaluate, evaluate_kb, load_questions
from ragkit.kb import KnowledgeBase

VENV = ROOT / "bench" / ".peer-venv-llamaindex"
PEER = ROOT / "bench" / "peers" / "llamaindex_run.py"
RESULTS = ROOT / "bench" / "results" / "ingest_peer.json"
QUICK_QUESTIONS = 20


def st_prompts(model_dir: Path) -> tuple[str, str]:
    """(query prompt, passage prompt) declared by a sentence-transformers folder, or ("", "")."""
    try:
        cfg = json.loads((model_dir / "config_sentence_transformers.json").read_text("utf-8"))
    except (OSError, ValueError):
        return "", ""
    prompts = cfg.get("prompts") or {}
    return prompts.get("query", ""), prompts.get("passage", prompts.get("document", ""))


def run_peer(python: Path, store: Path, model_dir: Path, prompts: tuple[str, str],
             threads: int, batch: int, questions: Path | None,
             limit: int | None) -> dict[str, Any]:
    cmd = [str(python), str(PEER), "--store", str(store), "--model", str(model_dir),
           "--query-prompt", prompts[0], "--text-prompt", prompts[1],
           "--threads", str(threads), "--batch", str(batch), "--k", "10"]
    if questions is not None:
        cmd += ["--questions", str(questions)]
        if limit:
            cmd += ["--limit", str(limit)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "OMP_NUM_THREADS": str(threads), "TOKENIZERS_PARALLELISM": "false"}
    env.pop("PYTHONPATH", None)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-4000:])
        raise SystemExit(f"the LlamaIndex peer failed (exit {proc.returncode}); see above")
    out = json.loads(proc.stdout)
    out["process_wall_s"] = round(time.perf_counter() - t0, 3)
    return out


def ragkit_cold(name: str, emb: Any, store: Path) -> tuple[dict[str, Any], Any, Any]:
    """Cold-index ``store`` into a fresh temp knowledge base; return (row, kb, tempdir)."""
    tmp = tempfile.TemporaryDirectory(prefix="ragkit-peer-bench-")
    kb = KnowledgeBase.open(Path(tmp.name) / "kb", create=True,
                            config=KnowledgeBaseConfig(embedder=name), embedder=emb)
    _, row = timed_sync(kb, store)
    return row, kb, tmp


def peer_scores(peer: dict[str, Any], questions: list[LabelledQuestion]) -> dict[str, Any]:
    ranked = peer["retrieval"]["ranked"]
    by_text = {q.question: ranked[q.id] for q in questions if q.id in ranked}

    def search(question: str, k: int) -> list[tuple[str, str]]:
        return [(s, t) for s, t in by_text[question][:k]]

    res = evaluate(search, [q for q in questions if q.id in ranked], "llamaindex-dense", k=10)
    row = mode_row(res)
    row["ms_per_query"] = peer["retrieval"]["ms_per_query"]  # measured inside the peer
    return row


def _kept_retrieval(path: Path, embedder: str) -> dict[str, Any] | None:
    """Retrieval figures of an earlier full run in ``path`` (same embedder), or None."""
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
        if old["settings"]["embedder"] != embedder:
            return None
        return {"ragkit": old["ragkit"]["retrieval"], "llamaindex": old["llamaindex"]["retrieval"],
                "n_questions": old["settings"]["n_questions"],
                "date": old["settings"].get("retrieval_from") if old["settings"].get(
                    "retrieval_from", "this run") != "this run" else old["machine"]["date"]}
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _med(xs: list[float]) -> float:
    return round(statistics.median(xs), 3)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--embedder", default="multilingual-e5-small")
    ap.add_argument("--store", type=Path, default=STORE)
    ap.add_argument("--questions", type=Path, default=QUESTIONS)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help=f"1 repeat, {QUICK_QUESTIONS} questions")
    ap.add_argument("--venv", type=Path, default=VENV)
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--timing-only", action="store_true",
                    help="skip retrieval on both sides; keep the retrieval figures already in "
                    "--out (from an earlier full run with the same embedder) and say so")
    ap.add_argument("--note", action="append", default=[])
    args = ap.parse_args(argv)
    kept = _kept_retrieval(args.out, args.embedder) if args.timing_only else None
    if args.timing_only and kept is None:
        raise SystemExit(f"--timing-only needs an earlier full run of {args.embedder} in "
                         f"{args.out}; run without --timing-only first")

    python = args.venv / "bin" / "python"
    if not python.exists():
        raise SystemExit(f"no peer venv at {args.venv}; create it with "
                         "`bash bench/peers/setup_llamaindex.sh`")
    repeats = 1 if args.quick else max(1, args.repeats)
    limit = QUICK_QUESTIONS if args.quick else None
    set_threads(args.threads)
    store = args.store.resolve()
    model_dir = models.resolve(args.embedder, "embedder").resolve()
    prompts = st_prompts(model_dir)
    questions = load_questions(args.questions)[:limit] if limit else load_questions(args.questions)
    machine = machine_info(args.threads)

    print(f"[ragkit] loading {args.embedder} from {model_dir}", file=sys.stderr)
    emb, load_s = load_embedder_timed(args.embedder, args.threads)
    # The peer embeds in batches of the size ragkit's model actually sees per forward pass.
    batch = int(getattr(emb, "batch_size", 32))
    rk_runs: list[dict[str, Any]] = []
    peer_runs: list[dict[str, Any]] = []
    peer_loads: list[float] = []
    peer_first: dict[str, Any] = {}
    rk_modes: dict[str, Any] = {}
    for i in range(repeats):
        print(f"[ragkit] cold ingestion {i + 1}/{repeats}", file=sys.stderr)
        row, kb, tmp = ragkit_cold(args.embedder, emb, store)
        rk_runs.append(row)
        try:
            if i == 0 and kept is None:
                print(f"[ragkit] evaluating {len(questions)} questions", file=sys.stderr)
                rk_modes = {r.mode: mode_row(r)
                            for r in evaluate_kb(kb, questions, modes=("dense", "hybrid"))}
        finally:
            kb.close()
            tmp.cleanup()
        print(f"[llamaindex] run {i + 1}/{repeats} (subprocess)", file=sys.stderr)
        peer = run_peer(python, store, model_dir, prompts, args.threads, batch,
                        args.questions if i == 0 and kept is None else None, limit)
        peer_runs += peer["runs"]
        peer_loads.append(peer["model_load_s"])
        if i == 0:
            peer_first = peer
    machine["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]

    if kept is not None:
        rk_modes, peer_row = kept["ragkit"], kept["llamaindex"]
        questions = questions[: kept["n_questions"]]
    else:
        peer_row = peer_scores(peer_first, questions)
    rk_cold = _med([r["elapsed_s"] for r in rk_runs])
    li_ingest = _med([r["ingest_s"] for r in peer_runs])
    li_total = _med([r["ingest_s"] + r["persist_s"] for r in peer_runs])
    summary = {
        "ragkit_cold_ingest_s": rk_cold,
        "llamaindex_ingest_s": li_ingest,
        "llamaindex_ingest_plus_persist_s": li_total,
        "time_ratio_ragkit_over_llamaindex": round(rk_cold / li_ingest, 3),
        "time_ratio_ragkit_over_llamaindex_with_persist": round(rk_cold / li_total, 3),
        "ragkit_chunks": rk_runs[0]["chunks_total"],
        "llamaindex_nodes": peer_runs[0]["nodes"],
        "ragkit_model_load_s": round(load_s, 3),
        "llamaindex_model_load_s": _med(peer_loads),
        "hit5": {"ragkit_dense": rk_modes["dense"]["hit5"],
                 "ragkit_hybrid": rk_modes["hybrid"]["hit5"], "llamaindex": peer_row["hit5"]},
    }
    if peer_row["hit5"]:
        summary["hit5_ratio_ragkit_dense_over_llamaindex"] = round(
            rk_modes["dense"]["hit5"] / peer_row["hit5"], 3)
        summary["hit5_ratio_ragkit_hybrid_over_llamaindex"] = round(
            rk_modes["hybrid"]["hit5"] / peer_row["hit5"], 3)

    print_table(f"Cold ingestion of {store.name}/ with {args.embedder} (median of {repeats}; s)",
                ["system", "model load", "ingest", "+persist", "chunks", "chunks/s"],
                [["ragkit", load_s, rk_cold, rk_cold, rk_runs[0]["chunks_total"],
                  rk_runs[0]["chunks_total"] / rk_cold],
                 ["llamaindex", _med(peer_loads), li_ingest, li_total, peer_runs[0]["nodes"],
                  peer_runs[0]["nodes"] / li_ingest]])
    print_table(f"Retrieval, {len(questions)} labelled questions (same relevance rule)",
                ["system", "hit@1", "hit@5", "MRR", "ms/q"],
                [["ragkit dense", *(rk_modes["dense"][m] for m in ("hit1", "hit5", "mrr",
                                                                    "ms_per_query"))],
                 ["ragkit hybrid", *(rk_modes["hybrid"][m] for m in ("hit1", "hit5", "mrr",
                                                                      "ms_per_query"))],
                 ["llamaindex dense", *(peer_row[m] for m in ("hit1", "hit5", "mrr",
                                                              "ms_per_query"))]])
    print(f"\ntime ratio ragkit/llamaindex: {summary['time_ratio_ragkit_over_llamaindex']} "
          f"(with persist: {summary['time_ratio_ragkit_over_llamaindex_with_persist']})")

    peer_first.pop("retrieval", None)
    data = {
        "benchmark": "ingest_peer",
        "machine": machine,
        "settings": {
            "embedder": args.embedder, "embedder_folder": str(model_dir),
            "prompts": {"query": prompts[0], "passage": prompts[1]},
            "store": str(args.store), "questions": str(args.questions),
            "n_questions": len(questions), "repeats": repeats, "threads": args.threads,
            "retrieval_from": kept["date"] if kept else "this run",
            "ragkit_kb_config": KnowledgeBaseConfig(embedder=args.embedder).model_dump(
                mode="json"),
            "llamaindex": peer_first.get("settings", {}),
        },
        "summary": summary,
        "ragkit": {"model_load_s": round(load_s, 3), "runs": rk_runs, "retrieval": rk_modes},
        "llamaindex": {
            "versions": peer_first.get("versions"), "model_load_s": peer_loads,
            "runs": peer_runs, "files": peer_first.get("files"), "retrieval": peer_row,
        },
        "notes": [
            "Shared 2-core machine: other jobs ran during this benchmark (load_avg_* in "
            "machine); absolute times are inflated and noisy; runs alternate ragkit/peer so the "
            "ratios are the figures to read.",
            "Times exclude model loading (reported separately, with one warm-up batch).",
            "ragkit cold = discovery, hashing, parsing, chunking, embedding, SQLite + FTS rows "
            "and a saved FAISS index. LlamaIndex ingest = SimpleDirectoryReader + "
            "SentenceSplitter + in-memory VectorStoreIndex; persist = storage_context.persist().",
            "Both score with ragkit.evals.retrieval.is_relevant on (source, chunk text); peer "
            "node text is node.get_content() (no metadata).",
            "LlamaIndex has no keyword/hybrid retriever in core without extra packages; its "
            "dense retrieval is compared with ragkit dense (same model, same vectors "
            "normalisation) and ragkit hybrid.",
            *args.note,
        ],
    }
    write_json(args.out, data)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
