"""Time to first token of a grounded answer on a warm process, per relevance mode.

A user waits for retrieval (with the question's translation), the evidence stage and the
prompt's prefill before the first word appears. For each mode (auto, fast, off) one warm
pipeline answers the same tuning-set questions (a stratified sample of knowledge/eval/rag.jsonl,
never the blind set), streaming; the time from asking to the first streamed text is recorded
with each stage's milliseconds. Modes alternate question by question so a slow spell of the
machine hits all of them alike.

    python bench/rag_latency_bench.py --kb /tmp/kb --questions 12 --out bench/results/rag_latency.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ragkit import sdk  # noqa: E402
from ragkit.evals.rag import load_rag_set  # noqa: E402
from ragkit.evals.rag_run import stratified  # noqa: E402
from ragkit.rag import RagConfig  # noqa: E402

MODES = ("auto", "fast", "off")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kb", required=True)
    ap.add_argument("--questions", type=int, default=12)
    ap.add_argument("--out", default=str(ROOT / "bench/results/rag_latency.json"))
    args = ap.parse_args()
    kb = sdk.open_kb(args.kb)
    gen = sdk.load_generator()
    pipes = {m: sdk.rag_pipeline(kb, gen, RagConfig(answer_cache=False, relevance=m))
             for m in MODES}
    qs = stratified(load_rag_set(ROOT / "knowledge/eval/rag.jsonl"),
                    args.questions * 3 // 4, args.questions - args.questions * 3 // 4)
    for m in MODES:  # warm: load every model once before timing
        pipes[m].ask("How long do refunds take?")
    rows = []
    for q in qs:
        for m in MODES:
            t0 = time.perf_counter()
            stream = pipes[m].stream(q.question)
            first = None
            for _ in stream:
                if first is None:
                    first = time.perf_counter() - t0
            total = time.perf_counter() - t0
            a = stream.answer
            rows.append({"id": q.id, "mode": m, "first_text_s": round(first or total, 3),
                         "total_s": round(total, 3), "refused": a.refused,
                         "quoted": a.diagnostics.get("quoted", False),
                         "generator_ttft_s": a.usage.time_to_first_token_s,
                         "stages_ms": a.diagnostics.get("stages_ms", {})})
            print(q.id, m, rows[-1]["first_text_s"], rows[-1]["total_s"], flush=True)
    summary = {}
    for m in MODES:
        rs = [r for r in rows if r["mode"] == m]
        stages: dict[str, list[float]] = {}
        for r in rs:
            for k, v in r["stages_ms"].items():
                stages.setdefault(k, []).append(v)
        summary[m] = {
            "median_first_text_s": round(statistics.median(r["first_text_s"] for r in rs), 2),
            "median_total_s": round(statistics.median(r["total_s"] for r in rs), 2),
            "median_stage_ms": {k: round(statistics.median(v), 1) for k, v in stages.items()},
        }
    result = {"benchmark": "rag_latency", "date": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                time.gmtime()),
              "model": gen.model_id, "kb": args.kb, "questions": len(qs),
              "note": "first_text_s: asking to the first streamed text (retrieval with "
              "translation, evidence, prefill, the first verified sentence); 2-core machine, "
              "default settings apart from relevance",
              "summary": summary, "rows": rows}
    Path(args.out).write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
