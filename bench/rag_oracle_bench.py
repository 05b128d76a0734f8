"""Is the pipeline or the model the limit? The RAG graph with perfect retrieval.

Owns: running the unchanged RAG graph (prompt, generation, citation verification, refusal,
scoring by ``ragkit.evals.rag``) with its retrieval step replaced by an oracle. For an
answerable question the context is exactly the chunk that holds its labelled evidence, nothing
else; for an unanswerable one it is the single most related chunk the real retriever finds (the
hardest honest case: on topic, but not the answer). Query translation is off (the oracle needs
none). Whatever the generator still gets wrong here, no retriever, fusion or context selection
could fix. Does not own the graph, the scoring or the labelled set.

    python bench/rag_oracle_bench.py --kb KB --quantization int8 --threads 2 \\
        [--model qwen2.5-coder-1.5b-instruct] [--ids q001,u002] [--out FILE]

Writes ``bench/results/rag_oracle_<model>.json`` (the ``ragkit eval rag --out`` report layout,
so ``ragkit eval rag --rescore`` reads it) and prints the summary per group.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ragkit.evals import rag_run  # noqa: E402
from ragkit.evals.rag import load_rag_set  # noqa: E402
from ragkit.evals.retrieval import is_relevant  # noqa: E402
from ragkit.retriever import hit_from_row  # noqa: E402
from ragkit.types import Hit  # noqa: E402


class OracleRetriever:
    """Stands in for the graph's retriever: the gold chunk for a known question, else the real
    retriever's top 1. ``dense`` (the confidence) stays the real one."""

    def __init__(self, real: Any, gold: dict[str, list[Hit]]) -> None:
        self.real = real
        self.gold = gold

    def search(self, query: str, k: int | None = None, mode: Any = None,
               filters: Any = ()) -> list[Hit]:
        if query in self.gold:
            return self.gold[query]
        return self.real.search(query, k=1, mode=mode)

    def dense(self, query: str, depth: int) -> list[tuple[int, float]]:
        return self.real.dense(query, depth)


def gold_chunks(kb: Any, questions: list) -> dict[str, list[Hit]]:
    """question text -> the first chunk (store order) holding its labelled evidence."""
    vids = [r[0] for r in kb.store.conn.execute("SELECT vid FROM chunks ORDER BY vid")]
    rows = kb.store.chunks_by_vid(vids)
    out: dict[str, list[Hit]] = {}
    for q in questions:
        if not q.answerable:
            continue
        for vid in vids:
            row = rows[vid]
            if is_relevant(row["source"], row["text"], q.doc, q.evidence):
                out[q.question] = [hit_from_row(row, 1.0)]
                break
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kb", type=Path, required=True)
    ap.add_argument("--model", default=None)
    ap.add_argument("--quantization", default="int8")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--ids", default=None, help="comma list of question ids (default: all)")
    ap.add_argument("--set", type=Path, default=ROOT / "knowledge/eval/rag.jsonl")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()

    from ragkit.config import DEFAULT_GENERATOR
    from ragkit.generation.config import GeneratorConfig
    from ragkit.kb import KnowledgeBase
    from ragkit.rag import RagConfig, RagPipeline
    from ragkit.sdk import load_generator

    questions = load_rag_set(args.set)
    if args.ids:
        wanted = args.ids.split(",")
        questions = [q for q in questions if q.id in wanted]
    model = args.model or DEFAULT_GENERATOR
    options: dict[str, Any] = {"model": model, "quantization": args.quantization}
    if args.threads:
        options["threads"] = args.threads
    gen = load_generator(GeneratorConfig(**options))
    cfg = RagConfig(translate_query=False, answer_cache=False)
    out = args.out or ROOT / "bench" / "results" / f"rag_oracle_{model.split('/')[-1]}.json"
    t0 = time.perf_counter()
    with KnowledgeBase.open(args.kb) as kb:
        gold = gold_chunks(kb, questions)
        missing = [q.id for q in questions if q.answerable and q.question not in gold]
        if missing:
            raise SystemExit(f"no chunk holds the evidence of {missing}: re-index the store")
        pipe = RagPipeline(kb, gen, config=cfg)
        pipe._wired = pipe._deps()
        pipe._wired.retriever = OracleRetriever(pipe._wired.retriever, gold)  # type: ignore

        def progress(row: dict[str, Any]) -> None:
            s = row["score"]
            state = "refused" if s["refused"] else "correct" if s["correct"] else "answered"
            print(f"{row['id']} {row['lang']} {row['seconds']:.1f}s {state}", flush=True)

        rows = rag_run.run(questions, pipe.ask, progress)
        pipe.close()
        meta = {"benchmark": "rag_oracle", "model": model, "quantization": args.quantization,
                "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "kb": str(args.kb), "set": str(args.set), "embedder": kb.config.embedder,
                "threads": args.threads, "retrieval": "oracle: the evidence chunk alone "
                "(answerable), the real top-1 chunk (unanswerable)",
                "rag_config": cfg.model_dump(mode="json")}
    result = rag_run.report(questions, rows, meta)
    result["timing"]["script_wall_s"] = round(time.perf_counter() - t0, 1)
    out.write_text(json.dumps(result, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    keys = ("n", "correct", "correct_if_answered", "citation_precision", "refusal_accuracy",
            "refused_unanswerable", "answered_answerable")
    print(f"{'group':<16}" + "".join(f"{k[:18]:>20}" for k in keys))
    for g, s in result["summary"].items():
        print(f"{g:<16}" + "".join(f"{'-' if s.get(k) is None else s[k]:>20}" for k in keys))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
