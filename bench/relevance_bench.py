"""Relevance scoring on the tuning set: what each backend costs, what it adds to ranking, and
the calibrated curves the evidence stage uses (ragkit/relevance.py, ragkit/rag/evidence.py).

For every question of the TUNING set (knowledge/eval/rag.jsonl + unanswerable.jsonl; never
the blind set) it retrieves as the pipeline does (hybrid k=5, plus 2 chunks of the
generator-made translation), cuts the chunks into units and records, per unit, the INT8
cross-encoder's logit (English units, with the English form of the question) and the
knowledge base embedder's query/passage cosine, with the time each backend took. Then:

- fits the fused curves by logistic regression on "this unit states the gold evidence"
  (sigmoid(a + b*logit + c*cosine) for English units with an English query form,
  sigmoid(a + c*cosine) for the rest) and writes them to the results;
- reports chunk hit@1 / MRR before and after re-ranking chunks by their best unit, the gold
  unit's rank, and the answer/refuse trade-off of the best unit's score (refusal accuracy and
  false refusals at each threshold), so the default threshold is chosen from numbers;
- scores the same units with EmbeddingGemma on the Chinese questions (--gemma N) for the
  comparison the default was chosen by.

    python bench/relevance_bench.py --kb /tmp/kb --out bench/results/relevance.json
    (--features FILE keeps/reuses the per-unit features: extraction is the slow part)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ragkit import models, sdk  # noqa: E402
from ragkit.config import SearchConfig  # noqa: E402
from ragkit.evals.rag import has_fact, load_rag_set, normalise  # noqa: E402
from ragkit.generation.base import SamplingParams  # noqa: E402
from ragkit.rag import evidence as ev  # noqa: E402
from ragkit.rag import prompts  # noqa: E402
from ragkit.rag.context import retrieve  # noqa: E402
from ragkit.relevance import CrossEncoder, EmbeddingRelevance  # noqa: E402
from ragkit.text import detect_language  # noqa: E402


def extract(kb_dir: str, set_path: str, out: Path) -> None:
    """Per-unit features of every question, one JSON line per question (resumable)."""
    done = {json.loads(line)["id"] for line in out.open()} if out.is_file() else set()
    kb = sdk.open_kb(kb_dir)
    gen = sdk.load_generator()
    ce = CrossEncoder(models.resolve("ms-marco-minilm-l12-int8", "reranker"))
    emb = EmbeddingRelevance(kb.embedder)
    retr = kb.retriever(SearchConfig(k=5, mode="hybrid"))
    with out.open("a") as f:
        for q in load_rag_set(set_path):
            if q.id in done:
                continue
            lang = detect_language(q.question)
            res = gen.generate(prompts.translate_messages(lang, q.question),
                               SamplingParams(max_tokens=64, stop=("\n",)))
            tr = res.text.strip()
            got = retrieve(retr, q.question, 5, "hybrid", tr, 2)
            hits = [h.to_dict() for h in got.hits]
            units = ev.chunk_units(hits)
            texts = [u.text for u in units]
            english = q.question if lang == "en" else tr
            t0 = time.perf_counter()
            en_idx = [i for i, t in enumerate(texts) if detect_language(t) == "en"]
            logits = np.full(len(texts), np.nan)
            if en_idx:
                logits[en_idx] = ce.logits(english, [texts[i] for i in en_idx])
            t1 = time.perf_counter()
            cos = emb.cosines(q.question, texts) if texts else np.zeros(0)
            t2 = time.perf_counter()
            gold = [bool(q.answerable and (
                (q.evidence and normalise(q.evidence)[:40] in normalise(u.body))
                or (q.facts and all(has_fact(normalise(u.body), g) for g in q.facts))))
                for u in units]
            f.write(json.dumps({
                "id": q.id, "lang": lang, "type": q.type, "answerable": q.answerable,
                "translation": tr, "ce_ms": 1000 * (t1 - t0), "emb_ms": 1000 * (t2 - t1),
                "hits": [{"source": h["source"],
                          "gold": bool(q.doc) and h["source"].endswith(q.doc)} for h in hits],
                "units": [{"chunk": u.chunk, "text": u.text[:400], "ulang": detect_language(u.body),
                           "ce": None if np.isnan(c) else float(c), "cos": float(e), "gold": g}
                          for u, c, e, g in zip(units, logits, cos, gold, strict=True)],
            }, ensure_ascii=False) + "\n")
            f.flush()
            print(q.id, f"{1000 * (t1 - t0):.0f}+{1000 * (t2 - t1):.0f} ms", flush=True)


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1e-3, iters: int = 50) -> np.ndarray:
    """Weights (bias first) of a logistic regression by Newton's method."""
    xb = np.hstack([np.ones((len(x), 1)), x])
    w = np.zeros(xb.shape[1])
    for _ in range(iters):
        p = 1 / (1 + np.exp(-np.clip(xb @ w, -30, 30)))
        grad = xb.T @ (p - y) + l2 * np.r_[0, w[1:]]
        hess = (xb.T * (p * (1 - p))) @ xb + l2 * np.eye(len(w))
        w -= np.linalg.solve(hess, grad)
    return w


