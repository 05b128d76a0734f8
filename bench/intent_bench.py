"""Intent classification, utterance by utterance: the trained intent model against the
embedding + logistic-regression classifier it replaces, in the same run.

Scored utterances are the turns of a labelled dialogue set that open a request (the first
turn, and every turn whose gold intent differs from the previous turn's and is not null):
those are the turns where the message alone decides the intent. Turns that answer the
assistant (a slot value, "yes") depend on the dialogue state and are scored by
``ragkit eval dst`` instead. Also reports the trained model's held-out slice of its own
augmented data and the training time.

    python bench/intent_bench.py --split dev                  # tuning
    python bench/intent_bench.py --split test                 # held out, run once
    python bench/intent_bench.py --set knowledge/eval/dialogues_blind.jsonl --split blind
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def openers(path: Path, split: str) -> list[dict[str, str]]:
    from ragkit.evals.dst import load_dialogues

    rows = []
    for d in load_dialogues(path, split=split):
        prev = None
        for t in d.turns:
            if t.intent is not None and t.intent != prev:
                rows.append({"id": d.id, "lang": d.lang, "text": t.user, "gold": t.intent})
            prev = t.intent
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--set", type=Path, default=ROOT / "knowledge/eval/dialogues.jsonl")
    ap.add_argument("--split", default="dev")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--retrain", action="store_true", help="train again even if cached")
    args = ap.parse_args()

    from ragkit.config import DEFAULT_EMBEDDER
    from ragkit.embedder import load_embedder
    from ragkit.support.domain import load_domain
    from ragkit.support.intent_model import read_manifest
    from ragkit.support.nlu import IntentClassifier, load_intent_model

    domain = load_domain(None)
    embedder = load_embedder(DEFAULT_EMBEDDER).load()
    rows = openers(args.set, args.split)
    gold = [r["gold"] for r in rows]
    results: dict[str, dict] = {}

    lr = IntentClassifier(domain, embedder).load()
    t0 = time.perf_counter()
    pred = [lr.predict(r["text"])[0][0] for r in rows]
    results["embedding_lr"] = {"ms_per_utterance": round(
        1000 * (time.perf_counter() - t0) / max(1, len(rows)), 1), **_score(rows, gold, pred)}

    t0 = time.perf_counter()
    model, folder = load_intent_model(domain, embedder, retrain=args.retrain,
                                      progress=_progress())
    build_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    pred = [model.predict(r["text"])[0][0] for r in rows]
    manifest = read_manifest(folder) or {}
    results["trained"] = {
        "ms_per_utterance": round(1000 * (time.perf_counter() - t0) / max(1, len(rows)), 1),
        **_score(rows, gold, pred), "train_seconds": manifest.get("train_seconds"),
        "load_or_train_seconds": round(build_s, 1), "examples": manifest.get("examples"),
        "held_out_own_data": manifest.get("metrics", {}).get("held_out", {}).get("_all")}
    report = {
        "set": str(args.set.relative_to(ROOT) if args.set.is_relative_to(ROOT) else args.set),
        "split": args.split, "utterances": len(rows),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "note": "opening turns only; whole dialogues are scored by `ragkit eval dst`",
        "results": results,
    }
    if args.split != "blind":  # never print what failed on the blind set (report only)
        report["trained_errors"] = [
            {"text": r["text"], "gold": r["gold"], "pred": p}
            for r, p in zip(rows, pred, strict=True) if p != r["gold"]][:40]
    out = args.out or ROOT / "bench/results" / f"intent_{args.split}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    for name, r in results.items():
        print(f"{name:14s} accuracy {r['accuracy']:.3f}  en {r['by_lang'].get('en', 0):.3f}  "
              f"zh {r['by_lang'].get('zh', 0):.3f}  {r['ms_per_utterance']} ms/utterance")
    print(f"wrote {out}")


def _score(rows: list[dict[str, str]], gold: list[str], pred: list[str]) -> dict:
    from ragkit.support.intent_model import per_intent

    by_lang = {}
    for lang in ("en", "zh"):
        idx = [i for i, r in enumerate(rows) if r["lang"] == lang]
        if idx:
            by_lang[lang] = round(sum(gold[i] == pred[i] for i in idx) / len(idx), 4)
    table = per_intent(gold, pred)
    return {"accuracy": table.pop("_all")["accuracy"], "by_lang": by_lang, "per_intent": table}


def _progress():
    last = [0.0]

    def tick(what: str, done: int, total: int) -> None:
        now = time.perf_counter()
        if now - last[0] > 5 or done == total:
            last[0] = now
            print(f"  {what}: {done}/{total}", file=sys.stderr)

    return tick


if __name__ == "__main__":
    main()
