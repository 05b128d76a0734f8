"""Opening messages written in a customer's words, not the domain's (bench/data/intent_probe.jsonl,
80 messages, 43 English and 37 Chinese, written 2026-12-06 for a walk through the assistant):
the assistant's full reading of a first message (rules + trained intent model, no generator
fallback) against the trained model's top intent alone, in the same run.

This is a tuning probe: its misses were read and some fixed. It is not a held-out figure.

    python bench/intent_probe.py [--out bench/results/intent_probe.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--set", type=Path, default=ROOT / "bench/data/intent_probe.jsonl")
    ap.add_argument("--out", type=Path, default=ROOT / "bench/results/intent_probe.json")
    args = ap.parse_args()

    from ragkit.config import DEFAULT_EMBEDDER
    from ragkit.embedder import load_embedder
    from ragkit.support.domain import load_domain
    from ragkit.support.nlu import Understanding, intent_classifier

    domain = load_domain(None)
    embedder = load_embedder(DEFAULT_EMBEDDER).load()
    understanding = Understanding(domain, intent_classifier(domain, embedder), None)
    rows = [json.loads(line) for line in args.set.read_text(encoding="utf-8").splitlines()
            if line.strip()]
    scores: dict[str, Counter[str]] = {"assistant": Counter(), "classifier": Counter()}
    misses = []
    for r in rows:
        read = understanding.understand(r["text"]).intent or "out_of_scope"
        top = understanding.classifier.predict(understanding.speller.correct(r["text"]))[0][0]
        for name, got in (("assistant", read), ("classifier", top)):
            scores[name][r["lang"]] += got == r["gold"]
            scores[name]["all"] += got == r["gold"]
        if read != r["gold"]:
            misses.append({**r, "assistant": read, "classifier": top})
    n = Counter(r["lang"] for r in rows)
    n["all"] = len(rows)
    report = {
        "benchmark": "intent_probe", "set": str(args.set.relative_to(ROOT)), "messages": n,
        "accuracy": {name: {k: round(c[k] / n[k], 3) for k in n} for name, c in scores.items()},
        "misses": misses,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(report["accuracy"], indent=1))
    for m in misses:
        print(f"miss [{m['lang']}] gold {m['gold']}, read {m['assistant']}: {m['text']}")


if __name__ == "__main__":
    main()
