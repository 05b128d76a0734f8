"""Does the generator's yes/no answerability check separate answerable from unanswerable questions?

``RagConfig(check_answerable=True)`` asks the generator, before answering, whether the
retrieved sources state the answer (``prompts/rag/check.*.txt``) and refuses when
``log p(no) - log p(yes) > answerable_margin``. It is off by default because with the 0.5B the
margins of answerable and unanswerable questions overlapped. This script measures the margin
per question for a given model, on exactly the context the RAG graph would build (hybrid
retrieval, token budget), without generating answers, so it is cheap enough to run for the
1.5B too. For each threshold it reports the refusal accuracy the check alone would give:
unanswerable questions refused plus answerable questions let through (split into those whose
labelled evidence reached the context and those whose evidence did not, where refusing is
right in practice).

    python bench/rag_answerable_bench.py --kb KB --model qwen2.5-coder-1.5b-instruct \\
        --quantization int8 --exclude bench/results/rag_eval_qwen0.5b.json --sample 30,20

``--exclude`` keeps a held-out sample (its ``sample_ids``) out of the measured questions.
Writes ``bench/results/rag_answerable_<model>.json`` (or ``--out``) and prints a table.
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


def auc(pos: list[float], neg: list[float]) -> float | None:
    """P(margin of an unanswerable question > margin of an answerable one); ties count half."""
    if not pos or not neg:
        return None
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def sweep(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Refusal accuracy of the check alone at each threshold between observed margins."""
    margins = sorted({r["margin"] for r in rows})
    cuts = [margins[0] - 1] + [(a + b) / 2 for a, b in zip(margins, margins[1:], strict=False)]
    cuts.append(margins[-1] + 1)
    out = []
    for t in cuts:
        refused = [r for r in rows if r["margin"] > t]
        una = [r for r in rows if not r["answerable"]]
        ans = [r for r in rows if r["answerable"]]
        ok = sum(1 for r in una if r["margin"] > t) + sum(1 for r in ans if r["margin"] <= t)
        out.append({"threshold": round(t, 3), "refusal_accuracy": round(ok / len(rows), 3),
                    "unanswerable_refused": sum(1 for r in una if r["margin"] > t),
                    "answerable_passed": sum(1 for r in ans if r["margin"] <= t),
                    "answerable_with_evidence_passed": sum(
                        1 for r in ans if r["evidence_in_context"] and r["margin"] <= t),
                    "refused": len(refused)})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kb", type=Path, required=True)
    ap.add_argument("--model", default=None)
    ap.add_argument("--quantization", default="int8")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--sample", default="30,20", help="ANSWERABLE,UNANSWERABLE (stratified)")
    ap.add_argument("--exclude", action="append", default=[],
                    help="a report whose sample_ids are held out (repeatable)")
    ap.add_argument("--set", type=Path, default=ROOT / "knowledge/eval/rag.jsonl")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()

    from ragkit.config import DEFAULT_GENERATOR
    from ragkit.generation.config import GeneratorConfig
    from ragkit.kb import KnowledgeBase
    from ragkit.rag import RagConfig, RagPipeline, prompts
    from ragkit.rag.context import hit_to_dict, retrieve, select_context
    from ragkit.sdk import load_generator

    held = set()
    for path in args.exclude:
        held |= set(json.loads(Path(path).read_text(encoding="utf-8"))["sample_ids"])
    questions = [q for q in load_rag_set(args.set) if q.id not in held]
    a, u = (int(x) for x in args.sample.split(","))
    questions = rag_run.stratified(questions, a, u)
    model = args.model or DEFAULT_GENERATOR
    options: dict[str, Any] = {"model": model, "quantization": args.quantization}
    if args.threads:
        options["threads"] = args.threads
    gen = load_generator(GeneratorConfig(**options))
    cfg = RagConfig()
    rows = []
    t0 = time.perf_counter()
    with KnowledgeBase.open(args.kb) as kb:
        pipe = RagPipeline(kb, gen, config=cfg)
        deps = pipe._deps()
        for q in questions:
            t = time.perf_counter()
            lang = prompts.language_of(q.question)
            got = retrieve(deps.retriever, q.question, cfg.k, cfg.search_mode)
            context = select_context([hit_to_dict(h) for h in got.hits], deps.count_tokens,
                                     cfg.context_tokens, cfg.min_chunk_tokens)
            yes, no = prompts.CHECK_LABELS[lang]
            msgs = prompts.check_messages(lang, [], 0, context, q.question)
            _, scores = gen.choose(msgs, [yes, no])
            evidence = q.answerable and any(
                is_relevant(c["source"], c["text"], q.doc, q.evidence) for c in context)
            rows.append({"id": q.id, "lang": q.lang, "type": q.type, "answerable": q.answerable,
                         "evidence_in_context": evidence, "confidence": round(got.confidence, 4),
                         "margin": round(float(scores[no] - scores[yes]), 4),
                         "seconds": round(time.perf_counter() - t, 2)})
            r = rows[-1]
            print(f"{q.id} {q.lang} {'ans' if q.answerable else 'UNANS'} evidence={evidence} "
                  f"margin={r['margin']:+.3f} ({r['seconds']} s)", flush=True)
        pipe.close()
    una = [r["margin"] for r in rows if not r["answerable"]]
    ans_ev = [r["margin"] for r in rows if r["answerable"] and r["evidence_in_context"]]
    ans = [r["margin"] for r in rows if r["answerable"]]
    grid = sweep(rows)
    best = max(grid, key=lambda g: g["refusal_accuracy"])
    report = {
        "benchmark": "rag_answerable", "model": model, "quantization": args.quantization,
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "questions": len(rows), "held_out_excluded": sorted(held),
        "wall_s": round(time.perf_counter() - t0, 1),
        "auc_unanswerable_vs_answerable": auc(una, ans),
        "auc_unanswerable_vs_answerable_with_evidence": auc(una, ans_ev),
        "margin_ranges": {
            "unanswerable": [min(una), max(una)] if una else None,
            "answerable_with_evidence": [min(ans_ev), max(ans_ev)] if ans_ev else None,
            "answerable": [min(ans), max(ans)] if ans else None},
        "current_default_margin": cfg.answerable_margin,
        "at_current_default": next(g for g in grid if g["threshold"] >= cfg.answerable_margin),
        "best": best, "sweep": grid, "rows": rows,
    }
    out = args.out or ROOT / "bench" / "results" / f"rag_answerable_{model.split('/')[-1]}.json"
    out.write_text(json.dumps(report, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"\n{model}: {len(rows)} questions ({len(una)} unanswerable), "
          f"AUC {report['auc_unanswerable_vs_answerable']}, with evidence "
          f"{report['auc_unanswerable_vs_answerable_with_evidence']}")
    print(f"margin ranges {report['margin_ranges']}")
    print(f"best threshold {best}")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