def unit_feature(u: dict) -> tuple[str, np.ndarray]:
    if u["ce"] is not None:
        return "cross", np.array([u["ce"], u["cos"]])
    return "embedding", np.array([u["cos"]])


def fuse(u: dict, curves: dict[str, list[float]]) -> float:
    kind, x = unit_feature(u)
    w = np.asarray(curves[kind])
    return float(1 / (1 + np.exp(-(w[0] + x @ w[1:]))))


def _mean(xs: list[float]) -> float | None:
    return round(float(np.mean(xs)), 1) if xs else None


def analyse(rows: list[dict]) -> dict:
    data: dict[str, tuple[list, list]] = {"cross": ([], []), "embedding": ([], [])}
    for r in rows:
        if not r["answerable"] or not any(u["gold"] for u in r["units"]):
            continue  # non-gold units of answered questions, gold ones as positives
        for u in r["units"]:
            kind, x = unit_feature(u)
            data[kind][0].append(x)
            data[kind][1].append(float(u["gold"]))
    curves = {k: fit_logistic(np.array(xs), np.array(ys)).round(4).tolist()
              for k, (xs, ys) in data.items() if xs}
    ans = [r for r in rows if r["answerable"]]
    una = [r for r in rows if not r["answerable"]]

    def best(r: dict) -> float:
        return max((fuse(u, curves) for u in r["units"]), default=0.0)

    def chunk_rank(r: dict, by_units: bool) -> int | None:
        n = len(r["hits"])
        order = list(range(n))
        if by_units:
            score = np.zeros(n)
            for u in r["units"]:
                score[u["chunk"]] = max(score[u["chunk"]], fuse(u, curves))
            order = [int(i) for i in np.argsort(-score, kind="stable")]
        return next((i + 1 for i, c in enumerate(order) if r["hits"][c]["gold"]), None)

    def mrr(ranks: list) -> float:
        return round(float(np.mean([1 / x if x else 0 for x in ranks])), 4)

    before = [chunk_rank(r, False) for r in ans]
    after = [chunk_rank(r, True) for r in ans]
    with_gold = [r for r in ans if any(u["gold"] for u in r["units"])]
    unit_rank = []
    for r in with_gold:
        order = sorted(r["units"], key=lambda u: -fuse(u, curves))
        unit_rank.append(next(i + 1 for i, u in enumerate(order) if u["gold"]))
    a_best = np.array([best(r) for r in ans])
    u_best = np.array([best(r) for r in una])
    trade = []
    for t in (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7):
        trade.append({"threshold": t, "false_refusals": round(float((a_best < t).mean()), 4),
                      "refused_unanswerable": round(float((u_best < t).mean()), 4),
                      "refusal_accuracy": round(float(((a_best >= t).sum() + (u_best < t).sum())
                                                      / (len(ans) + len(una))), 4)})
    by_lang = {}
    for lang in ("en", "zh"):
        rs = [r for r in with_gold if r["lang"] == lang]
        ranks = [unit_rank[i] for i, r in enumerate(with_gold) if r["lang"] == lang]
        by_lang[lang] = {"questions": len(rs), "gold_unit_top1": round(
            float(np.mean([x == 1 for x in ranks])), 4) if ranks else None}
    return {
        "curves": curves,
        "answerable": len(ans), "unanswerable": len(una),
        "chunk_hit@1": {"retrieval": round(float(np.mean([x == 1 for x in before])), 4),
                        "reranked": round(float(np.mean([x == 1 for x in after])), 4)},
        "chunk_mrr": {"retrieval": mrr(before), "reranked": mrr(after)},
        "gold_unit_retrieved": len(with_gold),
        "gold_unit_top1": round(float(np.mean([x == 1 for x in unit_rank])), 4),
        "gold_unit_top3": round(float(np.mean([x <= 3 for x in unit_rank])), 4),
        "gold_unit_by_language": by_lang,
        "best_score": {"answerable_p10_p50": np.percentile(a_best, [10, 50]).round(3).tolist(),
                       "unanswerable_p50_p90": np.percentile(u_best, [50, 90]).round(3).tolist()},
        "tradeoff": trade,
        "latency_ms_per_question": {
            # None for features extracted without timings (see "features" in the results)
            "cross_encoder_mean": _mean([r["ce_ms"] for r in rows if r.get("ce_ms")]),
            "embedder_mean": _mean([r["emb_ms"] for r in rows if r.get("emb_ms")]),
            "units_mean": round(float(np.mean([len(r["units"]) for r in rows])), 1)},
    }


