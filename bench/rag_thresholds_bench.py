"""Measures the thresholds of the RAG pipeline (``RagConfig``) and writes
``bench/results/rag_thresholds.json``.

1. ``cache``: the answer-cache similarity threshold. Query-embedding cosine (default embedder,
   multilingual-e5-small) between two wordings of the same question (``SAME`` in
   ``bench/rag_cache_pairs.py``) and between related questions with different answers
   (``DIFFERENT``), and trivial variants (case, punctuation, a filler word: ``NEAR_DUPLICATE``). The threshold is the smallest value above every different-question pair
   (zero false hits on this set, plus a margin); recall is the share of same-question pairs
   at or above it.
2. ``support``: the citation-support scores of ``ragkit.rag.verify`` (lexical overlap, and
   embedding cosine sentence-as-query vs chunk-as-passage) for answer sentences against chunks
   labelled supporting (the labelled evidence chunk) and non-supporting (retrieved for the
   same question, neither holding the evidence nor stating the gold facts). Sentences: the
   hand-written ones in ``bench/rag_support_sentences.py`` (44, en/zh, half cross-lingual)
   and, with ``--eval``, the fact-stating sentences of real answers. Reports distributions,
   the current ``RagConfig`` thresholds' effect and the best split, per language pairing.

    python bench/rag_thresholds_bench.py cache
    python bench/rag_thresholds_bench.py support --kb KB [--eval bench/results/rag_eval_qwen0.5b.json]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from rag_cache_pairs import DIFFERENT, NEAR_DUPLICATE, SAME, TRANSLATED  # noqa: E402

OUT = ROOT / "bench" / "results" / "rag_thresholds.json"
_NUM = re.compile(r"\d+(?:\.\d+)?")
MARGIN = 0.005


def _stats(xs: list[float]) -> dict[str, float]:
    a = np.asarray(xs, dtype=np.float64)
    if not len(a):
        return {"n": 0}
    return {"n": int(len(a)), "min": round(float(a.min()), 4), "p5": round(float(np.percentile(a, 5)), 4),
            "median": round(float(np.median(a)), 4), "p95": round(float(np.percentile(a, 95)), 4),
            "max": round(float(a.max()), 4)}


def _lang(s: str) -> str:
    from ragkit.text import detect_language

    return detect_language(s)


def cosines(embedder, pairs: list[tuple[str, str]]) -> list[float]:
    a = embedder.embed_queries([p[0] for p in pairs])
    b = embedder.embed_queries([p[1] for p in pairs])
    return [float(x) for x in (a * b).sum(axis=1)]


def cache(embedder_name: str) -> dict:
    from ragkit.embedder import load_embedder

    emb = load_embedder(embedder_name)
    t0 = time.perf_counter()
    same, diff, trans = cosines(emb, SAME), cosines(emb, DIFFERENT), cosines(emb, TRANSLATED)
    near = cosines(emb, NEAR_DUPLICATE)
    threshold = round(max(diff) + MARGIN, 3)
    out: dict = {"embedder": emb.id, "margin": MARGIN, "threshold": threshold,
                 "recall_at_threshold": round(sum(s >= threshold for s in same) / len(same), 4),
                 "false_hits_at_threshold": sum(d >= threshold for d in diff),
                 "translated_hits_at_threshold": sum(t >= threshold for t in trans),
                 "near_duplicate_recall_at_threshold": round(
                     sum(x >= threshold for x in near) / len(near), 4),
                 "near_duplicate": _stats(near), "same": _stats(same), "different": _stats(diff), "translated": _stats(trans),
                 "seconds": round(time.perf_counter() - t0, 2)}
    for lang in ("en", "zh"):
        s = [c for c, p in zip(same, SAME, strict=True) if _lang(p[0]) == lang]
        d = [c for c, p in zip(diff, DIFFERENT, strict=True) if _lang(p[0]) == lang]
        t = round(max(d) + MARGIN, 3)
        out[lang] = {"same": _stats(s), "different": _stats(d), "threshold": t,
                     "recall_at_threshold": round(sum(x >= t for x in s) / len(s), 4),
                     "recall_at_global_threshold": round(sum(x >= threshold for x in s) / len(s), 4)}
    sweep = {}
    for t in (float(x) for x in (*np.arange(0.85, 0.98, 0.01), *np.arange(0.98, 1.0001, 0.0025))):
        sweep[f"{t:.3f}"] = {"recall": round(sum(s >= t for s in same) / len(same), 4),
                             "near_duplicate_recall": round(sum(x >= t for x in near) / len(near), 4),
                             "false_hits": sum(d >= t for d in diff)}
    out["sweep"] = sweep
    out["closest_different"] = sorted(
        ({"cos": round(c, 4), "pair": list(p)} for c, p in zip(diff, DIFFERENT, strict=True)),
        key=lambda x: -x["cos"])[:5]
    out["lowest_same"] = sorted(
        ({"cos": round(c, 4), "pair": list(p)} for c, p in zip(same, SAME, strict=True)),
        key=lambda x: x["cos"])[:5]
    return out


def _best_split(pos: list[float], neg: list[float]) -> dict:
    """Threshold maximising balanced accuracy, and the one with no accepted negative."""
    if not pos or not neg:
        return {}
    cands = sorted(set(pos) | set(neg))
    best = max(cands, key=lambda t: (sum(p >= t for p in pos) / len(pos)
                                     + sum(n < t for n in neg) / len(neg)))
    strict = max(neg) + 1e-6
    return {"balanced_threshold": round(best, 4),
            "pos_kept": round(sum(p >= best for p in pos) / len(pos), 4),
            "neg_rejected": round(sum(n < best for n in neg) / len(neg), 4),
            "zero_false_threshold": round(strict, 4),
            "pos_kept_at_zero_false": round(sum(p >= strict for p in pos) / len(pos), 4)}


def _pairs_from_sentences(kb_path: Path) -> list[tuple[str, str, bool]]:
    """(sentence, chunk text, supporting) for the written sentences of rag_support_sentences."""
    from rag_support_sentences import SENTENCES

    from ragkit.evals.rag import has_fact, load_rag_set, normalise
    from ragkit.evals.retrieval import is_relevant
    from ragkit.kb import KnowledgeBase

    questions = {q.id: q for q in load_rag_set(ROOT / "knowledge/eval/rag.jsonl")}
    out = []
    with KnowledgeBase.open(kb_path) as kb:
        for qid, sentence in SENTENCES:
            q = questions[qid]
            # chunks retrieved for the question (mostly its language) and for the evidence
            # (the document's language: the other one for cross-lingual questions)
            hits = kb.search(q.question, k=6) + kb.search(q.evidence, k=6)
            rel = [h for h in hits if is_relevant(h.source, h.text, q.doc, q.evidence)][:1]
            seen: set[str] = set()
            other = []
            for h in hits:
                if (h.chunk_id not in seen and not is_relevant(h.source, h.text, q.doc, q.evidence)
                        and not all(has_fact(normalise(h.text), g) for g in q.facts)):
                    seen.add(h.chunk_id)
                    other.append(h)
            out += [(sentence, h.text, True) for h in rel]
            out += [(sentence, h.text, False) for h in other]
    return out


def _pairs_from_eval(eval_path: Path) -> list[tuple[str, str, bool]]:
    """(answer sentence, retrieved chunk, supporting) from a ``ragkit eval rag`` report: a
    sentence stating a gold fact vs the labelled chunk (supporting) and vs retrieved chunks
    that neither hold the evidence nor state the facts (non-supporting)."""
    from ragkit.evals.rag import AnswerRecord, has_fact, load_rag_set, normalise
    from ragkit.evals.retrieval import is_relevant
    from ragkit.rag.prompts import strip_markers
    from ragkit.text import split_sentences

    data = json.loads(eval_path.read_text(encoding="utf-8"))
    questions = {q.id: q for q in load_rag_set(ROOT / data.get("set", "knowledge/eval/rag.jsonl"))}
    out = []
    for row in data["results"]:
        q = questions.get(row["id"])
        rec = AnswerRecord.from_dict(row["answer"])
        if q is None or not q.answerable or rec.refused or not q.facts:
            continue
        for start, end in split_sentences(rec.text):
            body = strip_markers(rec.text[start:end]).strip()
            if len(body) < 6 or not any(has_fact(normalise(body), g) for g in q.facts):
                continue
            for h in rec.hits:
                if is_relevant(h.source, h.text, q.doc, q.evidence):
                    out.append((body, h.text, True))
                elif not all(has_fact(normalise(h.text), g) for g in q.facts):
                    out.append((body, h.text, False))
    return out


def support(kb_path: Path, eval_path: Path | None, embedder_name: str) -> dict:
    from ragkit.embedder import load_embedder
    from ragkit.rag.config import RagConfig
    from ragkit.rag.verify import lexical_support

    pairs = _pairs_from_sentences(kb_path)
    source = {"written_sentences": len(pairs)}
    if eval_path is not None:
        extra = _pairs_from_eval(eval_path)
        source[str(eval_path.relative_to(ROOT))] = len(extra)
        pairs += extra
    emb = load_embedder(embedder_name)
    lex = [lexical_support(s, c) for s, c, _ in pairs]
    sv = emb.embed_queries([p[0] for p in pairs])
    cv = emb.embed_passages([p[1] for p in pairs])
    cos = [float(x) for x in (sv * cv).sum(axis=1)]
    # embedding cosine, zeroed when a number of the sentence is missing from the chunk
    # (digits are the same in both languages)
    nums = [(set(_NUM.findall(s.replace(",", ""))), set(_NUM.findall(c.replace(",", ""))))
            for s, c, _ in pairs]
    cos_num = [x if a <= b else 0.0 for x, (a, b) in zip(cos, nums, strict=True)]
    cfg = RagConfig()
    out: dict = {"pairs": len(pairs), "sources": source,
                 "config": {"support_threshold": cfg.support_threshold,
                            "support_embedding_threshold": cfg.support_embedding_threshold}}
    pairing = ["same" if _lang(s) == _lang(c) else "cross" for s, c, _ in pairs]
    for which in ("same", "cross"):
        idx = [i for i, p in enumerate(pairing) if p == which]
        for name, scores, current in (("lexical", lex, cfg.support_threshold),
                                      ("embedding", cos, cfg.support_embedding_threshold),
                                      ("embedding+numbers", cos_num,
                                       cfg.support_embedding_threshold)):
            pos = [scores[i] for i in idx if pairs[i][2]]
            neg = [scores[i] for i in idx if not pairs[i][2]]
            out[f"{which}_language/{name}"] = {
                "supporting": _stats(pos), "non_supporting": _stats(neg),
                "at_current_threshold": {
                    "threshold": current,
                    "supporting_kept": round(sum(p >= current for p in pos) / len(pos), 4)
                    if pos else None,
                    "non_supporting_rejected": round(sum(n < current for n in neg) / len(neg), 4)
                    if neg else None},
                **_best_split(pos, neg)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("part", choices=("cache", "support"))
    ap.add_argument("--embedder", default="multilingual-e5-small")
    ap.add_argument("--kb", type=Path, default=ROOT / ".ragkit" / "kb",
                    help="indexed sample KB (for support)")
    ap.add_argument("--eval", type=Path, help="also use answers of a ragkit eval rag --out JSON")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    report = json.loads(args.out.read_text()) if args.out.is_file() else {}
    if args.part == "cache":
        report["answer_cache"] = result = cache(args.embedder)
        print(f"answer cache: threshold {result['threshold']}, recall {result['recall_at_threshold']}"
              f", same {result['same']}, different {result['different']}")
    else:
        report["support"] = result = support(args.kb, args.eval, args.embedder)
        for k, v in result.items():
            print(k, v)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
