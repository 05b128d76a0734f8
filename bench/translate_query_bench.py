"""Does translating the question help retrieval? hit@k with and without ``translate_query``.

Owns: for every labelled question (``knowledge/eval/retrieval.jsonl``), the translation the RAG
graph would make (``prompts.translate_messages``, greedy, the graph's token cap and stop), and
hit@k of the graph's own retrieval step (``ragkit.rag.context.retrieve``: the question's top k,
then ``translation_chunks`` chunks in the translation's language from the translation's
search) with the question alone and with 1, 2 or 3 translation chunks, overall and per
language / question type. The peer row is the earlier way: both queries' top k fused by
reciprocal rank and cut to k. Does not own the relevance rule (``ragkit.evals.retrieval``) or
anything the pipeline does.

Run::

    python bench/translate_query_bench.py --kb .ragkit/kb            # an indexed knowledge/store
    python bench/translate_query_bench.py --kb DIR --translations T.json   # reuse translations

Translations are written to ``--translations`` as they are made, so a killed run resumes.
Writes ``bench/results/rag_translate_query.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from retrieval_bench import machine_info  # noqa: E402

from ragkit.evals.retrieval import first_relevant_rank, load_questions  # noqa: E402
from ragkit.generation.base import SamplingParams  # noqa: E402
from ragkit.kb import KnowledgeBase  # noqa: E402
from ragkit.rag import prompts  # noqa: E402
from ragkit.rag.config import RagConfig  # noqa: E402
from ragkit.rag.context import retrieve  # noqa: E402
from ragkit.retriever import rrf_fuse  # noqa: E402

QUESTIONS = ROOT / "knowledge" / "eval" / "retrieval.jsonl"
OUT = ROOT / "bench" / "results" / "rag_translate_query.json"
GROUPS = ("all", "type:direct", "type:paraphrase", "type:faq", "type:cross_lingual", "lang:en",
          "lang:zh")


def translate_all(questions, path: Path, model: str | None, quantization: str,
                  threads: int) -> dict[str, dict]:
    done: dict[str, dict] = json.loads(path.read_text("utf-8")) if path.exists() else {}
    todo = [q for q in questions if q.id not in done]
    if not todo:
        return done
    from ragkit.generation.config import GeneratorConfig
    from ragkit.generation.local import LocalGenerator

    data: dict = {"quantization": quantization, "threads": threads}
    if model:
        data["model"] = model
    gen = LocalGenerator(GeneratorConfig.parse(data)).load()
    cap = RagConfig().condense_max_tokens  # the graph's cap for its own short generations
    for i, q in enumerate(todo, 1):
        t0 = time.perf_counter()
        res = gen.generate(prompts.translate_messages(prompts.language_of(q.question), q.question),
                           SamplingParams(max_tokens=cap, stop=("\n",)))
        done[q.id] = {"q": q.question, "tr": res.text.strip(),
                      "s": round(time.perf_counter() - t0, 2)}
        print(f"[{i}/{len(todo)}] {q.id} -> {done[q.id]['tr']}", file=sys.stderr, flush=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(done, ensure_ascii=False, indent=0), "utf-8")
        tmp.replace(path)
    return done


def rrf_cut(retriever, queries: list[str], k: int) -> list:
    """The earlier fusion (peer): every query's top k fused by reciprocal rank, cut to k."""
    rankings = [retriever.search(x, k=k, mode="hybrid") for x in queries if x.strip()]
    by_id = {h.chunk_id: h for r in rankings for h in r}
    return [by_id[c] for c, _ in rrf_fuse([[h.chunk_id for h in r] for r in rankings])[:k]]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kb", type=Path, required=True, help="knowledge base holding knowledge/store")
    ap.add_argument("--questions", type=Path, default=QUESTIONS)
    ap.add_argument("--translations", type=Path, default=Path("translations.json"))
    ap.add_argument("--model", default=None)
    ap.add_argument("--quantization", default="int8")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--k", type=int, default=RagConfig().k)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--note", default="")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)  # the embedder too: spare cores are rarely spare here
    questions = load_questions(args.questions)
    tr = translate_all(questions, args.translations, args.model, args.quantization, args.threads)
    kb = KnowledgeBase.open(args.kb)
    retriever = kb.retriever()
    hits: dict[str, dict[str, list[bool]]] = defaultdict(lambda: defaultdict(list))
    rows = []
    for q in questions:
        row = {"id": q.id, "lang": q.lang, "type": q.type, "translation": tr[q.id]["tr"]}
        t = tr[q.id]["tr"]
        variants = {"question": retrieve(retriever, q.question, args.k, "hybrid").hits,
                    "rrf(question, translation)": rrf_cut(retriever, [q.question, t], args.k)}
        for m in (1, 2, 3):
            variants[f"question + {m} translation chunks"] = retrieve(
                retriever, q.question, args.k, "hybrid", t, m).hits
        for variant, got in variants.items():
            rank = first_relevant_rank([(h.source, h.text) for h in got], q)
            row[variant] = rank
            for g in ("all", f"type:{q.type}", f"lang:{q.lang}"):
                hits[variant][g].append(rank is not None)
        rows.append(row)
    summary = {v: {g: {"n": len(h[g]), f"hit@{args.k}": round(sum(h[g]) / len(h[g]), 4)}
                   for g in GROUPS if h[g]} for v, h in hits.items()}
    secs = [t["s"] for t in tr.values() if t.get("s")]  # reused translations may lack times
    out = {"benchmark": "rag_translate_query", "note": args.note, "kb": str(args.kb),
           "embedder": kb.config.embedder, "questions": str(args.questions), "k": args.k,
           "generator": {"model": args.model or "default", "quantization": args.quantization,
                         "threads": args.threads,
                         "mean_translation_s": round(sum(secs) / len(secs), 2) if secs else None},
           "machine": machine_info(args.threads), "summary": summary, "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, ensure_ascii=False, indent=1), "utf-8")
    print(f"{'hit@' + str(args.k):<36}" + "".join(f"{g[5:] if ':' in g else g:>14}"
                                                  for g in GROUPS))
    for v, s in summary.items():
        print(f"{v:<36}" + "".join(f"{s[g][f'hit@{args.k}']:>14.3f}" for g in GROUPS if g in s))
    kb.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