def gemma_compare(rows: list[dict], n: int) -> dict:
    """EmbeddingGemma cosines on the units of the first ``n`` Chinese questions with a gold
    unit: gold-unit top-1 against the knowledge base embedder's, and the cost per unit."""
    gemma = EmbeddingRelevance(sdk.load_embedder("embeddinggemma-300m"))
    qs = {q.id: q.question for q in load_rag_set(ROOT / "knowledge/eval/rag.jsonl")}
    picked = [r for r in rows if r["lang"] == "zh" and any(u["gold"] for u in r["units"])][:n]
    gemma.cosines("warm up", ["warm up"])
    top_g = top_e = 0
    t0 = time.perf_counter()
    units = 0
    for r in picked:
        cos = gemma.cosines(qs[r["id"]], [u["text"] for u in r["units"]])
        units += len(r["units"])
        top_g += r["units"][int(np.argmax(cos))]["gold"]
        top_e += max(r["units"], key=lambda u: u["cos"])["gold"]
    ms = 1000 * (time.perf_counter() - t0)
    return {"questions": len(picked), "gold_unit_top1_gemma": round(top_g / len(picked), 4),
            "gold_unit_top1_kb_embedder": round(top_e / len(picked), 4),
            "gemma_ms_per_unit": round(ms / max(units, 1), 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kb", required=True, help="the bundled store, indexed with the defaults")
    ap.add_argument("--set", default=str(ROOT / "knowledge/eval/rag.jsonl"))
    ap.add_argument("--features", default="/tmp/relevance_features.jsonl")
    ap.add_argument("--gemma", type=int, default=0, help="Chinese questions for the "
                    "EmbeddingGemma comparison (0: skip)")
    ap.add_argument("--out", default=str(ROOT / "bench/results/relevance.json"))
    args = ap.parse_args()
    if "blind" in args.set:
        raise SystemExit("the blind set is never tuned on")
    feats = Path(args.features)
    extract(args.kb, args.set, feats)
    rows = [json.loads(line) for line in feats.open()]
    result = {"set": args.set, "kb": args.kb, "features": str(feats),
              "embedder": sdk.open_kb(args.kb).config.embedder,
              "cross_encoder": "ms-marco-minilm-l12-int8 (batch 1)", **analyse(rows)}
    if args.gemma:
        result["embeddinggemma"] = gemma_compare(rows, args.gemma)
    Path(args.out).write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "tradeoff"}, indent=1))
    for t in result["tradeoff"]:
        print(t)


if __name__ == "__main__":
    main()
