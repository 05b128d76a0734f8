"""Retrieval-side signals behind RagConfig's refusal and answer-cache thresholds.

Owns: for every labelled question (``knowledge/eval/retrieval.jsonl``, answerable, and
``knowledge/eval/unanswerable.jsonl``), the retrieval confidence the RAG graph computes (best
dense cosine) and the share of the question's content words found in the retrieved chunks;
and the query-query cosine of hand-written rewordings of one question versus different
questions on one topic (the answer cache's threshold). No generator is run: answer quality,
citation precision and refusal accuracy are ``ragkit eval rag``'s job.

Run (on an indexed copy of ``knowledge/store``)::

    python bench/rag_signals_bench.py --kb .ragkit/kb

Writes ``bench/results/rag_signals.json`` and prints percentiles.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from retrieval_bench import machine_info  # noqa: E402

from ragkit.config import SearchConfig  # noqa: E402
from ragkit.kb import KnowledgeBase  # noqa: E402
from ragkit.rag.config import RagConfig  # noqa: E402
from ragkit.rag.context import retrieve  # noqa: E402
from ragkit.rag.verify import _stem, _terms  # noqa: E402
from ragkit.text import query_terms  # noqa: E402

SAME = [("How long do refunds take?", "how long does a refund take"),
        ("How many days do I have to return an item?", "How many days do I have to return an item"),
        ("What is the return window?", "what's the return window?"),
        ("Can I pay with PayPal?", "Can I pay using PayPal?"),
        ("How do I reset my password?", "How can I reset my password?"),
        ("退款需要多长时间？", "退款要多长时间"),
        ("可以用支付宝付款吗？", "能用支付宝付款吗？"),
        ("Is shipping free?", "is shipping free")]
DIFFERENT = [("How long do refunds take?", "How long do returns take?"),
             ("Can I pay with PayPal?", "Can I pay with Alipay?"),
             ("How do I reset my password?", "How do I change my email address?"),
             ("What is the return window?", "What is the warranty period?"),
             ("Is shipping free?", "Is express shipping available?"),
             ("退款需要多长时间？", "退货需要多长时间？"),
             ("可以用支付宝付款吗？", "可以用微信付款吗？"),
             ("How long is the kettle warranty?", "How long is the tent warranty?")]


def _load(p: Path) -> list[dict]:
    return [json.loads(line) for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kb", type=Path, default=ROOT / ".ragkit" / "kb")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "rag_signals.json")
    args = ap.parse_args()
    cfg = RagConfig()
    kb = KnowledgeBase.open(args.kb)
    retriever = kb.retriever(SearchConfig(k=cfg.k))
    questions = (_load(ROOT / "knowledge/eval/retrieval.jsonl")
                 + _load(ROOT / "knowledge/eval/unanswerable.jsonl"))
    rows, t0 = [], time.perf_counter()
    for q in questions:
        got = retrieve(retriever, q["question"], cfg.k, cfg.search_mode)
        words = [_stem(w) for w in query_terms(q["question"])]
        seen: set[str] = set()
        for h in got.hits:
            seen |= _terms(h.text)
        rows.append({"id": q["id"], "type": q["type"], "lang": q["lang"],
                     "confidence": round(got.confidence, 4),
                     "coverage": round(sum(w in seen for w in words) / max(1, len(words)), 4)})
    elapsed = time.perf_counter() - t0

    def cos(a: str, b: str) -> float:
        v = kb.embedder.embed_queries([a, b])
        return round(float(v[0] @ v[1] / np.linalg.norm(v[0]) / np.linalg.norm(v[1])), 4)

    summary = {}
    for group in ("answerable", "unanswerable"):
        sel = [r for r in rows if (r["type"] == "unanswerable") == (group == "unanswerable")]
        summary[group] = {k: {"n": len(sel), "min": min(r[k] for r in sel),
                              "p10": float(np.percentile([r[k] for r in sel], 10)),
                              "median": float(np.median([r[k] for r in sel])),
                              "max": max(r[k] for r in sel)} for k in ("confidence", "coverage")}
    result = {"benchmark": "rag_signals", "machine": machine_info(2), "kb": str(args.kb),
              "retrieval_s": round(elapsed, 1), "summary": summary,
              "cache_pairs": {"same": [[a, b, cos(a, b)] for a, b in SAME],
                              "different": [[a, b, cos(a, b)] for a, b in DIFFERENT]},
              "questions": rows}
    args.out.write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    print(json.dumps(summary, indent=1))
    print("same", [p[2] for p in result["cache_pairs"]["same"]])
    print("different", [p[2] for p in result["cache_pairs"]["different"]])


if __name__ == "__main__":
    main()
